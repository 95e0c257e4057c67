// Command kapok is Kapok's single binary: `serve` (the default), `dev`, `bench`, and the
// tenant, migration and events commands of the admin API.
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
	"strings"
	"syscall"
	"time"

	"github.com/kapok-dev/kapok/bench"
	"github.com/kapok-dev/kapok/control"
	"github.com/kapok-dev/kapok/events"
	"github.com/kapok-dev/kapok/internal/devstack"
	"github.com/kapok-dev/kapok/proxy"
)

const usage = `kapok: GraphQL and REST APIs for every tenant of a PostgreSQL database

usage:
  kapok [serve] [flags]      serve the tenants of --config (or one database with --upstream)
  kapok dev [up|down|clean|status] [--scale small|full]
                             a private PostgreSQL + PgBouncer under ./.kapok with the demo data
  kapok bench run|baseline|suite|setup-tenants ...
                             load testing (kapok bench -h)
  kapok tenant create|list|show|delete ...
                             manage tenants through the admin API (kapok tenant -h)
  kapok migrate up|status|rollback --tenant T --dir migrations/
                             versioned migrations through the admin API (kapok migrate -h)
  kapok events triggers|create-trigger|list|show|redeliver|... --tenant T
                             event triggers, webhooks and scheduled events (kapok events -h)

serve flags:
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch cmd {
	case "serve":
		return serveCommand(ctx, args, stderr)
	case "dev":
		return devstack.RunCLI(ctx, args, func(ctx context.Context, st *devstack.Stack) error {
			cfg, err := loadConfig(serveFlags{config: "configs/kapok.yaml"})
			if err != nil {
				return err
			}
			return serve(ctx, cfg, newLogger(cfg.LogLevel, stderr))
		})
	case "bench":
		return bench.Main(ctx, args, stdout, stderr)
	case "tenant":
		return tenantCommand(ctx, args, stdout, stderr)
	case "migrate":
		return migrateCommand(ctx, args, stdout, stderr)
	case "events":
		return eventsCommand(ctx, args, stdout, stderr)
	case "gen":
		return genCommand(ctx, args, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		newServeFlagSet(&serveFlags{}, stdout).PrintDefaults()
		return 0
	default:
		fmt.Fprintf(stderr, "kapok: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
}

type serveFlags struct {
	config, listen, upstream, pooler, schemas, defaultTenant, logLevel string
	pprof                                                              string
	// events is "on", "off" or "" (the config's events.disabled decides).
	events            string
	eventsConcurrency int
}

func newServeFlagSet(f *serveFlags, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&f.config, "config", "", "configuration file (e.g. configs/kapok.yaml); none needed with --upstream")
	fs.StringVar(&f.listen, "listen", "", "HTTP address (default 127.0.0.1:8080)")
	fs.StringVar(&f.upstream, "upstream", "", "serve this database as the default tenant: postgres://user@host:port/db (a direct connection)")
	fs.StringVar(&f.pooler, "pooler", "", "the PgBouncer in front of --upstream: postgres://user@host:port/db")
	fs.StringVar(&f.schemas, "schemas", "", "schemas to expose with --upstream, comma-separated (default public)")
	fs.StringVar(&f.defaultTenant, "default-tenant", "", "tenant for requests that name none")
	fs.StringVar(&f.logLevel, "log-level", "", "debug, info, warn or error")
	fs.StringVar(&f.pprof, "pprof", "", "also serve net/http/pprof on this address (e.g. 127.0.0.1:6060); off by default")
	fs.StringVar(&f.events, "events", "", "on or off: deliver event triggers' and scheduled events' webhooks from this process (default on; events.disabled in the config)")
	fs.IntVar(&f.eventsConcurrency, "events-concurrency", 0, "webhook deliveries in flight in this process (default 16; events.concurrency)")
	return fs
}

func serveCommand(ctx context.Context, args []string, stderr io.Writer) int {
	var f serveFlags
	fs := newServeFlagSet(&f, stderr)
	if err := fs.Parse(args); err != nil {
		return 2
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
	if err := serve(ctx, cfg, log); err != nil {
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
	if f.listen != "" {
		cfg.Listen = f.listen
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

func newLogger(level string, w io.Writer) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil || level == "" {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
}

// serve runs the server until ctx ends, then drains in-flight requests.
func serve(ctx context.Context, cfg *control.Config, log *slog.Logger) error {
	reg := control.NewRegistry(cfg, log)
	// The admin API manages events even where this process does not deliver them.
	ev := events.New(events.Options{Registry: reg, Logger: log, Concurrency: cfg.Events.Concurrency,
		PollInterval: cfg.Events.PollInterval.D(), Retention: cfg.Events.Retention.D()})
	srv, err := proxy.New(proxy.Options{Config: cfg, Registry: reg, Logger: log, Events: ev})
	if err != nil {
		return err
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
		st.OnRemove(func(name string) {
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
	log.Info("kapok serving", "http", "http://"+ln.Addr().String(), "tenants", len(reg.Tenants()), "default_tenant", cfg.DefaultTenant)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down: draining in-flight requests")
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
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
