package events

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kapok-dev/kapok/control"
)

// Clock tells the time that decides when scheduled events and retries are due; tests
// inject a fake one.
type Clock interface{ Now() time.Time }

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

// Options configures a Service.
type Options struct {
	Registry *control.Registry
	Logger   *slog.Logger
	// Clock defaults to the system clock.
	Clock Clock
	// Worker names this process in leases and attempt records (default host:pid:random).
	Worker string
	// Concurrency caps deliveries in flight in this process (default 16).
	Concurrency int
	// PollInterval bounds how long a due event waits when no notification arrives
	// (default 1s).
	PollInterval time.Duration
	// Retention is how long delivered events are kept (default 7 days).
	Retention time.Duration
	// LeaseMargin is added to a delivery's timeout to make its lease (default 30s).
	LeaseMargin time.Duration
	// Getenv reads header values, webhooks and secrets given "from env" (default os.Getenv).
	Getenv func(string) string
}

// Service is one process's access to the events of every tenant it serves: the admin
// operations, and (after Start) the dispatcher that delivers due events.
type Service struct {
	reg    *control.Registry
	log    *slog.Logger
	clock  Clock
	worker string
	opts   Options
	met    *metrics

	mu        sync.Mutex
	dbs       map[string]*database // by login URL
	clients   map[string]*tenantClient
	installed map[string]bool
	probeAt   map[string]time.Time
	probeWait map[string]time.Duration

	wake    chan struct{}
	regroup bool // a database got kapok_events: the dispatcher lists databases again
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// database is one upstream database holding tenants, with its pool (through the pooler,
// as Kapok's login role) and, while the dispatcher runs, a listener.
type database struct {
	url    string // login URL: pooled connections
	direct string // direct URL: LISTEN
	pool   *pgxpool.Pool
}

// New builds a service; nothing connects until it is used or started.
func New(opts Options) *Service {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Clock == nil {
		opts.Clock = realClock{}
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 16
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = time.Second
	}
	if opts.Retention <= 0 {
		opts.Retention = 7 * 24 * time.Hour
	}
	if opts.LeaseMargin <= 0 {
		opts.LeaseMargin = 30 * time.Second
	}
	if opts.Getenv == nil {
		opts.Getenv = os.Getenv
	}
	if opts.Worker == "" {
		host, _ := os.Hostname()
		var b [4]byte
		_, _ = rand.Read(b[:])
		opts.Worker = fmt.Sprintf("%s:%d:%s", host, os.Getpid(), hex.EncodeToString(b[:]))
	}
	return &Service{reg: opts.Registry, log: opts.Logger, clock: opts.Clock, worker: opts.Worker, opts: opts,
		met: newMetrics(), dbs: map[string]*database{}, clients: map[string]*tenantClient{},
		installed: map[string]bool{}, probeAt: map[string]time.Time{}, probeWait: map[string]time.Duration{}, wake: make(chan struct{}, 1)}
}

// Worker is the name this process records in leases and attempts.
func (s *Service) Worker() string { return s.worker }

// Close stops the dispatcher (waiting for deliveries in flight) and closes connections.
func (s *Service) Close() {
	s.mu.Lock()
	cancel := s.cancel
	s.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	s.wg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, db := range s.dbs {
		db.pool.Close()
	}
	s.dbs = map[string]*database{}
	for _, c := range s.clients {
		c.http.CloseIdleConnections()
	}
}

// db returns the pool of the tenant's database.
func (s *Service) db(ctx context.Context, t *control.Tenant) (*database, error) {
	cfg := s.reg.Config()
	url := cfg.LoginURL(t.Config)
	s.mu.Lock()
	defer s.mu.Unlock()
	if db := s.dbs[url]; db != nil {
		return db, nil
	}
	pcfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("events: database url: %w", err)
	}
	// Behind PgBouncer in transaction mode there are no prepared statements; every
	// parameter here is cast, so describing them is enough.
	switch t.ExecMode {
	case "cache_statement":
		pcfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeCacheStatement
	case "exec":
		pcfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeExec
	default:
		pcfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeCacheDescribe
	}
	pcfg.MaxConns = 8
	pcfg.MinConns = 0
	pcfg.MaxConnIdleTime = time.Minute
	pcfg.ConnConfig.RuntimeParams["application_name"] = "kapok-events"
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("events: %w", err)
	}
	db := &database{url: url, direct: t.DirectURL, pool: pool}
	s.dbs[url] = db
	return db, nil
}

// install creates kapok_events in the tenant's database once per process.
func (s *Service) install(ctx context.Context, db *database) error {
	s.mu.Lock()
	done := s.installed[db.url]
	s.mu.Unlock()
	if done {
		return nil
	}
	// One simple-protocol round trip is one transaction: the advisory lock taken first
	// covers the function's replacement too.
	if _, err := db.pool.Exec(ctx, installSQL, pgx.QueryExecModeSimpleProtocol); err != nil {
		return fmt.Errorf("events: install kapok_events: %w", err)
	}
	s.mu.Lock()
	if !s.installed[db.url] {
		s.regroup = true
	}
	s.installed[db.url] = true
	s.mu.Unlock()
	return nil
}

func (s *Service) takeRegroup() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.regroup
	s.regroup = false
	return r
}

// ready returns the tenant's database with kapok_events installed.
func (s *Service) ready(ctx context.Context, t *control.Tenant) (*database, error) {
	if err := s.reg.Config().CheckManaged(t.Config, "event triggers and scheduled events (schema kapok_events)"); err != nil {
		return nil, err
	}
	db, err := s.db(ctx, t)
	if err != nil {
		return nil, err
	}
	return db, s.install(ctx, db)
}

// notify wakes this process's dispatcher at once (an event was written here).
func (s *Service) notify() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}
