package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// LoadConfig says how hard and how long to drive a target.
type LoadConfig struct {
	Target      string        // base URL, e.g. http://127.0.0.1:8080; scenario paths are appended
	Connections int           // HTTP connections (closed loop: also the number of workers)
	Workers     int           // open loop: goroutines sending (default Connections); may exceed Connections
	Rate        float64       // requests per second; 0 = closed loop (as fast as the connections allow)
	Warmup      time.Duration // sent but not measured
	Duration    time.Duration // measured time (ignored when Requests > 0)
	Requests    int64         // > 0: measure exactly this many requests instead of a duration
	Timeout     time.Duration // per request, including the wait for a free connection
	Seed        uint64        // variable values; same seed, same sequence per worker
	Progress    io.Writer     // live progress line (only for terminals); nil = quiet
}

func (c *LoadConfig) defaults() error {
	if c.Connections <= 0 {
		c.Connections = 16
	}
	if c.Workers <= 0 || c.Rate <= 0 {
		c.Workers = c.Connections
	}
	if c.Timeout <= 0 {
		c.Timeout = 5 * time.Second
	}
	if c.Duration <= 0 && c.Requests <= 0 {
		c.Duration = 10 * time.Second
	}
	if c.Seed == 0 {
		c.Seed = uint64(time.Now().UnixNano())
	}
	if c.Rate < 0 || c.Warmup < 0 {
		return errors.New("rate and warmup must not be negative")
	}
	return nil
}

// Error kinds, in the order results list them.
const (
	ErrConnect = iota // could not connect
	ErrTimeout        // no answer within Timeout (or no free connection in time)
	ErrStatus         // answered with a status outside 2xx
	ErrGraphQL        // 200 with an "errors" member in a GraphQL body
	ErrIO             // connection broken mid-request, malformed response
	numErrKinds
)

var errKindNames = [numErrKinds]string{"connect", "timeout", "status", "graphql", "io"}

func classify(err error) int {
	var ne net.Error
	var op *net.OpError
	switch {
	case errors.Is(err, fasthttp.ErrTimeout), errors.Is(err, fasthttp.ErrNoFreeConns), errors.Is(err, os.ErrDeadlineExceeded):
		return ErrTimeout
	case errors.Is(err, fasthttp.ErrDialTimeout):
		return ErrConnect
	case errors.As(err, &op) && op.Op == "dial":
		return ErrConnect
	case errors.As(err, &ne) && ne.Timeout():
		return ErrTimeout
	}
	return ErrIO
}

// workerStats is owned by one worker; only done and errs are read while it runs.
type workerStats struct {
	hist     Histogram
	lag      Histogram // open loop: how late idle workers woke for their scheduled send
	status   [600]uint64
	ok       uint64
	bytes    uint64
	warm     uint64
	lastDone time.Time
	done     atomic.Uint64 // requests completed, warm-up included (progress line)
	errs     [numErrKinds]atomic.Uint64
	_        [64]byte
}

// Run drives cfg.Target with scenario s and returns the measured result.
func Run(ctx context.Context, cfg LoadConfig, s *Scenario) (*Result, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	c, err := compileScenario(s)
	if err != nil {
		return nil, err
	}
	hc, prefix, err := targetClient(cfg.Target, cfg.Connections, cfg.Timeout)
	if err != nil {
		return nil, err
	}
	addr := hc.Addr
	defer hc.CloseIdleConnections()

	stats := make([]*workerStats, cfg.Workers)
	for i := range stats {
		stats[i] = &workerStats{}
	}
	open := cfg.Rate > 0
	start := time.Now()
	warmEnd := start.Add(cfg.Warmup)
	end := warmEnd.Add(cfg.Duration)
	var tickets atomic.Int64
	var warmTickets, totalTickets int64
	interval := 0.0
	if open {
		interval = float64(time.Second) / cfg.Rate
		warmTickets = int64(cfg.Warmup.Seconds() * cfg.Rate)
		totalTickets = warmTickets + int64(cfg.Duration.Seconds()*cfg.Rate)
		if cfg.Requests > 0 {
			totalTickets = warmTickets + cfg.Requests
		}
	}

	stopProgress := startProgress(cfg.Progress, s.Name, start, warmEnd, stats)
	var wg sync.WaitGroup
	for w := range cfg.Workers {
		wg.Add(1)
		go func(st *workerStats) {
			defer wg.Done()
			gen := newRequestGen(c, cfg.Seed+uint64(w)*0x9e3779b97f4a7c15)
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			var code, size int // status (0: none) and body size of the last response
			send := func() int {
				r := gen.next()
				gen.fill(req, r, prefix, addr)
				var kind int
				kind, code, size = exchange(hc, req, resp, r.graphql, cfg.Timeout)
				return kind
			}
			finish := func(kind int) {
				if code > 0 && code < len(st.status) {
					st.status[code]++
				}
				st.bytes += uint64(size)
				if kind < 0 {
					st.ok++
				} else {
					st.errs[kind].Add(1)
				}
				st.done.Add(1)
			}
			for ctx.Err() == nil {
				if open {
					i := tickets.Add(1) - 1
					if i >= totalTickets {
						return
					}
					sched := start.Add(time.Duration(float64(i) * interval))
					// Latency counts from the schedule when this request is late because the
					// worker was still waiting on the server (that wait is the server's doing,
					// and closed loops hide it). A worker that was idle and merely woke late
					// (Go timers wake up to ~1 ms late) counts from its actual send instead, so
					// the timer's slack does not pose as server latency; it is reported apart.
					from, idle := sched, time.Now().Before(sched)
					if idle {
						if !sleepUntil(ctx, sched) {
							return
						}
						from = time.Now()
					}
					kind := send()
					if i < warmTickets {
						st.warm++
						st.done.Add(1)
						continue
					}
					now := time.Now()
					st.hist.Record(now.Sub(from))
					if idle {
						st.lag.Record(from.Sub(sched))
					}
					st.lastDone = now
					finish(kind)
					continue
				}
				t0 := time.Now()
				if t0.Before(warmEnd) {
					send()
					st.warm++
					st.done.Add(1)
					continue
				}
				if cfg.Requests > 0 {
					if tickets.Add(1) > cfg.Requests {
						return
					}
				} else if !t0.Before(end) {
					return
				}
				kind := send()
				now := time.Now()
				st.hist.Record(now.Sub(t0))
				st.lastDone = now
				finish(kind)
			}
		}(stats[w])
	}
	wg.Wait()
	stopProgress()

	res := &Result{
		Scenario: s.Name, Target: cfg.Target, Mode: "closed", Connections: cfg.Connections,
		Workers: cfg.Workers, Warmup: cfg.Warmup.Seconds(),
		Errors: map[string]uint64{}, StatusCodes: map[string]uint64{},
	}
	if open {
		res.Mode, res.Rate = "open", cfg.Rate
	}
	var hist, lag Histogram
	last := warmEnd
	var status [600]uint64
	for _, st := range stats {
		hist.Merge(&st.hist)
		lag.Merge(&st.lag)
		res.OK += st.ok
		res.BytesReceived += st.bytes
		res.WarmupRequests += st.warm
		if st.lastDone.After(last) {
			last = st.lastDone
		}
		for k := range st.errs {
			res.Errors[errKindNames[k]] += st.errs[k].Load()
		}
		for code, n := range st.status {
			status[code] += n
		}
	}
	for _, name := range errKindNames {
		res.Errors[name] += 0
	}
	for code, n := range status {
		if n > 0 {
			res.StatusCodes[fmt.Sprint(code)] = n
		}
	}
	res.Requests = hist.Count()
	res.Duration = last.Sub(warmEnd).Seconds()
	if res.Duration > 0 {
		res.Throughput = float64(res.Requests) / res.Duration
		res.OKThroughput = float64(res.OK) / res.Duration
	}
	res.Latency = latencyOf(&hist)
	res.hist = &hist
	if open {
		res.ScheduleLag = &ScheduleLag{P99: ms(lag.Quantile(0.99)), Max: ms(lag.Max())}
	}
	if ctx.Err() != nil {
		return res, ctx.Err()
	}
	return res, nil
}

// targetClient is the client of the server at target (http[s]://host:port[/path]), with at
// most conns connections, and the path its requests' paths are appended to.
func targetClient(target string, conns int, timeout time.Duration) (*fasthttp.HostClient, []byte, error) {
	u, err := url.Parse(target)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, nil, fmt.Errorf("target %q: want http://host:port", target)
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), map[bool]string{true: "443", false: "80"}[u.Scheme == "https"])
	}
	return &fasthttp.HostClient{
		Addr:                      addr,
		IsTLS:                     u.Scheme == "https",
		MaxConns:                  conns,
		MaxConnWaitTimeout:        timeout,
		ReadTimeout:               timeout,
		WriteTimeout:              timeout,
		MaxIdemponentCallAttempts: 1,
		NoDefaultUserAgentHeader:  true,
		DisablePathNormalizing:    true,
		ReadBufferSize:            16 << 10,
	}, []byte(strings.TrimRight(u.Path, "/")), nil
}

// exchange sends req and judges the answer: the error kind (-1: success), the status
// (0: none) and the body's size.
func exchange(hc *fasthttp.HostClient, req *fasthttp.Request, resp *fasthttp.Response, graphql bool, timeout time.Duration) (kind, code, size int) {
	if err := hc.DoTimeout(req, resp, timeout); err != nil {
		return classify(err), 0, 0
	}
	code = resp.StatusCode()
	if code < 200 || code > 299 {
		return ErrStatus, code, 0
	}
	body := resp.Body()
	if graphql && graphQLFailed(body) {
		return ErrGraphQL, code, len(body)
	}
	return -1, code, len(body)
}

// sleepUntil waits for t; it reports false when ctx ends first.
func sleepUntil(ctx context.Context, t time.Time) bool {
	for {
		d := time.Until(t)
		if d <= 0 {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		time.Sleep(min(d, 100*time.Millisecond))
	}
}

// startProgress prints one rewritten line per second to w until the returned stop is called.
func startProgress(w io.Writer, name string, start, warmEnd time.Time, stats []*workerStats) (stop func()) {
	if w == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		var prev uint64
		for {
			select {
			case <-done:
				fmt.Fprint(w, "\r\033[K")
				return
			case now := <-t.C:
				var n, e uint64
				for _, st := range stats {
					n += st.done.Load()
					for k := range st.errs {
						e += st.errs[k].Load()
					}
				}
				phase := "run"
				if now.Before(warmEnd) {
					phase = "warm-up"
				}
				fmt.Fprintf(w, "\r\033[K%s  %s %5.1fs  %d requests  %.0f req/s  %d errors", name, phase, now.Sub(start).Seconds(), n, float64(n-prev), e)
				prev = n
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}
