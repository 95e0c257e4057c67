package control

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"gopkg.in/yaml.v3"
)

// TenantsChannel is the NOTIFY channel that tells every replica the control tables'
// tenants changed; the payload is the tenant's name.
const TenantsChannel = "kapok_tenants"

// Typed errors of the control plane; the admin API maps them to HTTP statuses.
var (
	// ErrTenantExists: a tenant (from the file or the control tables) already has the name.
	ErrTenantExists = errors.New("tenant already exists")
	// ErrInvalid: the request is malformed (bad name, bad mode, missing field...).
	ErrInvalid = errors.New("invalid request")
	// ErrConflict: the operation cannot be done in the tenant's current state.
	ErrConflict = errors.New("conflict")
)

// installTablesSQL creates the control tables. It runs under an advisory lock, so replicas
// starting together do not race, and only creates what is missing.
const installTablesSQL = `
DO $install$
BEGIN
  PERFORM pg_advisory_xact_lock(hashtext('kapok.install_control_tables'));
  CREATE SCHEMA IF NOT EXISTS kapok;
  IF to_regclass('kapok.tenants') IS NULL THEN
    CREATE TABLE kapok.tenants (
      name        text PRIMARY KEY,
      mode        text NOT NULL CHECK (mode IN ('schema', 'database')),
      upstream    text NOT NULL DEFAULT '',
      database    text NOT NULL DEFAULT '',
      schemas     text[] NOT NULL,
      template    text NOT NULL DEFAULT '',
      pool        jsonb NOT NULL DEFAULT '{}',
      limits      jsonb NOT NULL DEFAULT '{}',
      auth        jsonb NOT NULL DEFAULT '{}',
      allow_cidrs text[] NOT NULL DEFAULT '{}',
      revision    bigint NOT NULL DEFAULT 1,
      created_at  timestamptz NOT NULL DEFAULT now(),
      updated_at  timestamptz NOT NULL DEFAULT now()
    );
  END IF;
  IF to_regclass('kapok.migrations') IS NULL THEN
    CREATE TABLE kapok.migrations (
      id             bigserial PRIMARY KEY,
      tenant         text NOT NULL,
      name           text NOT NULL,
      checksum       text NOT NULL,
      up             text NOT NULL,
      down           text,
      applied_by     text NOT NULL DEFAULT '',
      applied_at     timestamptz NOT NULL DEFAULT now(),
      duration_ms    double precision NOT NULL DEFAULT 0,
      outcome        text NOT NULL CHECK (outcome IN ('applied', 'failed')),
      error          text,
      rolled_back_at timestamptz
    );
    CREATE INDEX migrations_tenant_idx ON kapok.migrations (tenant, id);
  END IF;
  IF to_regclass('kapok.templates') IS NULL THEN
    CREATE TABLE kapok.templates (
      name       text PRIMARY KEY,
      ddl        text NOT NULL,
      seed       text NOT NULL DEFAULT '',
      checksum   text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now()
    );
  END IF;
END
$install$`

// Store is the control plane's persistent side: the control tables (schema kapok of the
// control database), the tenants they hold, and the listener that keeps this replica's
// registry in step with them.
type Store struct {
	reg *Registry
	log *slog.Logger
	url string // direct URL of the control database
	db  *pgxpool.Pool

	// poolsMu guards direct pools to tenant databases (provisioning, migrations, SQL).
	poolsMu sync.Mutex
	pools   map[string]*pgxpool.Pool

	// syncMu serialises changes to the registry made from the control tables, by this
	// replica's admin calls and by notifications alike.
	syncMu sync.Mutex
	// managed holds the revision of every tenant this store added to the registry.
	managed map[string]int64

	hooksMu  sync.Mutex
	onRemove []func(name string)
	onUpdate []func(t *Tenant)
	onMove   []func(old, cur *Tenant)

	// moving holds the tenants this replica is moving (MoveTenant): their changes wait.
	moveMu sync.Mutex
	moving map[string]bool

	tmplMu sync.Mutex
	tmpls  map[string]*template
	spares spares
	// rolesMade: tenants CreateTenant is serving whose role it made (RoleMadeAtCreation).
	rolesMade sync.Map
	// bg is the store's life: background work (spare schemas) stops with it.
	bg context.Context

	cancel    context.CancelFunc
	done      chan struct{}
	listening chan struct{}
	listenOne sync.Once
}

// controlUpstreamName names the upstream of the control database ("" if none).
func (c *Config) controlUpstreamName() string {
	name := c.ControlUpstream
	if name == "" {
		if c.Upstreams["default"] != nil {
			return "default"
		}
		names := make([]string, 0, len(c.Upstreams))
		for n := range c.Upstreams {
			names = append(names, n)
		}
		sort.Strings(names)
		if len(names) > 0 {
			name = names[0]
		}
	}
	return name
}

// ControlURL is the direct URL of the control database.
func (c *Config) ControlURL() (string, error) {
	name := c.ControlUpstream
	if name == "" {
		if c.Upstreams["default"] != nil {
			name = "default"
		} else {
			names := make([]string, 0, len(c.Upstreams))
			for n := range c.Upstreams {
				names = append(names, n)
			}
			sort.Strings(names)
			if len(names) == 0 {
				return "", errors.New("no upstream configured for the control tables")
			}
			name = names[0]
		}
	}
	u := c.Upstreams[name]
	if u == nil {
		return "", fmt.Errorf("control_upstream %q is not a configured upstream", name)
	}
	return u.URL, nil
}

// OpenStore creates the control tables if needed, serves the tenants they hold, starts
// listening for changes and attaches the store to reg (Registry.Store). Call it after
// reg.Start.
func OpenStore(ctx context.Context, reg *Registry) (*Store, error) {
	url, err := reg.cfg.ControlURL()
	if err != nil {
		return nil, err
	}
	if name := reg.cfg.controlUpstreamName(); !reg.cfg.Upstreams[name].Managed() {
		return nil, readOnlyError(name, "the control tables (tenants created through the admin API, migrations, templates)")
	}
	s := &Store{reg: reg, log: reg.log, url: url, pools: map[string]*pgxpool.Pool{},
		managed: map[string]int64{}, tmpls: map[string]*template{}, moving: map[string]bool{}, listening: make(chan struct{})}
	if s.db, err = s.directPool(ctx, url); err != nil {
		return nil, err
	}
	if _, err := s.db.Exec(ctx, installTablesSQL); err != nil {
		s.closePools()
		return nil, fmt.Errorf("control tables: %w", err)
	}
	lctx, cancel := context.WithCancel(context.Background())
	s.cancel, s.done, s.bg = cancel, make(chan struct{}), lctx
	go s.run(lctx)
	select {
	case <-s.listening:
	case <-time.After(5 * time.Second):
	case <-ctx.Done():
	}
	if err := s.Sync(ctx); err != nil {
		s.Close()
		return nil, err
	}
	reg.store.Store(s)
	go func() {
		if err := s.WarmTemplates(lctx); err != nil && lctx.Err() == nil {
			s.log.Warn("cannot prepare the default tenant template", "err", err)
		}
	}()
	return s, nil
}

// Close stops the listener and closes the store's connections.
func (s *Store) Close() {
	s.reg.store.CompareAndSwap(s, nil)
	if s.cancel != nil {
		s.spares.mu.Lock() // no fill starts after this
		s.cancel()
		s.spares.mu.Unlock()
		<-s.done
		s.spares.wg.Wait()
	}
	s.closePools()
}

func (s *Store) closePools() {
	s.poolsMu.Lock()
	defer s.poolsMu.Unlock()
	for _, p := range s.pools {
		p.Close()
	}
	s.pools = map[string]*pgxpool.Pool{}
}

// OnRemove registers fn to run after a tenant of the control tables stops being served,
// whether this replica or another one deleted it.
func (s *Store) OnRemove(fn func(name string)) {
	s.hooksMu.Lock()
	s.onRemove = append(s.onRemove, fn)
	s.hooksMu.Unlock()
}

// OnUpdate registers fn to run after a tenant's configuration changed.
func (s *Store) OnUpdate(fn func(t *Tenant)) {
	s.hooksMu.Lock()
	s.onUpdate = append(s.onUpdate, fn)
	s.hooksMu.Unlock()
}

// Managed reports whether the tenant comes from the control tables (not the config file).
func (s *Store) Managed(name string) bool {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	_, ok := s.managed[name]
	return ok
}

// directPool returns a small direct pool to url, shared by every caller.
func (s *Store) directPool(ctx context.Context, url string) (*pgxpool.Pool, error) {
	s.poolsMu.Lock()
	defer s.poolsMu.Unlock()
	if p := s.pools[url]; p != nil {
		return p, nil
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("database url: %w", err)
	}
	cfg.MaxConns = 8
	cfg.MinConns = 0
	cfg.MaxConnIdleTime = 30 * time.Second
	cfg.ConnConfig.RuntimeParams["application_name"] = "kapok-admin"
	p, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	s.pools[url] = p
	return p, nil
}

// dropPool closes the direct pool to url (before dropping its database).
func (s *Store) dropPool(url string) {
	s.poolsMu.Lock()
	p := s.pools[url]
	delete(s.pools, url)
	s.poolsMu.Unlock()
	if p != nil {
		p.Close()
	}
}

// tenantRow is one row of kapok.tenants.
type tenantRow struct {
	Name, Mode, Upstream, Database, Template string
	Schemas, AllowCIDRs                      []string
	Pool, Limits, Auth                       []byte
	Revision                                 int64
	CreatedAt, UpdatedAt                     time.Time
}

const selectTenantsSQL = `SELECT name, mode, upstream, database, template, schemas, allow_cidrs,
  pool::text, limits::text, auth::text, revision, created_at, updated_at FROM kapok.tenants`

func scanTenantRows(rows pgx.Rows) ([]*tenantRow, error) {
	defer rows.Close()
	var out []*tenantRow
	for rows.Next() {
		r := &tenantRow{}
		var pool, limits, auth string
		if err := rows.Scan(&r.Name, &r.Mode, &r.Upstream, &r.Database, &r.Template, &r.Schemas, &r.AllowCIDRs,
			&pool, &limits, &auth, &r.Revision, &r.CreatedAt, &r.UpdatedAt); err != nil {
			return nil, err
		}
		r.Pool, r.Limits, r.Auth = []byte(pool), []byte(limits), []byte(auth)
		out = append(out, r)
	}
	return out, rows.Err()
}

// config turns a row into a tenant configuration (not yet normalized).
func (r *tenantRow) config() (*TenantConfig, error) {
	tc := &TenantConfig{Name: r.Name, Mode: r.Mode, Upstream: r.Upstream, Database: r.Database,
		Schemas: append([]string(nil), r.Schemas...), AllowCIDRs: append([]string(nil), r.AllowCIDRs...)}
	if err := decodeSection(r.Pool, &tc.Pool); err != nil {
		return nil, fmt.Errorf("tenant %s: pool: %w", r.Name, err)
	}
	if !emptyJSON(r.Limits) {
		tc.Limits = &Limits{}
		if err := decodeSection(r.Limits, tc.Limits); err != nil {
			return nil, fmt.Errorf("tenant %s: limits: %w", r.Name, err)
		}
	}
	if !emptyJSON(r.Auth) {
		tc.Auth = &AuthConfig{}
		if err := decodeSection(r.Auth, tc.Auth); err != nil {
			return nil, fmt.Errorf("tenant %s: auth: %w", r.Name, err)
		}
	}
	return tc, nil
}

func emptyJSON(b []byte) bool {
	s := string(b)
	return s == "" || s == "{}" || s == "null"
}

// decodeSection reads a JSON object into one of the config's YAML-tagged structs: JSON is
// YAML, so the keys and duration syntax ("250ms") are the config file's.
func decodeSection(b []byte, dst any) error {
	if emptyJSON(b) {
		return nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	return dec.Decode(dst)
}

// DecodeSection is decodeSection for the admin API's request bodies.
func DecodeSection(b []byte, dst any) error {
	if err := decodeSection(b, dst); err != nil {
		return fmt.Errorf("%w: %s", ErrInvalid, err)
	}
	return nil
}

// EncodeSection writes one of the config's structs as JSON with the config file's keys.
func EncodeSection(v any) (json.RawMessage, error) {
	y, err := yaml.Marshal(v)
	if err != nil {
		return nil, err
	}
	var m any
	if err := yaml.Unmarshal(y, &m); err != nil {
		return nil, err
	}
	if m == nil {
		return json.RawMessage("{}"), nil
	}
	return json.Marshal(m)
}

// loadRows reads kapok.tenants.
func (s *Store) loadRows(ctx context.Context, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}, where string, args ...any) ([]*tenantRow, error) {
	rows, err := q.Query(ctx, selectTenantsSQL+" "+where, args...)
	if err != nil {
		return nil, err
	}
	return scanTenantRows(rows)
}

// Sync makes the registry serve exactly the tenants of the control tables (besides the
// config file's): it adds new ones, updates changed ones and removes deleted ones.
func (s *Store) Sync(ctx context.Context) error {
	// Read under the lock: rows read before a local delete must not bring the tenant back.
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	rows, err := s.loadRows(ctx, s.db, "ORDER BY name")
	if err != nil {
		return fmt.Errorf("read kapok.tenants: %w", err)
	}
	seen := map[string]bool{}
	var fresh []*TenantConfig
	var revs []int64
	for _, row := range rows {
		seen[row.Name] = true
		rev, managed := s.managed[row.Name]
		if managed && rev == row.Revision {
			continue
		}
		if !managed && s.reg.Tenant(row.Name) != nil {
			s.log.Warn("control table tenant shadowed by the config file's", "tenant", row.Name)
			continue
		}
		tc, err := row.config()
		if err != nil {
			s.log.Error("control table tenant is invalid", "tenant", row.Name, "err", err)
			continue
		}
		if managed {
			t, err := s.updateServed(ctx, tc)
			if err != nil {
				s.log.Error("tenant update failed", "tenant", row.Name, "err", err)
				continue
			}
			s.managed[row.Name] = row.Revision
			s.runUpdate(t)
			continue
		}
		fresh = append(fresh, tc)
		revs = append(revs, row.Revision)
	}
	// New tenants are registered together: one swap of the tenant map for thousands of
	// them, their catalogs loaded on first use (tenancy.eager_load_max).
	_, errs := s.reg.RegisterTenants(ctx, fresh)
	for i, tc := range fresh {
		if errs[i] != nil {
			s.log.Error("cannot serve tenant from the control tables", "tenant", tc.Name, "err", errs[i])
			continue
		}
		s.managed[tc.Name] = revs[i]
	}
	for name := range s.managed {
		if !seen[name] {
			s.forgetLocked(name)
		}
	}
	return nil
}

// forgetLocked stops serving a managed tenant. syncMu is held.
func (s *Store) forgetLocked(name string) {
	delete(s.managed, name)
	s.reg.RemoveTenant(name)
	s.hooksMu.Lock()
	hooks := append([]func(string){}, s.onRemove...)
	s.hooksMu.Unlock()
	for _, fn := range hooks {
		fn(name)
	}
}

func (s *Store) runUpdate(t *Tenant) {
	s.hooksMu.Lock()
	hooks := append([]func(*Tenant){}, s.onUpdate...)
	s.hooksMu.Unlock()
	for _, fn := range hooks {
		fn(t)
	}
}

func (s *Store) markListening() { s.listenOne.Do(func() { close(s.listening) }) }

// run keeps a LISTEN on TenantsChannel alive. After a reconnect it syncs everything, since
// notifications sent meanwhile are lost.
func (s *Store) run(ctx context.Context) {
	defer close(s.done)
	var backoff listenBackoff
	first := true
	for ctx.Err() == nil {
		listened, err := s.listen(ctx, !first)
		if ctx.Err() != nil {
			return
		}
		first = false
		s.markListening()
		wait := backoff.next(listened)
		s.log.Warn("tenant listener lost; reconnecting", "err", err, "backoff", wait)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// listen holds the LISTEN session until it fails or ctx ends; listened reports whether it
// got as far as listening.
func (s *Store) listen(ctx context.Context, syncFirst bool) (listened bool, err error) {
	cfg, err := pgx.ParseConfig(s.url)
	if err != nil {
		return false, err
	}
	cfg.RuntimeParams["application_name"] = listenerName(TenantsListener)
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return false, err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+TenantsChannel); err != nil {
		return false, err
	}
	s.markListening()
	if syncFirst {
		if err := s.Sync(ctx); err != nil {
			return true, err
		}
	}
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return true, err
		}
		// Notifications that arrived meanwhile are covered by the same sync.
		for {
			wctx, cancel := context.WithTimeout(ctx, 5*time.Millisecond)
			_, err := conn.WaitForNotification(wctx)
			cancel()
			if err != nil {
				if ctx.Err() != nil {
					return true, ctx.Err()
				}
				if !pgconn.Timeout(err) {
					return true, err
				}
				break
			}
		}
		if err := s.Sync(ctx); err != nil {
			s.log.Error("tenant sync failed", "err", err)
		}
	}
}

// TenantInfo is a tenant as the admin API shows it.
type TenantInfo struct {
	Name       string          `json:"name"`
	Source     string          `json:"source"` // "config" or "control"
	Mode       string          `json:"mode"`
	Upstream   string          `json:"upstream"`
	Database   string          `json:"database,omitempty"`
	Schemas    []string        `json:"schemas"`
	Template   string          `json:"template,omitempty"`
	Pool       json.RawMessage `json:"pool"`
	Limits     json.RawMessage `json:"limits"`
	Auth       json.RawMessage `json:"auth,omitempty"`
	AllowCIDRs []string        `json:"allow_cidrs"`
	Version    string          `json:"schema_version,omitempty"`
	Ready      bool            `json:"ready"`
	State      TenantState     `json:"state"` // of the catalog: cold, resident, hibernated or failed
	LoadError  string          `json:"load_error,omitempty"`
	CreatedAt  *time.Time      `json:"created_at,omitempty"`
	UpdatedAt  *time.Time      `json:"updated_at,omitempty"`
}

// List describes every served tenant, sorted by name.
func (s *Store) List(ctx context.Context) ([]*TenantInfo, error) {
	rows := map[string]*tenantRow{}
	list, err := s.loadRows(ctx, s.db, "")
	if err != nil {
		return nil, err
	}
	for _, r := range list {
		rows[r.Name] = r
	}
	out := []*TenantInfo{}
	for _, t := range s.reg.Tenants() {
		info, err := s.info(t, rows[t.Name])
		if err != nil {
			return nil, err
		}
		out = append(out, info)
	}
	return out, nil
}

// Info describes a served tenant; secrets in its auth section are masked.
func (s *Store) Info(ctx context.Context, t *Tenant) (*TenantInfo, error) {
	var row *tenantRow
	if s != nil {
		rows, err := s.loadRows(ctx, s.db, "WHERE name = $1", t.Name)
		if err != nil {
			return nil, err
		}
		if len(rows) == 1 {
			row = rows[0]
		}
	}
	return s.info(t, row)
}

func (s *Store) info(t *Tenant, row *tenantRow) (*TenantInfo, error) {
	c := t.Config
	info := &TenantInfo{Name: t.Name, Source: "config", Mode: c.Mode, Upstream: c.Upstream, Database: c.Database,
		Schemas: c.Schemas, AllowCIDRs: c.AllowCIDRs}
	if info.AllowCIDRs == nil {
		info.AllowCIDRs = []string{}
	}
	var err error
	if info.Pool, err = EncodeSection(c.Pool); err != nil {
		return nil, err
	}
	if info.Limits, err = EncodeSection(c.Limits); err != nil {
		return nil, err
	}
	if c.Auth != nil {
		masked := *c.Auth
		if masked.JWTSecret != "" {
			masked.JWTSecret = "********"
		}
		if len(masked.APIKeys) > 0 {
			keys := make(map[string]string, len(masked.APIKeys))
			for k, role := range masked.APIKeys {
				keys[maskKey(k)] = role
			}
			masked.APIKeys = keys
		}
		if info.Auth, err = EncodeSection(masked); err != nil {
			return nil, err
		}
	}
	// Ready as Registry.Ready sees it: a cold or hibernated tenant serves its next request.
	info.State = t.State()
	info.Ready = info.State != TenantFailed
	if snap := t.Snapshot(); snap != nil {
		info.Version = snap.Version
	}
	if err := t.LoadError(); err != nil {
		info.LoadError = err.Error()
	}
	if s != nil && row != nil && s.Managed(t.Name) {
		info.Source = "control"
		info.Template = row.Template
		info.CreatedAt, info.UpdatedAt = &row.CreatedAt, &row.UpdatedAt
	}
	return info, nil
}

func maskKey(k string) string {
	if len(k) <= 8 {
		return "********"
	}
	return k[:4] + "…" + k[len(k)-2:]
}

// TenantPatch changes a control-table tenant's settings; nil sections stay as they are.
type TenantPatch struct {
	Pool       json.RawMessage `json:"pool"`
	Limits     json.RawMessage `json:"limits"`
	Auth       json.RawMessage `json:"auth"`
	AllowCIDRs *[]string       `json:"allow_cidrs"`
}

// UpdateTenant applies a patch to a tenant of the control tables and serves it with the
// new settings before returning; other replicas follow through NOTIFY.
func (s *Store) UpdateTenant(ctx context.Context, name string, p *TenantPatch) (*Tenant, error) {
	t := s.reg.Tenant(name)
	if t == nil {
		return nil, fmt.Errorf("%w %q", ErrUnknownTenant, name)
	}
	if !s.Managed(name) {
		return nil, fmt.Errorf("%w: tenant %q is defined in the config file; change it there", ErrConflict, name)
	}
	if err := s.notMoving(name); err != nil {
		return nil, err
	}
	tc := *t.Config
	if p.Pool != nil {
		tc.Pool = PoolConfig{}
		if err := DecodeSection(p.Pool, &tc.Pool); err != nil {
			return nil, fmt.Errorf("pool: %w", err)
		}
	}
	if p.Limits != nil {
		tc.Limits = &Limits{}
		if err := DecodeSection(p.Limits, tc.Limits); err != nil {
			return nil, fmt.Errorf("limits: %w", err)
		}
	}
	if p.Auth != nil {
		tc.Auth = nil
		if !emptyJSON(p.Auth) {
			tc.Auth = &AuthConfig{}
			if err := DecodeSection(p.Auth, tc.Auth); err != nil {
				return nil, fmt.Errorf("auth: %w", err)
			}
		}
	}
	if p.AllowCIDRs != nil {
		tc.AllowCIDRs = *p.AllowCIDRs
	}
	if err := s.reg.cfg.NormalizeTenant(&tc); err != nil {
		return nil, fmt.Errorf("%w: %s", ErrInvalid, err)
	}
	pool, limits, auth, cidrs := tenantRowSections(&tc)
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	var rev int64
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `UPDATE kapok.tenants SET pool = $2::text::jsonb, limits = $3::text::jsonb,
  auth = $4::text::jsonb, allow_cidrs = $5, revision = revision + 1, updated_at = now()
  WHERE name = $1 RETURNING revision`, name, string(pool), string(limits), string(auth), cidrs).Scan(&rev)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("%w %q", ErrUnknownTenant, name)
		}
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "SELECT pg_notify($1, $2)", TenantsChannel, name)
		return err
	})
	if err != nil {
		return nil, err
	}
	nt, err := s.reg.UpdateTenant(&tc)
	if err != nil {
		return nil, err
	}
	s.managed[name] = rev
	s.runUpdate(nt)
	return nt, nil
}

// tenantRowSections encodes the parts of a tenant's config that kapok.tenants keeps as
// JSON, and its allowed CIDRs as a non-null array.
func tenantRowSections(tc *TenantConfig) (pool, limits, auth json.RawMessage, cidrs []string) {
	pool, _ = EncodeSection(tc.Pool)
	limits, _ = EncodeSection(tc.Limits)
	auth = json.RawMessage("{}")
	if tc.Auth != nil {
		auth, _ = EncodeSection(tc.Auth)
	}
	cidrs = tc.AllowCIDRs
	if cidrs == nil {
		cidrs = []string{}
	}
	return pool, limits, auth, cidrs
}
