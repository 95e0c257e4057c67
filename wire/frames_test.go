package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/jackc/pgx/v5/pgproto3"
)

func testFrame(typ byte, body string) []byte {
	f := []byte{typ, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(f[1:], uint32(4+len(body)))
	return append(f, body...)
}

func TestFrameReaderSplitsMessagesHoweverTheyArrive(t *testing.T) {
	big := strings.Repeat("r", 3*frameBufSize+17) // outgrows the buffer
	var stream []byte
	want := [][]byte{testFrame('1', ""), testFrame('D', "row"), testFrame('D', big), testFrame('C', "SELECT 1\x00"), testFrame('Z', "I")}
	for _, f := range want {
		stream = append(stream, f...)
	}
	for name, r := range map[string]io.Reader{
		"whole":       bytes.NewReader(stream),
		"byte a call": iotest.OneByteReader(bytes.NewReader(stream)),
		"half a call": iotest.HalfReader(bytes.NewReader(stream)),
	} {
		fr := newFrameReader(r)
		for i, w := range want {
			got, err := fr.next()
			if err != nil || !bytes.Equal(got, w) {
				t.Fatalf("%s: frame %d: %d bytes, %v; want %d bytes", name, i, len(got), err, len(w))
			}
		}
		if fr.buffered() != 0 {
			t.Fatalf("%s: %d bytes left", name, fr.buffered())
		}
		if _, err := fr.next(); err != io.EOF {
			t.Fatalf("%s: at the end: %v, want EOF", name, err)
		}
	}
}

func TestFrameReaderRefusesWhatIsNotAFrame(t *testing.T) {
	// A length below its own four bytes.
	if _, err := newFrameReader(bytes.NewReader([]byte{'D', 0, 0, 0, 3})).next(); err == nil {
		t.Fatal("length 3 accepted")
	}
	// A length beyond what PostgreSQL sends.
	if _, err := newFrameReader(bytes.NewReader([]byte{'D', 0x7f, 0xff, 0xff, 0xff})).next(); err == nil {
		t.Fatal("a 2 GB message accepted")
	}
	// Cut in the middle.
	f := testFrame('D', "cut here")
	if _, err := newFrameReader(bytes.NewReader(f[:len(f)-2])).next(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("a cut frame: %v", err)
	}
}

// The Backend reads the client through a messageReader: each Read stops at the end of a
// message, so what the Backend has not returned is in the reader (pending).
func TestMessageReaderHandsOverOneMessageAtATime(t *testing.T) {
	a, b, c := testFrame('P', "parse\x00select 1\x00\x00\x00"), testFrame('S', ""), testFrame('Q', strings.Repeat("x", 100)+"\x00")
	stream := slices.Concat(a, b, c)
	for _, chunk := range []int{1, 3, 7, len(stream)} {
		// The client's bytes arrive chunk bytes at a time.
		mr := newMessageReader(iotest.OneByteReader(bytes.NewReader(stream)))
		if chunk > 1 {
			mr = newMessageReader(&chunkedReader{b: stream, n: chunk})
		}
		be := pgproto3.NewBackend(mr, io.Discard)
		for i, want := range []byte{'P', 'S', 'Q'} {
			m, err := be.Receive()
			if err != nil {
				t.Fatalf("chunks of %d, message %d: %v", chunk, i, err)
			}
			if got := frontendKind(m); got != want {
				t.Fatalf("chunks of %d, message %d: %c, want %c", chunk, i, got, want)
			}
			// Read at once, the later messages are pending until received; read a byte
			// at a time, none is: the reader read no further than the message.
			want := chunk == len(stream) && i < 2
			if chunk == 1 || chunk == len(stream) || i == 2 {
				if mr.pending() != want {
					t.Fatalf("chunks of %d, after message %d: pending %v, want %v", chunk, i, mr.pending(), want)
				}
			}
		}
	}
	// A read that fills the buffer may have left more in the socket: pending, even once
	// every message read is received.
	mr := newMessageReader(bytes.NewReader(slices.Concat(testFrame('Q', strings.Repeat("y", frameBufSize-6)+"\x00"), b)))
	be := pgproto3.NewBackend(mr, io.Discard)
	if _, err := be.Receive(); err != nil || !mr.pending() {
		t.Fatalf("after a message that filled the buffer: %v, pending %v", err, mr.pending())
	}
	if _, err := be.Receive(); err != nil || mr.pending() {
		t.Fatalf("after the next read, shorter: %v, pending %v", err, mr.pending())
	}

	// A length no message has: nothing can be said of what is pending any more.
	mr = newMessageReader(bytes.NewReader([]byte{'Q', 0, 0, 0, 1, 'x'}))
	_, _ = pgproto3.NewBackend(mr, io.Discard).Receive()
	if !mr.pending() {
		t.Fatal("a broken length leaves nothing pending")
	}
}

// chunkedReader reads b n bytes at a time.
type chunkedReader struct {
	b []byte
	n int
}

func (r *chunkedReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.b[:min(r.n, len(r.b))])
	r.b = r.b[n:]
	return n, nil
}

func frontendKind(m pgproto3.FrontendMessage) byte {
	switch m.(type) {
	case *pgproto3.Parse:
		return 'P'
	case *pgproto3.Sync:
		return 'S'
	case *pgproto3.Query:
		return 'Q'
	}
	return '?'
}
