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

func (c *rawConn) Write(p []byte) (int, error) { return c.do(&c.w, true, p) }

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
