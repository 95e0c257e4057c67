package console

import (
	"bytes"
	"compress/gzip"
	"sync"
)

// gzipCache holds each file compressed once: the embedded files never change.
var gzipCache sync.Map // name → []byte

func gzipped(name string, b []byte) []byte {
	if v, ok := gzipCache.Load(name); ok {
		return v.([]byte)
	}
	var buf bytes.Buffer
	w, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	_, _ = w.Write(b)
	_ = w.Close()
	out := buf.Bytes()
	gzipCache.Store(name, out)
	return out
}
