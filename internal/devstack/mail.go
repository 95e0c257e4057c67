package devstack

import (
	"fmt"
	"io"
	"path/filepath"

	"github.com/kapok-dev/kapok/internal/mailsink"
)

// The mail sink that `kapok dev` runs in its own process, beside Kapok: a tenant whose
// auth.users.smtp names it (host 127.0.0.1, port 54325, tls: none) has its confirmation,
// magic-link and recovery mails kept there, readable at the mailbox URL, instead of sent.
const (
	MailSMTPPort = "54325"
	MailSMTPAddr = "127.0.0.1:" + MailSMTPPort
	MailHTTPAddr = "127.0.0.1:54326"
)

// mailDir is the stack directory's entry for the sink's .eml files.
const mailDir = "mail"

// startMail starts the mail sink on smtpAddr and httpAddr, keeping messages in dir/mail
// too, and returns its mailbox URL and how to stop it. When it cannot listen (another
// `kapok dev` holds the ports, whose sink then gets the mails) it says so on warn and
// returns "" and a no-op: serving goes on without it.
func startMail(dir, smtpAddr, httpAddr string, warn io.Writer) (url string, stop func()) {
	s, err := mailsink.Start(smtpAddr, httpAddr, filepath.Join(dir, mailDir))
	if err != nil {
		fmt.Fprintf(warn, "kapok dev: no mail sink: %v\n", err)
		return "", func() {}
	}
	return s.URL(), func() { s.Close() }
}
