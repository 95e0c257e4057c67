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
