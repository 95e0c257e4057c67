package jsonx

import (
	"unicode/utf16"
	"unicode/utf8"
)

// Unquote appends to dst the text that s, the contents of a JSON string literal (what
// stands between its quotes), spells, reading it as json.Unmarshal reads a string:
// escapes are decoded, a surrogate pair becomes its character, and a lone surrogate or
// a byte that is not UTF-8 becomes U+FFFD. An unescaped quote or control character, or
// a malformed escape, is ErrSyntax. Unquote allocates only if dst must grow.
func Unquote(dst, s []byte) ([]byte, error) {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf && !stringStop[c] {
			j := i + 1
			for j < len(s) && s[j] < utf8.RuneSelf && !stringStop[s[j]] {
				j++
			}
			dst = append(dst, s[i:j]...)
			i = j
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRune(s[i:])
			if r == utf8.RuneError && size == 1 {
				dst = append(dst, "\uFFFD"...)
			} else {
				dst = append(dst, s[i:i+size]...)
			}
			i += size
			continue
		}
		if c != '\\' || i+1 >= len(s) {
			return dst, ErrSyntax
		}
		switch e := s[i+1]; e {
		case '"', '\\', '/':
			dst = append(dst, e)
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r := hex4(s[i+2:])
			if r < 0 {
				return dst, ErrSyntax
			}
			i += 6
			if utf16.IsSurrogate(r) {
				// Only a high surrogate followed by an escaped low one makes a character;
				// anything else leaves this half as U+FFFD and is read on its own.
				if len(s)-i >= 6 && s[i] == '\\' && s[i+1] == 'u' {
					if pair := utf16.DecodeRune(r, hex4(s[i+2:])); pair != utf8.RuneError {
						dst = utf8.AppendRune(dst, pair)
						i += 6
						continue
					}
				}
				r = utf8.RuneError
			}
			dst = utf8.AppendRune(dst, r)
			continue
		default:
			return dst, ErrSyntax
		}
		i += 2
	}
	return dst, nil
}
