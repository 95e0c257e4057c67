package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
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
