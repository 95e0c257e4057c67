package auth

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"log/slog"
	"math/big"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/mail"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kapok-dev/kapok/control"
	"github.com/kapok-dev/kapok/internal/mailsink"
)

// renderEnv is a tenant context good enough to render mails: no database.
func renderEnv(templates map[string]control.MailTemplate) (*Service, *tenantCtx, *bytes.Buffer) {
	var logs bytes.Buffer
	s := New(Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	tn := &tenantCtx{t: &control.Tenant{Name: "render"}, cfg: control.UsersConfig{
		SiteURL:   "https://app.example.com",
		SMTP:      control.SMTPConfig{AdminEmail: "noreply@example.com", SenderName: "Example App"},
		Templates: templates,
	}}
	tn.cfg.RateLimits.EmailSent = defaultEmailSent
	return s, tn, &logs
}

var sampleData = mailData{
	ConfirmationURL: "https://kapok.example.com/auth/v1/verify?token=abc&type=signup&redirect_to=https%3A%2F%2Fapp.example.com%2F",
	Token:           "482913", TokenHash: "abc", SiteURL: "https://app.example.com",
	Email: "ann<x>@example.com", NewEmail: "new@example.com", RedirectTo: "https://app.example.com/",
}

func TestDefaultMails(t *testing.T) {
	s, tn, logs := renderEnv(nil)
	subjects := map[string]string{
		mailConfirmation: "Confirm your email", mailInvite: "You have been invited", mailMagicLink: "Your sign-in link",
		mailRecovery: "Reset your password", mailEmailChange: "Confirm the change of your email address", mailReauthentication: "Confirm it is you",
	}
	for kind, subject := range subjects {
		t.Run(kind, func(t *testing.T) {
			d := sampleData
			if kind == mailReauthentication {
				d.ConfirmationURL = ""
			}
			m, err := s.renderMail(tn, kind, "to@example.com", d)
			if err != nil {
				t.Fatal(err)
			}
			if m.Subject != subject || m.From != `"Example App" <noreply@example.com>` || m.To != "to@example.com" {
				t.Fatalf("subject %q from %q to %q", m.Subject, m.From, m.To)
			}
			if !strings.Contains(m.Text, "482913") || !strings.Contains(m.HTML, "482913") {
				t.Fatal("the code is missing")
			}
			if kind == mailReauthentication {
				if strings.Contains(m.HTML, "href") || strings.Contains(m.Text, "http") {
					t.Fatalf("a code-only mail has a link:\n%s", m.Text)
				}
				return
			}
			// The link goes as is into the text, entity-escaped into the HTML.
			if !strings.Contains(m.Text, "\n"+d.ConfirmationURL+"\n") {
				t.Fatalf("text lacks the link:\n%s", m.Text)
			}
			if !strings.Contains(m.HTML, `href="`+strings.ReplaceAll(d.ConfirmationURL, "&", "&amp;")+`"`) {
				t.Fatalf("HTML lacks the link:\n%s", m.HTML)
			}
			if strings.Contains(m.HTML, "ann<x>") {
				t.Fatal("the address is not escaped in the HTML")
			}
		})
	}
	if logs.Len() != 0 {
		t.Fatalf("defaults logged: %s", logs)
	}
	if _, err := s.renderMail(tn, "no_such_mail", "to@example.com", sampleData); err == nil {
		t.Fatal("an unknown mail rendered")
	}
}

func TestTemplateOverride(t *testing.T) {
	s, tn, logs := renderEnv(map[string]control.MailTemplate{
		mailConfirmation: {Subject: "Welcome to {{.SiteURL}},\n  {{.Email}}",
			Body: `<html><head><style>p { color: red }</style></head><body><h2>Hi!</h2><p>Please <a href="{{.ConfirmationURL}}">confirm</a>.<br>Code: <b>{{.Token}}</b></p><p>{{.Email}}</p></body></html>`},
		mailRecovery: {Subject: "Recover {{.Email}}"},
	})
	m, err := s.renderMail(tn, mailConfirmation, "to@example.com", sampleData)
	if err != nil {
		t.Fatal(err)
	}
	if m.Subject != "Welcome to https://app.example.com, ann<x>@example.com" {
		t.Fatalf("subject %q", m.Subject)
	}
	if !strings.Contains(m.HTML, `<a href="https://kapok.example.com/auth/v1/verify?token=abc&amp;type=signup&amp;redirect_to=https%3A%2F%2Fapp.example.com%2F">confirm</a>`) ||
		!strings.Contains(m.HTML, "<p>ann&lt;x&gt;@example.com</p>") {
		t.Fatalf("HTML:\n%s", m.HTML)
	}
	wantText := "Hi!\nPlease confirm (" + sampleData.ConfirmationURL + ").\nCode: 482913\nann<x>@example.com\n"
	if m.Text != wantText {
		t.Fatalf("text:\n%q\nwant\n%q", m.Text, wantText)
	}
	// A subject alone is overridden; the body stays the default.
	r, _ := s.renderMail(tn, mailRecovery, "to@example.com", sampleData)
	if r.Subject != "Recover ann<x>@example.com" || !strings.Contains(r.Text, "choose a new one") {
		t.Fatalf("recovery: %q\n%s", r.Subject, r.Text)
	}
	if logs.Len() != 0 {
		t.Fatalf("logged: %s", logs)
	}
}

func TestBrokenTemplateFallsBackToTheDefault(t *testing.T) {
	for name, tmpl := range map[string]control.MailTemplate{
		"does not parse":    {Subject: "Hi {{.Email", Body: "<p>{{if}}</p>"},
		"fails when run":    {Subject: "Hi {{.Nope}}", Body: "<p>{{.Missing.Field}}</p>"},
		"writes too much":   {Subject: "x", Body: `{{range 100000000}}xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx{{end}}`},
		"calls a bad thing": {Subject: `{{template "nope"}}`, Body: `{{template "nope"}}`},
	} {
		t.Run(name, func(t *testing.T) {
			s, tn, logs := renderEnv(map[string]control.MailTemplate{mailMagicLink: tmpl})
			m, err := s.renderMail(tn, mailMagicLink, "to@example.com", sampleData)
			if err != nil {
				t.Fatal(err)
			}
			def, _, _ := renderEnv(nil)
			want, _ := def.renderMail(&tenantCtx{t: tn.t, cfg: control.UsersConfig{SiteURL: tn.cfg.SiteURL, SMTP: tn.cfg.SMTP}}, mailMagicLink, "to@example.com", sampleData)
			if name != "writes too much" && m.Subject != want.Subject {
				t.Fatalf("subject %q, want the default %q", m.Subject, want.Subject)
			}
			if m.HTML != want.HTML || m.Text != want.Text {
				t.Fatalf("body is not the default:\n%s", m.HTML)
			}
			if !strings.Contains(logs.String(), "mail body template failed") || !strings.Contains(logs.String(), "mail=magic_link") {
				t.Fatalf("not logged: %s", logs)
			}
		})
	}
}

// readMIME parses a message as a mail client would and returns its headers and the
// bodies of its text/plain and text/html parts.
func readMIME(t *testing.T, raw []byte) (mail.Header, string, string) {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("content type %q: %v", msg.Header.Get("Content-Type"), err)
	}
	var text, html string
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart() // decodes quoted-printable
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(p)
		switch p.Header.Get("Content-Type") {
		case "text/plain; charset=utf-8":
			text = string(b)
		case "text/html; charset=utf-8":
			html = string(b)
		default:
			t.Fatalf("unexpected part %q", p.Header.Get("Content-Type"))
		}
	}
	return msg.Header, text, html
}

func TestSMTPRoundTrip(t *testing.T) {
	sink := startSink(t, nil)
	long := strings.Repeat("ünïcødé and a long line that quoted-printable must break softly ", 20)
	m := &Mail{From: `"Démo App" <noreply@example.com>`, To: "bob@example.com", Subject: "Bienvenue à Kapok",
		Text: "Hello\n" + long + "\n=== end ===\n", HTML: "<p>Hello</p>\n<p>" + long + "</p>\n"}
	cfg := &control.SMTPConfig{Host: "127.0.0.1", Port: sink.Port(), TLS: "none"}
	if err := (smtpMailer{}).Send(context.Background(), cfg, m); err != nil {
		t.Fatal(err)
	}
	got := waitMail(t, sink, "bob@example.com", 1)[0]
	if got.From != "noreply@example.com" || got.TLS || got.AuthUser != "" {
		t.Fatalf("envelope from %q tls %v auth %q", got.From, got.TLS, got.AuthUser)
	}
	h, text, html := readMIME(t, got.Raw)
	dec := new(mime.WordDecoder)
	subject, _ := dec.DecodeHeader(h.Get("Subject"))
	from, err := h.AddressList("From")
	if err != nil || from[0].Name != "Démo App" || from[0].Address != "noreply@example.com" {
		t.Fatalf("From %q: %v", h.Get("From"), err)
	}
	if subject != m.Subject || h.Get("To") != "<bob@example.com>" || h.Get("MIME-Version") != "1.0" {
		t.Fatalf("headers %v", h)
	}
	if d, err := h.Date(); err != nil || time.Since(d) > time.Minute {
		t.Fatalf("Date %q: %v", h.Get("Date"), err)
	}
	if !regexp.MustCompile(`^<[0-9a-f]{32}@example\.com>$`).MatchString(h.Get("Message-ID")) {
		t.Fatalf("Message-ID %q", h.Get("Message-ID"))
	}
	if crlf(m.Text) != text || crlf(m.HTML) != html {
		t.Fatalf("parts differ:\n%q\n%q", text, html)
	}
	// Quoted-printable keeps body lines within 76 characters, whatever the text's.
	_, body, _ := strings.Cut(string(got.Raw), "\r\n\r\n")
	for _, l := range strings.Split(body, "\r\n") {
		if len(l) > 76 {
			t.Fatalf("a line of %d characters: %q", len(l), l)
		}
	}
}

func crlf(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

func TestSMTPEncryption(t *testing.T) {
	cert, pool := selfSigned(t)
	m := &Mail{From: "noreply@example.com", To: "enc@example.com", Subject: "s", Text: "t", HTML: "<p>h</p>"}
	client := smtpMailer{tls: &tls.Config{RootCAs: pool}}
	plain := startSink(t, nil)
	withTLS := startSink(t, &tls.Config{Certificates: []tls.Certificate{cert}})

	t.Run("STARTTLS is used when offered, and PLAIN goes inside it", func(t *testing.T) {
		cfg := &control.SMTPConfig{Host: "127.0.0.1", Port: withTLS.Port(), User: "kapok", Pass: "pw"}
		if err := client.Send(context.Background(), cfg, m); err != nil {
			t.Fatal(err)
		}
		if got := waitMail(t, withTLS, "enc@example.com", 1)[0]; !got.TLS || got.AuthUser != "kapok" {
			t.Fatalf("tls %v auth %q", got.TLS, got.AuthUser)
		}
	})
	t.Run("a server without STARTTLS is refused when starttls is asked for", func(t *testing.T) {
		cfg := &control.SMTPConfig{Host: "127.0.0.1", Port: plain.Port(), TLS: "starttls"}
		if err := client.Send(context.Background(), cfg, m); err == nil || !strings.Contains(err.Error(), "does not offer STARTTLS") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("the default talks plain text to a loopback server without STARTTLS", func(t *testing.T) {
		cfg := &control.SMTPConfig{Host: "127.0.0.1", Port: plain.Port()}
		if err := client.Send(context.Background(), cfg, m); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("tls none never encrypts, even when offered", func(t *testing.T) {
		cfg := &control.SMTPConfig{Host: "127.0.0.1", Port: withTLS.Port(), TLS: "none"}
		if err := client.Send(context.Background(), cfg, &Mail{From: m.From, To: "none@example.com", Subject: "s"}); err != nil {
			t.Fatal(err)
		}
		if got := waitMail(t, withTLS, "none@example.com", 1)[0]; got.TLS {
			t.Fatal("encrypted")
		}
	})
	t.Run("tls none is refused for a server off loopback", func(t *testing.T) {
		cfg := &control.SMTPConfig{Host: "smtp.example.com", TLS: "none"}
		if err := client.Send(context.Background(), cfg, m); err == nil || !strings.Contains(err.Error(), "only allowed for a server on loopback") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("implicit TLS speaks TLS from the first byte", func(t *testing.T) {
		front := tlsFront(t, &tls.Config{Certificates: []tls.Certificate{cert}}, plain.SMTPAddr())
		cfg := &control.SMTPConfig{Host: "127.0.0.1", Port: front, TLS: "tls", User: "u", Pass: "p"}
		if err := client.Send(context.Background(), cfg, &Mail{From: m.From, To: "implicit@example.com", Subject: "s"}); err != nil {
			t.Fatal(err)
		}
		if got := waitMail(t, plain, "implicit@example.com", 1)[0]; got.AuthUser != "u" {
			t.Fatalf("auth %q", got.AuthUser)
		}
		// The same server, not trusted: the mail is not sent.
		if err := (smtpMailer{}).Send(context.Background(), cfg, m); err == nil {
			t.Fatal("sent to an untrusted certificate")
		}
	})
}

// tlsFront terminates TLS on a loopback port and relays the plain bytes to addr: an
// implicit-TLS mail server made of the sink.
func tlsFront(t *testing.T, cfg *tls.Config, addr string) int {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b, err := net.Dial("tcp", addr)
			if err != nil {
				c.Close()
				continue
			}
			wg.Add(2)
			go func() { defer wg.Done(); io.Copy(b, c); b.Close() }()
			go func() { defer wg.Done(); io.Copy(c, b); c.Close() }()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

func TestSendMailFailures(t *testing.T) {
	s, tn, logs := renderEnv(nil)
	// A port nothing listens on: the server cannot be reached.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	tn.cfg.SMTP = control.SMTPConfig{Host: "127.0.0.1", Port: port, User: "kapok", Pass: "hunter2-secret", AdminEmail: "noreply@example.com"}
	resp := s.sendMail(context.Background(), tn, mailRecovery, "to@example.com", sampleData)
	if resp == nil || resp.Status != http.StatusInternalServerError || !strings.Contains(string(resp.Body), `"unexpected_failure"`) {
		t.Fatalf("resp %+v", resp)
	}
	if !strings.Contains(logs.String(), "sending mail failed") || strings.Contains(logs.String(), "hunter2") || strings.Contains(logs.String(), sampleData.Token) {
		t.Fatalf("log: %s", logs)
	}

	tn.cfg.SMTP = control.SMTPConfig{}
	resp = s.sendMail(context.Background(), tn, mailRecovery, "to@example.com", sampleData)
	if resp == nil || resp.Status != http.StatusUnprocessableEntity || !strings.Contains(string(resp.Body), `"smtp_not_configured"`) {
		t.Fatalf("without smtp: %+v", resp)
	}
}

func startSink(t *testing.T, tlsConf *tls.Config) *mailsink.Sink {
	t.Helper()
	s, err := mailsink.StartWith(mailsink.Config{SMTPAddr: "127.0.0.1:0", TLS: tlsConf, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func waitMail(t *testing.T, s *mailsink.Sink, to string, n int) []*mailsink.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ms, err := s.Wait(ctx, to, n)
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

// selfSigned makes a certificate for 127.0.0.1 and a pool trusting it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
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
