package mailsink

// Stand-in for the mail sink's API that proxy's auth-js test uses; the integrator deletes it.

import "errors"

type Sink struct{}

func Start(smtpAddr, httpAddr, dir string) (*Sink, error) {
	return nil, errors.New("mailsink: stand-in")
}

func (s *Sink) Port() int    { return 0 }
func (s *Sink) URL() string  { return "" }
func (s *Sink) Close() error { return nil }
