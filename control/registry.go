package control

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kapok-dev/kapok/planner/catalog"
)

// ErrUnknownTenant is returned for a tenant name the registry does not hold.
var ErrUnknownTenant = errors.New("unknown tenant")

// ErrNotLoaded means the tenant exists but its catalog could not be loaded yet.
var ErrNotLoaded = errors.New("tenant schema not loaded")

// Snapshot is one immutable version of a tenant's catalog.
type Snapshot struct {
	Catalog  *catalog.Schema
	Version  string
	LoadedAt time.Time
}

// Tenant is a served tenant. Config is immutable; the snapshot changes atomically.
type Tenant struct {
	Name      string
	Config    *TenantConfig
	DirectURL string
	PoolerURL string
	ExecMode  string

	snap    atomic.Pointer[Snapshot]
	loadErr atomic.Pointer[error]
}

// Snapshot returns the current catalog snapshot, or nil before the first load.
func (t *Tenant) Snapshot() *Snapshot { return t.snap.Load() }

// LoadError is the last load failure, nil after a successful load.
func (t *Tenant) LoadError() error {
	if p := t.loadErr.Load(); p != nil {
		return *p
	}
	return nil
}

// Registry holds the tenants and keeps their catalogs current.
type Registry struct {
	cfg *Config
	log *slog.Logger

	mu       sync.Mutex
	tenants  atomic.Pointer[map[string]*Tenant]
	dbs      map[string]*database // by direct URL
	onChange []func(t *Tenant, old, cur *Snapshot)
	reloads  atomic.Int64
	failures atomic.Int64
	// store holds the control tables once OpenStore attached them (nil: file tenants only).
	store atomic.Pointer[Store]
}

// Store returns the control tables attached by OpenStore, or nil.
func (r *Registry) Store() *Store { return r.store.Load() }

// NewRegistry builds a registry from a normalized config. Nothing connects until Start.
func NewRegistry(cfg *Config, log *slog.Logger) *Registry {
	if log == nil {
		log = slog.Default()
	}
	r := &Registry{cfg: cfg, log: log, dbs: map[string]*database{}}
	m := map[string]*Tenant{}
	for _, tc := range cfg.Tenants {
		m[tc.Name] = r.newTenant(tc)
	}
	r.tenants.Store(&m)
	return r
}

func (r *Registry) newTenant(tc *TenantConfig) *Tenant {
	return &Tenant{
		Name:      tc.Name,
		Config:    tc,
		DirectURL: r.cfg.DirectURL(tc),
		PoolerURL: r.cfg.PoolerURL(tc),
		ExecMode:  r.cfg.Upstreams[tc.Upstream].ExecMode,
	}
}

// Config returns the configuration the registry was built from.
func (r *Registry) Config() *Config { return r.cfg }

// OnChange registers fn to run after a tenant's snapshot changes version, and on its first
// load before the tenant is served (so a first load's fn may prepare what requests need).
// Register before Start.
func (r *Registry) OnChange(fn func(t *Tenant, old, cur *Snapshot)) {
	r.onChange = append(r.onChange, fn)
}

// Tenant returns the named tenant or nil.
func (r *Registry) Tenant(name string) *Tenant {
	return (*r.tenants.Load())[name]
}

// Tenants lists tenants sorted by name.
func (r *Registry) Tenants() []*Tenant {
	m := *r.tenants.Load()
	out := make([]*Tenant, 0, len(m))
	for _, t := range m {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Reloads counts catalog loads that produced a new version.
func (r *Registry) Reloads() int64 { return r.reloads.Load() }

// LoadFailures counts catalog loads that failed (the tenant keeps its last schema, or
// stays not ready when it has none).
func (r *Registry) LoadFailures() int64 { return r.failures.Load() }

// Unloaded counts the tenants whose catalog could not be loaded, or whose last load failed.
func (r *Registry) Unloaded() int {
	n := 0
	for _, t := range *r.tenants.Load() {
		if t.Snapshot() == nil || t.LoadError() != nil {
			n++
		}
	}
	return n
}

// Start loads every tenant's catalog and starts one watcher per upstream database. Load
// failures do not fail Start: the tenant stays not-ready and is retried by its watcher.
func (r *Registry) Start(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var wg sync.WaitGroup
	for _, t := range r.Tenants() {
		db, err := r.databaseLocked(ctx, t)
		if err != nil {
			r.setErr(t, err)
			continue
		}
		if err := r.checkRole(ctx, db, t); err != nil {
			return err
		}
		db.add(t)
	}
	// Listen first, then load: a change between the load and the LISTEN would be missed.
	for _, db := range r.dbs {
		db.start()
	}
	for _, db := range r.dbs {
		wg.Add(1)
		go func(db *database) {
			defer wg.Done()
			db.waitListening(5 * time.Second)
			db.reloadAll(ctx)
		}(db)
	}
	wg.Wait()
	return nil
}

// databaseLocked returns the watcher of the database at url, creating it. r.mu is held.
func (r *Registry) databaseLocked(ctx context.Context, t *Tenant) (*database, error) {
	url := t.DirectURL
	if db := r.dbs[url]; db != nil {
		return db, nil
	}
	pcfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("upstream url: %w", err)
	}
	pcfg.MaxConns = 4
	pcfg.MinConns = 0
	pcfg.MaxConnIdleTime = time.Minute
	pcfg.ConnConfig.RuntimeParams["application_name"] = "kapok-control"
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("upstream: %w", err)
	}
	db := newDatabase(r, url, pool, r.cfg.Upstreams[t.Config.Upstream].Managed())
	r.dbs[url] = db
	return db, nil
}

// AddTenant starts serving a tenant (used by the admin API). It returns once its catalog is
// loaded.
func (r *Registry) AddTenant(ctx context.Context, tc *TenantConfig) (*Tenant, error) {
	if err := r.cfg.NormalizeTenant(tc); err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	old := *r.tenants.Load()
	if _, dup := old[tc.Name]; dup {
		return nil, fmt.Errorf("tenant %q already exists", tc.Name)
	}
	t := r.newTenant(tc)
	db, err := r.databaseLocked(ctx, t)
	if err != nil {
		return nil, err
	}
	db.start()
	db.waitListening(5 * time.Second)
	db.add(t)
	if err := db.reload(ctx, t); err != nil {
		db.remove(t)
		return nil, err
	}
	m := make(map[string]*Tenant, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	m[tc.Name] = t
	r.tenants.Store(&m)
	return t, nil
}

// RemoveTenant stops serving a tenant.
func (r *Registry) RemoveTenant(name string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := *r.tenants.Load()
	t, ok := old[name]
	if !ok {
		return false
	}
	m := make(map[string]*Tenant, len(old))
	for k, v := range old {
		if k != name {
			m[k] = v
		}
	}
	r.tenants.Store(&m)
	if db := r.dbs[t.DirectURL]; db != nil {
		db.remove(t)
		// A tenant's own database that no tenant lives in any more (a dropped tenant
		// database) must not keep a listener reconnecting to it.
		if t.Config.Database != "" && len(db.list()) == 0 {
			delete(r.dbs, t.DirectURL)
			go db.close()
		}
	}
	return true
}

// UpdateTenant swaps the configuration of a served tenant (pool, limits, auth) and keeps
// its catalog. The tenant's database cannot change.
func (r *Registry) UpdateTenant(tc *TenantConfig) (*Tenant, error) {
	if err := r.cfg.NormalizeTenant(tc); err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	old := *r.tenants.Load()
	prev := old[tc.Name]
	if prev == nil {
		return nil, ErrUnknownTenant
	}
	t := r.newTenant(tc)
	if t.DirectURL != prev.DirectURL {
		return nil, fmt.Errorf("tenant %q: its database cannot change", tc.Name)
	}
	t.snap.Store(prev.snap.Load())
	if db := r.dbs[t.DirectURL]; db != nil {
		db.add(t)
	}
	m := make(map[string]*Tenant, len(old))
	for k, v := range old {
		m[k] = v
	}
	m[tc.Name] = t
	r.tenants.Store(&m)
	return t, nil
}

// Reload re-introspects one tenant now (admin API, tests).
func (r *Registry) Reload(ctx context.Context, name string) error {
	t := r.Tenant(name)
	if t == nil {
		return ErrUnknownTenant
	}
	r.mu.Lock()
	db := r.dbs[t.DirectURL]
	r.mu.Unlock()
	if db == nil {
		return ErrNotLoaded
	}
	return db.reload(ctx, t)
}

// Ready reports whether every tenant has a catalog and every upstream answers a ping.
func (r *Registry) Ready(ctx context.Context) error {
	for _, t := range r.Tenants() {
		if t.Snapshot() == nil {
			if err := t.LoadError(); err != nil {
				return fmt.Errorf("tenant %s: %w", t.Name, err)
			}
			return fmt.Errorf("tenant %s: %w", t.Name, ErrNotLoaded)
		}
	}
	r.mu.Lock()
	dbs := make([]*database, 0, len(r.dbs))
	for _, db := range r.dbs {
		dbs = append(dbs, db)
	}
	r.mu.Unlock()
	for _, db := range dbs {
		if err := db.pool.Ping(ctx); err != nil {
			return fmt.Errorf("upstream unreachable: %w", err)
		}
	}
	return nil
}

// checkRole refuses to serve a tenant of an upstream Kapok does not manage whose requests
// would need a role Kapok creates: no request runs as a superuser login, and Kapok creates
// nothing where it was not asked to. An unreachable database is not refused here: its
// requests fail closed until the role exists.
func (r *Registry) checkRole(ctx context.Context, db *database, t *Tenant) error {
	tc := t.Config
	if db.managed {
		return nil
	}
	if tc.Role != "" {
		if err := CheckOwnRole(ctx, db.pool, tc.Role); err != nil && !isConnError(err) {
			return fmt.Errorf("tenant %s: %w", t.Name, err)
		}
		return nil
	}
	login := ""
	if pc, err := pgconn.ParseConfig(r.cfg.LoginURL(tc)); err == nil {
		login = pc.User
	}
	need, err := NeedsTenantRole(ctx, db.pool, tc, login)
	if err != nil || !need {
		return nil
	}
	why := fmt.Sprintf("the login role %q is a superuser (or a member of one)", login)
	if tc.UsesTenantRole() {
		why = fmt.Sprintf("isolation %q runs requests as role %s", tc.Isolation, TenantRole(tc.Name))
	}
	return fmt.Errorf("tenant %s: %s, and requests never run as a superuser login; Kapok would create role %s for them, "+
		"but it creates nothing in a database it does not manage. Pass --manage to let it, --role <an existing role that is not a superuser> "+
		"to run requests as that role, or connect as a role that is not a superuser", t.Name, why, TenantRole(tc.Name))
}

// isConnError is true for errors that are no answer from Postgres.
func isConnError(err error) bool {
	var pgErr *pgconn.PgError
	return !errors.As(err, &pgErr)
}

// Warnings lists what a platform team should know about the served tenants without it
// making the replica unready: tenants that expose no tables or views, the first
// maxWarnings by name and then how many more.
func (r *Registry) Warnings() []string {
	const maxWarnings = 20
	var out []string
	more := 0
	for _, t := range r.Tenants() {
		if s := t.Snapshot(); s != nil && len(s.Catalog.Tables) == 0 {
			if len(out) == maxWarnings {
				more++
				continue
			}
			out = append(out, noTablesWarning(t))
		}
	}
	if more > 0 {
		out = append(out, fmt.Sprintf("%d more tenants expose no tables or views (see the log)", more))
	}
	return out
}

// Close stops the watchers and closes their connections.
func (r *Registry) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, db := range r.dbs {
		db.close()
	}
	r.dbs = map[string]*database{}
}

func (r *Registry) setErr(t *Tenant, err error) {
	r.failures.Add(1)
	t.loadErr.Store(&err)
}

// swap installs a newly loaded catalog; it reports whether the version changed.
func (r *Registry) swap(t *Tenant, cat *catalog.Schema) bool {
	cur := &Snapshot{Catalog: cat, Version: cat.Version, LoadedAt: time.Now()}
	t.loadErr.Store(nil)
	old := t.snap.Load()
	if old != nil && old.Version == cur.Version {
		return false
	}
	r.reloads.Add(1)
	if old == nil {
		// A first load runs the hooks before the tenant is served: its role and grants
		// exist before any request can run as them. Two first loads at once (Start's and
		// the watcher's) both run them; the hooks are idempotent.
		r.notify(t, nil, cur)
		t.snap.Store(cur)
		return true
	}
	t.snap.Store(cur)
	r.notify(t, old, cur)
	return true
}

func (r *Registry) notify(t *Tenant, old, cur *Snapshot) {
	for _, fn := range r.onChange {
		fn(t, old, cur)
	}
}
