//go:build !linux

package wire

import "net"

// fast returns conn itself outside Linux.
func fast(conn net.Conn) net.Conn { return conn }

// awaitReply reports false: outside Linux a write does not wait for the reply.
func awaitReply(net.Conn, bool) bool { return false }
