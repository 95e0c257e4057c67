package control

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/singleflight"

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
	loadErr atomic.Pointer[loadFailure]
	// loadMu orders the tenant's loads and its hibernation: two loads cannot swap an older
	// catalog over a newer one, and hibernation cannot drop a catalog a load is installing.
	loadMu sync.Mutex
	// watched: the schema watcher keeps this catalog current. Set before a load (Start's when
	// eager, a first request's, the admin API's), so DDL during the load is not lost; cleared
	// by hibernation, so that a cold tenant costs no introspection until it is used.
	watched atomic.Bool
	// loadedFrom is when the last load that succeeded began (guarded by loadMu): its
	// snapshot holds every change committed before then, so a notification heard before
	// then needs no load of its own (database.refresh).
	loadedFrom time.Time
	// slept is the version hibernation gave back, nil unless the tenant is hibernated.
	slept atomic.Pointer[string]
	// used is the registry's coarse clock (Registry.clock) when a request last used the
	// catalog: a store only when that clock moved, so requests do not contend on it.
	used atomic.Int64
	// retired: the registry serves the tenant from another database now (ReplaceTenant), or
	// not at all.
	retired atomic.Bool
}

// Retired reports whether the registry stopped serving this Tenant: it was removed, or
// replaced by one in another database (a move). A request that resolved it must resolve
// the tenant's name again.
func (t *Tenant) Retired() bool { return t.retired.Load() }

type loadFailure struct {
	err error
	at  time.Time
}

// TenantState says whether a tenant's catalog is in memory.
type TenantState string

const (
	// TenantCold has never been loaded: its first request loads it.
	TenantCold TenantState = "cold"
	// TenantResident has a catalog.
	TenantResident TenantState = "resident"
	// TenantHibernated was loaded and gave its catalog back after tenancy.hibernate_after
	// unused: its next request loads it again.
	TenantHibernated TenantState = "hibernated"
	// TenantFailed has no catalog because loading it failed (LoadError says why).
	TenantFailed TenantState = "failed"
)

// State reports whether the tenant's catalog is loaded, without loading it.
func (t *Tenant) State() TenantState {
	switch {
	case t.snap.Load() != nil:
		return TenantResident
	case t.loadErr.Load() != nil:
		return TenantFailed
	case t.slept.Load() != nil:
		return TenantHibernated
	}
	return TenantCold
}

// Snapshot returns the current catalog snapshot without loading it: nil while the tenant is
// cold, hibernated or failed. Requests use Registry.Ensure.
func (t *Tenant) Snapshot() *Snapshot { return t.snap.Load() }

// LoadError is the last load failure, nil after a successful load.
func (t *Tenant) LoadError() error {
	if f := t.loadErr.Load(); f != nil {
		return f.err
	}
	return nil
}

// inherit carries prev's catalog and load state over to t, its replacement.
func (t *Tenant) inherit(prev *Tenant) {
	t.snap.Store(prev.snap.Load())
	t.loadErr.Store(prev.loadErr.Load())
	t.watched.Store(prev.watched.Load())
	t.slept.Store(prev.slept.Load())
	t.used.Store(prev.used.Load())
}

// Registry holds the tenants and keeps their catalogs current.
type Registry struct {
	cfg *Config
	log *slog.Logger

	mu       sync.Mutex
	tenants  atomic.Pointer[map[string]*Tenant]
	dbs      map[string]*database // by direct URL
	onChange []func(t *Tenant, old, cur *Snapshot)
	awake    []func(t *Tenant) bool
	reloads  atomic.Int64
	failures atomic.Int64
	// introspections counts catalog loads started, whatever they found: Reloads counts only
	// new versions, so it cannot tell one load from two.
	introspections atomic.Int64
	// loads lets concurrent first requests of a tenant share one load.
	loads        singleflight.Group
	hibernations atomic.Int64
	// clock is the time (unix nanoseconds) that Ensure records as a tenant's last use; the
	// hibernation sweeper advances it, so the request path never reads the time.
	clock     atomic.Int64
	stopSweep chan struct{}
	swept     chan struct{}
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
	r.clock.Store(time.Now().UnixNano())
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
// A hibernating tenant's fn gets cur == nil, after the snapshot is gone: it releases what
// was built from old. Waking up to a catalog that changed while the tenant slept is a first
// load again (old == nil), so what a first load prepares must be idempotent; waking up to
// the version it gave back runs no fn. Register before Start.
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

// Unloaded counts the tenants whose last catalog load failed (with or without an older
// catalog to serve); cold and hibernated tenants are not failures.
func (r *Registry) Unloaded() int {
	n := 0
	for _, t := range *r.tenants.Load() {
		if t.loadErr.Load() != nil {
			n++
		}
	}
	return n
}

// Resident counts the tenants whose catalog is in memory.
func (r *Registry) Resident() int {
	n := 0
	for _, t := range *r.tenants.Load() {
		if t.snap.Load() != nil {
			n++
		}
	}
	return n
}

// Hibernations counts the catalogs given back after tenancy.hibernate_after unused.
func (r *Registry) Hibernations() int64 { return r.hibernations.Load() }

// Start starts one watcher per upstream database and, when the registry holds at most
// tenancy.eager_load_max tenants, loads every catalog before returning; beyond that the
// tenants stay cold until Ensure, so that thousands of them do not hold up start-up. Load
// failures do not fail Start: the tenant stays not-ready and is retried by its watcher.
func (r *Registry) Start(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	tenants := r.Tenants()
	eager := r.cfg.Tenancy.EagerLoadMax >= 0 && len(tenants) <= r.cfg.Tenancy.EagerLoadMax
	for _, t := range tenants {
		db, err := r.databaseLocked(ctx, t)
		if err != nil {
			r.setErr(t, err)
			continue
		}
		if err := r.checkRole(ctx, db, t); err != nil {
			return err
		}
		t.watched.Store(eager)
		db.add(t)
	}
	// Listen first, then load: a change between the load and the LISTEN would be missed.
	for _, db := range r.dbs {
		db.start()
	}
	if after := r.cfg.Tenancy.HibernateAfter.D(); after > 0 && r.stopSweep == nil {
		r.stopSweep, r.swept = make(chan struct{}), make(chan struct{})
		go r.sweep(r.stopSweep, r.swept, after)
	}
	if !eager {
		r.log.Info("tenant catalogs load on first use", "tenants", len(tenants), "eager_load_max", r.cfg.Tenancy.EagerLoadMax)
		return nil
	}
	var wg sync.WaitGroup
	for _, db := range r.dbs {
		wg.Add(1)
		go func(db *database) {
			defer wg.Done()
			db.waitListening(5 * time.Second)
			db.reloadSchemas(ctx, nil, time.Time{})
		}(db)
	}
	wg.Wait()
	return nil
}

// Ensure returns the tenant's catalog snapshot, loading it when the tenant is cold or
// hibernated, and records the use that keeps it from hibernating. Concurrent callers share
// one load; ctx bounds only the caller's wait. Without a catalog the error is the load's
// (or ErrNotLoaded), as a nil Snapshot was before.
func (r *Registry) Ensure(ctx context.Context, t *Tenant) (*Snapshot, error) {
	if c := r.clock.Load(); t.used.Load() != c {
		t.used.Store(c)
	}
	if s := t.snap.Load(); s != nil {
		return s, nil
	}
	return r.load(ctx, t)
}

// loadRetry is how long a failed load answers requests with its error before one of them
// tries again: a database that is down must not get one introspection per request, nor the
// log one line each.
const loadRetry = time.Second

func (r *Registry) load(ctx context.Context, t *Tenant) (*Snapshot, error) {
	if f := t.loadErr.Load(); f != nil && time.Since(f.at) < loadRetry {
		return nil, f.err
	}
	// Keyed by the Tenant, not its name: UpdateTenant replaces it, and a caller holding the
	// replacement must not be answered by the old one's load.
	key := fmt.Sprintf("%p", t)
	ch := r.loads.DoChan(key, func() (any, error) {
		r.mu.Lock()
		db := r.dbs[t.DirectURL]
		r.mu.Unlock()
		if db == nil {
			// Start has not run, or the tenant's database failed it (and said why).
			if err := t.LoadError(); err != nil {
				return nil, err
			}
			return nil, ErrNotLoaded
		}
		// As at Start: listen first, so that DDL after the load cannot go unseen.
		db.waitListening(5 * time.Second)
		// Not the caller's context: the load is shared, and one caller giving up must not
		// fail it for the others.
		return nil, db.ensure(context.Background(), t)
	})
	select {
	case res := <-ch:
		if s := t.snap.Load(); s != nil {
			return s, nil
		}
		if res.Err != nil {
			return nil, res.Err
		}
		if err := t.LoadError(); err != nil {
			return nil, err
		}
		return nil, ErrNotLoaded
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: %w", ErrNotLoaded, ctx.Err())
	}
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

// RegisterTenants starts serving tenants the control tables hold (Store.Sync): in one
// swap of the tenant map, however many there are, and cold unless the registry then holds
// at most tenancy.eager_load_max tenants, so that a replica starting with thousands of them
// serves at once. A tenant that cannot be registered is left out with its error.
func (r *Registry) RegisterTenants(ctx context.Context, tcs []*TenantConfig) ([]*Tenant, []error) {
	errs := make([]error, len(tcs))
	added := make([]*Tenant, 0, len(tcs))
	r.mu.Lock()
	old := *r.tenants.Load()
	m := make(map[string]*Tenant, len(old)+len(tcs))
	for k, v := range old {
		m[k] = v
	}
	eager := r.cfg.Tenancy.EagerLoadMax >= 0 && len(old)+len(tcs) <= r.cfg.Tenancy.EagerLoadMax
	dbs := map[*database]bool{}
	for i, tc := range tcs {
		if err := r.cfg.NormalizeTenant(tc); err != nil {
			errs[i] = err
			continue
		}
		if _, dup := m[tc.Name]; dup {
			errs[i] = fmt.Errorf("tenant %q already exists", tc.Name)
			continue
		}
		t := r.newTenant(tc)
		db, err := r.databaseLocked(ctx, t)
		if err != nil {
			errs[i] = err
			continue
		}
		db.start()
		dbs[db] = true
		t.watched.Store(eager)
		db.add(t)
		m[tc.Name] = t
		added = append(added, t)
	}
	r.tenants.Store(&m)
	r.mu.Unlock()
	if eager {
		for db := range dbs {
			db.waitListening(5 * time.Second)
		}
		for _, t := range added {
			// A failure leaves the tenant failed (not ready) and retried by its watcher,
			// as at Start.
			_, _ = r.Ensure(ctx, t)
		}
	}
	return added, errs
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
	t.retired.Store(true)
	r.unwatchLocked(t)
	return true
}

// unwatchLocked takes t off its database's watcher. A tenant's own database that no tenant
// lives in any more (a dropped tenant database, the one a tenant moved out of or failed to
// move to) must not keep a listener reconnecting to it. r.mu is held.
func (r *Registry) unwatchLocked(t *Tenant) {
	db := r.dbs[t.DirectURL]
	if db == nil {
		return
	}
	db.remove(t)
	if t.Config.Database != "" && len(db.list()) == 0 {
		delete(r.dbs, t.DirectURL)
		go db.close()
	}
}

// UpdateTenant swaps the configuration of a served tenant (pool, limits, auth) and keeps
// its catalog. The tenant's database cannot change (ReplaceTenant serves a moved tenant).
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
	t.inherit(prev)
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

// ReplaceTenant serves tc in place of the served tenant of its name when tc names another
// database (a tenant moved to a database of its own, Store.MoveTenant, followed from the
// control tables). Unlike UpdateTenant nothing of the old tenant is kept: its catalog and
// load state were another database's. The new tenant is watched in its database and loads
// its catalog now when the old one was loaded, else on its next request.
func (r *Registry) ReplaceTenant(ctx context.Context, tc *TenantConfig) (*Tenant, error) {
	if err := r.cfg.NormalizeTenant(tc); err != nil {
		return nil, err
	}
	t, err := r.attach(ctx, tc)
	if err != nil {
		return nil, err
	}
	old, err := r.replace(t)
	if err != nil {
		r.detach(t)
		return nil, err
	}
	if old.watched.Load() {
		// A failure leaves the tenant failed and retried by its watcher, as at Start.
		_, _ = r.Ensure(ctx, t)
	}
	return t, nil
}

// attach builds the tenant tc (normalized) describes and adds it to the watcher of its
// database, started and listening, without serving it: replace serves it, detach drops it.
func (r *Registry) attach(ctx context.Context, tc *TenantConfig) (*Tenant, error) {
	r.mu.Lock()
	t := r.newTenant(tc)
	db, err := r.databaseLocked(ctx, t)
	if err != nil {
		r.mu.Unlock()
		return nil, err
	}
	db.start()
	db.add(t)
	r.mu.Unlock()
	db.waitListening(5 * time.Second)
	return t, nil
}

// loadAttached loads t's catalog now on its database's watcher: for a tenant attached but
// not yet served, the OnChange hooks of a first load (its role and grants in its database)
// run before it is.
func (r *Registry) loadAttached(ctx context.Context, t *Tenant) error {
	r.mu.Lock()
	db := r.dbs[t.DirectURL]
	r.mu.Unlock()
	if db == nil {
		return ErrNotLoaded
	}
	return db.reload(ctx, t)
}

// replace serves the attached tenant t in place of the tenant of its name, which it returns
// after taking it off its database's watcher.
func (r *Registry) replace(t *Tenant) (*Tenant, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := *r.tenants.Load()
	prev := old[t.Name]
	if prev == nil {
		return nil, ErrUnknownTenant
	}
	m := make(map[string]*Tenant, len(old))
	for k, v := range old {
		m[k] = v
	}
	m[t.Name] = t
	r.tenants.Store(&m)
	prev.retired.Store(true)
	if prev.DirectURL != t.DirectURL {
		r.unwatchLocked(prev)
	}
	return prev, nil
}

// detach drops an attached tenant that will not be served.
func (r *Registry) detach(t *Tenant) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.unwatchLocked(t)
}

// Reload re-introspects one tenant now (admin API, migrations, tests); a cold or
// hibernated tenant is loaded, and counts as used.
func (r *Registry) Reload(ctx context.Context, name string) error {
	t := r.Tenant(name)
	if t == nil {
		return ErrUnknownTenant
	}
	t.used.Store(r.clock.Load())
	return r.loadAttached(ctx, t)
}

// Ready reports whether no tenant is left without a catalog by a failed load, and every
// upstream answers a ping. Cold and hibernated tenants are ready: their next request loads
// them.
func (r *Registry) Ready(ctx context.Context) error {
	for _, t := range r.Tenants() {
		if t.Snapshot() == nil {
			if err := t.LoadError(); err != nil {
				return fmt.Errorf("tenant %s: %w", t.Name, err)
			}
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

// Close stops the hibernation sweeper and the watchers, and closes their connections.
func (r *Registry) Close() {
	r.mu.Lock()
	stop, swept := r.stopSweep, r.swept
	r.stopSweep = nil
	r.mu.Unlock()
	if stop != nil {
		close(stop)
		<-swept
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, db := range r.dbs {
		db.close()
	}
	r.dbs = map[string]*database{}
}

func (r *Registry) setErr(t *Tenant, err error) {
	r.failures.Add(1)
	t.loadErr.Store(&loadFailure{err: err, at: time.Now()})
}

// swap installs a newly loaded catalog; it reports whether the version changed. t.loadMu
// is held.
func (r *Registry) swap(t *Tenant, cat *catalog.Schema) bool {
	cur := &Snapshot{Catalog: cat, Version: cat.Version, LoadedAt: time.Now()}
	t.loadErr.Store(nil)
	old := t.snap.Load()
	if old != nil && old.Version == cur.Version {
		return false
	}
	if old == nil {
		// A catalog loaded and never used hibernates hibernate_after from now, not from
		// a use long before it went to sleep.
		t.used.Store(r.clock.Load())
		if slept := t.slept.Swap(nil); slept != nil && *slept == cur.Version {
			// Nothing changed while it slept: privileges are part of the version, so its
			// role and grants are as the hooks left them, and what they built from the
			// catalog is rebuilt on demand. Running them again would re-run the tenant
			// role's GRANTs, whose DDL notification reloads every watched tenant of the
			// database.
			t.snap.Store(cur)
			return false
		}
		r.reloads.Add(1)
		// A first load runs the hooks before the tenant is served: its role and grants
		// exist before any request can run as them. Two first loads at once (Start's and
		// the watcher's) both run them, and so does a wake-up to a changed catalog; the
		// hooks are idempotent.
		r.notify(t, nil, cur)
		t.snap.Store(cur)
		return true
	}
	r.reloads.Add(1)
	t.snap.Store(cur)
	r.notify(t, old, cur)
	return true
}

func (r *Registry) notify(t *Tenant, old, cur *Snapshot) {
	for _, fn := range r.onChange {
		fn(t, old, cur)
	}
}

// sweep hibernates, every quarter of after, the tenants whose catalog no request used for
// after, until stop is closed.
func (r *Registry) sweep(stop <-chan struct{}, done chan<- struct{}, after time.Duration) {
	defer close(done)
	every := min(max(after/4, time.Millisecond), time.Minute)
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		now := time.Now().UnixNano()
		r.clock.Store(now)
		// A use is recorded with the clock of the sweep before it, up to every earlier
		// than it happened: waiting every longer never hibernates a tenant early.
		idleSince := now - int64(after) - int64(every)
		slept := false
		for _, t := range *r.tenants.Load() {
			if t.snap.Load() != nil && t.used.Load() <= idleSince && !r.keptAwake(t) {
				slept = r.hibernate(t, idleSince) || slept
			}
		}
		if slept {
			// Give the memory back now: an idle process allocates too little to start a
			// collection, and the runtime returns freed memory to the system lazily.
			debug.FreeOSMemory()
		}
	}
}

// KeepAwake registers fn, asked before an idle tenant hibernates: true keeps it resident
// (live subscriptions run plans of its catalog without a request to count as use).
// Register before Start.
func (r *Registry) KeepAwake(fn func(t *Tenant) bool) {
	r.awake = append(r.awake, fn)
}

func (r *Registry) keptAwake(t *Tenant) bool {
	for _, fn := range r.awake {
		if fn(t) {
			return true
		}
	}
	return false
}

// hibernate drops t's catalog unless it was used after idleSince (or a load meanwhile
// dropped it already), and stops watching it: its next Ensure loads the catalog as it is
// then.
func (r *Registry) hibernate(t *Tenant, idleSince int64) bool {
	t.loadMu.Lock()
	defer t.loadMu.Unlock()
	old := t.snap.Load()
	if old == nil || t.used.Load() > idleSince {
		return false
	}
	t.watched.Store(false)
	// A failed reload's error was about the catalog given back; kept, it would make the
	// process unready for a tenant nobody uses.
	t.loadErr.Store(nil)
	// Counted before the tenant shows as hibernated: whoever sees the state sees the count.
	r.hibernations.Add(1)
	t.slept.Store(&old.Version)
	t.snap.Store(nil)
	r.log.Debug("tenant hibernated", "tenant", t.Name, "version", shortVersion(old.Version))
	r.notify(t, old, nil)
	return true
}
