package bench

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/jackc/pgx/v5/pgxpool"
)

// SubsConfig says how to load a server with GraphQL subscriptions.
type SubsConfig struct {
	Target           string // Kapok's base URL, http://host:port
	Path             string // the GraphQL endpoint; {tenant} is each socket's tenant
	AdminKey         string // sent as x-hasura-admin-secret when set
	DB               string // direct URL of the tenants' database, for the writes
	Subs             int
	Tenants          int
	Prefix           string // tenants Prefix000 …
	Shapes           int
	Sockets          int
	WriteRate        float64
	Duration         time.Duration
	Settle           time.Duration // after the last write, how long pushes may still arrive
	EstablishTimeout time.Duration
	PID              int // Kapok's process (0: the one listening on Target's port, when local)
	Seed             uint64
	Log              io.Writer // progress notes; nil = quiet
}

// Metric names Kapok's subscriptions expose on /metrics.
const (
	metricSubsActive        = "kapok_subscriptions_active"
	metricSubGroups         = "kapok_subscription_groups"
	metricRefreshStatements = "kapok_subscription_refresh_statements_total"
	metricSubMessages       = "kapok_subscription_messages_total"
	metricPushSeconds       = "kapok_subscription_push_seconds"
)

// SubsResult is one run of the subscriptions benchmark. Its JSON form (--json) is a stable
// interface: fields are added, never renamed.
type SubsResult struct {
	Target        string   `json:"target"`
	Subscriptions int      `json:"subscriptions"` // asked for
	Established   int64    `json:"established"`   // first result received
	Sockets       int      `json:"sockets"`
	Tenants       int      `json:"tenants"`
	Shapes        []string `json:"shapes"`
	Groups        int      `json:"groups"` // distinct (tenant, shape) pairs subscribed
	EstablishS    float64  `json:"establish_s"`
	DurationS     float64  `json:"duration_s"` // the measured window: writes running
	WriteRate     float64  `json:"write_rate"` // asked for, per second
	Writes        uint64   `json:"writes"`
	WritesFailed  uint64   `json:"writes_failed"`
	WritesSkipped uint64   `json:"writes_skipped"` // due while every writer was busy
	// GroupRefreshes is, summed over the writes, the subscribed groups of the written
	// tenant that read the written table: the refreshes the writes make due.
	GroupRefreshes uint64            `json:"group_refreshes_due"`
	Messages       uint64            `json:"messages"` // next messages after the first result, in the window
	MessagesPerS   float64           `json:"messages_per_s"`
	PushExpected   uint64            `json:"pushes_expected"` // (write, subscriber) pairs the writes should reach
	PushSeen       uint64            `json:"pushes_seen"`     // of those, the ones whose marker arrived
	PushLatency    Latency           `json:"push_latency_ms"` // commit → client, per subscriber reached
	Errors         map[string]uint64 `json:"errors"`
	FirstErrors    map[string]string `json:"first_errors,omitempty"`
	Server         SubsServer        `json:"server"`
}

// SubsServer is what the server and PostgreSQL said about the run.
type SubsServer struct {
	Metrics               bool    `json:"metrics"` // /metrics carried the subscription series
	Active                float64 `json:"subscriptions_active"`
	ActiveAfterClose      float64 `json:"subscriptions_active_after_close"`
	Groups                float64 `json:"subscription_groups"`
	RefreshStatements     float64 `json:"refresh_statements"`
	RefreshStatementsPerS float64 `json:"refresh_statements_per_s"`
	StatementsPerWrite    float64 `json:"refresh_statements_per_write"`
	// StatementsPerGroupRefresh is the statements ÷ the group refreshes the writes made due
	// (for each write, the subscribed groups of its tenant that read its table): 1 when a refresh costs
	// one statement per group whatever its subscribers, under 1 when refreshes fold writes
	// together, about subscribers_per_group when each subscriber costs a statement.
	StatementsPerGroupRefresh float64 `json:"refresh_statements_per_group_refresh"`
	Messages                  float64 `json:"messages"` // kapok_subscription_messages_total in the window
	// The server's own push latency, from the change its feed reported to the push
	// (kapok_subscription_push_seconds, interpolated in its buckets).
	PushP50ms           float64 `json:"push_p50_ms"`
	PushP99ms           float64 `json:"push_p99_ms"`
	XactCommitPerS      float64 `json:"xact_commit_per_s"` // pg_stat_database of the tenants' database, the benchmark's own writes taken out
	PID                 int     `json:"pid,omitempty"`
	RSSBeforeKB         int64   `json:"rss_before_kb,omitempty"`
	RSSEstablishedKB    int64   `json:"rss_established_kb,omitempty"`
	RSSPer1000SubsKB    float64 `json:"rss_per_1000_subs_kb,omitempty"`
	SubscribersPerGroup float64 `json:"subscribers_per_group"`
}

func (c *SubsConfig) check() error {
	u, err := url.Parse(c.Target)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return fmt.Errorf("--target %q: want http://host:port", c.Target)
	}
	switch {
	case c.Subs <= 0:
		return errors.New("--subs must be positive")
	case c.Tenants <= 0:
		return errors.New("--tenants must be positive")
	case c.Shapes < 1 || c.Shapes > len(subShapes):
		return fmt.Errorf("--shapes must be between 1 and %d", len(subShapes))
	case c.Sockets < c.Tenants:
		return fmt.Errorf("--sockets %d is under --tenants %d: a connection serves one tenant", c.Sockets, c.Tenants)
	case c.WriteRate <= 0:
		return errors.New("--write-rate must be positive")
	case c.Duration <= 0:
		return errors.New("--duration must be positive")
	}
	return nil
}

// wsURL is the WebSocket URL of the GraphQL endpoint, {tenant} left in.
func (c *SubsConfig) wsURL() string {
	u, _ := url.Parse(c.Target)
	scheme := "ws"
	if u.Scheme == "https" {
		scheme = "wss"
	}
	return scheme + "://" + u.Host + strings.TrimRight(u.Path, "/") + c.Path
}

func (c *SubsConfig) logf(format string, a ...any) {
	if c.Log != nil {
		fmt.Fprintf(c.Log, "subscriptions: "+format+"\n", a...)
	}
}

// kapokPID finds the server's process: --pid, else whatever listens on the target's port when
// the target is this machine.
func (c *SubsConfig) kapokPID() (int, error) {
	if c.PID > 0 {
		return c.PID, nil
	}
	u, _ := url.Parse(c.Target)
	host := u.Hostname()
	if ip := net.ParseIP(host); !(host == "localhost" || (ip != nil && ip.IsLoopback())) {
		return 0, fmt.Errorf("%s is not this machine: pass --pid to read Kapok's memory", host)
	}
	port, err := strconv.Atoi(u.Port())
	if err != nil {
		port = map[bool]int{true: 443, false: 80}[u.Scheme == "https"]
	}
	return listenerPID(port)
}

// RunSubscriptions loads cfg.Target with cfg.Subs subscriptions over the tenants' data
// (loaded by the caller into data), changes rows under them at cfg.WriteRate for
// cfg.Duration, and measures what the subscribers and the server saw.
func RunSubscriptions(ctx context.Context, cfg SubsConfig, pool *pgxpool.Pool, data []*tenantData) (*SubsResult, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if len(data) < cfg.Tenants {
		return nil, fmt.Errorf("%d tenants' data for --tenants %d", len(data), cfg.Tenants)
	}
	data = data[:cfg.Tenants]
	res := &SubsResult{Target: cfg.Target, Subscriptions: cfg.Subs, Sockets: cfg.Sockets, Tenants: cfg.Tenants, WriteRate: cfg.WriteRate}
	for _, s := range subShapes[:cfg.Shapes] {
		res.Shapes = append(res.Shapes, s.name)
	}
	pid, pidErr := cfg.kapokPID()
	if pidErr != nil {
		cfg.logf("no RSS figures: %v", pidErr)
	}
	mW, merr := scrapeMetrics(cfg.Target)
	if merr != nil {
		cfg.logf("no server figures: %v", merr)
	}
	// A warm-up subscription per group first: what the first subscriber of a tenant or a
	// shape costs once (a pool, a plan, the change feed's triggers) is not per subscription.
	warm, closeWarm, err := subscribe(ctx, cfg, data, cfg.Tenants*cfg.Shapes, cfg.Tenants, cfg.Seed^0xa5a5)
	if err != nil {
		return nil, err
	}
	closeWarm()
	if warm.established.Load() < int64(cfg.Tenants*cfg.Shapes) {
		errs, first := warm.errs.summary()
		var firsts []string
		for _, k := range subErrKindNames {
			if m, ok := first[k]; ok {
				firsts = append(firsts, k+": "+m)
			}
		}
		return nil, fmt.Errorf("warm-up: %d of %d subscriptions established (errors %s)\n%s", warm.established.Load(), cfg.Tenants*cfg.Shapes,
			subsErrorSummary(errs), strings.Join(firsts, "\n"))
	}
	if merr == nil {
		waitActive(cfg.Target, mW.sums[metricSubsActive])
	}
	if pidErr == nil {
		res.Server.PID = pid
		res.Server.RSSBeforeKB, _ = rssKB(pid)
	}
	m0, merr := scrapeMetrics(cfg.Target)

	began := time.Now()
	run, closeAll, err := subscribe(ctx, cfg, data, cfg.Subs, cfg.Sockets, cfg.Seed)
	if err != nil {
		return nil, err
	}
	defer closeAll()
	res.EstablishS = time.Since(began).Seconds()
	res.Established = run.established.Load()
	res.Groups = run.groups
	cfg.logf("%d subscriptions established in %.2fs", res.Established, res.EstablishS)
	if pidErr == nil {
		res.Server.RSSEstablishedKB, _ = rssKB(pid)
		if res.Established > 0 && res.Server.RSSEstablishedKB > 0 {
			res.Server.RSSPer1000SubsKB = float64(res.Server.RSSEstablishedKB-res.Server.RSSBeforeKB) / (float64(res.Established) / 1000)
		}
	}

	// The measured window: writes at the asked rate, pushes counted.
	counts, subscribed := map[subKey]int{}, map[[2]int]bool{}
	for _, s := range run.sockets {
		for _, sub := range s.subs {
			if sub.established.Load() {
				counts[sub.key]++
				subscribed[[2]int{sub.key.tenant, sub.key.shape}] = true
			}
		}
	}
	w := &subWriter{pool: pool, data: data, shapes: cfg.Shapes, counts: counts, groups: subscribed, book: run.book,
		rng: rand.New(rand.NewPCG(cfg.Seed, 0x3717e)), touched: map[writtenKey]time.Time{}}
	mA, errA := scrapeMetrics(cfg.Target)
	xA, xerrA := xactCommit(ctx, pool)
	cfg.logf("writing %.0f rows/s for %s", cfg.WriteRate, cfg.Duration)
	run.measuring.Store(true)
	windowStart := time.Now()
	ws := w.run(ctx, cfg.WriteRate, cfg.Duration)
	window := time.Since(windowStart)
	run.measuring.Store(false)
	mB, errB := scrapeMetrics(cfg.Target)
	xB, xerrB := xactCommit(ctx, pool)
	res.DurationS = window.Seconds()
	res.Writes, res.WritesFailed, res.WritesSkipped, res.GroupRefreshes = ws.writes, ws.failed, ws.skipped, ws.groups
	if ws.firstErr != nil {
		cfg.logf("writes failed: %v", ws.firstErr)
	}
	res.Messages = run.messages.Load()
	res.MessagesPerS = float64(res.Messages) / window.Seconds()

	// Pushes of the last writes may still be on their way.
	settleEnd := time.Now().Add(cfg.Settle)
	for time.Now().Before(settleEnd) {
		if exp, seen := run.book.progress(); seen >= exp {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	run.book.mu.Lock()
	res.PushExpected, res.PushSeen = run.book.expected, run.book.seen
	res.PushLatency = latencyOf(&run.book.hist)
	run.book.mu.Unlock()

	if merr == nil && errA == nil && errB == nil {
		fillServerFigures(&res.Server, m0, mA, mB, res)
	}
	if xerrA == nil && xerrB == nil {
		res.Server.XactCommitPerS = (float64(xB-xA) - float64(res.Writes)) / window.Seconds()
	}
	res.Errors, res.FirstErrors = run.errs.summary()

	// Close every socket and see the server let go of the subscriptions.
	closeAll()
	if res.Server.Metrics {
		res.Server.ActiveAfterClose = waitActive(cfg.Target, m0.sums[metricSubsActive]) - m0.sums[metricSubsActive]
	}
	return res, nil
}

// waitActive waits up to 5 s for the server's active subscriptions to come down to want, and
// returns the last count read.
func waitActive(target string, want float64) float64 {
	deadline := time.Now().Add(5 * time.Second)
	last := -1.0
	for {
		if m, err := scrapeMetrics(target); err == nil {
			last = m.sums[metricSubsActive]
			if last <= want {
				return last
			}
		}
		if time.Now().After(deadline) {
			return last
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// subscribe opens sockets connections over data's tenants and subs subscriptions on them, and
// waits for every first result (at most cfg.EstablishTimeout). Socket i serves tenant i mod
// tenants; subscription j rides socket j mod sockets and follows shape (j div sockets) mod
// shapes, with a variable drawn for it. closeAll ends every connection.
func subscribe(ctx context.Context, cfg SubsConfig, data []*tenantData, subs, sockets int, seed uint64) (run *subRun, closeAll func(), err error) {
	run = &subRun{url: cfg.wsURL(), adminKey: cfg.AdminKey, book: newPushBook(time.Now()), errs: &subErrors{}}
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	run.sockets = make([]*subSocket, sockets)
	for i := range run.sockets {
		run.sockets[i] = &subSocket{tenant: data[i%cfg.Tenants], done: make(chan struct{})}
	}
	groups := map[[2]int]bool{}
	for j := range subs {
		s := run.sockets[j%sockets]
		t := (j % sockets) % cfg.Tenants
		shape := (j / sockets) % cfg.Shapes
		v := s.tenant.drawValue(rng, shape)
		msg, err := json.Marshal(map[string]any{"id": strconv.Itoa(len(s.subs) + 1), "type": "subscribe",
			"payload": map[string]any{"query": subShapes[shape].query, "variables": s.tenant.variables(shape, v)}})
		if err != nil {
			return nil, nil, err
		}
		s.subs = append(s.subs, &liveSub{key: subKey{tenant: t, shape: shape, value: v}, message: msg})
		groups[[2]int{t, shape}] = true
	}
	run.groups = len(groups)
	run.settled.Add(subs)

	dialer := &websocket.Dialer{Subprotocols: []string{gqlWSProtocol}, HandshakeTimeout: 10 * time.Second,
		ReadBufferSize: 16 << 10, WriteBufferSize: 16 << 10}
	cfg.logf("opening %d sockets for %d subscriptions (%d tenants, %d shapes)", sockets, subs, cfg.Tenants, cfg.Shapes)
	closeAll, err = openSockets(ctx, run.sockets, func(s *subSocket) { run.open(s, dialer) }, (*subSocket).close,
		func(s *subSocket) <-chan struct{} { return s.done }, &run.settled, &run.closing, cfg.EstablishTimeout,
		func() {
			cfg.logf("%d of %d subscriptions had no first result after %s", int64(subs)-run.established.Load(), subs, cfg.EstablishTimeout)
		})
	if err != nil {
		return nil, nil, err
	}
	return run, closeAll, nil
}

// fillServerFigures derives the server's figures from the scrapes before the sockets opened
// (m0), after the subscriptions were established (a) and after the writes (b).
func fillServerFigures(s *SubsServer, m0, a, b promSnapshot, res *SubsResult) {
	s.Metrics = a.has(metricRefreshStatements) && a.has(metricSubsActive)
	if !s.Metrics {
		return
	}
	secs := res.DurationS
	s.Active = a.sums[metricSubsActive] - m0.sums[metricSubsActive]
	s.Groups = a.sums[metricSubGroups] - m0.sums[metricSubGroups]
	s.RefreshStatements = promDelta(a, b, metricRefreshStatements)
	s.Messages = promDelta(a, b, metricSubMessages)
	if secs > 0 {
		s.RefreshStatementsPerS = s.RefreshStatements / secs
	}
	if res.Writes > 0 {
		s.StatementsPerWrite = s.RefreshStatements / float64(res.Writes)
	}
	groups := s.Groups
	if groups <= 0 {
		groups = float64(res.Groups)
	}
	if groups > 0 {
		s.SubscribersPerGroup = float64(res.Established) / groups
	}
	if res.GroupRefreshes > 0 {
		s.StatementsPerGroupRefresh = s.RefreshStatements / float64(res.GroupRefreshes)
	}
	if v, ok := histogramQuantile(a, b, metricPushSeconds, 0.5); ok {
		s.PushP50ms = v * 1000
	}
	if v, ok := histogramQuantile(a, b, metricPushSeconds, 0.99); ok {
		s.PushP99ms = v * 1000
	}
}

// xactCommit is the number of transactions committed in the pool's database so far.
func xactCommit(ctx context.Context, pool *pgxpool.Pool) (int64, error) {
	var n int64
	err := pool.QueryRow(ctx, `SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()`).Scan(&n)
	return n, err
}

// WriteSubsTable writes one line per run.
func WriteSubsTable(w io.Writer, results []*SubsResult) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "subs\testablished\tsockets\tgroups\testablish\tmsgs/s\tpush p50\tpush p99\tpushes seen\tstmts/s\tstmts/group-refresh\txact/s\tRSS/1k subs\terrors\t")
	for _, r := range results {
		seen := "-"
		if r.PushExpected > 0 {
			seen = fmt.Sprintf("%d/%d", r.PushSeen, r.PushExpected)
		}
		stmts, ratio, rss := "-", "-", "-"
		if r.Server.Metrics {
			stmts = fmt.Sprintf("%.1f", r.Server.RefreshStatementsPerS)
			ratio = fmt.Sprintf("%.2f", r.Server.StatementsPerGroupRefresh)
		}
		if r.Server.RSSPer1000SubsKB != 0 {
			rss = fmt.Sprintf("%.0f KiB", r.Server.RSSPer1000SubsKB)
		}
		fmt.Fprintf(tw, "%d\t%d\t%d\t%d\t%.2fs\t%.0f\t%.2fms\t%.2fms\t%s\t%s\t%s\t%.1f\t%s\t%s\t\n", r.Subscriptions, r.Established, r.Sockets, r.Groups,
			r.EstablishS, r.MessagesPerS, r.PushLatency.P50, r.PushLatency.P99, seen, stmts, ratio, r.Server.XactCommitPerS, rss, subsErrorSummary(r.Errors))
	}
	tw.Flush()
}

func subsErrorSummary(errs map[string]uint64) string {
	var parts []string
	for _, k := range subErrKindNames {
		if n := errs[k]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s:%d", k, n))
		}
	}
	if len(parts) == 0 {
		return "0"
	}
	return strings.Join(parts, ",")
}

// parseCounts reads a comma-separated list of positive counts (--subs 1000,10000).
func parseCounts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%q is not a positive count", f)
		}
		out = append(out, n)
	}
	return out, nil
}

func cmdSubscriptions(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("subscriptions", flag.ContinueOnError)
	var cfg SubsConfig
	fs.StringVar(&cfg.Target, "target", "http://127.0.0.1:8080", "base URL of Kapok")
	fs.StringVar(&cfg.Path, "path", "/t/{tenant}/v1/graphql", "GraphQL endpoint of a tenant ({tenant}: its name)")
	fs.StringVar(&cfg.AdminKey, "admin-key", "", "admin key, sent as x-hasura-admin-secret (the bench tenants need none when Kapok has none)")
	fs.StringVar(&cfg.DB, "db", "postgres://postgres@127.0.0.1:54320/kapok_bench?sslmode=disable", "direct (not PgBouncer) URL of the tenants' database: the writes, and the tenants' schemas when missing")
	subs := fs.String("subs", "10000", "subscriptions; a comma-separated list runs once per count (1000,10000)")
	fs.IntVar(&cfg.Tenants, "tenants", 100, "tenants, bench-t000 on (kapok bench setup-tenants)")
	fs.StringVar(&cfg.Prefix, "prefix", benchTenantPrefix, "tenant name prefix")
	fs.IntVar(&cfg.Shapes, "shapes", len(subShapes), fmt.Sprintf("live-query shapes, 1 to %d: by pk, a customer's orders, customers of a country, an orders aggregate", len(subShapes)))
	fs.IntVar(&cfg.Sockets, "sockets", 200, "WebSocket connections the subscriptions are spread over (at least --tenants: one tenant each)")
	fs.Float64Var(&cfg.WriteRate, "write-rate", 50, "rows changed per second under the subscriptions")
	fs.DurationVar(&cfg.Duration, "duration", 30*time.Second, "measured time: writes running")
	fs.DurationVar(&cfg.Settle, "settle", 5*time.Second, "after the last write, longest wait for the pushes still expected")
	fs.DurationVar(&cfg.EstablishTimeout, "establish-timeout", 60*time.Second, "longest wait for every subscription's first result")
	fs.IntVar(&cfg.PID, "pid", 0, "Kapok's process id, for its memory (default: the process listening on --target's port)")
	fs.Uint64Var(&cfg.Seed, "seed", 0, "seed of the variables and writes (0: from the clock)")
	asJSON := fs.Bool("json", false, "print results as JSON instead of a table")
	if code, ok := parseFlags(fs, args, stderr); !ok {
		return code
	}
	counts, err := parseCounts(*subs)
	if err == nil {
		cfg.Subs = counts[0]
		err = cfg.check()
	}
	if err != nil {
		fmt.Fprintf(stderr, "kapok bench subscriptions: %v\n", err)
		return 2
	}
	if cfg.Seed == 0 {
		cfg.Seed = uint64(time.Now().UnixNano())
	}
	cfg.Log = stderr
	results, err := runSubscriptionSteps(ctx, cfg, counts)
	if err != nil {
		fmt.Fprintf(stderr, "kapok bench subscriptions: %v\n", err)
		return 1
	}
	if *asJSON {
		if len(results) == 1 {
			_ = WriteJSON(stdout, results[0])
		} else {
			_ = WriteJSON(stdout, results)
		}
	} else {
		WriteSubsTable(stdout, results)
	}
	code := 0
	for _, r := range results {
		for kind, msg := range r.FirstErrors {
			fmt.Fprintf(stderr, "kapok bench subscriptions (%d subs): first %s error: %s\n", r.Subscriptions, kind, msg)
		}
		if r.Established < int64(r.Subscriptions) || r.Writes == 0 {
			fmt.Fprintf(stderr, "kapok bench subscriptions: %d of %d subscriptions established, %d writes\n", r.Established, r.Subscriptions, r.Writes)
			code = 1
		}
	}
	return code
}

// runSubscriptionSteps prepares the tenants, runs once per subscription count, and puts the
// rows the writes changed back.
func runSubscriptionSteps(ctx context.Context, cfg SubsConfig, counts []int) ([]*SubsResult, error) {
	names := TenantNames(cfg.Prefix, cfg.Tenants)
	conn, err := connectCreatingDB(ctx, cfg.DB)
	if err != nil {
		return nil, fmt.Errorf("tenants' database: %w", err)
	}
	schemas := make([]string, len(names))
	for i, n := range names {
		schemas[i] = TenantSchema(n)
	}
	err = SetupTenants(ctx, conn, schemas, 0.001, cfg.Log)
	conn.Close(context.Background())
	if err != nil {
		return nil, err
	}
	pcfg, err := pgxpool.ParseConfig(cfg.DB)
	if err != nil {
		return nil, err
	}
	pcfg.MaxConns = 34 // the writer's workers and the statistics
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	data, err := loadTenantData(ctx, pool, names)
	if err != nil {
		return nil, err
	}
	if err := restoreRows(ctx, pool, data); err != nil { // a run killed before its own restore
		return nil, err
	}
	defer func() {
		if err := restoreRows(context.Background(), pool, data); err != nil {
			cfg.logf("%v", err)
		}
	}()
	var results []*SubsResult
	for i, n := range counts {
		step := cfg
		step.Subs = n
		step.Seed = cfg.Seed + uint64(i)
		res, err := RunSubscriptions(ctx, step, pool, data)
		if err != nil {
			return results, err
		}
		results = append(results, res)
	}
	return results, nil
}
