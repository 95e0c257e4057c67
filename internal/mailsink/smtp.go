package mailsink

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

const (
	// maxLine bounds a command line (RFC 5321 says 512 octets; clients stay well below)
	// and a line of DATA (1000 octets with CRLF); longer DATA lines are accepted in pieces.
	maxLine = 4096
	// maxRecipients per message, as a submission server would limit them.
	maxRecipients = 100
	// idleTimeout ends a session that sends nothing.
	idleTimeout = 5 * time.Minute
)

func (s *Sink) acceptSMTP() {
	defer s.wg.Done()
	for {
		c, err := s.smtp.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			(&session{sink: s}).serve(c)
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
			c.Close()
		}()
	}
}

// session is one SMTP connection's state.
type session struct {
	sink     *Sink
	conn     net.Conn
	r        *bufio.Reader
	w        *bufio.Writer
	greeted  bool
	tls      bool
	authUser string
	from     string
	hasFrom  bool
	to       []string
}

func (ss *session) reset() {
	ss.from, ss.hasFrom, ss.to = "", false, nil
}

func (ss *session) reply(code int, lines ...string) error {
	for i, l := range lines {
		sep := " "
		if i < len(lines)-1 {
			sep = "-"
		}
		fmt.Fprintf(ss.w, "%d%s%s\r\n", code, sep, l)
	}
	return ss.w.Flush()
}

// readLine reads one CRLF (or bare LF) terminated line without its terminator. A line
// longer than maxLine is errLineTooLong (the rest of it is discarded).
func (ss *session) readLine() (string, error) {
	_ = ss.conn.SetReadDeadline(time.Now().Add(idleTimeout))
	line, err := ss.r.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		for errors.Is(err, bufio.ErrBufferFull) {
			_, err = ss.r.ReadSlice('\n')
		}
		if err != nil {
			return "", err
		}
		return "", errLineTooLong
	}
	if err != nil {
		return "", err
	}
	return strings.TrimRight(string(line), "\r\n"), nil
}

var errLineTooLong = errors.New("line too long")

func (ss *session) serve(c net.Conn) {
	ss.conn = c
	ss.r = bufio.NewReaderSize(c, maxLine)
	ss.w = bufio.NewWriter(c)
	if ss.reply(220, "localhost Kapok mail sink ESMTP") != nil {
		return
	}
	for {
		line, err := ss.readLine()
		if errors.Is(err, errLineTooLong) {
			if ss.reply(500, "5.5.2 line too long") != nil {
				return
			}
			continue
		}
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO":
			ss.greeted = true
			ss.reset()
			ext := []string{"localhost greets " + arg, "SIZE " + strconv.Itoa(MaxMessageBytes), "8BITMIME", "AUTH PLAIN"}
			if ss.sink.cfg.TLS != nil && !ss.tls {
				ext = append(ext, "STARTTLS")
			}
			err = ss.reply(250, ext...)
		case "HELO":
			ss.greeted = true
			ss.reset()
			err = ss.reply(250, "localhost")
		case "STARTTLS":
			if ss.sink.cfg.TLS == nil || ss.tls {
				err = ss.reply(502, "5.5.1 STARTTLS not offered")
				break
			}
			if err = ss.reply(220, "2.0.0 ready to start TLS"); err != nil {
				return
			}
			tc := tls.Server(c, ss.sink.cfg.TLS)
			_ = tc.SetDeadline(time.Now().Add(30 * time.Second))
			if tc.Handshake() != nil {
				return
			}
			_ = tc.SetDeadline(time.Time{})
			// RFC 3207: the session starts over; nothing said before TLS is kept.
			ss.conn, ss.tls, ss.greeted, ss.authUser = tc, true, false, ""
			ss.r, ss.w = bufio.NewReaderSize(tc, maxLine), bufio.NewWriter(tc)
			ss.reset()
		case "AUTH":
			err = ss.auth(arg)
		case "MAIL":
			err = ss.mail(arg)
		case "RCPT":
			err = ss.rcpt(arg)
		case "DATA":
			err = ss.data()
		case "RSET":
			ss.reset()
			err = ss.reply(250, "2.0.0 OK")
		case "NOOP":
			err = ss.reply(250, "2.0.0 OK")
		case "VRFY":
			err = ss.reply(252, "2.1.5 cannot verify, will accept")
		case "QUIT":
			_ = ss.reply(221, "2.0.0 bye")
			return
		default:
			err = ss.reply(502, "5.5.2 command not implemented")
		}
		if err != nil {
			return
		}
	}
}

// auth accepts AUTH PLAIN with any credentials and remembers the user name: the sink
// stands in for a server that checks them.
func (ss *session) auth(arg string) error {
	mech, resp, _ := strings.Cut(arg, " ")
	if !strings.EqualFold(mech, "PLAIN") {
		return ss.reply(504, "5.5.4 only AUTH PLAIN")
	}
	if resp == "" {
		if err := ss.reply(334, ""); err != nil {
			return err
		}
		line, err := ss.readLine()
		if err != nil {
			return err
		}
		resp = line
	}
	raw, err := base64.StdEncoding.DecodeString(resp)
	parts := bytes.Split(raw, []byte{0})
	if err != nil || len(parts) != 3 {
		return ss.reply(501, "5.5.2 malformed AUTH PLAIN response")
	}
	ss.authUser = string(parts[1])
	return ss.reply(235, "2.7.0 authenticated")
}

// path takes the address out of "FROM:<a@b> SIZE=123" (after the verb), with the
// parameters that follow it.
func path(arg, prefix string) (addr string, params []string, ok bool) {
	if len(arg) < len(prefix) || !strings.EqualFold(arg[:len(prefix)], prefix) {
		return "", nil, false
	}
	rest := strings.TrimSpace(arg[len(prefix):])
	if !strings.HasPrefix(rest, "<") {
		return "", nil, false
	}
	end := strings.IndexByte(rest, '>')
	if end < 0 {
		return "", nil, false
	}
	return rest[1:end], strings.Fields(rest[end+1:]), true
}

func (ss *session) mail(arg string) error {
	if !ss.greeted {
		return ss.reply(503, "5.5.1 say EHLO or HELO first")
	}
	if ss.hasFrom {
		return ss.reply(503, "5.5.1 MAIL already given")
	}
	addr, params, ok := path(arg, "FROM:")
	if !ok {
		return ss.reply(501, "5.5.4 syntax: MAIL FROM:<address>")
	}
	for _, p := range params {
		k, v, _ := strings.Cut(p, "=")
		if strings.EqualFold(k, "SIZE") {
			if n, err := strconv.ParseInt(v, 10, 64); err == nil && n > MaxMessageBytes {
				return ss.reply(552, "5.3.4 message size exceeds fixed maximum message size")
			}
		}
	}
	ss.from, ss.hasFrom = addr, true
	return ss.reply(250, "2.1.0 OK")
}

func (ss *session) rcpt(arg string) error {
	if !ss.hasFrom {
		return ss.reply(503, "5.5.1 need MAIL before RCPT")
	}
	addr, _, ok := path(arg, "TO:")
	if !ok || addr == "" {
		return ss.reply(501, "5.5.4 syntax: RCPT TO:<address>")
	}
	if len(ss.to) >= maxRecipients {
		return ss.reply(452, "4.5.3 too many recipients")
	}
	ss.to = append(ss.to, addr)
	return ss.reply(250, "2.1.5 OK")
}

// data reads the message up to the line ".", undoing the dot-stuffing (RFC 5321 4.5.2).
// Lines are stored with CRLF whatever the client sent. Past MaxMessageBytes the rest is
// read and dropped, and the message refused.
func (ss *session) data() error {
	if len(ss.to) == 0 {
		return ss.reply(503, "5.5.1 need RCPT before DATA")
	}
	if err := ss.reply(354, "end data with <CR><LF>.<CR><LF>"); err != nil {
		return err
	}
	var buf bytes.Buffer
	tooBig := false
	atLineStart := true
	for {
		_ = ss.conn.SetReadDeadline(time.Now().Add(idleTimeout))
		piece, err := ss.r.ReadSlice('\n')
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			if errors.Is(err, io.EOF) {
				return io.ErrUnexpectedEOF
			}
			return err
		}
		complete := err == nil
		if atLineStart && complete {
			line := bytes.TrimRight(piece, "\r\n")
			if len(line) == 1 && line[0] == '.' {
				break
			}
		}
		if atLineStart && len(piece) > 0 && piece[0] == '.' {
			piece = piece[1:]
		}
		if complete {
			piece = bytes.TrimRight(piece, "\r\n")
		}
		if !tooBig {
			n := len(piece)
			if complete {
				n += 2
			}
			if buf.Len()+n > MaxMessageBytes {
				tooBig = true
				buf = bytes.Buffer{}
			} else {
				buf.Write(piece)
				if complete {
					buf.WriteString("\r\n")
				}
			}
		}
		atLineStart = complete
	}
	from, to := ss.from, ss.to
	ss.reset()
	if tooBig {
		return ss.reply(552, "5.3.4 message size exceeds fixed maximum message size")
	}
	now := time.Now()
	m := parseMessage(buf.Bytes())
	m.ID, m.From, m.To, m.Date, m.AuthUser, m.TLS = newID(now), from, to, now.UTC(), ss.authUser, ss.tls
	ss.sink.add(m)
	return ss.reply(250, "2.0.0 OK: queued as "+m.ID)
}
