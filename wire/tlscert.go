package wire

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// certCheckEvery is how often the certificate files are looked at for a change.
const certCheckEvery = 10 * time.Second

// certSource serves the wire port's certificate from files and loads them again when they
// change (a renewed certificate needs no restart). A bad new pair is logged and the one
// loaded before stays in use.
type certSource struct {
	certFile, keyFile string
	every             time.Duration
	log               *slog.Logger

	mu      sync.Mutex
	cur     *servedCert
	checked time.Time
	mods    [2]time.Time
}

// servedCert is a loaded pair with its channel binding data.
type servedCert struct {
	cert    *tls.Certificate
	binding []byte // tls-server-end-point
}

func newCertSource(certFile, keyFile string, log *slog.Logger) (*certSource, error) {
	s := &certSource{certFile: certFile, keyFile: keyFile, every: certCheckEvery, log: log}
	mods, err := s.stat()
	if err != nil {
		return nil, err
	}
	cur, err := s.load()
	if err != nil {
		return nil, err
	}
	s.cur, s.mods, s.checked = cur, mods, time.Now()
	return s, nil
}

func (s *certSource) stat() ([2]time.Time, error) {
	var mods [2]time.Time
	for i, p := range []string{s.certFile, s.keyFile} {
		fi, err := os.Stat(p)
		if err != nil {
			return mods, fmt.Errorf("wire TLS: %w", err)
		}
		mods[i] = fi.ModTime()
	}
	return mods, nil
}

func (s *certSource) load() (*servedCert, error) {
	c, err := tls.LoadX509KeyPair(s.certFile, s.keyFile)
	if err != nil {
		return nil, fmt.Errorf("wire TLS: certificate %s and key %s: %w", s.certFile, s.keyFile, err)
	}
	leaf := c.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(c.Certificate[0]); err != nil {
			return nil, fmt.Errorf("wire TLS: certificate %s: %w", s.certFile, err)
		}
	}
	return &servedCert{cert: &c, binding: endpointBinding(leaf)}, nil
}

// get returns the current pair, loading the files again if they changed since the last
// look, at most every s.every.
func (s *certSource) get() *servedCert {
	s.mu.Lock()
	defer s.mu.Unlock()
	if time.Since(s.checked) < s.every {
		return s.cur
	}
	s.checked = time.Now()
	mods, err := s.stat()
	if err != nil || mods == s.mods {
		if err != nil {
			s.log.Warn("wire TLS: keeping the loaded certificate", "err", err)
		}
		return s.cur
	}
	cur, err := s.load()
	if err != nil {
		// Maybe half written: try again at the next look.
		s.log.Warn("wire TLS: keeping the loaded certificate", "err", err)
		return s.cur
	}
	s.cur, s.mods = cur, mods
	s.log.Info("wire TLS: certificate reloaded", "file", s.certFile)
	return s.cur
}

// serverConfig is the TLS config of one connection; served records the pair it presented
// (its channel binding data is the connection's).
func (s *certSource) serverConfig(served **servedCert) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			c := s.get()
			*served = c
			return c.cert, nil
		},
	}
}
