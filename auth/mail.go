package auth

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"html"
	htmltemplate "html/template"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	texttemplate "text/template"
	"time"

	"github.com/kapok-dev/kapok/control"
)

// The mails Kapok Auth sends, by the name UsersConfig.Templates overrides them with.
const (
	mailConfirmation     = "confirmation"
	mailInvite           = "invite"
	mailMagicLink        = "magic_link"
	mailRecovery         = "recovery"
	mailEmailChange      = "email_change"
	mailReauthentication = "reauthentication"
)

// mailData is what a mail's templates see.
type mailData struct {
	// ConfirmationURL is the link to GET /verify ("" for reauthentication, which is a
	// code only); Token is the code to type, TokenHash the link's token.
	ConfirmationURL string
	Token           string
	TokenHash       string
	SiteURL         string
	// Email is the user's address (for email_change, the current one; NewEmail the new).
	Email      string
	NewEmail   string
	RedirectTo string
}

// defaultMail is one mail's text in the built-in layout: the subject is also the heading;
// intro and action (the button's label) are template fragments over mailData.
type defaultMail struct {
	subject, intro, action string
}

var defaultMails = map[string]defaultMail{
	mailConfirmation: {"Confirm your email",
		"Follow this link to confirm {{.Email}} as the address of your account:", "Confirm my email"},
	mailInvite: {"You have been invited",
		"You have been invited to create an account{{with .SiteURL}} on {{.}}{{end}}. Follow this link to accept:", "Accept the invitation"},
	mailMagicLink: {"Your sign-in link",
		"Follow this link to sign in as {{.Email}}:", "Sign in"},
	mailRecovery: {"Reset your password",
		"Someone asked to reset the password of {{.Email}}. Follow this link to choose a new one:", "Reset my password"},
	mailEmailChange: {"Confirm the change of your email address",
		"Follow this link to confirm the change of your email address from {{.Email}} to {{.NewEmail}}:", "Confirm the change"},
	mailReauthentication: {"Confirm it is you",
		"Enter this code to confirm it is you:", ""},
}

const htmlLayout = `<!doctype html>
<html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width"></head>
<body style="margin:0;padding:0;background:#f4f4f5">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" style="background:#f4f4f5;padding:32px 12px"><tr><td align="center">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" style="max-width:480px;background:#ffffff;border-radius:8px;padding:32px;font-family:-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;color:#18181b">
<tr><td>
<h1 style="font-size:20px;font-weight:600;margin:0 0 16px">{{template "subject" .}}</h1>
<p style="font-size:15px;line-height:1.5;margin:0 0 24px">{{template "intro" .}}</p>
{{if .ConfirmationURL}}<p style="margin:0 0 24px"><a href="{{.ConfirmationURL}}" style="display:inline-block;background:#18181b;color:#ffffff;text-decoration:none;padding:12px 20px;border-radius:6px;font-size:15px">{{template "action" .}}</a></p>
<p style="font-size:13px;line-height:1.5;color:#52525b;margin:0 0 24px">Or enter this code: <strong style="letter-spacing:2px">{{.Token}}</strong></p>
{{else}}<p style="font-size:28px;font-weight:600;letter-spacing:6px;margin:0 0 24px">{{.Token}}</p>
{{end}}<p style="font-size:12px;line-height:1.5;color:#71717a;margin:0">If you did not ask for this, you can ignore this mail.</p>
</td></tr></table>
</td></tr></table>
</body></html>
`

const textLayout = `{{template "subject" .}}

{{template "intro" .}}

{{if .ConfirmationURL}}{{.ConfirmationURL}}

Or enter this code: {{.Token}}{{else}}{{.Token}}{{end}}

If you did not ask for this, you can ignore this mail.
`

// defaultTemplates are the parsed defaults: subject and text as text/template, the body as
// html/template, from the same fragments.
type defaultTemplates struct {
	subject, text *texttemplate.Template
	html          *htmltemplate.Template
}

var builtinMails = func() map[string]defaultTemplates {
	out := map[string]defaultTemplates{}
	for kind, d := range defaultMails {
		fragments := `{{define "subject"}}` + d.subject + `{{end}}{{define "intro"}}` + d.intro + `{{end}}{{define "action"}}` + d.action + `{{end}}`
		out[kind] = defaultTemplates{
			subject: texttemplate.Must(texttemplate.New("subject line").Parse(fragments + `{{template "subject" .}}`)),
			text:    texttemplate.Must(texttemplate.New("text").Parse(fragments + textLayout)),
			html:    htmltemplate.Must(htmltemplate.New("html").Parse(fragments + htmlLayout)),
		}
	}
	return out
}()

// maxRendered bounds what one template may write: a template is configuration, but a
// mistake in one ({{range}} over a large number) must not exhaust memory.
const maxRendered = 256 << 10

type cappedBuffer struct{ bytes.Buffer }

var errTooLong = errors.New("template output exceeds 256 KiB")

func (b *cappedBuffer) Write(p []byte) (int, error) {
	if b.Len()+len(p) > maxRendered {
		return 0, errTooLong
	}
	return b.Buffer.Write(p)
}

// renderMail builds the mail of kind for to. A template of UsersConfig.Templates that
// does not parse or fails to run is logged and replaced by the default, so a mistake in a
// template never stops sign-ups.
func (s *Service) renderMail(tn *tenantCtx, kind, to string, data mailData) (*Mail, error) {
	def, ok := builtinMails[kind]
	if !ok {
		return nil, fmt.Errorf("no mail template %q", kind)
	}
	m := &Mail{From: mailFrom(&tn.cfg), To: to}
	var buf cappedBuffer
	if err := def.subject.Execute(&buf, data); err != nil {
		return nil, err
	}
	m.Subject = buf.String()
	buf.Reset()
	if err := def.text.Execute(&buf, data); err != nil {
		return nil, err
	}
	m.Text = buf.String()
	buf.Reset()
	if err := def.html.Execute(&buf, data); err != nil {
		return nil, err
	}
	m.HTML = buf.String()

	over := tn.cfg.Templates[kind]
	if over.Subject != "" {
		buf.Reset()
		t, err := texttemplate.New("subject").Parse(over.Subject)
		if err == nil {
			err = t.Execute(&buf, data)
		}
		if err != nil {
			s.log.Warn("auth: mail subject template failed, the default is used", "tenant", tn.t.Name, "mail", kind, "err", err)
		} else {
			m.Subject = buf.String()
		}
	}
	if over.Body != "" {
		buf.Reset()
		t, err := htmltemplate.New("body").Parse(over.Body)
		if err == nil {
			err = t.Execute(&buf, data)
		}
		if err != nil {
			s.log.Warn("auth: mail body template failed, the default is used", "tenant", tn.t.Name, "mail", kind, "err", err)
		} else {
			m.HTML = buf.String()
			m.Text = htmlToText(m.HTML)
		}
	}
	// A subject is one header line, whatever a template wrote.
	m.Subject = strings.Join(strings.Fields(m.Subject), " ")
	return m, nil
}

// mailFrom is the From of a tenant's mails: SenderName <AdminEmail>.
func mailFrom(cfg *control.UsersConfig) string {
	addr := cfg.SMTP.AdminEmail
	if addr == "" {
		host := "localhost"
		if u, err := url.Parse(cfg.SiteURL); err == nil && u.Hostname() != "" {
			host = u.Hostname()
		}
		addr = "noreply@" + host
	}
	return (&mail.Address{Name: cfg.SMTP.SenderName, Address: addr}).String()
}

var (
	htmlDropRE  = regexp.MustCompile(`(?is)<(style|script|head|title)\b.*?</(style|script|head|title)\s*>`)
	htmlLinkRE  = regexp.MustCompile(`(?is)<a\b[^>]*?\bhref\s*=\s*["']([^"']*)["'][^>]*>(.*?)</a\s*>`)
	htmlBreakRE = regexp.MustCompile(`(?i)<br\s*/?>|</(p|div|h[1-6]|tr|li|table|blockquote)\s*>`)
	htmlTagRE   = regexp.MustCompile(`(?s)<[^>]*>`)
	blankRunRE  = regexp.MustCompile(`\n{3,}`)
)

// htmlToText is the text part of a mail whose body a template gives as HTML: the words
// and the links' targets, so that a client showing only text still offers the link.
func htmlToText(h string) string {
	h = htmlDropRE.ReplaceAllString(h, "")
	h = htmlLinkRE.ReplaceAllStringFunc(h, func(a string) string {
		sm := htmlLinkRE.FindStringSubmatch(a)
		href := strings.TrimSpace(sm[1])
		label := strings.TrimSpace(htmlTagRE.ReplaceAllString(sm[2], ""))
		if label == "" || html.UnescapeString(label) == html.UnescapeString(href) {
			return href
		}
		return label + " (" + href + ")"
	})
	h = htmlBreakRE.ReplaceAllString(h, "\n")
	h = html.UnescapeString(htmlTagRE.ReplaceAllString(h, ""))
	lines := strings.Split(h, "\n")
	for i, l := range lines {
		lines[i] = strings.Join(strings.Fields(l), " ")
	}
	return strings.TrimSpace(blankRunRE.ReplaceAllString(strings.Join(lines, "\n"), "\n\n")) + "\n"
}

// mailConfigured refuses, before anything is written, the flows that need a mail when
// the tenant has no SMTP server (and no Mailer replaces SMTP).
func (s *Service) mailConfigured(tn *tenantCtx) *Response {
	if s.opts.Mailer == nil && tn.cfg.SMTP.Host == "" {
		return apiError(http.StatusUnprocessableEntity, "smtp_not_configured",
			"This tenant cannot send mail: set auth.users.smtp (host, admin_email) in its configuration")
	}
	return nil
}

// sendMail renders and sends the mail of kind to one address. It answers 422 when the
// tenant has no SMTP server, 429 over the tenant's mail limit (email_tenant), and 500 when
// the server refuses or cannot be reached (logged, without credentials or codes).
func (s *Service) sendMail(ctx context.Context, tn *tenantCtx, kind, to string, data mailData) *Response {
	if r := s.mailConfigured(tn); r != nil {
		return r
	}
	if resp := s.overLimit(tn, "email_tenant", tn.t.Name); resp != nil {
		return resp
	}
	m, err := s.renderMail(tn, kind, to, data)
	if err == nil {
		mailer := s.opts.Mailer
		if mailer == nil {
			mailer = smtpMailer{}
		}
		err = mailer.Send(ctx, &tn.cfg.SMTP, m)
	}
	if err != nil {
		s.log.Error("auth: sending mail failed", "tenant", tn.t.Name, "mail", kind,
			"smtp", net.JoinHostPort(tn.cfg.SMTP.Host, strconv.Itoa(smtpPort(&tn.cfg.SMTP))), "err", err)
		return apiError(http.StatusInternalServerError, "unexpected_failure", "Error sending "+strings.ReplaceAll(kind, "_", " ")+" email")
	}
	return nil
}

// overLimit answers 429 when key is over the limit of kind (see allow), else nil.
func (s *Service) overLimit(tn *tenantCtx, kind, key string) *Response {
	ok, retry := s.allow(tn, kind, key)
	switch {
	case ok:
		return nil
	case kind == "email_tenant":
		return tooManyRequests("over_email_send_rate_limit", "Email rate limit exceeded", retry)
	default:
		return tooManyRequests("over_request_rate_limit", "Request rate limit reached", retry)
	}
}

// smtpMailer sends through the SMTP server of the tenant's configuration.
type smtpMailer struct {
	// tls, when set, is the client TLS configuration (tests trust their own CA with it);
	// its ServerName is set per server.
	tls *tls.Config
}

// smtpTimeout bounds one delivery when the request's context has no earlier deadline.
const smtpTimeout = 30 * time.Second

func smtpPort(c *control.SMTPConfig) int {
	switch {
	case c.Port != 0:
		return c.Port
	case strings.EqualFold(c.TLS, "tls"):
		return 465
	default:
		return 587
	}
}

// Send delivers m. Encryption follows c.TLS: "tls" speaks TLS from the first byte;
// "starttls" requires STARTTLS; "" (the default) uses STARTTLS when the server offers it,
// and talks in plain text only to a loopback server; "none" never encrypts and is allowed
// only on loopback. With a user it authenticates with PLAIN, which only ever goes over TLS
// or to loopback.
func (sm smtpMailer) Send(ctx context.Context, c *control.SMTPConfig, m *Mail) error {
	mode := strings.ToLower(c.TLS)
	switch mode {
	case "", "starttls", "tls", "none":
	default:
		return fmt.Errorf("smtp.tls %q: want starttls, tls or none", c.TLS)
	}
	if c.Host == "" {
		return errors.New("smtp.host is not set")
	}
	loopback := control.IsLoopbackHost(c.Host) // this machine: a server there needs no encryption
	if mode == "none" && !loopback {
		return fmt.Errorf("smtp.tls none is only allowed for a server on loopback, not %s", c.Host)
	}
	from, err := mail.ParseAddress(m.From)
	if err != nil {
		return fmt.Errorf("from address %q: %w", m.From, err)
	}
	if strings.ContainsAny(m.To, "\r\n<>") {
		return fmt.Errorf("recipient %q is not an address", m.To)
	}
	msg, err := buildMessage(m, time.Now(), from.Address)
	if err != nil {
		return err
	}
	tlsConf := &tls.Config{MinVersion: tls.VersionTLS12}
	if sm.tls != nil {
		tlsConf = sm.tls.Clone()
	}
	tlsConf.ServerName = c.Host

	addr := net.JoinHostPort(c.Host, strconv.Itoa(smtpPort(c)))
	deadline := time.Now().Add(smtpTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	var d net.Dialer
	dctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	conn, err := d.DialContext(dctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(deadline)
	if mode == "tls" {
		tc := tls.Client(conn, tlsConf)
		if err := tc.HandshakeContext(dctx); err != nil {
			return fmt.Errorf("TLS with %s: %w", addr, err)
		}
		conn = tc
	}
	cl, err := smtp.NewClient(conn, c.Host)
	if err != nil {
		return err
	}
	defer cl.Close()
	if err := cl.Hello(heloName()); err != nil {
		return err
	}
	if mode == "" || mode == "starttls" {
		if ok, _ := cl.Extension("STARTTLS"); ok {
			if err := cl.StartTLS(tlsConf); err != nil {
				return fmt.Errorf("STARTTLS with %s: %w", addr, err)
			}
		} else if mode == "starttls" || !loopback {
			return fmt.Errorf("%s does not offer STARTTLS (set smtp.tls: tls for a server that speaks TLS at once)", addr)
		}
	}
	if c.User != "" {
		if err := cl.Auth(smtp.PlainAuth("", c.User, c.Pass, c.Host)); err != nil {
			return fmt.Errorf("authenticating as %s: %w", c.User, err)
		}
	}
	if err := cl.Mail(from.Address); err != nil {
		return err
	}
	if err := cl.Rcpt(m.To); err != nil {
		return err
	}
	w, err := cl.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(msg); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return cl.Quit()
}

// heloName is this machine's name for EHLO when it looks like one, else localhost.
func heloName() string {
	if h, err := os.Hostname(); err == nil && h != "" && !strings.ContainsAny(h, " \t\r\n") {
		return h
	}
	return "localhost"
}

// buildMessage writes m as a MIME message: multipart/alternative with the text part
// first (clients show the last part they can), both quoted-printable UTF-8.
func buildMessage(m *Mail, now time.Time, fromAddr string) ([]byte, error) {
	var b bytes.Buffer
	var id [16]byte
	_, _ = rand.Read(id[:])
	domain := "localhost"
	if at := strings.LastIndexByte(fromAddr, '@'); at >= 0 {
		domain = fromAddr[at+1:]
	}
	mw := multipart.NewWriter(&b)
	hdr := []struct{ k, v string }{
		{"From", m.From},
		{"To", (&mail.Address{Address: m.To}).String()},
		{"Subject", mime.QEncoding.Encode("utf-8", m.Subject)},
		{"Date", now.Format(time.RFC1123Z)},
		{"Message-ID", "<" + hex.EncodeToString(id[:]) + "@" + domain + ">"},
		{"MIME-Version", "1.0"},
		{"Content-Type", `multipart/alternative; boundary="` + mw.Boundary() + `"`},
	}
	var head bytes.Buffer
	for _, h := range hdr {
		if strings.ContainsAny(h.v, "\r\n") {
			return nil, fmt.Errorf("header %s holds a line break", h.k)
		}
		head.WriteString(h.k + ": " + h.v + "\r\n")
	}
	head.WriteString("\r\n")
	for _, p := range []struct{ ctype, body string }{{"text/plain; charset=utf-8", m.Text}, {"text/html; charset=utf-8", m.HTML}} {
		pw, err := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {p.ctype}, "Content-Transfer-Encoding": {"quoted-printable"}})
		if err != nil {
			return nil, err
		}
		qw := quotedprintable.NewWriter(pw)
		if _, err := io.WriteString(qw, strings.ReplaceAll(p.body, "\r\n", "\n")); err != nil {
			return nil, err
		}
		if err := qw.Close(); err != nil {
			return nil, err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	return append(head.Bytes(), b.Bytes()...), nil
}
