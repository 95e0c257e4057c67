package mailsink

import (
	"bytes"
	"encoding/base64"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"strings"
)

// maxParts bounds the parts walked in one message (nested multiparts included).
const maxParts = 100

// parseMessage decodes what the API shows of raw: the subject and the first text/plain and
// text/html bodies. A message it cannot parse is still kept, with what was read of it.
func parseMessage(raw []byte) *Message {
	m := &Message{Raw: raw}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return m
	}
	dec := &mime.WordDecoder{CharsetReader: passCharset}
	if s, err := dec.DecodeHeader(msg.Header.Get("Subject")); err == nil {
		m.Subject = s
	} else {
		m.Subject = msg.Header.Get("Subject")
	}
	budget := maxParts
	walkPart(m, msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), msg.Body, &budget)
	return m
}

// walkPart fills m.Text and m.HTML from one part, descending into multiparts.
func walkPart(m *Message, contentType, encoding string, body io.Reader, budget *int) {
	if *budget <= 0 {
		return
	}
	*budget--
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		mt = "text/plain"
	}
	if strings.HasPrefix(mt, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if err != nil {
				return
			}
			walkPart(m, p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p, budget)
		}
	}
	if mt != "text/plain" && mt != "text/html" {
		return
	}
	var r io.Reader = body
	switch strings.ToLower(strings.TrimSpace(encoding)) {
	case "quoted-printable":
		r = quotedprintable.NewReader(body)
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, body) // it skips the line breaks
	}
	b, err := io.ReadAll(io.LimitReader(r, MaxMessageBytes))
	if err != nil && len(b) == 0 {
		return
	}
	text := strings.ReplaceAll(string(b), "\r\n", "\n")
	if mt == "text/plain" && m.Text == "" {
		m.Text = text
	} else if mt == "text/html" && m.HTML == "" {
		m.HTML = text
	}
}

// passCharset reads any charset as is: the sink shows UTF-8 (what Kapok sends) and does
// not convert others.
func passCharset(_ string, r io.Reader) (io.Reader, error) { return r, nil }
