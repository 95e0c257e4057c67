package poolmgr

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
)

// Config is the manager-wide configuration. Zero values take the defaults noted per field.
type Config struct {
	// MaxPools caps the number of open tenant pools; the least recently used is closed
	// beyond it. It also bounds the tenant label cardinality of the metrics. Default 1000.
	MaxPools int
	// IdleTimeout closes a pool no request has used for this long. Default 5m; negative
	// disables the sweeper.
	IdleTimeout time.Duration
	// SweepInterval is how often idle pools are looked for. Default IdleTimeout/4, at most 1m.
	SweepInterval time.Duration
	// GlobalMaxClients caps concurrent requests over all tenants (0 = no cap).
	GlobalMaxClients int
	// GlobalQueueWait is how long a request waits for a global slot before ErrServerBusy.
	// Default 0: reject at once, since a full process will not drain faster by queueing.
	GlobalQueueWait time.Duration
	// RequestTimeout bounds a Run whose context has no deadline (fasthttp's never has one).
	// Default 30s; when a tenant has a StatementTimeout, its StatementTimeout + QueueWait +
	// AcquireTimeout + 1s is used instead.
	RequestTimeout time.Duration
	// ApplicationName prefixes the application_name of every connection: "<prefix>/<tenant>",
	// or "<prefix>" for pools with SharedLogin.
	// Default "kapok".
	ApplicationName string
	// SharedMaxConns is the size of each shared physical pool, the one pool per upstream URL
	// that every SharedLogin tenant draws on (0: the URL's pool_max_conns, else
	// max(16, 8 × GOMAXPROCS)).
	SharedMaxConns int32
	// Logger receives pool lifecycle events. Default slog.Default().
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.MaxPools <= 0 {
		c.MaxPools = 1000
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = 5 * time.Minute
	}
	if c.SweepInterval <= 0 && c.IdleTimeout > 0 {
		c.SweepInterval = min(c.IdleTimeout/4, time.Minute)
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 30 * time.Second
	}
	if c.ApplicationName == "" {
		c.ApplicationName = "kapok"
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// ExecMode selects how statements are sent on a tenant's connections: it is pgx's
// DefaultQueryExecMode for callers of Pool.Pgx, and Pool.Run follows it too: unnamed
// statements (one round trip) in cache_describe and exec, named prepared statements in
// cache_statement.
type ExecMode string

const (
	// ExecCacheDescribe uses the unnamed statement and caches result descriptions: one round
	// trip, safe behind PgBouncer in transaction mode (1.18). The default.
	ExecCacheDescribe ExecMode = "cache_describe"
	// ExecCacheStatement prepares named statements per connection: Postgres parses and plans
	// each plan once per connection (Run's first use of a plan on a connection costs one
	// extra round trip; at most 512 per connection, the rest run unnamed). Only directly to
	// Postgres, or behind PgBouncer >= 1.21 with max_prepared_statements > 0.
	ExecCacheStatement ExecMode = "cache_statement"
	// ExecExec sends text parameters typed from the Go value, one round trip, nothing cached.
	ExecExec ExecMode = "exec"
)

func (m ExecMode) pgx() (pgx.QueryExecMode, error) {
	switch m {
	case "", ExecCacheDescribe:
		return pgx.QueryExecModeCacheDescribe, nil
	case ExecCacheStatement:
		return pgx.QueryExecModeCacheStatement, nil
	case ExecExec:
		return pgx.QueryExecModeExec, nil
	}
	return 0, fmt.Errorf("poolmgr: unknown exec mode %q (want cache_describe, cache_statement or exec)", string(m))
}

// PoolConfig is one tenant's pool. It is comparable: Manager.Get replaces a tenant's pool
// when it is called with a config different from the one the pool was built with.
type PoolConfig struct {
	// URL is the DSN, normally the PgBouncer endpoint of the tenant's upstream. Parsed with
	// pgxpool.ParseConfig, so pool_* and other DSN knobs apply unless overridden below.
	URL string
	// SharedLogin says other tenants log in with the same URL (they switch role per
	// request): the tenant then draws on the manager's shared physical pool for that URL
	// and exec mode (Config.SharedMaxConns connections), taking turns with the other
	// tenants whenever it is full, instead of opening connections of its own.
	SharedLogin bool
	// MaxConns caps the connections the tenant holds at once: the size of its own pool
	// (0 = the DSN's pool_max_conns or pgx's default), or its share of a shared one (0 =
	// all of it).
	MaxConns int32
	// MinIdleConns keeps this many idle connections ready in a pool of the tenant's own
	// (0 = none, so an idle tenant holds nothing). A shared pool keeps none.
	MinIdleConns int32
	// Weight is how many of its waiting requests a tenant gets served per turn at a
	// shared pool that is full (0 = 1): a tenant of weight 2 gets twice the connections of
	// one of weight 1 while both wait.
	Weight int
	// MaxInFlight caps the tenant's concurrent requests (0 = no cap).
	MaxInFlight int
	// QueueWait is how long a request over MaxInFlight waits for a slot before
	// ErrTooManyRequests. Default 0: reject at once.
	QueueWait time.Duration
	// AcquireTimeout bounds the wait for a pooled connection before ErrAcquireTimeout
	// (0 = bounded only by the request deadline).
	AcquireTimeout time.Duration
	// StatementTimeout is applied to every request of the tenant with
	// set_config('statement_timeout', …, true) in the same round trip (PgBouncer refuses it
	// as a startup parameter). A Session's own StatementTimeout wins. 0 = the role's default.
	StatementTimeout time.Duration
	// ExecMode is the pgx exec mode of the tenant's connections. Default cache_describe.
	ExecMode ExecMode
	// ShareReads lets reads that wait for a connection run together (Request.Shareable).
	ShareReads bool
}
