package devstack

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"os"
	"testing"
)

func TestTheLocalCertificateVerifiesForLoopbackAndIsMadeOnce(t *testing.T) {
	dir := t.TempDir()
	f, err := EnsureTLS(dir)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(f.Cert, f.Key)
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(f.CA)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		t.Fatal("ca.pem holds no certificate")
	}
	for _, name := range []string{"127.0.0.1", "::1", "localhost"} {
		if _, err := pair.Leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: name}); err != nil {
			t.Errorf("the server certificate does not verify for %s: %v", name, err)
		}
	}
	if _, err := pair.Leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: "example.com"}); err == nil {
		t.Error("the server certificate verifies for example.com")
	}
	if fi, err := os.Stat(f.Key); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("server-key.pem mode = %v, %v; want 0600", fi.Mode(), err)
	}
	again, err := EnsureTLS(dir)
	if err != nil {
		t.Fatal(err)
	}
	caPEM2, _ := os.ReadFile(again.CA)
	if again != f || !bytes.Equal(caPEM, caPEM2) {
		t.Error("a second EnsureTLS made new files: clients trusting the first CA would break")
	}
}
