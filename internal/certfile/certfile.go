// Package certfile serves a TLS certificate from PEM files and loads them again when they
// change, so a renewed certificate (cert-manager, certbot, a rotated Kubernetes secret) needs
// no restart. Both of Kapok's TLS listeners use it: the Postgres wire port and HTTPS. It only
// reads files; obtaining certificates is someone else's job.
package certfile

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// DefaultInterval is how often the files are looked at for a change when Options names none.
const DefaultInterval = 10 * time.Second

// Options tune a Source.
type Options struct {
	// Interval is the least time between two looks at the files (default DefaultInterval).
	Interval time.Duration
	// Log receives reloads and the reasons a changed pair was not taken.
	Log *slog.Logger
	// Name says what the certificate serves, in errors and log lines ("wire TLS", "HTTPS").
	Name string
}

// Source is a certificate and key pair read from files. A changed pair is loaded on the
// first handshake after the interval; a bad new pair (half written, a key that does not
// match) is logged and the one loaded before stays in use, so a botched renewal never
// takes the listener down.
type Source struct {
	certFile, keyFile string
	every             time.Duration
	log               *slog.Logger
	name              string

	mu      sync.Mutex
	cur     *tls.Certificate
	checked time.Time
	stamps  [2]stamp
}

// stamp tells whether a file changed: its modification time and size.
type stamp struct {
	mod  time.Time
	size int64
}

// Open loads the pair; an error if it does not load, since a listener without a certificate
// cannot serve anyone.
func Open(certFile, keyFile string, opts Options) (*Source, error) {
	s := &Source{certFile: certFile, keyFile: keyFile, every: opts.Interval, log: opts.Log, name: opts.Name}
	if s.every <= 0 {
		s.every = DefaultInterval
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.name == "" {
		s.name = "TLS"
	}
	stamps, err := s.stat()
	if err != nil {
		return nil, err
	}
	cur, err := s.load()
	if err != nil {
		return nil, err
	}
	s.cur, s.stamps, s.checked = cur, stamps, time.Now()
	return s, nil
}

func (s *Source) stat() ([2]stamp, error) {
	var st [2]stamp
	for i, p := range []string{s.certFile, s.keyFile} {
		fi, err := os.Stat(p)
		if err != nil {
			return st, fmt.Errorf("%s: %w", s.name, err)
		}
		st[i] = stamp{fi.ModTime(), fi.Size()}
	}
	return st, nil
}

// load reads the pair, with its leaf parsed: the wire port's channel binding hashes it.
func (s *Source) load() (*tls.Certificate, error) {
	c, err := tls.LoadX509KeyPair(s.certFile, s.keyFile)
	if err != nil {
		return nil, fmt.Errorf("%s: certificate %s and key %s: %w", s.name, s.certFile, s.keyFile, err)
	}
	if c.Leaf == nil {
		if c.Leaf, err = x509.ParseCertificate(c.Certificate[0]); err != nil {
			return nil, fmt.Errorf("%s: certificate %s: %w", s.name, s.certFile, err)
		}
	}
	return &c, nil
}

// Certificate returns the current pair, loading the files again if they changed since the
// last look, at most once an interval.
func (s *Source) Certificate() *tls.Certificate {
	s.mu.Lock()
	defer s.mu.Unlock()
	if time.Since(s.checked) < s.every {
		return s.cur
	}
	s.checked = time.Now()
	stamps, err := s.stat()
	if err != nil {
		s.log.Warn(s.name+": keeping the loaded certificate", "err", err)
		return s.cur
	}
	if stamps == s.stamps {
		return s.cur
	}
	cur, err := s.load()
	if err != nil {
		// Maybe half written: try again at the next look.
		s.log.Warn(s.name+": keeping the loaded certificate", "err", err)
		return s.cur
	}
	s.cur, s.stamps = cur, stamps
	s.log.Info(s.name+": certificate reloaded", "file", s.certFile, "subject", cur.Leaf.Subject.String(),
		"not_after", cur.Leaf.NotAfter)
	return s.cur
}

// GetCertificate is Certificate in the form tls.Config wants.
func (s *Source) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return s.Certificate(), nil
}
