// Package testserver serves a Kapok (registry + proxy) on a local TCP port for the tests of
// packages above proxy (the CLI, the ai-spec's live examples). It is for tests only.
//
// proxy's own tests cannot use it (it imports proxy); they have their in-memory harness.
package testserver

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/kapok-dev/kapok/control"
	"github.com/kapok-dev/kapok/internal/testenv"
	"github.com/kapok-dev/kapok/proxy"
)

// Serve serves cfg's tenants, on the dev stack's upstream "dev" when cfg names none, until
// the test ends, and returns the server's base URL (http://127.0.0.1:port).
func Serve(t *testing.T, cfg *control.Config) string {
	t.Helper()
	if cfg.Upstreams == nil {
		cfg.Upstreams = map[string]*control.Upstream{"dev": {URL: testenv.DirectURL(), Pooler: testenv.PoolerURL()}}
	}
	if err := cfg.Normalize(); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	reg := control.NewRegistry(cfg, log)
	srv, err := proxy.New(proxy.Options{Config: cfg, Registry: reg, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		reg.Close()
	})
	return "http://" + ln.Addr().String()
}
