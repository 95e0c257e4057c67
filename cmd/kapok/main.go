// Command kapok is Kapok's single binary: `serve` (the default), `dev`, `bench`, the
// tenant, migration and events commands of the admin API, `version` and `completion`.
// commands.go holds the command tree every dispatch, help text and completion comes from.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kapok-dev/kapok/control"
	"github.com/kapok-dev/kapok/events"
	"github.com/kapok-dev/kapok/internal/tracing"
	"github.com/kapok-dev/kapok/proxy"
	"github.com/kapok-dev/kapok/wire"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return execute(ctx, commandTree(), args, stdout, stderr)
}

type serveFlags struct {
	config, listen, wireListen, upstream, pooler, schemas, defaultTenant, logLevel string
	pprof                                                                          string
	// events is "on", "off" or "" (the config's events.disabled decides).
	events            string
	eventsConcurrency int
	manage            bool
	role              string
	drainTimeout      time.Duration
}

func registerServeFlags(fs *flag.FlagSet, f *serveFlags) {
	fs.StringVar(&f.config, "config", "", "configuration file (e.g. configs/kapok.yaml); none needed with --upstream")
	fs.StringVar(&f.listen, "listen", "", "HTTP address (default 127.0.0.1:8080)")
	fs.StringVar(&f.wireListen, "wire-listen", "", "Postgres wire-protocol address (default 127.0.0.1:6543; wire.disabled turns it off)")
	fs.StringVar(&f.upstream, "upstream", "", "serve this database as the default tenant: postgres://user@host:port/db (a direct connection)")
	fs.StringVar(&f.pooler, "pooler", "", "the PgBouncer in front of --upstream: postgres://user@host:port/db")
	fs.BoolVar(&f.manage, "manage", false, "let Kapok create its objects in the --upstream database (control tables, event triggers, kapok_events, role kapok_t_default); without it Kapok only reads the catalog there")
	fs.StringVar(&f.role, "role", "", "with --upstream: an existing role (not a superuser) that requests run as, for a superuser login without --manage")
	fs.StringVar(&f.schemas, "schemas", "", "schemas to expose with --upstream, comma-separated (default public)")
	fs.StringVar(&f.defaultTenant, "default-tenant", "", "tenant for requests that name none")
	fs.StringVar(&f.logLevel, "log-level", "", "debug, info, warn or error")
	fs.StringVar(&f.pprof, "pprof", "", "also serve net/http/pprof on this address (e.g. 127.0.0.1:6060); off by default")
	fs.StringVar(&f.events, "events", "", "on or off: deliver event triggers' and scheduled events' webhooks from this process (default on; events.disabled in the config)")
	fs.IntVar(&f.eventsConcurrency, "events-concurrency", 0, "webhook deliveries in flight in this process (default 16; events.concurrency)")
	fs.DurationVar(&f.drainTimeout, "drain-timeout", defaultDrainTimeout, "on SIGTERM or SIGINT, how long in-flight requests and open wire transactions may take to finish before their connections are closed")
}

func serveCommand(ctx context.Context, args []string, stderr io.Writer) int {
	var f serveFlags
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	usageHint(fs, stderr, "kapok serve")
	registerServeFlags(fs, &f)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "kapok serve: unexpected argument %q; see 'kapok serve --help'\n", fs.Arg(0))
		return exitUsage
	}
	if f.config == "" && f.upstream == "" && os.Getenv("KAPOK_UPSTREAM") == "" {
		if _, err := os.Stat("configs/kapok.yaml"); err == nil {
			f.config = "configs/kapok.yaml"
		}
	}
	cfg, err := loadConfig(f)
	if err != nil {
		fmt.Fprintln(stderr, "kapok:", err)
		return 2
	}
	log := newLogger(cfg.LogLevel, stderr)
	if f.pprof != "" {
		stop, err := servePprof(f.pprof, log)
		if err != nil {
			fmt.Fprintln(stderr, "kapok: --pprof:", err)
			return 2
		}
		defer stop()
	}
	if err := serveDraining(ctx, cfg, log, nil, f.drainTimeout); err != nil {
		fmt.Fprintln(stderr, "kapok:", err)
		return 1
	}
	return 0
}

func loadConfig(f serveFlags) (*control.Config, error) {
	cfg, err := control.LoadConfig(f.config)
	if err != nil {
		return nil, err
	}
	if f.upstream != "" || f.pooler != "" || f.schemas != "" {
		cfg.DropIn(f.upstream, f.pooler, control.SplitList(f.schemas))
	}
	if f.manage || f.role != "" {
		if err := cfg.ManageDropIn(f.manage, f.role); err != nil {
			return nil, err
		}
	}
	if f.listen != "" {
		cfg.Listen = f.listen
	}
	if f.wireListen != "" {
		cfg.WireListen = f.wireListen
	}
	if f.defaultTenant != "" {
		cfg.DefaultTenant = f.defaultTenant
	}
	if f.logLevel != "" {
		cfg.LogLevel = f.logLevel
	}
	switch f.events {
	case "":
	case "on":
		cfg.Events.Disabled = false
	case "off":
		cfg.Events.Disabled = true
	default:
		return nil, fmt.Errorf("--events %q: on or off", f.events)
	}
	if f.eventsConcurrency > 0 {
		cfg.Events.Concurrency = f.eventsConcurrency
	}
	if len(cfg.Tenants) == 0 {
		return nil, errors.New("no tenants: give --config configs/kapok.yaml, or --upstream postgres://user@host:port/db")
	}
	return cfg, cfg.Normalize()
}

// applyProcs sets GOMAXPROCS to the config's procs, unless that is 0 or the GOMAXPROCS
// environment variable chose already, and returns the setting in force.
func applyProcs(cfg *control.Config) int {
	if cfg.Procs > 0 && os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(cfg.Procs)
	}
	return runtime.GOMAXPROCS(0)
}

func newLogger(level string, w io.Writer) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil || level == "" {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
}

// defaultDrainTimeout bounds the drain after SIGTERM. A Kubernetes pod's
// terminationGracePeriodSeconds must exceed it plus its preStop pause, or the kubelet kills
// Kapok mid-drain (configs/helm/kapok derives the one from the other).
const defaultDrainTimeout = 30 * time.Second

// serve runs the server until ctx ends, then drains for up to defaultDrainTimeout.
func serve(ctx context.Context, cfg *control.Config, log *slog.Logger, onStore func(context.Context, *control.Store, *control.Registry)) error {
	return serveDraining(ctx, cfg, log, onStore, defaultDrainTimeout)
}

// serveDraining runs the server until ctx ends, then stops accepting connections and lets
// in-flight requests, and wire sessions inside a transaction, finish for up to drain
// before it closes what is left. onStore, when not nil, runs with the control store once
// it is open (`kapok dev` applies migrations there).
func serveDraining(ctx context.Context, cfg *control.Config, log *slog.Logger, onStore func(context.Context, *control.Store, *control.Registry), drain time.Duration) error {
	procs := applyProcs(cfg)
	reg := control.NewRegistry(cfg, log)
	// The admin API manages events even where this process does not deliver them.
	ev := events.New(events.Options{Registry: reg, Logger: log, Concurrency: cfg.Events.Concurrency,
		PollInterval: cfg.Events.PollInterval.D(), Retention: cfg.Events.Retention.D()})
	wireMetrics := wire.NewMetrics()
	tp, err := tracing.New(cfg.Tracing, mainVersion())
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := tp.Shutdown(sctx); err != nil {
			log.Warn("tracing: spans not exported at shutdown", "err", err)
		}
	}()
	srv, err := proxy.New(proxy.Options{Config: cfg, Registry: reg, Logger: log, Events: ev,
		Collectors: []prometheus.Collector{wireMetrics}, Tracer: tp.Tracer()})
	if err != nil {
		return err
	}
	var (
		engine *wire.Engine
		wsrv   *wire.Server
	)
	if !cfg.Wire.Disabled {
		engine = wire.NewEngine(wire.EngineOptions{Config: cfg, Logger: log, Metrics: wireMetrics, Auth: srv.WireAuth()})
		defer engine.Close()
		wsrv, err = wire.NewServer(wire.ServerOptions{Config: cfg, Registry: reg, Auth: srv.WireAuth(), Logger: log, Metrics: wireMetrics, Engine: engine})
		if err != nil {
			return err
		}
	}
	var https *httpsFront
	if cfg.TLS.Enabled() {
		if https, err = newHTTPSFront(cfg.TLS, log); err != nil {
			return err
		}
	}
	if err := reg.Start(ctx); err != nil {
		return err
	}
	defer reg.Close()
	defer ev.Close()
	if !cfg.Events.Disabled {
		ev.Start(context.Background())
	}
	if st, err := control.OpenStore(ctx, reg); err != nil {
		log.Warn("control tables unavailable: serving the config file's tenants only; the admin API cannot create tenants or migrate", "err", err)
	} else {
		srv.AttachStore(st)
		if onStore != nil {
			onStore(ctx, st, reg)
		}
		st.OnMove(func(old, _ *control.Tenant) {
			if engine != nil {
				engine.DrainTenant(old.Name)
			}
		})
		st.OnRemove(func(name string) {
			if engine != nil {
				engine.Forget(name)
			}
			fctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := ev.Forget(fctx, name); err != nil {
				log.Warn("events of a deleted tenant were not all removed", "tenant", name, "err", err)
			}
		})
		defer st.Close()
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return err
	}
	errc := make(chan error, 2)
	scheme := "http://"
	if https != nil {
		if err := https.start(ctx, ln.Addr(), errc); err != nil {
			ln.Close()
			return err
		}
		scheme = "https://"
	}
	wireAddr := "off (wire.disabled)"
	if wsrv != nil {
		wln, err := net.Listen("tcp", cfg.WireListen)
		if err != nil {
			ln.Close()
			if https != nil {
				_ = https.close(context.Background())
			}
			return fmt.Errorf("the Postgres wire port cannot listen on %s: %w (set wire_listen, KAPOK_WIRE_LISTEN or --wire-listen to a free address, or wire.disabled: true)", cfg.WireListen, err)
		}
		wireAddr = wln.Addr().String()
		go func() {
			if err := wsrv.Serve(wln); err != nil {
				errc <- fmt.Errorf("wire port: %w", err)
			}
		}()
	}
	log.Info("kapok serving", "http", scheme+ln.Addr().String(), "wire", wireAddr, "tenants", len(reg.Tenants()), "default_tenant", cfg.DefaultTenant, "procs", procs)
	go func() {
		if https != nil {
			errc <- srv.ServeTLS(ln, https.tls)
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	var serveErr error
	select {
	case serveErr = <-errc:
	case <-ctx.Done():
		log.Info("shutting down: draining in-flight requests and wire sessions", "drain_timeout", drain.String())
	}
	sctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	var wg sync.WaitGroup
	var wireErr, plainErr error
	if wsrv != nil {
		wg.Go(func() { wireErr = wsrv.Shutdown(sctx) })
	}
	if https != nil {
		wg.Go(func() { plainErr = https.close(sctx) })
	}
	httpErr := srv.Shutdown(sctx)
	wg.Wait()
	if sctx.Err() != nil {
		return errors.Join(serveErr, fmt.Errorf("the drain did not finish within %s (--drain-timeout): the requests and wire sessions still open were closed", drain))
	}
	return errors.Join(serveErr, httpErr, wireErr, plainErr)
}

// servePprof serves the runtime profiles on a listener of their own, apart from the API:
// profiling stays off the public address and out of the request path.
func servePprof(addr string, log *slog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	log.Info("pprof serving", "http", "http://"+ln.Addr().String()+"/debug/pprof/")
	return func() { _ = hs.Close() }, nil
}
