package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/kapok-dev/kapok/control"
)

// Pebble, Let's Encrypt's ACME test server, is built from the module proxy at test time:
// nothing of it is vendored and the server's go.mod does not name it.
const (
	pebbleModule  = "github.com/letsencrypt/pebble/v2"
	pebbleVersion = "v2.10.3"
	// acmeZone is the test's DNS zone: every name in it resolves to 127.0.0.1.
	acmeZone = "kapok.test."
)

// TestACMECertificatesFromPebble obtains certificates from a real ACME server that really
// validates: Pebble connects to Kapok for each challenge, after resolving the domain
// through the test's DNS server. Kapok a is reachable only by TLS-ALPN-01 (its listener is
// Pebble's TLS port), Kapok b only by HTTP-01 (its challenge address is Pebble's HTTP port,
// while Pebble's TLS-ALPN-01 attempt for it reaches a, which holds no token for it).
func TestACMECertificatesFromPebble(t *testing.T) {
	began := time.Now()
	httpsSchema(t)
	bin, minica := buildPebble(t)
	t.Logf("Pebble built in %s", time.Since(began).Round(time.Millisecond))
	dns := serveTestDNS(t)
	tlsPort, httpPort := freePort(t), freePort(t)
	pb := startPebble(t, bin, minica, dns, port(t, tlsPort), port(t, httpPort))
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pb.root)

	acmeFor := func(domain, challenge string) control.TLSConfig {
		return control.TLSConfig{ACME: &control.ACMEConfig{Domains: []string{domain}, Email: "ops@kapok.test",
			DirectoryURL: pb.directory, CacheDir: filepath.Join(t.TempDir(), "acme"), CARootsFile: minica, HTTPChallengeAddr: challenge}}
	}
	aCfg := httpsServeConfig(t, acmeFor("a.kapok.test", freePort(t)))
	aCfg.Listen = tlsPort
	bCfg := httpsServeConfig(t, acmeFor("b.kapok.test", httpPort))
	aLogs, bLogs := &syncBuffer{}, &syncBuffer{}
	started := time.Now()
	aAddr, stopA := serveInBackground(t, aCfg, aLogs)
	bAddr, _ := serveInBackground(t, bCfg, bLogs)

	// handshake connects to addr asking for name, trusting Pebble's root only.
	handshake := func(addr, name string) (tls.ConnectionState, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
		defer cancel()
		d := &tls.Dialer{Config: &tls.Config{ServerName: name, RootCAs: roots}}
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return tls.ConnectionState{}, err
		}
		defer c.Close()
		return c.(*tls.Conn).ConnectionState(), nil
	}
	leaves := map[string][]byte{}
	for _, k := range []struct {
		name, addr, domain string
		logs               *syncBuffer
	}{{"a", aAddr, "a.kapok.test", aLogs}, {"b", bAddr, "b.kapok.test", bLogs}} {
		t.Run(k.name+" serves a certificate for its domain that chains to Pebble's root", func(t *testing.T) {
			st, err := handshake(k.addr, k.domain)
			if err != nil {
				t.Fatalf("%v\nkapok:\n%s\npebble:\n%s", err, k.logs, pb.logs)
			}
			leaf := st.PeerCertificates[0]
			if len(leaf.DNSNames) != 1 || leaf.DNSNames[0] != k.domain {
				t.Errorf("SAN = %v", leaf.DNSNames)
			}
			chain := st.VerifiedChains[0]
			if top := chain[len(chain)-1]; !bytes.Equal(top.Raw, rootDER(t, pb.root)) {
				t.Errorf("the chain ends at %s, not Pebble's root", top.Subject)
			}
			leaves[k.name] = leaf.Raw
			// The handshake may have been served by the issuance Kapok starts at launch
			// before that goroutine logs it: give the line a moment.
			ready := regexp.MustCompile(`ACME: certificate ready.*took=(\S+)`)
			took := ready.FindStringSubmatch(k.logs.String())
			for deadline := time.Now().Add(30 * time.Second); took == nil && time.Now().Before(deadline); {
				time.Sleep(50 * time.Millisecond)
				took = ready.FindStringSubmatch(k.logs.String())
			}
			if took == nil {
				t.Fatalf("no issuance logged within 30 s of the handshake:\n%s", k.logs)
			}
			t.Logf("issued by Pebble in %s (kapok's log); first handshake %s after serve began; issuer %q, %d certificates served",
				took[1], time.Since(started).Round(time.Millisecond), leaf.Issuer.String(), len(st.PeerCertificates))
		})
	}
	if t.Failed() {
		return
	}
	t.Run("each domain was validated by the challenge its Kapok alone could answer", func(t *testing.T) {
		logs := pb.logs.String()
		if !strings.Contains(logs, "Attempting to validate w/ HTTP: http://b.kapok.test:"+port(t, httpPort)) {
			t.Errorf("b was not validated over HTTP-01:\n%s", logs)
		}
		if strings.Contains(logs, "http://a.kapok.test") {
			t.Errorf("a was validated over HTTP-01, not TLS-ALPN-01:\n%s", logs)
		}
	})
	t.Run("HTTPS requests are served with the certificate", func(t *testing.T) {
		client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: roots},
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, network, aAddr)
			}}}
		req, _ := http.NewRequest("GET", "https://a.kapok.test:"+port(t, aAddr)+"/t/https-t/rest/v1/items?select=name", nil)
		req.Header.Set("X-Kapok-Admin-Key", httpsAdminKey)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || string(b) != `[{"name":"one"}]` {
			t.Fatalf("%d %s", resp.StatusCode, b)
		}
	})
	t.Run("a client that sends no server name gets the first domain's certificate", func(t *testing.T) {
		c, err := tls.Dial("tcp", aAddr, &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if !bytes.Equal(c.ConnectionState().PeerCertificates[0].Raw, leaves["a"]) {
			t.Fatal("another certificate")
		}
	})
	t.Run("a name outside the domains gets no certificate and the CA is not asked", func(t *testing.T) {
		if _, err := handshake(aAddr, "other.kapok.test"); err == nil {
			t.Fatal("the handshake succeeded")
		}
		if strings.Contains(pb.logs.String(), "other.kapok.test") {
			t.Fatal("Pebble was asked for the name")
		}
	})
	t.Run("the challenge address redirects other requests to HTTPS with 308", func(t *testing.T) {
		plain := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		req, _ := http.NewRequest("POST", "http://"+httpPort+"/t/https-t/rest/v1/items?select=id", strings.NewReader("{}"))
		req.Host = "b.kapok.test"
		resp, err := plain.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if want := "https://b.kapok.test:" + port(t, bAddr) + "/t/https-t/rest/v1/items?select=id"; resp.StatusCode != http.StatusPermanentRedirect || resp.Header.Get("Location") != want {
			t.Fatalf("%d to %q, want 308 to %q", resp.StatusCode, resp.Header.Get("Location"), want)
		}
	})
	t.Run("after a restart the certificate comes from the cache, not from the CA", func(t *testing.T) {
		validations := strings.Count(pb.logs.String(), "Pulled a task from the Tasks queue")
		stopA()
		restarted := time.Now()
		aAddr, _ := serveInBackground(t, aCfg, &syncBuffer{})
		st, err := handshake(aAddr, "a.kapok.test")
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(st.PeerCertificates[0].Raw, leaves["a"]) {
			t.Fatal("a new certificate was obtained")
		}
		if n := strings.Count(pb.logs.String(), "Pulled a task from the Tasks queue"); n != validations {
			t.Fatalf("Pebble validated %d more challenges", n-validations)
		}
		t.Logf("served from the cache %s after the restart began", time.Since(restarted).Round(time.Millisecond))
	})
	t.Logf("whole test %s", time.Since(began).Round(time.Millisecond))
}

// buildPebble installs Pebble's command from the module proxy into a temporary directory
// (the Go build cache makes every build after the first a link) and returns it with the
// path of Pebble's test CA, which signs the certificate of Pebble's own API.
func buildPebble(t *testing.T) (bin, minica string) {
	t.Helper()
	dir := t.TempDir()
	// Outside any module, with nothing of this module's settings: go install pkg@version.
	env := append(os.Environ(), "GOWORK=off", "GOFLAGS=", "GOBIN="+dir)
	run := func(args ...string) []byte {
		cmd := exec.Command("go", args...)
		cmd.Dir, cmd.Env = dir, env
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go %s: %v\n%s\nPebble is fetched through the Go module proxy (GOPROXY)", strings.Join(args, " "), err, stderr.String())
		}
		return out
	}
	var mod struct{ Dir string }
	if err := json.Unmarshal(run("mod", "download", "-json", pebbleModule+"@"+pebbleVersion), &mod); err != nil || mod.Dir == "" {
		t.Fatalf("go mod download: no module directory (%v)", err)
	}
	run("install", pebbleModule+"/cmd/pebble@"+pebbleVersion)
	return filepath.Join(dir, "pebble"), filepath.Join(mod.Dir, "test", "certs", "pebble.minica.pem")
}

type pebble struct {
	directory string // the ACME directory URL
	root      []byte // PEM of the root its certificates chain to
	logs      *syncBuffer
}

// startPebble runs Pebble on free loopback ports; its validation authority connects to
// port tlsPort for TLS-ALPN-01 and httpPort for HTTP-01 at the address dns gives.
func startPebble(t *testing.T, bin, minica, dns, tlsPort, httpPort string) *pebble {
	t.Helper()
	certs := filepath.Join(filepath.Dir(minica), "localhost")
	apiAddr, mgmtAddr := freePort(t), freePort(t)
	var conf struct {
		Pebble map[string]any `json:"pebble"`
	}
	conf.Pebble = map[string]any{
		"listenAddress": apiAddr, "managementListenAddress": mgmtAddr,
		"certificate": filepath.Join(certs, "cert.pem"), "privateKey": filepath.Join(certs, "key.pem"),
		"httpPort": mustAtoi(t, httpPort), "tlsPort": mustAtoi(t, tlsPort),
		"ocspResponderURL": "", "externalAccountBindingRequired": false, "keyAlgorithm": "ecdsa",
		// Clients poll an order or authorization this often.
		"retryAfter": map[string]int{"authz": 1, "order": 1},
	}
	b, _ := json.Marshal(conf)
	path := filepath.Join(t.TempDir(), "pebble.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	cmd := exec.Command(bin, "-config", path, "-dnsserver", dns)
	// Validation at full speed, no nonce refused at random, and real validation.
	cmd.Env = append(os.Environ(), "PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0", "PEBBLE_VA_ALWAYS_VALID=0")
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("pebble:\n%s", logs)
		}
	})
	pemCA, err := os.ReadFile(minica)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemCA)
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	get := func(url string) ([]byte, error) {
		resp, err := client.Get(url)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err == nil && resp.StatusCode != 200 {
			err = fmt.Errorf("%s: %d %s", url, resp.StatusCode, b)
		}
		return b, err
	}
	p := &pebble{directory: "https://" + apiAddr + "/dir", logs: logs}
	for end := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		_, err := get(p.directory)
		if err == nil {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("Pebble does not answer: %v\n%s", err, logs)
		}
	}
	if p.root, err = get("https://" + mgmtAddr + "/roots/0"); err != nil {
		t.Fatal(err)
	}
	return p
}

// serveTestDNS answers, over TCP as Pebble asks, A queries for names in acmeZone with
// 127.0.0.1, AAAA queries there with nothing, and anything else with NXDOMAIN.
func serveTestDNS(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				for {
					_ = c.SetDeadline(time.Now().Add(10 * time.Second))
					var n uint16
					if binary.Read(c, binary.BigEndian, &n) != nil {
						return
					}
					q := make([]byte, n)
					if _, err := io.ReadFull(c, q); err != nil {
						return
					}
					a, err := dnsAnswer(q)
					if err != nil {
						return
					}
					if _, err := c.Write(binary.BigEndian.AppendUint16(nil, uint16(len(a)))); err != nil {
						return
					}
					if _, err := c.Write(a); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

func dnsAnswer(query []byte) ([]byte, error) {
	var p dnsmessage.Parser
	h, err := p.Start(query)
	if err != nil {
		return nil, err
	}
	q, err := p.Question()
	if err != nil {
		return nil, err
	}
	name := strings.ToLower(q.Name.String())
	inZone := name == acmeZone || strings.HasSuffix(name, "."+acmeZone)
	rcode := dnsmessage.RCodeSuccess
	if !inZone {
		rcode = dnsmessage.RCodeNameError
	}
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RecursionDesired: h.RecursionDesired, RCode: rcode})
	if err := b.StartQuestions(); err != nil {
		return nil, err
	}
	if err := b.Question(q); err != nil {
		return nil, err
	}
	if err := b.StartAnswers(); err != nil {
		return nil, err
	}
	if inZone && q.Type == dnsmessage.TypeA {
		if err := b.AResource(dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 60},
			dnsmessage.AResource{A: [4]byte{127, 0, 0, 1}}); err != nil {
			return nil, err
		}
	}
	return b.Finish()
}

// rootDER is the certificate in Pebble's PEM root.
func rootDER(t *testing.T, pemRoot []byte) []byte {
	t.Helper()
	b, _ := pem.Decode(pemRoot)
	if b == nil || b.Type != "CERTIFICATE" {
		t.Fatalf("Pebble's root is not a PEM certificate: %q", pemRoot)
	}
	return b.Bytes
}

func port(t *testing.T, addr string) string {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
