package mailsink

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/smtp"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func startSink(t *testing.T, cfg Config) *Sink {
	t.Helper()
	if cfg.SMTPAddr == "" {
		cfg.SMTPAddr = "127.0.0.1:0"
	}
	if cfg.HTTPAddr == "" {
		cfg.HTTPAddr = "127.0.0.1:0"
	}
	s, err := StartWith(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// client is a raw SMTP conversation: what the sink answers each line is checked by code.
type client struct {
	t *testing.T
	c *textproto.Conn
}

func dial(t *testing.T, s *Sink) *client {
	t.Helper()
	c, err := textproto.Dial("tcp", s.SMTPAddr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	cl := &client{t: t, c: c}
	cl.expect(220)
	return cl
}

// cmd sends a line and checks the reply's code; it returns the reply's text.
func (cl *client) cmd(code int, format string, args ...any) string {
	cl.t.Helper()
	if err := cl.c.PrintfLine(format, args...); err != nil {
		cl.t.Fatal(err)
	}
	return cl.expect(code)
}

func (cl *client) expect(code int) string {
	cl.t.Helper()
	got, msg, err := cl.c.ReadResponse(0)
	if got != code {
		cl.t.Fatalf("want %d, got %d %s (%v)", code, got, msg, err)
	}
	return msg
}

// raw writes bytes as they are (DATA content with its own line ends).
func (cl *client) raw(s string) {
	cl.t.Helper()
	if _, err := cl.c.W.WriteString(s); err != nil {
		cl.t.Fatal(err)
	}
	if err := cl.c.W.Flush(); err != nil {
		cl.t.Fatal(err)
	}
}

func waitOne(t *testing.T, s *Sink, to string, n int) []*Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ms, err := s.Wait(ctx, to, n)
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

func TestProtocol(t *testing.T) {
	s := startSink(t, Config{})

	t.Run("dot-stuffed lines lose their first dot and the lone dot ends the data", func(t *testing.T) {
		cl := dial(t, s)
		cl.cmd(250, "EHLO test")
		cl.cmd(250, "MAIL FROM:<a@example.com>")
		cl.cmd(250, "RCPT TO:<dots@example.com>")
		cl.cmd(354, "DATA")
		cl.raw("Subject: dots\r\n\r\n..leading dot\r\n...two\r\n.\r\n")
		cl.expect(250)
		m := waitOne(t, s, "dots@example.com", 1)[0]
		if want := "Subject: dots\r\n\r\n.leading dot\r\n..two\r\n"; string(m.Raw) != want {
			t.Fatalf("raw = %q, want %q", m.Raw, want)
		}
		if m.Text != ".leading dot\n..two\n" || m.Subject != "dots" {
			t.Fatalf("text %q subject %q", m.Text, m.Subject)
		}
	})

	t.Run("bare LF line ends are stored as CRLF", func(t *testing.T) {
		cl := dial(t, s)
		cl.cmd(250, "HELO test")
		cl.cmd(250, "MAIL FROM:<>")
		cl.cmd(250, "RCPT TO:<lf@example.com>")
		cl.cmd(354, "DATA")
		cl.raw("Subject: lf\n\nbody\n.\n")
		cl.expect(250)
		if m := waitOne(t, s, "lf@example.com", 1)[0]; string(m.Raw) != "Subject: lf\r\n\r\nbody\r\n" || m.From != "" {
			t.Fatalf("raw = %q from %q", m.Raw, m.From)
		}
	})

	t.Run("RSET forgets the envelope, so DATA needs MAIL and RCPT again", func(t *testing.T) {
		cl := dial(t, s)
		cl.cmd(250, "EHLO test")
		cl.cmd(250, "MAIL FROM:<a@example.com>")
		cl.cmd(250, "RCPT TO:<reset@example.com>")
		cl.cmd(250, "RSET")
		cl.cmd(503, "DATA")
		cl.cmd(503, "RCPT TO:<reset@example.com>")
		cl.cmd(250, "MAIL FROM:<b@example.com>")
		cl.cmd(250, "RCPT TO:<reset2@example.com>")
		cl.cmd(354, "DATA")
		cl.raw("Subject: after reset\r\n\r\nx\r\n.\r\n")
		cl.expect(250)
		cl.cmd(250, "NOOP")
		cl.cmd(221, "QUIT")
		m := waitOne(t, s, "reset2@example.com", 1)[0]
		if m.From != "b@example.com" || len(m.To) != 1 {
			t.Fatalf("envelope %q %q", m.From, m.To)
		}
		for _, m := range s.Messages() {
			for _, to := range m.To {
				if to == "reset@example.com" {
					t.Fatal("the reset envelope was delivered")
				}
			}
		}
	})

	t.Run("commands out of order are refused", func(t *testing.T) {
		cl := dial(t, s)
		cl.cmd(503, "MAIL FROM:<a@example.com>")
		cl.cmd(250, "EHLO test")
		cl.cmd(503, "RCPT TO:<x@example.com>")
		cl.cmd(501, "MAIL FROM:a@example.com")
		cl.cmd(250, "MAIL FROM:<a@example.com>")
		cl.cmd(503, "MAIL FROM:<a@example.com>")
		cl.cmd(501, "RCPT TO:<>")
		cl.cmd(502, "TURN")
		cl.cmd(502, "STARTTLS")
		cl.cmd(500, "%s", "NOOP "+strings.Repeat("x", maxLine))
		cl.cmd(250, "NOOP")
	})

	t.Run("a declared SIZE over the cap is refused at MAIL", func(t *testing.T) {
		cl := dial(t, s)
		msg := cl.cmd(250, "EHLO test")
		if !strings.Contains(msg, fmt.Sprintf("SIZE %d", MaxMessageBytes)) {
			t.Fatalf("EHLO does not announce the size: %q", msg)
		}
		cl.cmd(552, "MAIL FROM:<a@example.com> SIZE=%d", MaxMessageBytes+1)
		cl.cmd(250, "MAIL FROM:<a@example.com> SIZE=%d", 100)
	})

	t.Run("data over the cap is read to its end, refused, and the session goes on", func(t *testing.T) {
		cl := dial(t, s)
		cl.cmd(250, "EHLO test")
		cl.cmd(250, "MAIL FROM:<a@example.com>")
		cl.cmd(250, "RCPT TO:<big@example.com>")
		cl.cmd(354, "DATA")
		line := strings.Repeat("y", 998) + "\r\n"
		w := cl.c.W
		w.WriteString("Subject: big\r\n\r\n")
		for n := 0; n <= MaxMessageBytes; n += len(line) {
			w.WriteString(line)
		}
		// A line far longer than the read buffer goes in pieces.
		w.WriteString(strings.Repeat("z", 3*maxLine) + "\r\n")
		cl.raw(".\r\n")
		cl.expect(552)
		cl.cmd(250, "MAIL FROM:<a@example.com>")
		cl.cmd(250, "RCPT TO:<big@example.com>")
		cl.cmd(354, "DATA")
		cl.raw("Subject: small\r\n\r\n" + strings.Repeat("z", 3*maxLine) + "\r\n.\r\n")
		cl.expect(250)
		ms := waitOne(t, s, "big@example.com", 1)
		if len(ms) != 1 || ms[0].Subject != "small" || len(ms[0].Text) != 3*maxLine+1 {
			t.Fatalf("kept %d messages, first %q (%d bytes of text)", len(ms), ms[0].Subject, len(ms[0].Text))
		}
	})

	t.Run("AUTH PLAIN is accepted and its user recorded", func(t *testing.T) {
		cl := dial(t, s)
		cl.cmd(250, "EHLO test")
		cl.cmd(501, "AUTH PLAIN !!!")
		cl.cmd(504, "AUTH LOGIN")
		cl.cmd(334, "AUTH PLAIN")
		cl.cmd(235, "AGFsaWNlAHNlY3JldA==") // "\x00alice\x00secret"
		cl.cmd(250, "MAIL FROM:<a@example.com>")
		cl.cmd(250, "RCPT TO:<auth@example.com>")
		cl.cmd(354, "DATA")
		cl.raw("Subject: authed\r\n\r\nx\r\n.\r\n")
		cl.expect(250)
		if m := waitOne(t, s, "auth@example.com", 1)[0]; m.AuthUser != "alice" || m.TLS {
			t.Fatalf("auth user %q, tls %v", m.AuthUser, m.TLS)
		}
	})
}

func TestKeepsTheNewestMessagesAndWritesFiles(t *testing.T) {
	dir := t.TempDir()
	s := startSink(t, Config{Dir: filepath.Join(dir, "mail")})
	addr := s.SMTPAddr()
	for i := range MaxMessages + 5 {
		body := fmt.Sprintf("Subject: n%d\r\n\r\nmessage %d\r\n", i, i)
		if err := smtp.SendMail(addr, nil, "a@example.com", []string{"many@example.com"}, []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	ms := s.Messages()
	if len(ms) != MaxMessages || ms[0].Subject != fmt.Sprintf("n%d", MaxMessages+4) || ms[len(ms)-1].Subject != "n5" {
		t.Fatalf("kept %d, newest %q, oldest %q", len(ms), ms[0].Subject, ms[len(ms)-1].Subject)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "mail", "*.eml"))
	if len(files) != MaxMessages+5 {
		t.Fatalf("%d files, want %d", len(files), MaxMessages+5)
	}
	b, err := os.ReadFile(filepath.Join(dir, "mail", ms[0].ID+".eml"))
	if err != nil || string(b) != string(ms[0].Raw) {
		t.Fatalf("file of %s: %q %v", ms[0].ID, b, err)
	}
}

func TestHTTPAPI(t *testing.T) {
	s := startSink(t, Config{})
	mail := "From: Kapok <noreply@example.com>\r\nTo: bob@example.com\r\nSubject: =?utf-8?q?Caf=C3=A9?=\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=b1\r\n\r\n" +
		"--b1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nOpen http://x.test/verify?a=3D1&b=3D2\r\n" +
		"--b1\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		"PHA+PGEgaHJlZj0iaHR0cDovL3gudGVzdC92ZXJpZnk/YT0xJmFtcDtiPTIiPk9wZW48L2E+\r\nPC9wPg==\r\n--b1--\r\n"
	if err := smtp.SendMail(s.SMTPAddr(), nil, "noreply@example.com", []string{"bob@example.com"}, []byte(mail)); err != nil {
		t.Fatal(err)
	}
	get := func(path string, v any) (int, string) {
		t.Helper()
		resp, err := http.Get(s.URL() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if v != nil {
			if err := json.Unmarshal(b, v); err != nil {
				t.Fatalf("%s: %v: %s", path, err, b)
			}
		}
		return resp.StatusCode, string(b)
	}
	var list []Message
	get("/api/messages", &list)
	if len(list) != 1 {
		t.Fatalf("%d messages", len(list))
	}
	m := list[0]
	if m.Subject != "Café" || m.From != "noreply@example.com" || m.To[0] != "bob@example.com" ||
		m.Text != "Open http://x.test/verify?a=1&b=2" || m.HTML != `<p><a href="http://x.test/verify?a=1&amp;b=2">Open</a></p>` {
		t.Fatalf("message %+v", m)
	}
	var one Message
	if code, _ := get("/api/messages/"+m.ID, &one); code != 200 || one.ID != m.ID {
		t.Fatalf("GET one: %d %+v", code, one)
	}
	if code, raw := get("/api/messages/"+m.ID+"/raw", nil); code != 200 || raw != mail {
		t.Fatalf("raw: %d %q", code, raw)
	}
	if code, _ := get("/api/messages/nope", nil); code != 404 {
		t.Fatalf("unknown id: %d", code)
	}
	if code, body := get("/", nil); code != 200 || !strings.Contains(body, "Café") || !strings.Contains(body, "/messages/"+m.ID) {
		t.Fatalf("index: %d %s", code, body)
	}
	// The page offers the link with its entity decoded, and the HTML only inside a sandbox.
	if code, body := get("/messages/"+m.ID, nil); code != 200 || !strings.Contains(body, `<a href="http://x.test/verify?a=1&amp;b=2">`) ||
		!strings.Contains(body, `<iframe sandbox srcdoc="&lt;p&gt;`) {
		t.Fatalf("message page: %d %s", code, body)
	}
	req, _ := http.NewRequest(http.MethodDelete, s.URL()+"/api/messages", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE: %v %v", resp, err)
	}
	resp.Body.Close()
	if _, body := get("/api/messages", nil); strings.TrimSpace(body) != "[]" {
		t.Fatalf("after DELETE: %s", body)
	}
}

func TestStartTLS(t *testing.T) {
	cert, pool := selfSigned(t)
	s := startSink(t, Config{TLS: &tls.Config{Certificates: []tls.Certificate{cert}}})
	c, err := smtp.Dial(s.SMTPAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if ok, _ := c.Extension("STARTTLS"); !ok {
		t.Fatal("STARTTLS not offered")
	}
	if err := c.StartTLS(&tls.Config{ServerName: "localhost", RootCAs: pool}); err != nil {
		t.Fatal(err)
	}
	if ok, _ := c.Extension("STARTTLS"); ok {
		t.Fatal("STARTTLS offered again inside TLS")
	}
	if err := c.Auth(smtp.PlainAuth("", "carol", "pw", "127.0.0.1")); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("a@example.com"); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("tls@example.com"); err != nil {
		t.Fatal(err)
	}
	w, _ := c.Data()
	io.WriteString(w, "Subject: secret\r\n\r\nx\r\n")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if m := waitOne(t, s, "TLS@example.com", 1)[0]; !m.TLS || m.AuthUser != "carol" {
		t.Fatalf("tls %v auth %q", m.TLS, m.AuthUser)
	}
}

func TestWaitAndClose(t *testing.T) {
	s := startSink(t, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := s.Wait(ctx, "nobody@example.com", 1); err == nil {
		t.Fatal("Wait returned without a message")
	}
	// A session left open does not keep Close waiting.
	c, err := net.Dial("tcp", s.SMTPAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := bufio.NewReader(c).ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { s.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close hangs on an open session")
	}
	if _, err := net.Dial("tcp", s.SMTPAddr()); err == nil {
		t.Fatal("still listening after Close")
	}
}

// selfSigned makes a certificate for localhost and a pool trusting it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"}, DNSNames: []string{"localhost"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}
