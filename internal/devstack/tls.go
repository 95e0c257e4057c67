package devstack

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// TLSFiles are a local certificate authority and a server certificate it signed for
// 127.0.0.1, ::1 and localhost: what the wire port needs for sslmode=verify-full.
type TLSFiles struct {
	CA, Cert, Key string // PEM files
}

// tlsValidity is long: the certificates only ever serve this machine's loopback.
const tlsValidity = 10 * 365 * 24 * time.Hour

// EnsureTLS returns the TLS files under dir (dir/tls), creating them the first time; files
// already there are kept, so a client trusting the CA keeps trusting it.
func EnsureTLS(dir string) (TLSFiles, error) {
	d := filepath.Join(dir, "tls")
	f := TLSFiles{CA: filepath.Join(d, "ca.pem"), Cert: filepath.Join(d, "server.pem"), Key: filepath.Join(d, "server-key.pem")}
	if fileExists(f.CA) && fileExists(f.Cert) && fileExists(f.Key) {
		return f, nil
	}
	if err := os.MkdirAll(d, 0o700); err != nil {
		return f, fmt.Errorf("TLS files: %w", err)
	}
	ca, cert, key, err := localCertificates(time.Now())
	if err != nil {
		return f, fmt.Errorf("TLS files: %w", err)
	}
	for _, w := range []struct {
		path string
		pem  []byte
		mode os.FileMode
	}{{f.CA, ca, 0o644}, {f.Key, key, 0o600}, {f.Cert, cert, 0o644}} {
		if err := writeAtomic(w.path, w.pem, w.mode); err != nil {
			return f, fmt.Errorf("TLS files: %w", err)
		}
	}
	return f, nil
}

// localCertificates makes a CA and a server certificate (ECDSA P-256) for the loopback
// names, in PEM.
func localCertificates(now time.Time) (caPEM, certPEM, keyPEM []byte, err error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, err
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "Kapok local CA", Organization: []string{"Kapok dev stack"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(tlsValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, nil, nil, err
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, nil, nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: "localhost", Organization: []string{"Kapok dev stack"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(tlsValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		return nil, nil, nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil || n.Sign() == 0 {
		return big.NewInt(time.Now().UnixNano())
	}
	return n
}

// writeAtomic writes path through a temporary file and a rename, so a reader never sees
// half a file.
func writeAtomic(path string, b []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	_, werr := tmp.Write(b)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr, os.Chmod(tmp.Name(), mode)); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}
