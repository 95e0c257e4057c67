package wire

import (
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"unsafe"
)

// fast returns conn as a rawConn when it is a TCP connection, else conn itself.
func fast(conn net.Conn) net.Conn {
	tc, ok := conn.(*net.TCPConn)
	if !ok {
		return conn
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return conn
	}
	c := &rawConn{TCPConn: tc, rc: rc}
	c.r.fn = func(fd uintptr) bool { return c.r.call(fd, false) }
	c.w.fn = func(fd uintptr) bool { return c.w.call(fd, true) }
	c.awaitFn = c.sendThenAwait
	return c
}

// rawConn is a TCP connection whose Read and Write are recvfrom(2) and sendto(2) (with
// MSG_NOSIGNAL: a closed peer is an EPIPE error, not a signal) made as raw
// system calls, which the Go scheduler does not see. On a loaded machine a write wakes
// the peer (the client, or the PostgreSQL backend) and the kernel often lets the peer run
// first; a call the scheduler sees as a long system call makes it hand the goroutine's P
// to another thread, a futex wake-up and two context switches for nothing, and keeps its
// monitor thread waking every 20 µs to look. The socket is non-blocking, so neither call
// ever waits in the kernel: EAGAIN sends the goroutine to wait for the socket through the
// runtime's poller like any other, deadlines included.
//
// rc.Read and rc.Write hold the descriptor for the call, so a concurrent Close cannot
// hand its number to another connection in between.
type rawConn struct {
	*net.TCPConn
	rc   syscall.RawConn
	r, w rawOp

	// awaitReply makes the next Write wait for the socket to turn readable (awaitWrite);
	// awaitFn and awaitSent are that wait's function and state, kept here so that it
	// allocates nothing.
	awaitReply bool
	awaitSent  bool
	awaitFn    func(fd uintptr) bool
}

// awaitReply, when conn is a rawConn (it reports whether), makes its next Write return
// only once the socket has something to read, its read deadline passed or it closed (on),
// or ends that (off). The session turns it on before it writes a batch whose answers it
// reads next, and off after: nobody else may be reading conn meanwhile.
func awaitReply(conn net.Conn, on bool) bool {
	c, ok := conn.(*rawConn)
	if ok {
		c.awaitReply = on
	}
	return ok
}

// rawOp is one direction's call: the function given to the RawConn is made once, with
// its buffer and results here, so a call allocates nothing.
type rawOp struct {
	mu  sync.Mutex
	fn  func(fd uintptr) bool
	p   []byte
	n   int
	err syscall.Errno
	eof bool
}

// call makes the system call on fd: false when it would block (EAGAIN).
func (o *rawOp) call(fd uintptr, write bool) bool {
	for {
		var m uintptr
		var e syscall.Errno
		if write {
			if o.n == len(o.p) {
				return true
			}
			m, _, e = syscall.RawSyscall6(syscall.SYS_SENDTO, fd, uintptr(unsafe.Pointer(&o.p[o.n])), uintptr(len(o.p)-o.n), syscall.MSG_NOSIGNAL, 0, 0)
		} else {
			m, _, e = syscall.RawSyscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&o.p[0])), uintptr(len(o.p)), 0, 0, 0)
		}
		switch e {
		case 0:
			if !write {
				o.n, o.eof = int(m), m == 0
				return true
			}
			o.n += int(m)
		case syscall.EINTR:
		case syscall.EAGAIN:
			return false
		default:
			o.err = e
			return true
		}
	}
}

func (c *rawConn) Read(p []byte) (int, error) { return c.do(&c.r, false, p) }

func (c *rawConn) Write(p []byte) (int, error) {
	if c.awaitReply {
		c.awaitReply = false
		n, done, err := c.awaitWrite(p)
		if done || err != nil {
			return n, err
		}
		m, err := c.do(&c.w, true, p[n:])
		return n + m, err
	}
	return c.do(&c.w, true, p)
}

// awaitWrite sends p and then waits, without reading, until the socket is readable: the
// peer's answer to p. The wait is the read that follows, minus its first attempt, which
// would find nothing (EAGAIN) and cost a system call for nothing: the peer cannot have
// answered what it has not yet received.
//
// Both happen in one rc.Read, whose start clears the poller's record of readiness: a
// reply that arrives after the send, even before the wait begins, is recorded and ends
// the wait. The caller reads next, so a wait ended by a read deadline or a close is
// reported by that read, not here. done is false when the socket took only p[:n] without
// blocking (or the wait could not begin): the caller writes the rest as usual.
func (c *rawConn) awaitWrite(p []byte) (n int, done bool, err error) {
	o := &c.w
	o.mu.Lock()
	defer o.mu.Unlock()
	o.p, o.n, o.err, o.eof = p, 0, 0, false
	c.awaitSent = false
	_ = c.rc.Read(c.awaitFn)
	n, done = o.n, c.awaitSent
	o.p = nil
	if o.err != 0 {
		return n, false, c.opError("write", o.err)
	}
	return n, done, nil
}

// sendThenAwait is awaitWrite's function for rc.Read: its first call sends (true, to
// stop, when the socket would block or failed), the next one, once readable, stops.
func (c *rawConn) sendThenAwait(fd uintptr) bool {
	if c.awaitSent {
		return true
	}
	if !c.w.call(fd, true) || c.w.err != 0 {
		return true
	}
	c.awaitSent = true
	return false
}

// do makes o's call on p, through the RawConn, which holds the descriptor meanwhile.
func (c *rawConn) do(o *rawOp, write bool, p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.p, o.n, o.err, o.eof = p, 0, 0, false
	var err error
	op := "read"
	if write {
		op = "write"
		err = c.rc.Write(o.fn)
	} else {
		err = c.rc.Read(o.fn)
	}
	o.p = nil
	switch {
	case err != nil:
		return o.n, err
	case o.err != 0:
		return o.n, c.opError(op, o.err)
	case o.eof:
		return 0, io.EOF
	}
	return o.n, nil
}

func (c *rawConn) opError(op string, e syscall.Errno) error {
	return &net.OpError{Op: op, Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: os.NewSyscallError(op, e)}
}
