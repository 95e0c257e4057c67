// Package testserver serves a Kapok (registry + proxy, and the wire port) on local TCP ports
// for the tests of packages above proxy (the CLI, the ai-spec's live examples, the wire
// port's clients). It is for tests only.
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

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kapok-dev/kapok/control"
	"github.com/kapok-dev/kapok/internal/devstack"
	"github.com/kapok-dev/kapok/internal/mailsink"
	"github.com/kapok-dev/kapok/internal/testenv"
	"github.com/kapok-dev/kapok/proxy"
	"github.com/kapok-dev/kapok/wire"
)

// Serve serves cfg's tenants, on the dev stack's upstream "dev" when cfg names none, until
// the test ends, and returns the server's base URL (http://127.0.0.1:port).
func Serve(t *testing.T, cfg *control.Config) string {
	t.Helper()
	httpURL, _ := serve(t, cfg, false, false)
	return httpURL
}

// ServeManaged is Serve with the control tables attached, as `kapok serve` does on a
// managed upstream: the admin API creates tenants and runs migrations (set cfg.AdminKey).
func ServeManaged(t *testing.T, cfg *control.Config) string {
	t.Helper()
	httpURL, _ := serve(t, cfg, false, true)
	return httpURL
}

// ServeWire is Serve with the Postgres wire port too, on an ephemeral port of its own,
// checking credentials with the proxy's rules and counting into the server's /metrics.
// cfg.Wire applies (set TLSCertFile/TLSKeyFile from TLS for sslmode tests). It returns
// the HTTP base URL and the wire port's host:port.
func ServeWire(t *testing.T, cfg *control.Config) (httpURL, wireAddr string) {
	t.Helper()
	return serve(t, cfg, true, false)
}

func serve(t *testing.T, cfg *control.Config, withWire, managed bool) (httpURL, wireAddr string) {
	t.Helper()
	if cfg.Upstreams == nil {
		cfg.Upstreams = map[string]*control.Upstream{"dev": {URL: testenv.DirectURL(), Pooler: testenv.PoolerURL()}}
	}
	if withWire {
		cfg.WireListen = "127.0.0.1:0"
	}
	if err := cfg.Normalize(); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.Default()
	}
	reg := control.NewRegistry(cfg, log)
	metrics := wire.NewMetrics()
	srv, err := proxy.New(proxy.Options{Config: cfg, Registry: reg, Logger: log, Collectors: []prometheus.Collector{metrics}})
	if err != nil {
		t.Fatal(err)
	}
	var (
		engine *wire.Engine
		wsrv   *wire.Server
	)
	if withWire {
		engine = wire.NewEngine(wire.EngineOptions{Config: cfg, Logger: log, Metrics: metrics, Auth: srv.WireAuth()})
		wsrv, err = wire.NewServer(wire.ServerOptions{Config: cfg, Registry: reg, Auth: srv.WireAuth(), Logger: log, Metrics: metrics, Engine: engine})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := reg.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if managed {
		st, err := control.OpenStore(context.Background(), reg)
		if err != nil {
			t.Fatal(err)
		}
		srv.AttachStore(st)
		t.Cleanup(st.Close)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	if wsrv != nil {
		wln, err := net.Listen("tcp", cfg.WireListen)
		if err != nil {
			t.Fatal(err)
		}
		wireAddr = wln.Addr().String()
		go func() { _ = wsrv.Serve(wln) }()
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if wsrv != nil {
			_ = wsrv.Shutdown(ctx)
			engine.Close()
		}
		_ = srv.Shutdown(ctx)
		reg.Close()
	})
	return "http://" + ln.Addr().String(), wireAddr
}

// TLS makes a CA and a server certificate for 127.0.0.1, ::1 and localhost in a temporary
// directory of the test: the server takes Cert and Key, a client verifies with
// sslrootcert=CA (sslmode=verify-full).
func TLS(t testing.TB) devstack.TLSFiles {
	t.Helper()
	f, err := devstack.EnsureTLS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// MailSink starts a mail sink on free loopback ports until the test ends: a tenant whose
// auth.users.smtp is {host: sink.Host(), port: sink.Port(), tls: none} sends its mails
// there, and sink.Wait returns them.
func MailSink(t testing.TB) *mailsink.Sink {
	t.Helper()
	s, err := mailsink.StartLoopback()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
