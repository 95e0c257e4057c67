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

// TestRawConnAwaitReply checks the write that waits for the peer's answer: it returns
// once the answer is there (however soon it comes), when the read deadline passes or the
// connection closes, and writes that the socket cannot take at once complete as usual.
func TestRawConnAwaitReply(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("writes wait for the answer on Linux only")
	}
	a, b := tcpPair(t)
	p := make([]byte, 16)

	// The write returns after the answer, not before.
	answered := make(chan struct{})
	go func() {
		if _, err := io.ReadFull(b, p[:4]); err != nil {
			return
		}
		time.Sleep(30 * time.Millisecond)
		close(answered)
		_, _ = b.Write([]byte("pong"))
	}()
	awaitReply(a, true)
	if n, err := a.Write([]byte("ping")); err != nil || n != 4 {
		t.Fatalf("write: %d, %v", n, err)
	}
	awaitReply(a, false)
	select {
	case <-answered:
	default:
		t.Fatal("the write returned before the peer answered")
	}
	if n, err := a.Read(p); err != nil || string(p[:n]) != "pong" {
		t.Fatalf("read: %q, %v", p[:n], err)
	}

	// An answer that comes at once, even before the wait begins, ends the wait: none is
	// missed in many round trips.
	go func() {
		q := make([]byte, 1)
		for {
			if _, err := io.ReadFull(b, q); err != nil {
				return
			}
			if _, err := b.Write(q); err != nil {
				return
			}
		}
	}()
	_ = a.SetReadDeadline(time.Now().Add(5 * time.Second))
	for i := range 2000 {
		awaitReply(a, true)
		if _, err := a.Write([]byte{byte(i)}); err != nil {
			t.Fatalf("round trip %d: write: %v", i, err)
		}
		awaitReply(a, false)
		if n, err := a.Read(p); err != nil || n != 1 || p[0] != byte(i) {
			t.Fatalf("round trip %d: read %v, %v (a missed answer leaves the write waiting to the deadline)", i, p[:n], err)
		}
	}

	// The read deadline ends a wait for an answer that does not come; the read says so.
	_ = a.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	awaitReply(a, true)
	if _, err := a.Write([]byte{0xff}); err != nil {
		t.Fatalf("write: %v", err)
	}
	awaitReply(a, false)
	if n, err := a.Read(p); err == nil && n == 1 && p[0] == 0xff {
		// The echo came before the deadline: the wait ended for it. Nothing more comes.
		_, err = a.Read(p)
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("read past the deadline: %v", err)
		}
	} else if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past the deadline: %d, %v", n, err)
	}
	_ = a.SetReadDeadline(time.Time{})
}

func TestRawConnAwaitReplyLargeWriteAndClose(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("writes wait for the answer on Linux only")
	}
	a, b := tcpPair(t)
	// More than the socket takes at once: the write completes as the peer reads, without
	// waiting for an answer the peer never sends.
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<20) // 16 MiB
	got := make(chan int, 1)
	go func() {
		n, _ := io.Copy(io.Discard, io.LimitReader(b, int64(len(big))))
		got <- int(n)
	}()
	awaitReply(a, true)
	if n, err := a.Write(big); err != nil || n != len(big) {
		t.Fatalf("write: %d, %v", n, err)
	}
	awaitReply(a, false)
	if n := <-got; n != len(big) {
		t.Fatalf("the peer read %d bytes, want %d", n, len(big))
	}

	// Close while the write waits for an answer: the write returns, the read says closed.
	time.AfterFunc(30*time.Millisecond, func() { a.Close() })
	awaitReply(a, true)
	if _, err := a.Write([]byte("ping")); err != nil {
		t.Fatalf("write: %v", err)
	}
	if _, err := a.Read(make([]byte, 4)); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("read after close: %v", err)
	}
}
