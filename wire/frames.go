package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// The engine relays the server's messages to the client as the bytes they came in: it
// reads whole frames (type byte, length, body) and looks inside only those whose content
// it acts on (CommandComplete, ErrorResponse, ReadyForQuery).

// frameReader reads a server connection's messages as frames.
type frameReader struct {
	r      io.Reader
	buf    []byte
	rp, wp int // unread bytes: buf[rp:wp]
}

const (
	frameBufSize = 8 << 10
	// maxServerFrame bounds a message from the server: PostgreSQL sends none larger
	// than 1 GB (its largest field value) plus headers.
	maxServerFrame = 1<<30 + 1<<20
)

func newFrameReader(r io.Reader) *frameReader {
	return &frameReader{r: r, buf: make([]byte, frameBufSize)}
}

// buffered is how many bytes were read from the socket and not yet returned.
func (fr *frameReader) buffered() int { return fr.wp - fr.rp }

// next returns the next message as one frame: its type at [0], its length at [1:5], its
// body from [5:]. The frame is valid until the next call.
func (fr *frameReader) next() ([]byte, error) {
	if err := fr.fill(5); err != nil {
		return nil, err
	}
	n := int(binary.BigEndian.Uint32(fr.buf[fr.rp+1:])) + 1
	if n < 5 || n > maxServerFrame {
		return nil, fmt.Errorf("wire: message %q of %d bytes from the server", fr.buf[fr.rp], n-1)
	}
	if err := fr.fill(n); err != nil {
		return nil, err
	}
	f := fr.buf[fr.rp : fr.rp+n : fr.rp+n]
	fr.rp += n
	return f, nil
}

// fill reads until at least need bytes are unread.
func (fr *frameReader) fill(need int) error {
	if fr.wp-fr.rp >= need {
		return nil
	}
	if fr.rp == fr.wp && len(fr.buf) > 1<<20 {
		fr.buf = make([]byte, frameBufSize) // let a huge row's buffer go
	}
	if len(fr.buf)-fr.rp < need {
		buf := fr.buf
		if need > len(buf) {
			buf = make([]byte, max(need, 2*len(buf)))
		}
		fr.wp = copy(buf, fr.buf[fr.rp:fr.wp])
		fr.rp = 0
		fr.buf = buf
	}
	for fr.wp-fr.rp < need {
		n, err := fr.r.Read(fr.buf[fr.wp:])
		fr.wp += n
		if err != nil {
			if err == io.EOF && fr.wp-fr.rp > 0 {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
		if n == 0 {
			return io.ErrNoProgress
		}
	}
	return nil
}

// frame is a message relayed as it came: Send copies its bytes. The session keeps one
// and points it at each frame in turn, so relaying allocates nothing.
type frame struct{ b []byte }

func (*frame) Backend() {}

func (f *frame) Encode(dst []byte) ([]byte, error) { return append(dst, f.b...), nil }

func (*frame) Decode([]byte) error { return errors.New("wire: a relayed frame is not decoded") }

// noReader is the read side of a server connection's Frontend, which only writes: the
// engine reads through the connection's frameReader.
type noReader struct{}

func (noReader) Read([]byte) (int, error) {
	return 0, errors.New("wire: server connections are read through their frameReader")
}

// messageReader is the client's connection as the session's Backend reads it: a Read
// hands over at most the rest of one message, so the Backend never holds bytes of a
// message it has not returned. What the client sent and the session has not received is
// then here, where pending sees it: the session's last answer to a transaction may wait
// for the client's next message (session.flushAwaiting) only when nothing is pending.
type messageReader struct {
	r      io.Reader
	buf    []byte
	rp, wp int   // bytes read from r and not handed over: buf[rp:wp]
	err    error // r's error, returned once buf is drained
	full   bool  // the last read from r filled buf: r may hold more already
	hdr    [5]byte
	hdrN   int  // bytes of the current message's header handed over one by one
	left   int  // bytes of the current message not yet handed over, after its header
	lost   bool // a length no message has: from there on, pending is always true
}

func newMessageReader(r io.Reader) *messageReader {
	return &messageReader{r: r, buf: make([]byte, frameBufSize)}
}

func (m *messageReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if m.rp == m.wp {
		if m.err != nil {
			return 0, m.err
		}
		n, err := m.r.Read(m.buf)
		if n <= 0 {
			if err == nil {
				err = io.ErrNoProgress
			}
			return 0, err
		}
		m.rp, m.wp, m.err, m.full = 0, n, err, n == len(m.buf)
	}
	avail := m.buf[m.rp:m.wp]
	var n int
	switch {
	case m.lost:
		n = copy(p, avail)
	case m.left > 0:
		n = copy(p, avail[:min(len(avail), m.left)])
		m.left -= n
	case m.hdrN == 0 && len(avail) >= 5 && len(p) >= 5:
		// A whole header: the message, or as much of it as is here.
		l := int(binary.BigEndian.Uint32(avail[1:5]))
		if l < 4 {
			m.lost = true
			n = copy(p, avail)
			break
		}
		n = copy(p, avail[:min(len(avail), 1+l)])
		m.left = 1 + l - n
	default:
		// A header split between reads (or a tiny p): byte by byte until it is whole.
		n = copy(p, avail[:min(len(avail), 5-m.hdrN)])
		copy(m.hdr[m.hdrN:], avail[:n])
		if m.hdrN += n; m.hdrN == 5 {
			m.hdrN = 0
			if l := int(binary.BigEndian.Uint32(m.hdr[1:5])); l < 4 {
				m.lost = true
			} else {
				m.left = l - 4
			}
		}
	}
	m.rp += n
	return n, nil
}

// pending reports whether the client sent bytes that the Backend has not yet returned
// as messages, or may have (the last read filled the buffer, or the framing was lost).
func (m *messageReader) pending() bool {
	return m.rp < m.wp || m.hdrN > 0 || m.left > 0 || m.lost || m.full
}
