package devstack

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/smtp"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMailSinkOfKapokDev(t *testing.T) {
	dir := t.TempDir()
	smtpAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	httpAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	var warn bytes.Buffer
	url, stop := startMail(dir, smtpAddr, httpAddr, &warn)
	defer stop()
	if url != "http://"+httpAddr || warn.Len() != 0 {
		t.Fatalf("url %q, warned %q", url, warn.String())
	}
	if err := smtp.SendMail(smtpAddr, nil, "noreply@example.com", []string{"dev@example.com"}, []byte("Subject: hi\r\n\r\nhello\r\n")); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, mailDir, "*.eml"))
	if len(files) != 1 {
		t.Fatalf("%d files in %s", len(files), mailDir)
	}
	if b, _ := os.ReadFile(files[0]); string(b) != "Subject: hi\r\n\r\nhello\r\n" {
		t.Fatalf("file %q", b)
	}
	resp, err := http.Get(url + "/api/messages")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), `"subject":"hi"`) {
		t.Fatalf("mailbox: %s", b)
	}
	// Clean wipes a stack directory holding mail.
	if !ownedNames[mailDir] {
		t.Fatal("Clean would refuse a stack directory with mail")
	}

	// The ports are taken (a second `kapok dev`): a warning, and serving goes on.
	url2, stop2 := startMail(t.TempDir(), smtpAddr, httpAddr, &warn)
	stop2()
	if url2 != "" || !strings.Contains(warn.String(), "no mail sink") {
		t.Fatalf("second sink: %q, warned %q", url2, warn.String())
	}

	var out bytes.Buffer
	printTry(&out, &Stack{}, url)
	if !strings.Contains(out.String(), "port: "+MailSMTPPort) || !strings.Contains(out.String(), url) {
		t.Fatalf("printTry:\n%s", out.String())
	}
	out.Reset()
	printTry(&out, &Stack{}, "")
	if strings.Contains(out.String(), "Mail") {
		t.Fatalf("printTry without a sink:\n%s", out.String())
	}
}
