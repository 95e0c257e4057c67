package bench

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// RTConfig says how to load a server with Supabase Realtime postgres_changes subscribers.
type RTConfig struct {
	Target           string // Kapok's base URL, http://host:port
	Path             string // the Realtime WebSocket endpoint; {tenant} is each socket's tenant
	APIKey           string // apikey of the socket URL, as supabase-js sends its key
	Subs             int
	Tenants          int
	Prefix           string // tenants Prefix000 …
	Sockets          int
	Filtered         float64 // share of the subscribers with a filter on the row id
	Rows             int     // rows of each tenant's table
	WriteRate        float64
	Duration         time.Duration
	Settle           time.Duration // after the last write, how long deliveries may still arrive
	EstablishTimeout time.Duration
	PID              int // Kapok's process (0: the one listening on Target's port, when local)
	Seed             uint64
	Log              io.Writer // progress notes; nil = quiet
}

// RTResult is one run of the realtime benchmark. Its JSON form (--json) is a stable
// interface: fields are added, never renamed.
type RTResult struct {
	Target        string  `json:"target"`
	Subscribers   int     `json:"subscribers"` // asked for
	Established   int64   `json:"established"` // joined
	Filtered      int     `json:"filtered"`    // of the established, with a filter
	Sockets       int     `json:"sockets"`
	Tenants       int     `json:"tenants"`
	EstablishS    float64 `json:"establish_s"`
	DurationS     float64 `json:"duration_s"` // the measured window: writes running
	WriteRate     float64 `json:"write_rate"` // asked for, per second
	Writes        uint64  `json:"writes"`
	WritesFailed  uint64  `json:"writes_failed"`
	WritesSkipped uint64  `json:"writes_skipped"` // due while every writer was busy
	// Expected is the (write, subscriber) pairs the writes should reach, Seen those that
	// arrived; Duplicates the pairs that arrived more than once.
	Expected       uint64  `json:"deliveries_expected"`
	Seen           uint64  `json:"deliveries_seen"`
	Duplicates     uint64  `json:"duplicates"`
	Deliveries     uint64  `json:"deliveries"` // postgres_changes frames in the window
	DeliveriesPerS float64 `json:"deliveries_per_s"`
	// Latency runs from the writer's COMMIT returning to the frame's arrival, per
	// subscriber reached; CommitTSLatency from the frame's commit_timestamp.
	Latency         Latency `json:"latency_ms"`
	CommitTSLatency Latency `json:"commit_timestamp_latency_ms"`
	CommitTSBad     uint64  `json:"commit_timestamp_unreadable,omitempty"`
	// CPUPerDeliveryUS is the CPU time of Kapok's process in the window per delivery seen.
	CPUPerDeliveryUS float64            `json:"cpu_us_per_delivery,omitempty"`
	PID              int                `json:"pid,omitempty"`
	SlotLag          RTSlotLag          `json:"slot_lag"`
	Server           map[string]float64 `json:"server_counters,omitempty"` // kapok_realtime_* counted in the window
	Errors           map[string]uint64  `json:"errors"`
	FirstErrors      map[string]string  `json:"first_errors,omitempty"`
}

// RTSlotLag is what pg_replication_slots said of the logical slots of the tenants' database
// while the writes ran: WAL not yet confirmed by their consumer.
type RTSlotLag struct {
	Samples   int     `json:"samples"`
	Slots     int     `json:"slots"` // most seen at once
	MaxBytes  float64 `json:"max_bytes"`
	MeanBytes float64 `json:"mean_bytes"`
	Error     string  `json:"error,omitempty"`
}

// rtMetricPrefix names the series of Kapok's Realtime on /metrics.
const rtMetricPrefix = "kapok_realtime_"

func (c *RTConfig) check() error {
	u, err := url.Parse(c.Target)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return fmt.Errorf("--target %q: want http://host:port", c.Target)
	}
	switch {
	case c.Subs <= 0:
		return errors.New("--subs must be positive")
	case c.Tenants <= 0:
		return errors.New("--tenants must be positive")
	case c.Sockets < c.Tenants:
		return fmt.Errorf("--sockets %d is under --tenants %d: a connection serves one tenant", c.Sockets, c.Tenants)
	case c.Filtered < 0 || c.Filtered > 1:
		return errors.New("--filtered must be between 0 and 1")
	case c.Rows <= 0:
		return errors.New("--rows must be positive")
	case c.WriteRate <= 0:
		return errors.New("--write-rate must be positive")
	case c.Duration <= 0:
		return errors.New("--duration must be positive")
	}
	return nil
}

// wsURL is the WebSocket URL of the Realtime endpoint, {tenant} left in.
func (c *RTConfig) wsURL() string {
	u, _ := url.Parse(c.Target)
	scheme := "ws"
	if u.Scheme == "https" {
		scheme = "wss"
	}
	return scheme + "://" + u.Host + strings.TrimRight(u.Path, "/") + c.Path
}

func (c *RTConfig) logf(format string, a ...any) {
	if c.Log != nil {
		fmt.Fprintf(c.Log, "realtime: "+format+"\n", a...)
	}
}

// RunRealtime joins cfg.Subs postgres_changes channels over the tenants, updates rows of
// their tables at cfg.WriteRate for cfg.Duration, and measures what the subscribers, the
// server and PostgreSQL saw.
func RunRealtime(ctx context.Context, cfg RTConfig, pool *pgxpool.Pool) (*RTResult, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	tenants := make([]*rtTenant, cfg.Tenants)
	for i, n := range TenantNames(cfg.Prefix, cfg.Tenants) {
		tenants[i] = &rtTenant{name: n, schema: TenantSchema(n)}
	}
	res := &RTResult{Target: cfg.Target, Subscribers: cfg.Subs, Sockets: cfg.Sockets, Tenants: cfg.Tenants, WriteRate: cfg.WriteRate}
	pid, pidErr := (&SubsConfig{Target: cfg.Target, PID: cfg.PID}).kapokPID()
	if pidErr != nil {
		cfg.logf("no CPU figures: %v", pidErr)
	}

	began := time.Now()
	run, closeAll, err := joinChannels(ctx, cfg, tenants)
	if err != nil {
		return nil, err
	}
	defer closeAll()
	res.EstablishS = time.Since(began).Seconds()
	res.Established = run.established.Load()
	for _, s := range run.sockets {
		for _, c := range s.chans {
			if c.established.Load() && len(c.filter.ids) > 0 {
				res.Filtered++
			}
		}
	}
	cfg.logf("%d of %d channels joined in %.2fs", res.Established, cfg.Subs, res.EstablishS)
	if res.Established == 0 {
		res.Errors, res.FirstErrors = run.errs.summary()
		return res, nil
	}

	// Warm-up writes first, until each round reaches all its subscribers: the change stream
	// is flowing (a replication slot made, which waits for the cluster's open transactions,
	// pools open) and every channel subscribed before anything is measured. A join answered
	// before its subscription was in place (the server holds a reply 3 s at most) would
	// otherwise miss the first measured writes. Each round writes every row of every tenant,
	// so that each filtered subscriber is reached, where that is few writes; else one row
	// per tenant.
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x7ea1))
	warmRows := []int32{1}
	if len(tenants)*cfg.Rows <= 400 {
		warmRows = warmRows[:0]
		for id := int32(1); id <= int32(cfg.Rows); id++ {
			warmRows = append(warmRows, id)
		}
	}
	var warm *pushBook
	warmEnd := time.Now().Add(cfg.EstablishTimeout)
	for round := 1; ; round++ {
		warm = newPushBook(time.Now())
		run.book.Store(warm)
		ww := newRTWriter(tenants, cfg.Rows, run.sockets, warm, rng)
		for t := range tenants {
			for _, id := range warmRows {
				wr := ww.row(t, id)
				if _, err := pool.Exec(ctx, wr.sql, wr.id, wr.marker); err != nil {
					return nil, fmt.Errorf("warm-up write: %w", err)
				}
				warm.committed(wr.seq, time.Now(), wr.expected)
			}
		}
		waitDelivered(warm, 5*time.Second)
		exp, seen := warm.progress()
		if seen >= exp {
			break
		}
		cfg.logf("warm-up round %d: %d of %d deliveries arrived within 5s", round, seen, exp)
		if time.Now().After(warmEnd) {
			break
		}
		// A later book's tag differs from this one's: late deliveries of this round are
		// not counted in the next.
		for newPushBook(time.Now()).tag == warm.tag {
			time.Sleep(time.Millisecond)
		}
	}

	book := newPushBook(time.Now())
	for book.tag == warm.tag {
		time.Sleep(time.Millisecond)
		book = newPushBook(time.Now())
	}
	run.book.Store(book)
	w := newRTWriter(tenants, cfg.Rows, run.sockets, book, rng)

	m0, merr := scrapeMetrics(cfg.Target)
	lagCtx, stopLag := context.WithCancel(ctx)
	lagDone := make(chan RTSlotLag, 1)
	go func() { lagDone <- sampleSlotLag(lagCtx, pool, 200*time.Millisecond) }()
	cpu0, cerr := processCPU(pid)
	cfg.logf("writing %.0f rows/s for %s", cfg.WriteRate, cfg.Duration)
	run.measuring.Store(true)
	windowStart := time.Now()
	ws := writeOpenLoop(ctx, pool, book, cfg.WriteRate, cfg.Duration, func(int) subWrite { return w.next(-1) })
	window := time.Since(windowStart)
	// Deliveries of the last writes may still be on their way.
	waitDelivered(book, cfg.Settle)
	run.measuring.Store(false)
	cpu1, cerr1 := processCPU(pid)
	stopLag()
	res.SlotLag = <-lagDone
	m1, merr1 := scrapeMetrics(cfg.Target)

	res.DurationS = window.Seconds()
	res.Writes, res.WritesFailed, res.WritesSkipped = ws.writes, ws.failed, ws.skipped
	if ws.firstErr != nil {
		cfg.logf("writes failed: %v", ws.firstErr)
	}
	res.Deliveries = run.deliveries.Load()
	res.DeliveriesPerS = float64(res.Deliveries) / window.Seconds()
	res.Duplicates = run.duplicates.Load()
	book.mu.Lock()
	res.Expected, res.Seen = book.expected, book.seen
	res.Latency = latencyOf(&book.hist)
	book.mu.Unlock()
	run.tsMu.Lock()
	res.CommitTSLatency = latencyOf(&run.tsHist)
	run.tsMu.Unlock()
	res.CommitTSBad = run.tsBad.Load()
	if pidErr == nil && cerr == nil && cerr1 == nil && res.Seen > 0 {
		res.PID = pid
		res.CPUPerDeliveryUS = float64((cpu1 - cpu0).Microseconds()) / float64(res.Seen)
	}
	if merr == nil && merr1 == nil {
		res.Server = rtServerCounters(m0, m1)
	}
	res.Errors, res.FirstErrors = run.errs.summary()
	return res, nil
}

// waitDelivered waits until every delivery book expects arrived, or d passed.
func waitDelivered(book *pushBook, d time.Duration) {
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		if exp, seen := book.progress(); seen >= exp {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// rtServerCounters is the growth of every kapok_realtime_* series (summed over its labels)
// between two scrapes; gauges are reported at the second.
func rtServerCounters(a, b promSnapshot) map[string]float64 {
	out := map[string]float64{}
	for name, v := range b.sums {
		if !strings.HasPrefix(name, rtMetricPrefix) {
			continue
		}
		if strings.HasSuffix(name, "_total") || strings.HasSuffix(name, "_count") || strings.HasSuffix(name, "_sum") {
			out[name] = v - a.sums[name]
		} else {
			out[name] = v
		}
	}
	return out
}

// sampleSlotLag reads the logical slots' unconfirmed WAL every interval until ctx ends.
func sampleSlotLag(ctx context.Context, pool *pgxpool.Pool, interval time.Duration) RTSlotLag {
	var lag RTSlotLag
	var sum float64
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		var slots int
		var maxLag float64
		err := pool.QueryRow(ctx, `SELECT count(*), coalesce(max(pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)), 0)::float8
			FROM pg_replication_slots WHERE slot_type = 'logical' AND database = current_database()`).Scan(&slots, &maxLag)
		if err != nil {
			if ctx.Err() == nil && lag.Error == "" {
				lag.Error = err.Error()
			}
		} else {
			lag.Samples++
			lag.Slots = max(lag.Slots, slots)
			lag.MaxBytes = max(lag.MaxBytes, maxLag)
			sum += maxLag
			lag.MeanBytes = sum / float64(lag.Samples)
		}
		select {
		case <-ctx.Done():
			return lag
		case <-t.C:
		}
	}
}

// joinChannels opens cfg.Sockets connections and cfg.Subs channels on them and waits for
// every join's answer (at most cfg.EstablishTimeout). Socket i serves tenant i mod tenants;
// channel j rides socket j mod sockets, with a filter for a cfg.Filtered share of them.
func joinChannels(ctx context.Context, cfg RTConfig, tenants []*rtTenant) (run *rtRun, closeAll func(), err error) {
	run = &rtRun{url: cfg.wsURL(), apikey: cfg.APIKey, errs: &subErrors{}}
	run.book.Store(newPushBook(time.Now()))
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x5eed))
	run.sockets = make([]*rtSocket, cfg.Sockets)
	for i := range run.sockets {
		run.sockets[i] = &rtSocket{tenant: tenants[i%len(tenants)], byTopic: map[string]*rtChannel{}, done: make(chan struct{})}
	}
	for j := range cfg.Subs {
		si := j % cfg.Sockets
		s := run.sockets[si]
		c := &rtChannel{tenant: si % len(tenants), filter: drawFilter(rng, rng.Float64() < cfg.Filtered, cfg.Rows)}
		c.topic = fmt.Sprintf("realtime:bench-%d", len(s.chans)+1)
		ref := fmt.Sprint(len(s.chans) + 1)
		c.join = phxFrame(ref, ref, c.topic, "phx_join", rtJoinPayload(s.tenant.schema, rtTable, c.filter))
		s.chans = append(s.chans, c)
		s.byTopic[`"`+c.topic+`"`] = c
	}
	run.settled.Add(cfg.Subs)
	dialer := &websocket.Dialer{HandshakeTimeout: 10 * time.Second, ReadBufferSize: 16 << 10, WriteBufferSize: 16 << 10}
	cfg.logf("opening %d sockets for %d channels (%d tenants, %.0f%% filtered)", cfg.Sockets, cfg.Subs, cfg.Tenants, cfg.Filtered*100)
	closeAll, err = openSockets(ctx, run.sockets, func(s *rtSocket) { run.open(s, dialer) }, (*rtSocket).close,
		func(s *rtSocket) <-chan struct{} { return s.done }, &run.settled, &run.closing, cfg.EstablishTimeout,
		func() {
			cfg.logf("%d of %d channels had no answer to their join after %s", int64(cfg.Subs)-run.established.Load(), cfg.Subs, cfg.EstablishTimeout)
		})
	if err != nil {
		return nil, nil, err
	}
	return run, closeAll, nil
}

// WriteRTTable writes one line per run.
func WriteRTTable(w io.Writer, results []*RTResult) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "subs\tjoined\tfiltered\tsockets\ttenants\tjoin\twrites/s\tdeliveries/s\tp50\tp99\tts p50\tts p99\tseen\tdup\tCPU/delivery\tslot lag max\tslot lag mean\terrors\t")
	for _, r := range results {
		seen, cpu, lag, lagMean := "-", "-", "-", "-"
		if r.Expected > 0 {
			seen = fmt.Sprintf("%d/%d", r.Seen, r.Expected)
		}
		if r.CPUPerDeliveryUS > 0 {
			cpu = fmt.Sprintf("%.1fµs", r.CPUPerDeliveryUS)
		}
		if r.SlotLag.Samples > 0 {
			lag, lagMean = byteSize(r.SlotLag.MaxBytes), byteSize(r.SlotLag.MeanBytes)
		}
		writesPerS := 0.0
		if r.DurationS > 0 {
			writesPerS = float64(r.Writes) / r.DurationS
		}
		fmt.Fprintf(tw, "%d\t%d\t%d\t%d\t%d\t%.2fs\t%.0f\t%.0f\t%.2fms\t%.2fms\t%.2fms\t%.2fms\t%s\t%d\t%s\t%s\t%s\t%s\t\n",
			r.Subscribers, r.Established, r.Filtered, r.Sockets, r.Tenants, r.EstablishS, writesPerS, r.DeliveriesPerS,
			r.Latency.P50, r.Latency.P99, r.CommitTSLatency.P50, r.CommitTSLatency.P99, seen, r.Duplicates, cpu, lag, lagMean, subsErrorSummary(r.Errors))
	}
	tw.Flush()
	for _, r := range results {
		if len(r.Server) == 0 {
			continue
		}
		names := make([]string, 0, len(r.Server))
		for n := range r.Server {
			names = append(names, n)
		}
		sort.Strings(names)
		fmt.Fprintf(w, "\nserver, %d subscribers:\n", r.Subscribers)
		for _, n := range names {
			fmt.Fprintf(w, "  %-52s %.0f\n", n, r.Server[n])
		}
	}
}

// byteSize prints a byte count in B, KiB or MiB.
func byteSize(b float64) string {
	switch {
	case b >= 1<<20:
		return fmt.Sprintf("%.1fMiB", b/(1<<20))
	case b >= 1<<10:
		return fmt.Sprintf("%.1fKiB", b/(1<<10))
	}
	return fmt.Sprintf("%.0fB", b)
}

// rtOptions are the flags of `kapok bench realtime` beyond RTConfig's.
type rtOptions struct {
	quick       bool
	subs        string
	kapokCmd    string
	kapokListen string
	directDSN   string
	poolerDSN   string
	printConfig bool
	asJSON      bool
}

func cmdRealtime(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("realtime", flag.ContinueOnError)
	var cfg RTConfig
	var o rtOptions
	fs.BoolVar(&o.quick, "quick", false, "small sizes: 200 subscribers over 4 tenants, 50 writes/s for 5s")
	fs.StringVar(&cfg.Target, "target", "", "base URL of a running Kapok (default: start --kapok-cmd on the dev stack)")
	fs.StringVar(&o.kapokCmd, "kapok-cmd", "./bin/kapok serve --config {config} --listen {listen}", "command starting Kapok; {config} is the generated config file, {listen} its address")
	fs.StringVar(&o.kapokListen, "kapok-listen", "127.0.0.1:18280", "address for the Kapok started")
	fs.StringVar(&cfg.Path, "path", "/t/{tenant}/realtime/v1/websocket", "Realtime WebSocket endpoint of a tenant ({tenant}: its name)")
	fs.StringVar(&cfg.APIKey, "apikey", "bench", "key of the sockets (their URL's apikey); the bench tenants take any key when Kapok has no admin key")
	fs.StringVar(&o.directDSN, "db", "postgres://postgres@127.0.0.1:54320/kapok_bench?sslmode=disable", "direct (not PgBouncer) URL of the tenants' database: the writes, the slot lag, and the tenants' schemas when missing")
	fs.StringVar(&o.poolerDSN, "db-pooler", "postgres://postgres@127.0.0.1:64320/kapok_bench?sslmode=disable", "PgBouncer URL of the tenants' database, for the Kapok started")
	fs.StringVar(&o.subs, "subs", "5000", "subscribers, one channel each; a comma-separated list runs once per count (1000,5000)")
	fs.IntVar(&cfg.Tenants, "tenants", 50, "tenants, bench-t000 on (kapok bench setup-tenants)")
	fs.StringVar(&cfg.Prefix, "prefix", benchTenantPrefix, "tenant name prefix")
	fs.IntVar(&cfg.Sockets, "sockets", 250, "WebSocket connections the channels are spread over (at least --tenants: one tenant each)")
	fs.Float64Var(&cfg.Filtered, "filtered", 0.3, "share of the subscribers filtering on the row id (id=eq.N or id=in.(…))")
	fs.IntVar(&cfg.Rows, "rows", 100, "rows of each tenant's "+rtTable+" table, which the writes update")
	fs.Float64Var(&cfg.WriteRate, "write-rate", 500, "changes committed per second, spread over the tenants")
	fs.DurationVar(&cfg.Duration, "duration", 20*time.Second, "measured time: writes running")
	fs.DurationVar(&cfg.Settle, "settle", 5*time.Second, "after the last write, longest wait for the deliveries still expected")
	fs.DurationVar(&cfg.EstablishTimeout, "establish-timeout", 60*time.Second, "longest wait for every join's answer")
	fs.IntVar(&cfg.PID, "pid", 0, "Kapok's process id, for its CPU time (default: the process listening on the target's port)")
	fs.Uint64Var(&cfg.Seed, "seed", 0, "seed of the filters and writes (0: from the clock)")
	fs.BoolVar(&o.printConfig, "print-config", false, "print the config Kapok is started with, and exit")
	fs.BoolVar(&o.asJSON, "json", false, "print results as JSON instead of a table")
	if code, ok := parseFlags(fs, args, stderr); !ok {
		return code
	}
	if o.quick {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		quick := map[string]string{"subs": "200", "tenants": "4", "sockets": "8", "write-rate": "50", "duration": "5s", "settle": "3s", "establish-timeout": "20s"}
		for name, v := range quick {
			if !set[name] {
				_ = fs.Set(name, v)
			}
		}
	}
	counts, err := parseCounts(o.subs)
	if err == nil {
		cfg.Subs = slices.Max(counts)
		check := cfg
		if check.Target == "" {
			check.Target = "http://" + o.kapokListen
		}
		err = check.check()
	}
	if err != nil {
		fmt.Fprintf(stderr, "kapok bench realtime: %v\n", err)
		return 2
	}
	if o.printConfig {
		cfgText, err := o.kapokConfig(cfg)
		if err != nil {
			fmt.Fprintf(stderr, "kapok bench realtime: %v\n", err)
			return 2
		}
		stdout.Write(cfgText)
		return 0
	}
	if cfg.Seed == 0 {
		cfg.Seed = uint64(time.Now().UnixNano())
	}
	cfg.Log = stderr
	results, err := runRealtimeSteps(ctx, cfg, o, counts)
	if err != nil {
		fmt.Fprintf(stderr, "kapok bench realtime: %v\n", err)
		return 1
	}
	if o.asJSON {
		if len(results) == 1 {
			_ = WriteJSON(stdout, results[0])
		} else {
			_ = WriteJSON(stdout, results)
		}
	} else {
		WriteRTTable(stdout, results)
	}
	code := 0
	for _, r := range results {
		for kind, msg := range r.FirstErrors {
			fmt.Fprintf(stderr, "kapok bench realtime (%d subs): first %s error: %s\n", r.Subscribers, kind, msg)
		}
		if r.Established < int64(r.Subscribers) || r.Writes == 0 {
			fmt.Fprintf(stderr, "kapok bench realtime: %d of %d channels joined, %d writes\n", r.Established, r.Subscribers, r.Writes)
			code = 1
		}
	}
	return code
}

// kapokConfig is the config of the Kapok started: the bench tenants on the benchmark
// database, open (no admin key, no auth: any key is anon, the tenant's own role), with
// Realtime limits above what the run asks for.
func (o rtOptions) kapokConfig(cfg RTConfig) ([]byte, error) {
	pc, err := pgx.ParseConfig(o.poolerDSN)
	if err != nil {
		return nil, fmt.Errorf("--db-pooler: %w", err)
	}
	db := pc.Database
	var b strings.Builder
	fmt.Fprintf(&b, "# generated by kapok bench realtime\nlisten: %s\n", o.kapokListen)
	// Several bench Kapoks may run at once: none serves the Postgres wire port.
	b.WriteString("wire:\n  disabled: true\n")
	perSocket := (cfg.Subs + cfg.Sockets - 1) / cfg.Sockets
	fmt.Fprintf(&b, "limits:\n  realtime_max_channels: %d\n  realtime_max_joins_per_second: %d\n", max(100, perSocket), max(100, 4*cfg.Subs))
	fmt.Fprintf(&b, "upstreams:\n  %s:\n    url: %s\n    pooler: %s\n    exec_mode: cache_describe\n", db, o.directDSN, o.poolerDSN)
	var entries []TenantEntry
	for _, n := range TenantNames(cfg.Prefix, cfg.Tenants) {
		entries = append(entries, TenantEntry{Name: n, Schemas: []string{TenantSchema(n)}, Database: db, Isolation: "role"})
	}
	b.Write(TenantsConfig(entries))
	return []byte(b.String()), nil
}

// runRealtimeSteps prepares the tenants and their tables, starts Kapok unless --target
// names one, and runs once per subscriber count.
func runRealtimeSteps(ctx context.Context, cfg RTConfig, o rtOptions, counts []int) ([]*RTResult, error) {
	conn, err := connectCreatingDB(ctx, o.directDSN)
	if err != nil {
		return nil, fmt.Errorf("tenants' database: %w (is the dev stack up? kapok dev up)", err)
	}
	names := TenantNames(cfg.Prefix, cfg.Tenants)
	schemas := make([]string, len(names))
	for i, n := range names {
		schemas[i] = TenantSchema(n)
	}
	err = SetupTenants(ctx, conn, schemas, 0.001, cfg.Log)
	for _, s := range schemas {
		if err != nil {
			break
		}
		_, err = conn.Exec(ctx, "SET search_path TO "+pgx.Identifier{s}.Sanitize()+";"+rtTableSQL(cfg.Rows)+"RESET search_path;")
	}
	conn.Close(context.Background())
	if err != nil {
		return nil, fmt.Errorf("tenants' tables: %w", err)
	}
	if cfg.Target == "" {
		cfgText, err := o.kapokConfig(cfg)
		if err != nil {
			return nil, err
		}
		stop, url, pid, err := startKapokWith(ctx, "Kapok", cfgText, o.kapokCmd, o.kapokListen, 0, cfg.logf)
		if err != nil {
			return nil, err
		}
		defer stop()
		cfg.Target, cfg.PID = url, pid
	}
	// A Kapok already running (--target) learns of the new tables by its schema watcher, a
	// moment after they are made; a join before that would find no table to subscribe to.
	if err := waitTablesServed(ctx, cfg.Target, cfg.APIKey, names); err != nil {
		return nil, err
	}
	pcfg, err := pgxpool.ParseConfig(o.directDSN)
	if err != nil {
		return nil, err
	}
	pcfg.MaxConns = 36 // the writer's workers, the slot sampler
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	var results []*RTResult
	for i, n := range counts {
		step := cfg
		step.Subs = n
		step.Seed = cfg.Seed + uint64(i)
		res, err := RunRealtime(ctx, step, pool)
		if err != nil {
			return results, err
		}
		results = append(results, res)
	}
	return results, nil
}

// waitTablesServed waits (up to 30 s) until the Kapok at target serves table bench_rt of
// every tenant: its REST API answers 200 for it.
func waitTablesServed(ctx context.Context, target, apikey string, tenants []string) error {
	deadline := time.Now().Add(30 * time.Second)
	client := &http.Client{Timeout: 5 * time.Second}
	for _, n := range tenants {
		u := strings.TrimRight(target, "/") + "/t/" + url.PathEscape(n) + "/rest/v1/bench_rt?select=id&limit=0"
		for {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
			if err != nil {
				return err
			}
			req.Header.Set("apikey", apikey)
			status := 0
			if resp, err := client.Do(req); err == nil {
				status = resp.StatusCode
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			if status == http.StatusOK {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("tenant %s: %s does not serve table bench_rt (last status %d)", n, target, status)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	return nil
}
