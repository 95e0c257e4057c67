package certfile

import (
	"bytes"
	"crypto/tls"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kapok-dev/kapok/internal/devstack"
)

func testTLS(t *testing.T) devstack.TLSFiles {
	t.Helper()
	files, err := devstack.EnsureTLS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func TestTheCertificateIsReloadedWhenItsFilesChange(t *testing.T) {
	first, second := testTLS(t), testTLS(t)
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "server.pem"), filepath.Join(dir, "server-key.pem")
	install := func(f devstack.TLSFiles, at time.Time) {
		for _, p := range [][2]string{{f.Cert, cert}, {f.Key, key}} {
			b, err := os.ReadFile(p[0])
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p[1], b, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chtimes(p[1], at, at); err != nil {
				t.Fatal(err)
			}
		}
	}
	install(first, time.Now().Add(-time.Hour))
	var logged bytes.Buffer
	src, err := Open(cert, key, Options{Interval: time.Hour, Log: slog.New(slog.NewTextHandler(&logged, nil)), Name: "test TLS"})
	if err != nil {
		t.Fatal(err)
	}
	leaf := func() []byte { return src.Certificate().Certificate[0] }
	was := leaf()
	if src.Certificate().Leaf == nil {
		t.Fatal("the leaf is not parsed")
	}
	install(second, time.Now())
	if !bytes.Equal(leaf(), was) {
		t.Fatal("the files were read again before the check interval")
	}
	src.every = time.Nanosecond
	now := leaf()
	if bytes.Equal(now, was) {
		t.Fatal("the new certificate was not loaded")
	}
	if !strings.Contains(logged.String(), "test TLS: certificate reloaded") {
		t.Errorf("the reload was not logged: %s", logged.String())
	}
	if err := os.WriteFile(cert, []byte("half a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(leaf(), now) {
		t.Fatal("a broken file replaced the loaded certificate")
	}
	if !strings.Contains(logged.String(), "test TLS: keeping the loaded certificate") {
		t.Errorf("the broken file was not logged: %s", logged.String())
	}
	// The first pair's certificate with the second pair's key: both files parse, they do not match.
	install(first, time.Now())
	b, _ := os.ReadFile(second.Key)
	if err := os.WriteFile(key, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(leaf(), now) {
		t.Fatal("a certificate with another pair's key replaced the loaded certificate")
	}
	got, err := src.GetCertificate(&tls.ClientHelloInfo{})
	if err != nil || !bytes.Equal(got.Certificate[0], now) {
		t.Fatalf("GetCertificate = %v, %v", got, err)
	}
	if _, err := Open(cert, key, Options{}); err == nil {
		t.Fatal("a mismatched pair was accepted at start")
	}
	if _, err := Open(filepath.Join(dir, "missing.pem"), key, Options{}); err == nil {
		t.Fatal("a missing certificate file was accepted at start")
	}
}
