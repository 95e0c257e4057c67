package wire

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"testing"
	"time"
)

// tcpPair is a connected pair of loopback TCP connections: a made fast, b plain.
func tcpPair(t *testing.T) (a net.Conn, b net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		done <- c
	}()
	d, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b = <-done
	a = fast(d)
	if runtime.GOOS == "linux" && a == d {
		t.Fatal("fast returned the TCP connection itself")
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

func TestRawConnReadsWritesAndHonoursDeadlines(t *testing.T) {
	a, b := tcpPair(t)
	// A write larger than the socket buffers completes once the peer reads: EAGAIN waits
	// on the poller.
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<20) // 16 MiB
	got := make(chan []byte, 1)
	go func() {
		buf, _ := io.ReadAll(io.LimitReader(b, int64(len(big))))
		got <- buf
	}()
	if n, err := a.Write(big); err != nil || n != len(big) {
		t.Fatalf("write: %d, %v", n, err)
	}
	if buf := <-got; !bytes.Equal(buf, big) {
		t.Fatalf("read back %d bytes, not what was written", len(buf))
	}
	// Reads wait for data, and a read deadline ends the wait.
	if _, err := b.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	p := make([]byte, 16)
	if n, err := a.Read(p); err != nil || string(p[:n]) != "hello" {
		t.Fatalf("read: %q, %v", p[:n], err)
	}
	_ = a.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := a.Read(p); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past the deadline: %v", err)
	}
	_ = a.SetReadDeadline(time.Time{})
	// Close while a read waits: the read ends with net.ErrClosed.
	errc := make(chan error, 1)
	go func() {
		_, err := a.Read(p)
		errc <- err
	}()
	time.Sleep(20 * time.Millisecond)
	a.Close()
	if err := <-errc; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("read on a closed connection: %v", err)
	}
}

func TestRawConnPeerGone(t *testing.T) {
	a, b := tcpPair(t)
	b.Close()
	p := make([]byte, 16)
	if _, err := a.Read(p); err != io.EOF {
		t.Fatalf("read after the peer closed: %v, want EOF", err)
	}
	// Writing to a peer that is gone fails with an error (EPIPE or ECONNRESET), not a
	// SIGPIPE that would kill the process.
	var err error
	for i := 0; i < 100 && err == nil; i++ {
		_, err = a.Write(make([]byte, 1<<16))
		time.Sleep(time.Millisecond)
	}
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "write" {
		t.Fatalf("write to a closed peer: %v", err)
	}
}
