package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kapok-dev/kapok/control"
	"github.com/kapok-dev/kapok/internal/devstack"
	"github.com/kapok-dev/kapok/internal/testenv"
)

const httpsAdminKey = "https-t-admin-key"

// httpsSchema is the tenant's schema, made afresh.
func httpsSchema(t *testing.T) {
	testenv.FreshSchema(t, "https_t", "CREATE TABLE items (id int PRIMARY KEY, name text); INSERT INTO items VALUES (1, 'one')")
}

// httpsServeConfig serves one tenant (table items, one row) with the wire port off.
func httpsServeConfig(t *testing.T, tlsCfg control.TLSConfig) *control.Config {
	t.Helper()
	cfg := &control.Config{
		Listen: "127.0.0.1:0", AdminKey: httpsAdminKey,
		Upstreams: map[string]*control.Upstream{"dev": {URL: testenv.DirectURL(), Pooler: testenv.PoolerURL()}},
		Tenants:   []*control.TenantConfig{{Name: "https-t", Schemas: []string{"https_t"}, Isolation: control.IsolationNone}},
		Events:    control.EventsConfig{Disabled: true},
		Wire:      control.WireConfig{Disabled: true},
		TLS:       tlsCfg,
	}
	if err := cfg.Normalize(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// serveInBackground runs serve until stop or the end of the test and returns the HTTPS
// address it logged.
func serveInBackground(t *testing.T, cfg *control.Config, logs *syncBuffer) (addr string, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, slog.New(slog.NewTextHandler(logs, nil)), nil) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("serve: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Error("serve did not stop")
			}
		})
	}
	t.Cleanup(stop)
	re := regexp.MustCompile(`http=https://(127\.0\.0\.1:\d+)`)
	for end := time.Now().Add(20 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if m := re.FindStringSubmatch(logs.String()); m != nil {
			return m[1], stop
		}
		select {
		case err := <-done:
			t.Fatalf("serve stopped: %v\n%s", err, logs)
		default:
		}
	}
	t.Fatalf("serve logged no HTTPS address:\n%s", logs)
	return "", nil
}

// caPool trusts the PEM certificates in files.
func caPool(t *testing.T, files ...string) *x509.CertPool {
	t.Helper()
	pool := x509.NewCertPool()
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !pool.AppendCertsFromPEM(b) {
			t.Fatalf("%s holds no certificate", f)
		}
	}
	return pool
}

// leafOf is the DER of the certificate in the PEM file.
func leafOf(t *testing.T, file string) []byte {
	t.Helper()
	c, err := tls.LoadX509KeyPair(file, strings.TrimSuffix(file, ".pem")+"-key.pem")
	if err != nil {
		t.Fatal(err)
	}
	return c.Certificate[0]
}

func TestHTTPSServesTheCertificateFilesAndTheirReplacement(t *testing.T) {
	httpsSchema(t)
	first, err := devstack.EnsureTLS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	second, err := devstack.EnsureTLS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "server.pem"), filepath.Join(dir, "server-key.pem")
	install := func(f devstack.TLSFiles) {
		for _, p := range [][2]string{{f.Cert, cert}, {f.Key, key}} {
			b, err := os.ReadFile(p[0])
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p[1], b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	install(first)
	const interval = 300 * time.Millisecond
	redirect := freePort(t)
	logs := &syncBuffer{}
	addr, _ := serveInBackground(t, httpsServeConfig(t, control.TLSConfig{CertFile: cert, KeyFile: key,
		ReloadInterval: control.Duration(interval), RedirectHTTP: redirect}), logs)

	// Each request is a new connection, so each gets the certificate of its handshake.
	client := func(roots *x509.CertPool) *http.Client {
		return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true,
			TLSClientConfig: &tls.Config{RootCAs: roots, NextProtos: []string{"h2", "http/1.1"}}}}
	}
	items := "https://" + addr + "/t/https-t/rest/v1/items?select=id,name"
	get := func(c *http.Client) (*http.Response, string, error) {
		req, _ := http.NewRequest("GET", items, nil)
		req.Header.Set("X-Kapok-Admin-Key", httpsAdminKey)
		resp, err := c.Do(req)
		if err != nil {
			return nil, "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp, string(b), err
	}
	trustsFirst, trustsSecond := client(caPool(t, first.CA)), client(caPool(t, second.CA))

	t.Run("a client trusting the CA reads the tenant over HTTPS", func(t *testing.T) {
		resp, body, err := get(trustsFirst)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 200 || body != `[{"id":1,"name":"one"}]` {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
		if !bytes.Equal(resp.TLS.PeerCertificates[0].Raw, leafOf(t, first.Cert)) {
			t.Fatal("the served certificate is not the file's")
		}
		if resp.TLS.NegotiatedProtocol != "http/1.1" {
			t.Errorf("ALPN = %q", resp.TLS.NegotiatedProtocol)
		}
	})
	t.Run("a client trusting another CA is refused the handshake", func(t *testing.T) {
		if _, _, err := get(trustsSecond); err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Fatalf("err = %v, want a certificate error", err)
		}
	})
	t.Run("an oversized body is answered 413 through TLS", func(t *testing.T) {
		req, _ := http.NewRequest("POST", "https://"+addr+"/t/https-t/rest/v1/items", bytes.NewReader(make([]byte, 4<<20)))
		req.Header.Set("Content-Type", "application/json")
		resp, err := trustsFirst.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 413 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	})
	t.Run("plain HTTP on redirect_http is sent to the same URL over HTTPS with 308", func(t *testing.T) {
		plain := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		for _, method := range []string{"GET", "POST"} {
			req, _ := http.NewRequest(method, "http://"+redirect+"/t/https-t/rest/v1/items?select=id", strings.NewReader("{}"))
			resp, err := plain.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if want := "https://" + addr + "/t/https-t/rest/v1/items?select=id"; resp.StatusCode != http.StatusPermanentRedirect || resp.Header.Get("Location") != want {
				t.Fatalf("%s: %d to %q, want 308 to %q", method, resp.StatusCode, resp.Header.Get("Location"), want)
			}
		}
	})

	t.Run("replaced files are served from the first connection after the check interval", func(t *testing.T) {
		install(second)
		replaced := time.Now()
		time.Sleep(interval + 50*time.Millisecond)
		resp, body, err := get(trustsSecond)
		if err != nil {
			t.Fatalf("%v\n%s", err, logs)
		}
		if resp.StatusCode != 200 || !bytes.Equal(resp.TLS.PeerCertificates[0].Raw, leafOf(t, second.Cert)) {
			t.Fatalf("%d %s: not the new certificate", resp.StatusCode, body)
		}
		t.Logf("new certificate served %s after the files were replaced (interval %s)", time.Since(replaced).Round(time.Millisecond), interval)
		if _, _, err := get(trustsFirst); err == nil {
			t.Fatal("the old certificate is still served")
		}
		if !strings.Contains(logs.String(), "HTTPS: certificate reloaded") {
			t.Errorf("the reload was not logged:\n%s", logs)
		}
	})
	t.Run("a bad new pair keeps the loaded certificate and is logged", func(t *testing.T) {
		// The first CA's certificate with the second pair's key: both parse, they do not match.
		b, _ := os.ReadFile(first.Cert)
		if err := os.WriteFile(cert, b, 0o600); err != nil {
			t.Fatal(err)
		}
		time.Sleep(interval + 50*time.Millisecond)
		resp, _, err := get(trustsSecond)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(resp.TLS.PeerCertificates[0].Raw, leafOf(t, second.Cert)) {
			t.Fatal("a mismatched pair replaced the loaded certificate")
		}
		if !strings.Contains(logs.String(), "HTTPS: keeping the loaded certificate") {
			t.Errorf("the bad pair was not logged:\n%s", logs)
		}
	})
}

func TestServeRefusesAMissingCertificateBeforeListening(t *testing.T) {
	dir := t.TempDir()
	cfg := httpsServeConfig(t, control.TLSConfig{CertFile: filepath.Join(dir, "none.pem"), KeyFile: filepath.Join(dir, "none-key.pem")})
	cfg.Listen = freePort(t)
	err := serve(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "HTTPS") {
		t.Fatalf("serve = %v, want the missing file named", err)
	}
}
