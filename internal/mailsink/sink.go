package mailsink

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

const (
	// MaxMessageBytes caps one message's DATA; a larger one is refused with 552.
	MaxMessageBytes = 10 << 20
	// MaxMessages are kept; the oldest is dropped for a new one beyond it.
	MaxMessages = 100
)

// Message is one received mail. From and To are the envelope's (MAIL FROM, RCPT TO);
// Subject, Text and HTML are decoded from the message (the first text/plain and text/html
// parts of a multipart one).
type Message struct {
	ID      string    `json:"id"`
	From    string    `json:"from"`
	To      []string  `json:"to"`
	Subject string    `json:"subject"`
	Date    time.Time `json:"date"`
	Text    string    `json:"text"`
	HTML    string    `json:"html"`
	// AuthUser is the user name of the AUTH PLAIN that preceded it ("" = none).
	AuthUser string `json:"auth_user,omitempty"`
	// TLS says the message came over a STARTTLS-protected session.
	TLS bool   `json:"tls"`
	Raw []byte `json:"-"`
}

// Config says where a Sink listens. Start covers the usual case.
type Config struct {
	SMTPAddr, HTTPAddr string // host:port; port 0 picks a free one; HTTPAddr "" serves no HTTP
	// Dir, when set, also receives each message as <id>.eml (created if missing).
	Dir string
	// TLS, when set, makes the server offer STARTTLS with it.
	TLS    *tls.Config
	Logger *slog.Logger
}

// Sink is a running mail sink.
type Sink struct {
	cfg  Config
	smtp net.Listener
	http net.Listener
	srv  *http.Server
	log  *slog.Logger

	mu       sync.Mutex
	messages []*Message    // oldest first
	changed  chan struct{} // closed and replaced when messages change
	conns    map[net.Conn]struct{}
	closed   bool
	wg       sync.WaitGroup
}

// Start listens for SMTP on smtpAddr and HTTP on httpAddr (either may have port 0) and
// keeps messages in memory and, when dir is not "", in dir as well.
func Start(smtpAddr, httpAddr, dir string) (*Sink, error) {
	return StartWith(Config{SMTPAddr: smtpAddr, HTTPAddr: httpAddr, Dir: dir})
}

// StartLoopback starts a sink on free loopback ports, for tests: stop it with Close.
func StartLoopback() (*Sink, error) {
	return Start("127.0.0.1:0", "127.0.0.1:0", "")
}

// StartWith starts a sink as cfg says.
func StartWith(cfg Config) (*Sink, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Dir != "" {
		if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
			return nil, fmt.Errorf("mail sink: %w", err)
		}
	}
	s := &Sink{cfg: cfg, log: cfg.Logger, changed: make(chan struct{}), conns: map[net.Conn]struct{}{}}
	var err error
	if s.smtp, err = net.Listen("tcp", cfg.SMTPAddr); err != nil {
		return nil, fmt.Errorf("mail sink: SMTP: %w", err)
	}
	if cfg.HTTPAddr != "" {
		if s.http, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
			s.smtp.Close()
			return nil, fmt.Errorf("mail sink: HTTP: %w", err)
		}
		s.srv = &http.Server{Handler: s.handler(), ReadHeaderTimeout: 10 * time.Second}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if err := s.srv.Serve(s.http); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.log.Warn("mail sink: HTTP stopped", "err", err)
			}
		}()
	}
	s.wg.Add(1)
	go s.acceptSMTP()
	return s, nil
}

// SMTPAddr is the SMTP listener's host:port.
func (s *Sink) SMTPAddr() string { return s.smtp.Addr().String() }

// Host and Port split SMTPAddr, as a mail client's configuration wants them.
func (s *Sink) Host() string { return s.smtp.Addr().(*net.TCPAddr).IP.String() }

// Port is the SMTP listener's port.
func (s *Sink) Port() int { return s.smtp.Addr().(*net.TCPAddr).Port }

// URL is the HTTP API's base URL (http://host:port), "" when it serves no HTTP.
func (s *Sink) URL() string {
	if s.http == nil {
		return ""
	}
	return "http://" + s.http.Addr().String()
}

// Close stops listening, ends open SMTP sessions and waits for them.
func (s *Sink) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	err := s.smtp.Close()
	if s.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = s.srv.Shutdown(ctx)
		cancel()
	}
	s.wg.Wait()
	return err
}

// Messages returns the kept messages, newest first.
func (s *Sink) Messages() []*Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*Message, len(s.messages))
	for i, m := range s.messages {
		out[len(out)-1-i] = m
	}
	return out
}

// Message returns the message with id, or nil.
func (s *Sink) Message(id string) *Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.messages {
		if m.ID == id {
			return m
		}
	}
	return nil
}

// Clear forgets every message (files in Dir stay).
func (s *Sink) Clear() {
	s.mu.Lock()
	s.messages = nil
	s.notifyLocked()
	s.mu.Unlock()
}

// Wait blocks until at least n kept messages have to among their recipients (compared
// without regard to case) and returns them, oldest first, or returns ctx's error.
func (s *Sink) Wait(ctx context.Context, to string, n int) ([]*Message, error) {
	for {
		s.mu.Lock()
		var got []*Message
		for _, m := range s.messages {
			for _, r := range m.To {
				if strings.EqualFold(r, to) {
					got = append(got, m)
					break
				}
			}
		}
		changed := s.changed
		s.mu.Unlock()
		if len(got) >= n {
			return got, nil
		}
		select {
		case <-ctx.Done():
			return got, fmt.Errorf("mail sink: %d of %d messages to %s arrived: %w", len(got), n, to, ctx.Err())
		case <-changed:
		}
	}
}

// add keeps m (dropping the oldest beyond MaxMessages) and writes it to Dir.
func (s *Sink) add(m *Message) {
	if s.cfg.Dir != "" {
		if err := os.WriteFile(filepath.Join(s.cfg.Dir, m.ID+".eml"), m.Raw, 0o600); err != nil {
			s.log.Warn("mail sink: writing a message", "id", m.ID, "err", err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.messages = append(s.messages, m)
	if over := len(s.messages) - MaxMessages; over > 0 {
		s.messages = append(s.messages[:0:0], s.messages[over:]...)
	}
	s.notifyLocked()
}

func (s *Sink) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// newID is sortable by arrival (a timestamp) and unique (random suffix), so that the files
// of a directory reused across restarts never collide.
func newID(now time.Time) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return now.UTC().Format("20060102-150405.000000") + "-" + hex.EncodeToString(b[:])
}
