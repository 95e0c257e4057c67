package poolmgr

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Manager is a prometheus.Collector over every open pool. The tenant label is bounded by
// Config.MaxPools; a closed pool's series disappear with it (its counters start again from
// zero if it reopens, which Prometheus reads as a counter reset).
var (
	_ prometheus.Collector = (*Manager)(nil)

	tenantLabel = []string{"tenant"}

	descAcquired     = prometheus.NewDesc("kapok_pool_acquired_conns", "Connections currently borrowed from the tenant pool.", tenantLabel, nil)
	descIdle         = prometheus.NewDesc("kapok_pool_idle_conns", "Idle connections in the tenant pool.", tenantLabel, nil)
	descTotal        = prometheus.NewDesc("kapok_pool_total_conns", "Open connections in the tenant pool (idle, borrowed and being built).", tenantLabel, nil)
	descMax          = prometheus.NewDesc("kapok_pool_max_conns", "Maximum size of the tenant pool.", tenantLabel, nil)
	descConstructing = prometheus.NewDesc("kapok_pool_constructing_conns", "Connections of the tenant pool being established.", tenantLabel, nil)
	descInFlight     = prometheus.NewDesc("kapok_pool_in_flight_requests", "Requests of the tenant admitted and not finished.", tenantLabel, nil)
	descMaxInFlight  = prometheus.NewDesc("kapok_pool_max_in_flight_requests", "The tenant's cap on in-flight requests (0 = none).", tenantLabel, nil)

	descAcquires        = prometheus.NewDesc("kapok_pool_acquires_total", "Connections the tenant took: from its own pool, or its turns at a shared one.", tenantLabel, nil)
	descAcquireSeconds  = prometheus.NewDesc("kapok_pool_acquire_seconds_total", "Total time spent in successful acquires.", tenantLabel, nil)
	descEmptyAcquires   = prometheus.NewDesc("kapok_pool_empty_acquires_total", "Acquires that had to wait for a connection (at a shared pool: for the tenant's turn).", tenantLabel, nil)
	descEmptyWait       = prometheus.NewDesc("kapok_pool_empty_acquire_wait_seconds_total", "Total time acquires waited for a connection.", tenantLabel, nil)
	descCanceledAcquire = prometheus.NewDesc("kapok_pool_canceled_acquires_total", "Acquires cancelled by their context (including acquire timeouts).", tenantLabel, nil)
	descNewConns        = prometheus.NewDesc("kapok_pool_new_conns_total", "Connections opened by the tenant pool.", tenantLabel, nil)
	descLifetimeDestroy = prometheus.NewDesc("kapok_pool_max_lifetime_destroys_total", "Connections closed for exceeding their maximum lifetime.", tenantLabel, nil)
	descIdleDestroy     = prometheus.NewDesc("kapok_pool_max_idle_destroys_total", "Connections closed for exceeding their maximum idle time.", tenantLabel, nil)
	descRejected        = prometheus.NewDesc("kapok_pool_rejected_total", "Requests of the tenant rejected before reaching Postgres, by reason.", []string{"tenant", "reason"}, nil)

	sharedLabel        = []string{"pool"}
	descSharedTotal    = prometheus.NewDesc("kapok_shared_pool_total_conns", "Open connections of a pool shared by the tenants that log in alike (isolation: role), by login and address.", sharedLabel, nil)
	descSharedBusy     = prometheus.NewDesc("kapok_shared_pool_acquired_conns", "Connections of the shared pool held by requests.", sharedLabel, nil)
	descSharedMax      = prometheus.NewDesc("kapok_shared_pool_max_conns", "Maximum size of the shared pool.", sharedLabel, nil)
	descSharedWait     = prometheus.NewDesc("kapok_shared_pool_waiting_tenants", "Tenants with a request waiting for the shared pool's next connection.", sharedLabel, nil)
	descSharedUsers    = prometheus.NewDesc("kapok_shared_pool_tenants", "Open tenant pools drawing on the shared pool.", sharedLabel, nil)
	descSharedNew      = prometheus.NewDesc("kapok_shared_pool_new_conns_total", "Connections opened by the shared pool.", sharedLabel, nil)
	descSharedEmpty    = prometheus.NewDesc("kapok_shared_pool_empty_acquires_total", "Acquires from the shared pool that had to wait for pgxpool to open a connection.", sharedLabel, nil)
	descTenantWait     = prometheus.NewDesc("kapok_pool_waiting_requests", "Requests of the tenant waiting for its turn at a shared pool.", tenantLabel, nil)
	descPools          = prometheus.NewDesc("kapok_pools_open", "Tenant pools currently open.", nil, nil)
	descGlobalInFlight = prometheus.NewDesc("kapok_pools_in_flight_requests", "Requests admitted over all tenants and not finished.", nil, nil)
	descPoolEvictions  = prometheus.NewDesc("kapok_pools_closed_total", "Tenant pools closed, by reason (lru, idle, replaced, removed, shutdown).", []string{"reason"}, nil)
	descGlobalRejected = prometheus.NewDesc("kapok_pools_rejected_total", "Requests rejected before reaching Postgres over all tenants, including pools since closed, by reason.", []string{"reason"}, nil)

	allDescs = []*prometheus.Desc{
		descAcquired, descIdle, descTotal, descMax, descConstructing, descInFlight, descMaxInFlight,
		descAcquires, descAcquireSeconds, descEmptyAcquires, descEmptyWait, descCanceledAcquire,
		descNewConns, descLifetimeDestroy, descIdleDestroy, descRejected,
		descPools, descGlobalInFlight, descPoolEvictions, descGlobalRejected,
		descSharedTotal, descSharedBusy, descSharedMax, descSharedWait, descSharedUsers, descSharedNew, descSharedEmpty, descTenantWait,
	}
)

// Describe sends every descriptor. They are static, so they are listed rather than derived
// with prometheus.DescribeByCollect: that would describe only the pools open at registration
// (none, usually), and a pedantic registry would then refuse the tenant series.
func (m *Manager) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range allDescs {
		ch <- d
	}
	m.share.coalesced.Describe(ch)
	m.share.batched.Describe(ch)
	m.share.size.Describe(ch)
}

// Collect emits the stats of every open pool. Safe to call concurrently.
func (m *Manager) Collect(ch chan<- prometheus.Metric) {
	m.share.coalesced.Collect(ch)
	m.share.batched.Collect(ch)
	m.share.size.Collect(ch)
	pools := m.pools.Values() // a snapshot; Stat is cheap and lock-free enough
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	for _, p := range pools {
		t := p.tenant
		gauge(descInFlight, float64(p.inFlight.Load()), t)
		gauge(descMaxInFlight, float64(p.cfg.MaxInFlight), t)
		if p.gate != nil {
			// The connections are the shared pool's, reported once under its own name;
			// per tenant, what it holds of them and what waits.
			gs := p.gate.stats()
			gauge(descAcquired, float64(gs.held), t)
			gauge(descMax, float64(p.gate.cap()), t)
			gauge(descTenantWait, float64(gs.waiting), t)
			counter(descAcquires, float64(gs.acquires), t)
			counter(descEmptyAcquires, float64(gs.waited), t)
			counter(descEmptyWait, gs.waitedFor.Seconds(), t)
			counter(descCanceledAcquire, float64(gs.canceled), t)
		} else {
			s := p.pool.Stat()
			gauge(descAcquired, float64(s.AcquiredConns()), t)
			gauge(descIdle, float64(s.IdleConns()), t)
			gauge(descTotal, float64(s.TotalConns()), t)
			gauge(descMax, float64(s.MaxConns()), t)
			gauge(descConstructing, float64(s.ConstructingConns()), t)
			counter(descAcquires, float64(s.AcquireCount()), t)
			counter(descAcquireSeconds, s.AcquireDuration().Seconds(), t)
			counter(descEmptyAcquires, float64(s.EmptyAcquireCount()), t)
			counter(descEmptyWait, s.EmptyAcquireWaitTime().Seconds(), t)
			counter(descCanceledAcquire, float64(s.CanceledAcquireCount()), t)
			counter(descNewConns, float64(s.NewConnsCount()), t)
			counter(descLifetimeDestroy, float64(s.MaxLifetimeDestroyCount()), t)
			counter(descIdleDestroy, float64(s.MaxIdleDestroyCount()), t)
		}
		for i, r := range reasons {
			counter(descRejected, float64(p.rejected[i].Load()), t, string(r))
		}
	}
	for _, ph := range m.sharedPools() {
		s := ph.pool.Stat()
		m.physMu.Lock()
		users := ph.refs
		m.physMu.Unlock()
		gauge(descSharedTotal, float64(s.TotalConns()), ph.name)
		gauge(descSharedBusy, float64(s.AcquiredConns()), ph.name)
		gauge(descSharedMax, float64(s.MaxConns()), ph.name)
		gauge(descSharedWait, float64(ph.gate.waitingTenants()), ph.name)
		gauge(descSharedUsers, float64(users), ph.name)
		counter(descSharedNew, float64(s.NewConnsCount()), ph.name)
		counter(descSharedEmpty, float64(s.EmptyAcquireCount()), ph.name)
	}
	gauge(descPools, float64(len(pools)))
	gauge(descGlobalInFlight, float64(m.inFlight.Load()))
	for i, name := range evictReasonNames {
		counter(descPoolEvictions, float64(m.evictions[i].Load()), name)
	}
	for i, r := range reasons {
		counter(descGlobalRejected, float64(m.rejected[i].Load()), string(r))
	}
}
