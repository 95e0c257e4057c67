package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// The first message of a connection has no type byte: a length, then a code that says
// what it is. PostgreSQL caps it at 10000 bytes (MAX_STARTUP_PACKET_LENGTH).
const (
	maxStartupPacket = 10000
	codeCancel       = 80877102 // 1234.5678
	codeSSL          = 80877103 // 1234.5679
	codeGSSEnc       = 80877104 // 1234.5680
	// protocolMinor is the newest minor version of protocol 3 the front speaks: BackendKeyData
	// carries a 4-byte secret, as in 3.0. A client asking for 3.2 is told so with
	// NegotiateProtocolVersion and goes on in 3.0, as PostgreSQL answers a newer minor.
	protocolMinor = 0
)

// startupKind is what a startup packet asks.
type startupKind int

const (
	startupSession startupKind = iota + 1
	startupSSL
	startupGSSEnc
	startupCancel
)

// startupPacket is a parsed first message.
type startupPacket struct {
	kind startupKind
	// Session: the requested minor version of protocol 3, the parameters, and the
	// protocol options (_pq_.*) the front does not know.
	minor      uint16
	params     map[string]string
	unknownOpt []string
	// Cancel: the key the client got in BackendKeyData.
	pid    uint32
	secret []byte
}

// errProtocolVersion is a startup packet of a protocol other than 3.x.
type errProtocolVersion struct{ major, minor uint16 }

func (e errProtocolVersion) Error() string {
	return fmt.Sprintf("unsupported frontend protocol %d.%d: server supports 3.0", e.major, e.minor)
}

// readStartup reads one startup packet from r, reading exactly its bytes: what follows an
// SSLRequest must reach the TLS handshake untouched.
func readStartup(r io.Reader) (*startupPacket, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := int64(int32(binary.BigEndian.Uint32(hdr[:])))
	if n < 8 || n > maxStartupPacket {
		return nil, fmt.Errorf("invalid length of startup packet: %d", n)
	}
	body := make([]byte, n-4)
	if _, err := io.ReadFull(r, body); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return parseStartup(body)
}

// parseStartup parses a startup packet's body (after its length).
func parseStartup(b []byte) (*startupPacket, error) {
	if len(b) < 4 {
		return nil, errors.New("startup packet too short")
	}
	code := binary.BigEndian.Uint32(b)
	rest := b[4:]
	switch code {
	case codeSSL, codeGSSEnc:
		if len(rest) != 0 {
			return nil, errors.New("invalid length of encryption request")
		}
		if code == codeSSL {
			return &startupPacket{kind: startupSSL}, nil
		}
		return &startupPacket{kind: startupGSSEnc}, nil
	case codeCancel:
		// Protocol 3.2 allows secrets up to 256 bytes; 3.0's are 4.
		if len(rest) < 8 || len(rest) > 4+256 {
			return nil, errors.New("invalid length of cancel request")
		}
		return &startupPacket{kind: startupCancel, pid: binary.BigEndian.Uint32(rest), secret: rest[4:]}, nil
	}
	major, minor := uint16(code>>16), uint16(code)
	if major != 3 {
		return nil, errProtocolVersion{major, minor}
	}
	p := &startupPacket{kind: startupSession, minor: minor, params: map[string]string{}}
	// name\0value\0 ... \0: an empty name ends the list.
	for {
		name, tail, ok := cutNul(rest)
		if !ok {
			return nil, errors.New("invalid startup packet layout: expected terminator as last byte")
		}
		if name == "" {
			if len(tail) != 0 {
				return nil, errors.New("invalid startup packet layout: data after the terminator")
			}
			break
		}
		value, tail2, ok := cutNul(tail)
		if !ok {
			return nil, errors.New("invalid startup packet layout: expected terminator as last byte")
		}
		if !utf8.ValidString(name) || !utf8.ValidString(value) {
			return nil, errors.New("invalid startup packet: parameters must be UTF-8")
		}
		if strings.HasPrefix(name, "_pq_.") {
			p.unknownOpt = append(p.unknownOpt, name)
		} else {
			p.params[name] = value
		}
		rest = tail2
	}
	return p, nil
}

func cutNul(b []byte) (string, []byte, bool) {
	for i, c := range b {
		if c == 0 {
			return string(b[:i]), b[i+1:], true
		}
	}
	return "", nil, false
}

// parseOptions reads the startup parameter "options" as PostgreSQL does for what a client
// may set there: "-c name=value" and "--name=value", separated by spaces, a backslash
// escaping the next character. Other backend switches are refused.
func parseOptions(s string) (map[string]string, error) {
	var words []string
	var w strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s):
			i++
			w.WriteByte(s[i])
			inWord = true
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		default:
			w.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, w.String())
	}
	out := map[string]string{}
	for i := 0; i < len(words); i++ {
		var setting string
		switch word := words[i]; {
		case word == "-c":
			if i+1 == len(words) {
				return nil, errors.New(`options: "-c" needs name=value`)
			}
			i++
			setting = words[i]
		case strings.HasPrefix(word, "-c"):
			setting = word[2:]
		case strings.HasPrefix(word, "--"):
			setting = word[2:]
		default:
			return nil, fmt.Errorf("options: %q is not supported; use -c name=value", word)
		}
		name, value, ok := strings.Cut(setting, "=")
		if !ok || name == "" {
			return nil, fmt.Errorf("options: %q is not name=value", setting)
		}
		out[strings.ReplaceAll(strings.ToLower(name), "-", "_")] = value
	}
	return out, nil
}
