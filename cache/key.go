package cache

import (
	"encoding/binary"

	"github.com/cespare/xxhash/v2"
)

// AppendKey appends a plan-cache key to dst: tenant \0 version \0 role \0 shapeHash (8 bytes,
// big endian). Tenant, version and role are kept in full (none can contain a NUL byte), so
// two tenants' keys never coincide, whatever the shape hashes.
func AppendKey(dst []byte, tenant, version, role string, shapeHash uint64) []byte {
	dst = append(dst, tenant...)
	dst = append(dst, 0)
	dst = append(dst, version...)
	dst = append(dst, 0)
	dst = append(dst, role...)
	dst = append(dst, 0)
	return binary.BigEndian.AppendUint64(dst, shapeHash)
}

// KeyBuilder builds keys in a buffer it reuses, so building a key does not allocate once the
// buffer has grown. The returned slice is valid until the next call. Not safe for concurrent
// use: keep one per worker or take one from a sync.Pool.
type KeyBuilder struct {
	buf []byte
	d   xxhash.Digest
}

// Key returns the key for a request shape given as parts, e.g. the GraphQL query text and
// operationName, or REST's method, path and placeholder query string.
func (b *KeyBuilder) Key(tenant, version, role string, shape ...string) []byte {
	b.d.Reset()
	for _, s := range shape {
		b.writeLen(len(s))
		_, _ = b.d.WriteString(s)
	}
	return b.key(tenant, version, role)
}

// KeyBytes is Key for shape parts held as bytes (a request body, fasthttp's header values).
func (b *KeyBuilder) KeyBytes(tenant, version, role string, shape ...[]byte) []byte {
	b.d.Reset()
	for _, s := range shape {
		b.writeLen(len(s))
		_, _ = b.d.Write(s)
	}
	return b.key(tenant, version, role)
}

// writeLen prefixes each part with its length, so ("ab", "c") and ("a", "bc") differ.
func (b *KeyBuilder) writeLen(n int) {
	var l [8]byte
	binary.LittleEndian.PutUint64(l[:], uint64(n))
	_, _ = b.d.Write(l[:])
}

func (b *KeyBuilder) key(tenant, version, role string) []byte {
	b.buf = AppendKey(b.buf[:0], tenant, version, role, b.d.Sum64())
	return b.buf
}

// ShapeHash hashes a request shape the way KeyBuilder does, for callers that keep the hash.
func ShapeHash(shape ...string) uint64 {
	var b KeyBuilder
	b.d.Reset()
	for _, s := range shape {
		b.writeLen(len(s))
		_, _ = b.d.WriteString(s)
	}
	return b.d.Sum64()
}
