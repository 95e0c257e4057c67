package proxy

import (
	"context"
	"fmt"
	"math"
	"sort"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/kapok-dev/kapok/control"
)

// Quota names, as the admin API, the metrics and refusals spell them.
const (
	quotaRequests      = "requests"
	quotaDBSeconds     = "db_seconds"
	quotaDatabaseBytes = "database_bytes"
)

var allQuotas = [...]string{quotaRequests, quotaDBSeconds, quotaDatabaseBytes}

// tenantUsage is what one tenant spent, counted by this process with atomic adds: its
// statements' time in the database since the start, its current quota window's requests
// and database time, and its storage as last measured.
type tenantUsage struct {
	dbMicro atomic.Uint64

	window      atomic.Int64 // start of the current quota window, unix nanos
	winRequests atomic.Int64
	winDBMicro  atomic.Int64

	storage     atomic.Pointer[control.Storage]
	overStorage atomic.Bool
	refused     [len(allQuotas)]atomic.Uint64
}

// quotas are a tenant's limits.quota_*; the zero value has none.
type quotas struct {
	window        time.Duration
	requests      int64
	dbMicro       int64
	databaseBytes int64
}

func quotasOf(l *control.Limits) quotas {
	if l == nil {
		return quotas{}
	}
	return quotas{window: l.QuotaWindow.D(), requests: l.QuotaRequests,
		dbMicro: int64(l.QuotaDBSeconds * 1e6), databaseBytes: l.QuotaDatabaseBytes}
}

// perWindow reports whether a quota counts per window (requests, database time).
func (q quotas) perWindow() bool { return q.window > 0 && (q.requests > 0 || q.dbMicro > 0) }

// roll starts a new window when now is past the current one. Windows are aligned on the
// Unix epoch (a 24h window turns at midnight UTC), so every replica's turn together.
func (u *tenantUsage) roll(now time.Time, window time.Duration) (end time.Time) {
	start := now.Truncate(window).UnixNano()
	if cur := u.window.Load(); cur != start && u.window.CompareAndSwap(cur, start) {
		u.winRequests.Store(0)
		u.winDBMicro.Store(0)
	}
	return time.Unix(0, start).Add(window)
}

// spend admits one request under q, counting it; otherwise it names the quota spent and
// how long until the window turns.
func (u *tenantUsage) spend(q quotas, now time.Time) (string, time.Duration) {
	end := u.roll(now, q.window)
	if q.dbMicro > 0 && u.winDBMicro.Load() >= q.dbMicro {
		u.refused[1].Add(1)
		return quotaDBSeconds, end.Sub(now)
	}
	if q.requests > 0 && u.winRequests.Add(1) > q.requests {
		u.winRequests.Add(-1)
		u.refused[0].Add(1)
		return quotaRequests, end.Sub(now)
	}
	return "", 0
}

// addDB counts a run of the tenant's statements.
func (u *tenantUsage) addDB(took time.Duration) {
	us := took.Microseconds()
	u.dbMicro.Add(uint64(us))
	u.winDBMicro.Add(us)
}

// quotaRefusal answers a request over a per-window quota: 429 with Retry-After, in the
// route's own error format.
func (a *apis) quotaRefusal(ctx *fasthttp.RequestCtx, route, quota string, retry time.Duration) {
	a.s.metrics.rejected.WithLabelValues("quota_" + quota).Inc()
	secs := max(1, int(math.Ceil(retry.Seconds())))
	ctx.Response.Header.Set("Retry-After", fmt.Sprint(secs))
	what := map[string]string{quotaRequests: "requests", quotaDBSeconds: "database time"}[quota]
	writeRouteError(ctx, route, fasthttp.StatusTooManyRequests, "quota-exceeded",
		fmt.Sprintf("the tenant's %s quota for this period is spent; it renews in %ds", what, secs))
}

// storageRefused reports whether a write must be refused because its tenant is over its
// storage quota. Reads, and REST DELETE (the way to make room), go on.
func (a *apis) storageRefused(x *exchange, shareable bool) bool {
	if shareable || a.overStorage.Load() == 0 || x.pool == nil {
		return false
	}
	e := a.s.metrics.tenant(x.pool.Tenant())
	if !e.usage.overStorage.Load() {
		return false
	}
	if x.from.req != nil && x.from.req.IsDelete() {
		return false
	}
	e.usage.refused[2].Add(1)
	a.s.metrics.rejected.WithLabelValues("quota_" + quotaDatabaseBytes).Inc()
	return true
}

// measureUsage measures every tenant's storage every interval until ctx ends, and marks
// the tenants over their storage quota.
func (a *apis) measureUsage(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		a.measureOnce(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (a *apis) measureOnce(ctx context.Context) {
	mctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	got, err := a.s.reg.MeasureStorage(mctx)
	if err != nil && ctx.Err() == nil {
		a.s.log.Warn("tenant storage not measured", "err", err)
	}
	var over int64
	for _, t := range a.s.reg.Tenants() {
		s, ok := got[t.Name]
		if !ok {
			continue
		}
		e := a.s.metrics.tenant(t.Name)
		e.usage.storage.Store(&s)
		q := quotasOf(t.Config.Limits)
		isOver := q.databaseBytes > 0 && s.DatabaseBytes > q.databaseBytes
		e.usage.overStorage.Store(isOver)
		if isOver {
			over++
		}
	}
	a.overStorage.Store(over)
}

// usageReport is a tenant's usage as the admin API answers it.
type usageReport struct {
	Tenant   string `json:"tenant"`
	Requests uint64 `json:"requests"`
	// DBSeconds is the time its statements spent in the database (pool wait included).
	DBSeconds float64           `json:"db_seconds"`
	Storage   *control.Storage  `json:"storage"`
	Window    *usageWindow      `json:"quota_window,omitempty"`
	Quotas    map[string]any    `json:"quotas"`
	Refused   map[string]uint64 `json:"refused"`
}

type usageWindow struct {
	Start     time.Time `json:"start"`
	End       time.Time `json:"end"`
	Requests  int64     `json:"requests"`
	DBSeconds float64   `json:"db_seconds"`
}

func (a *apis) usageOf(t *control.Tenant) usageReport {
	e := a.s.metrics.tenant(t.Name)
	live := e.live.snapshot()
	r := usageReport{Tenant: t.Name, Storage: e.usage.storage.Load(),
		Requests:  live.Requests.OK + live.Requests.ClientError + live.Requests.Rejected + live.Requests.Error,
		DBSeconds: float64(e.usage.dbMicro.Load()) / 1e6,
		Quotas:    map[string]any{}, Refused: map[string]uint64{}}
	q := quotasOf(t.Config.Limits)
	if q.requests > 0 {
		r.Quotas[quotaRequests] = q.requests
	}
	if q.dbMicro > 0 {
		r.Quotas[quotaDBSeconds] = float64(q.dbMicro) / 1e6
	}
	if q.databaseBytes > 0 {
		r.Quotas[quotaDatabaseBytes] = q.databaseBytes
	}
	if q.perWindow() {
		now := time.Now()
		end := e.usage.roll(now, q.window)
		r.Window = &usageWindow{Start: end.Add(-q.window), End: end, Requests: e.usage.winRequests.Load(),
			DBSeconds: float64(e.usage.winDBMicro.Load()) / 1e6}
	}
	for i, name := range allQuotas {
		r.Refused[name] = e.usage.refused[i].Load()
	}
	return r
}

// topUsage is the n tenants that spent the most of by: requests, db_seconds or
// database_bytes.
func (a *apis) topUsage(by string, n int) ([]usageReport, error) {
	key := map[string]func(u *usageReport) float64{
		quotaRequests:  func(u *usageReport) float64 { return float64(u.Requests) },
		quotaDBSeconds: func(u *usageReport) float64 { return u.DBSeconds },
		quotaDatabaseBytes: func(u *usageReport) float64 {
			if u.Storage == nil {
				return 0
			}
			return float64(u.Storage.DatabaseBytes)
		},
	}[by]
	if key == nil {
		return nil, fmt.Errorf("by must be requests, db_seconds or database_bytes, not %q", by)
	}
	tenants := a.s.reg.Tenants()
	out := make([]usageReport, 0, len(tenants))
	for _, t := range tenants {
		out = append(out, a.usageOf(t))
	}
	sort.SliceStable(out, func(i, j int) bool { return key(&out[i]) > key(&out[j]) })
	if n < len(out) {
		out = out[:n]
	}
	return out, nil
}

// usageCollector exports the usage of the tenants that have a label of their own
// (metrics.max_tenant_labels, metrics.tenant_labels): the label stays bounded, and the
// admin API answers for every tenant.
type usageCollector struct{ a *apis }

var (
	descTenantDBSeconds = prometheus.NewDesc("kapok_tenant_db_seconds_total",
		"Time the tenant's statements spent in the database (pool wait included), for the tenants with a label of their own.", []string{"tenant"}, nil)
	descTenantBytes = prometheus.NewDesc("kapok_tenant_database_bytes",
		"Size of the tenant's schemas (tables, indexes, TOAST), or of its database, as last measured.", []string{"tenant"}, nil)
	descTenantRowsRead = prometheus.NewDesc("kapok_tenant_rows_read_total",
		"Rows the tenant's tables gave to scans, per PostgreSQL's statistics.", []string{"tenant"}, nil)
	descTenantRowsWritten = prometheus.NewDesc("kapok_tenant_rows_written_total",
		"Rows inserted, updated and deleted in the tenant's tables, per PostgreSQL's statistics.", []string{"tenant"}, nil)
	descQuotaRefused = prometheus.NewDesc("kapok_tenant_quota_refusals_total",
		"Requests refused because the tenant spent a quota, by quota.", []string{"tenant", "quota"}, nil)
)

func (c usageCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descTenantDBSeconds, descTenantBytes, descTenantRowsRead, descTenantRowsWritten, descQuotaRefused} {
		ch <- d
	}
}

func (c usageCollector) Collect(ch chan<- prometheus.Metric) {
	for name, e := range *c.a.s.metrics.tenants.byName.Load() {
		if ts := e.series.Load(); ts == nil || ts.label != name {
			continue // counted as "other": no label of its own
		}
		u := &e.usage
		ch <- prometheus.MustNewConstMetric(descTenantDBSeconds, prometheus.CounterValue, float64(u.dbMicro.Load())/1e6, name)
		if s := u.storage.Load(); s != nil {
			ch <- prometheus.MustNewConstMetric(descTenantBytes, prometheus.GaugeValue, float64(s.DatabaseBytes), name)
			ch <- prometheus.MustNewConstMetric(descTenantRowsRead, prometheus.CounterValue, float64(s.RowsRead), name)
			ch <- prometheus.MustNewConstMetric(descTenantRowsWritten, prometheus.CounterValue, float64(s.RowsWritten), name)
		}
		for i, q := range allQuotas {
			if n := u.refused[i].Load(); n > 0 {
				ch <- prometheus.MustNewConstMetric(descQuotaRefused, prometheus.CounterValue, float64(n), name, q)
			}
		}
	}
}
