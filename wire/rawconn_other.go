//go:build !linux

package wire

import "net"

// fast returns conn itself outside Linux.
func fast(conn net.Conn) net.Conn { return conn }
