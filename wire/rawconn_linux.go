package wire

import (
	"io"
	"net"
	"os"
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
	return &rawConn{TCPConn: tc, rc: rc}
}

// rawConn is a TCP connection whose Read and Write are read(2) and write(2) made as raw
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
	rc syscall.RawConn
}

func (c *rawConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	var n int
	var rerr error
	err := c.rc.Read(func(fd uintptr) bool {
		for {
			m, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
			switch e {
			case 0:
				n = int(m)
				if n == 0 {
					rerr = io.EOF
				}
				return true
			case syscall.EINTR:
			case syscall.EAGAIN:
				return false
			default:
				rerr = c.opError("read", e)
				return true
			}
		}
	})
	if err != nil {
		return n, err
	}
	return n, rerr
}

func (c *rawConn) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n := 0
	var werr error
	err := c.rc.Write(func(fd uintptr) bool {
		for n < len(p) {
			m, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&p[n])), uintptr(len(p)-n))
			switch e {
			case 0:
				n += int(m)
			case syscall.EINTR:
			case syscall.EAGAIN:
				return false
			default:
				werr = c.opError("write", e)
				return true
			}
		}
		return true
	})
	if err != nil {
		return n, err
	}
	return n, werr
}

func (c *rawConn) opError(op string, e syscall.Errno) error {
	return &net.OpError{Op: op, Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: os.NewSyscallError(op, e)}
}
