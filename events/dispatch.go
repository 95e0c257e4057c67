package events

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/kapok-dev/kapok/control"
)

// SignatureHeader carries hex(HMAC-SHA256(secret, body)) as "sha256=<hex>".
const SignatureHeader = "X-Kapok-Signature-256"

// maxResponseBody is what an attempt record keeps of the receiver's answer.
const maxResponseBody = 4 << 10

// maxBackoff caps the wait between two attempts.
const maxBackoff = time.Hour

// claimSQL leases due events of the given tenants: each is locked while claimed (SKIP
// LOCKED lets other dispatchers take others), then its next_attempt_at becomes the lease's
// end, so an event whose dispatcher died becomes due again by itself. tries is the fencing
// token of the attempt: only the holder of the current try may record its outcome.
const claimSQL = `WITH due AS (
  SELECT e.id, coalesce(e.definition, tr.definition) AS def
  FROM kapok_events.event_log e
  LEFT JOIN kapok_events.triggers tr ON e.kind = 'trigger' AND tr.tenant = e.tenant AND tr.name = e.trigger_name
  WHERE e.state = 'pending' AND e.next_attempt_at <= $1::timestamptz AND e.tenant = ANY($2::text[])
    AND coalesce(tr.paused, false) = false
    -- In order per row: an earlier pending event of the row (waiting, retrying or in
    -- flight) holds the later ones back.
    AND (e.row_key IS NULL OR NOT EXISTS (SELECT 1 FROM kapok_events.event_log p
      WHERE p.tenant = e.tenant AND p.trigger_name = e.trigger_name AND p.row_key = e.row_key
        AND p.state = 'pending' AND p.row_key IS NOT NULL AND p.seq < e.seq))
  ORDER BY e.next_attempt_at
  LIMIT $3::int
  FOR UPDATE OF e SKIP LOCKED
)
UPDATE kapok_events.event_log e SET tries = e.tries + 1, locked_by = $4::text,
  next_attempt_at = $1::timestamptz + make_interval(secs => coalesce((due.def->'retry_conf'->>'timeout_sec')::float8, 60) + $5::float8)
FROM due WHERE e.id = due.id
RETURNING e.id::text, e.tenant, e.kind, e.trigger_name, e.schema_name, e.table_name, e.op,
  coalesce(e.data::text, 'null'), coalesce(e.session_variables::text, '{}'), coalesce(due.def::text, ''),
  e.scheduled_at, e.created_at, e.tries`

// recordSQL stores a batch of attempts (one array per column, one element per attempt)
// and, for each event whose lease this worker still holds for that try, its outcome.
const recordSQL = `WITH r AS (
  SELECT * FROM unnest($1::uuid[], $2::text[], $3::int[], $4::timestamptz[], $5::float8[], $6::text[], $7::int[],
    $8::text[], $9::text[], $10::text[], $11::timestamptz[])
    AS r(id, tenant, try, started_at, duration_ms, request, status, response_body, error, state, next_at)
), a AS (
  INSERT INTO kapok_events.attempts (event_id, tenant, try, worker, started_at, duration_ms, request, status, response_body, error)
  SELECT id, tenant, try, $12::text, started_at, duration_ms, request, status, response_body, error FROM r
)
UPDATE kapok_events.event_log e SET state = r.state, next_attempt_at = r.next_at, locked_by = NULL,
  last_status = r.status, last_error = r.error,
  delivered_at = CASE WHEN r.state = 'delivered' THEN r.started_at + make_interval(secs => r.duration_ms / 1000) END
FROM r WHERE e.id = r.id AND e.locked_by = $12::text AND e.tries = r.try AND e.state = 'pending'`

// maxRecordBatch bounds the attempts written by one statement.
const maxRecordBatch = 128

// claimed is one leased event.
type claimed struct {
	id, tenant, kind, trigger, schema, table, op string
	data, session                                json.RawMessage
	def                                          []byte
	scheduledAt                                  *time.Time
	createdAt                                    time.Time
	tries                                        int
}

// group is one database and the served tenants in it.
type group struct {
	db      *database
	tenants []string
	byName  map[string]*control.Tenant
}

// Start runs the dispatcher until Close: it delivers the due events of every tenant this
// process serves, and schedules cron triggers' ticks.
func (s *Service) Start(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	s.mu.Lock()
	s.cancel = cancel
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.run(ctx)
	}()
}

func (s *Service) run(ctx context.Context) {
	// Outcomes go to one recorder, which writes whatever has accumulated in one
	// statement: under load, one round trip records many attempts. Its buffer is the
	// backpressure: deliveries wait when it is full.
	recs := make(chan *outcome, s.opts.Concurrency)
	recorded := make(chan struct{})
	go func() {
		defer close(recorded)
		s.record(recs)
	}()
	var inflight sync.WaitGroup
	defer func() {
		inflight.Wait()
		close(recs)
		<-recorded
	}()
	slots := make(chan struct{}, s.opts.Concurrency)
	freed := make(chan struct{}, 1)
	listening := map[string]bool{}
	lastCron, lastCleanup := time.Time{}, time.Time{}
	var groups []*group
	var groupsAt time.Time
	turn := 0
	for ctx.Err() == nil {
		// Tenants and databases change rarely; a new one is picked up within a second.
		if time.Since(groupsAt) >= time.Second || s.takeRegroup() {
			groups, groupsAt = s.groups(ctx), time.Now()
		}
		if time.Since(lastCron) >= s.opts.PollInterval {
			lastCron = time.Now()
			for _, g := range groups {
				if err := s.scheduleCron(ctx, g); err != nil && ctx.Err() == nil {
					s.log.Warn("events: cron scheduling failed", "err", err)
				}
			}
		}
		if time.Since(lastCleanup) >= time.Minute {
			lastCleanup = time.Now()
			for _, g := range groups {
				if err := s.cleanup(ctx, g); err != nil && ctx.Err() == nil {
					s.log.Warn("events: cleanup failed", "err", err)
				}
			}
		}
		more := false
		// Each round starts with the next database, so that one database's backlog does
		// not keep the others' events waiting for slots.
		turn++
		for i := range groups {
			g := groups[(i+turn)%len(groups)]
			if !listening[g.db.direct] {
				listening[g.db.direct] = true
				s.wg.Add(1)
				go func(url string) {
					defer s.wg.Done()
					s.listen(ctx, url)
				}(g.db.direct)
			}
			free := cap(slots) - len(slots)
			if free == 0 {
				more = true // due events may be waiting for a slot
				break
			}
			evs, err := s.claim(ctx, g, free)
			if err != nil {
				if ctx.Err() == nil {
					s.log.Warn("events: claim failed", "err", err)
				}
				continue
			}
			if len(evs) == free {
				more = true
			}
			for _, ev := range evs {
				slots <- struct{}{}
				inflight.Add(1)
				go func(g *group, ev *claimed) {
					defer inflight.Done()
					recs <- s.deliver(ctx, g, ev)
					<-slots
					select {
					case freed <- struct{}{}:
					default:
					}
				}(g, ev)
			}
		}
		if more && len(slots) < cap(slots) {
			continue
		}
		select {
		case <-ctx.Done():
		case <-s.wake:
		case <-freed:
			if !more {
				// A finished delivery frees a slot; without a backlog there is nothing to claim.
				select {
				case <-ctx.Done():
				case <-s.wake:
				case <-time.After(s.opts.PollInterval):
				}
			}
		case <-time.After(s.opts.PollInterval):
		}
	}
}

// groups lists the databases of served tenants that have kapok_events installed.
func (s *Service) groups(ctx context.Context) []*group {
	by := map[string]*group{}
	var out []*group
	for _, t := range s.reg.Tenants() {
		db, err := s.db(ctx, t)
		if err != nil {
			continue
		}
		g := by[db.url]
		if g == nil {
			if !s.hasSchema(ctx, db) {
				continue
			}
			g = &group{db: db, byName: map[string]*control.Tenant{}}
			by[db.url] = g
			out = append(out, g)
		}
		g.tenants = append(g.tenants, t.Name)
		g.byName[t.Name] = t
	}
	return out
}

// hasSchema reports whether kapok_events exists in db; absent, it is looked for again
// after a while that grows to five minutes, so that many databases without events
// (database-mode tenants) cost few connections. This process's own CreateTrigger marks
// its database at once.
func (s *Service) hasSchema(ctx context.Context, db *database) bool {
	s.mu.Lock()
	done, next := s.installed[db.url], s.probeAt[db.url]
	s.mu.Unlock()
	if done {
		return true
	}
	if time.Now().Before(next) {
		return false
	}
	var ok bool
	err := db.pool.QueryRow(ctx, "SELECT to_regclass('kapok_events.event_log') IS NOT NULL AND to_regprocedure('kapok_events.capture()') IS NOT NULL").Scan(&ok)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil || !ok {
		wait := s.probeWait[db.url]*2 + 10*s.opts.PollInterval
		if wait > 5*time.Minute {
			wait = 5 * time.Minute
		}
		s.probeWait[db.url] = wait
		s.probeAt[db.url] = time.Now().Add(wait)
		return false
	}
	s.installed[db.url] = true
	return true
}

func (s *Service) claim(ctx context.Context, g *group, limit int) ([]*claimed, error) {
	rows, err := g.db.pool.Query(ctx, claimSQL, s.clock.Now(), g.tenants, limit, s.worker, s.opts.LeaseMargin.Seconds())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*claimed
	for rows.Next() {
		ev := &claimed{}
		var data, sess, def string
		if err := rows.Scan(&ev.id, &ev.tenant, &ev.kind, &ev.trigger, &ev.schema, &ev.table, &ev.op,
			&data, &sess, &def, &ev.scheduledAt, &ev.createdAt, &ev.tries); err != nil {
			return nil, err
		}
		ev.data, ev.session, ev.def = json.RawMessage(data), json.RawMessage(sess), []byte(def)
		out = append(out, ev)
	}
	return out, rows.Err()
}

// listen wakes the dispatcher on NOTIFY kapok_events in the database at url (a direct
// connection: LISTEN needs a session). Without it, polling still finds every event.
func (s *Service) listen(ctx context.Context, url string) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := func() error {
			cfg, err := pgx.ParseConfig(url)
			if err != nil {
				return err
			}
			cfg.RuntimeParams["application_name"] = "kapok-events-listener"
			conn, err := pgx.ConnectConfig(ctx, cfg)
			if err != nil {
				return err
			}
			defer conn.Close(context.Background())
			if _, err := conn.Exec(ctx, "LISTEN "+notifyChannel); err != nil {
				return err
			}
			backoff = 100 * time.Millisecond
			s.notify() // events written while not listening
			for {
				if _, err := conn.WaitForNotification(ctx); err != nil {
					return err
				}
				s.notify()
			}
		}()
		if ctx.Err() != nil {
			return
		}
		s.log.Debug("events: listener lost; polling meanwhile", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		if backoff *= 2; backoff > 30*time.Second {
			backoff = 30 * time.Second
		}
	}
}

// attempt is what is recorded of one delivery attempt.
type attempt struct {
	started  time.Time
	duration time.Duration
	request  []byte // {"url","headers","body"}
	status   *int
	response *string
	err      *string
	// retryAfter is the receiver's Retry-After (seconds), when it gave one.
	retryAfter time.Duration
}

// outcome is a finished attempt waiting to be recorded.
type outcome struct {
	db    *database
	ev    *claimed
	a     *attempt
	ok    bool
	state string
	next  time.Time
}

// deliver makes one attempt and decides the event's next state.
func (s *Service) deliver(ctx context.Context, g *group, ev *claimed) *outcome {
	t := g.byName[ev.tenant]
	var d Delivery
	if len(ev.def) > 0 {
		_ = json.Unmarshal(ev.def, &d)
	}
	_ = d.RetryConf.normalize()
	a := &attempt{started: s.clock.Now()}
	ok, tooLate := false, false
	switch {
	case len(ev.def) == 0:
		a.err = ptr("the event's trigger no longer exists")
	case t == nil:
		a.err = ptr("the tenant is not served by this process")
	case ev.scheduledAt != nil && a.started.Sub(*ev.scheduledAt) > d.RetryConf.Tolerance():
		a.err = ptr(fmt.Sprintf("not delivered within its tolerance of %s after %s: dropped, not sent late",
			d.RetryConf.Tolerance(), ev.scheduledAt.UTC().Format(time.RFC3339)))
		tooLate = true
	default:
		ok = s.post(ctx, t, ev, &d, a)
	}
	state, next := "pending", s.clock.Now()
	switch {
	case ok:
		state = "delivered"
	case ev.tries > d.RetryConf.NumRetries || len(ev.def) == 0 || tooLate:
		state = "dead"
	default:
		wait := backoff(d.RetryConf.Interval(), ev.tries)
		if a.retryAfter > wait {
			wait = min(a.retryAfter, maxBackoff)
		}
		next = next.Add(wait)
	}
	return &outcome{db: g.db, ev: ev, a: a, ok: ok, state: state, next: next}
}

// record writes outcomes until recs is closed, batching those that queued meanwhile.
func (s *Service) record(recs <-chan *outcome) {
	for first := range recs {
		batch := []*outcome{first}
	drain:
		for len(batch) < maxRecordBatch {
			select {
			case o, ok := <-recs:
				if !ok {
					break drain
				}
				batch = append(batch, o)
			default:
				break drain
			}
		}
		byDB := map[*database][]*outcome{}
		for _, o := range batch {
			byDB[o.db] = append(byDB[o.db], o)
		}
		for db, list := range byDB {
			s.recordBatch(db, list)
		}
	}
}

func (s *Service) recordBatch(db *database, list []*outcome) {
	n := len(list)
	ids, tenants, reqs, states := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	tries, durs := make([]int32, n), make([]float64, n)
	started, next := make([]time.Time, n), make([]time.Time, n)
	statuses, bodies, errs := make([]*int32, n), make([]*string, n), make([]*string, n)
	for i, o := range list {
		ids[i], tenants[i], tries[i] = o.ev.id, o.ev.tenant, int32(o.ev.tries)
		started[i], durs[i], reqs[i] = o.a.started, float64(o.a.duration.Microseconds())/1000, string(o.a.request)
		if o.a.status != nil {
			statuses[i] = ptr(int32(*o.a.status))
		}
		bodies[i], errs[i], states[i], next[i] = o.a.response, o.a.err, o.state, o.next
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := db.pool.Exec(ctx, recordSQL, ids, tenants, tries, started, durs, reqs, statuses, bodies, errs, states, next, s.worker)
	if err != nil {
		// The leases run out and other attempts follow: at least once still holds.
		s.log.Warn("events: cannot record attempts", "attempts", n, "err", err)
		return
	}
	for _, o := range list {
		s.met.observe(o.ev.tenant, o.state, o.ok, o.ev.createdAt, o.a.duration)
	}
}

// backoff is the wait after the tries-th failed attempt: interval, then doubling.
func backoff(interval time.Duration, tries int) time.Duration {
	d := interval
	for i := 1; i < tries && d < maxBackoff; i++ {
		d *= 2
	}
	if d > maxBackoff {
		d = maxBackoff
	}
	return d
}

func ptr[T any](v T) *T { return &v }

// payload builds the request body in Hasura's format.
func payload(ev *claimed, d *Delivery) ([]byte, error) {
	var body any
	switch ev.kind {
	case "trigger":
		body = map[string]any{
			"id":         ev.id,
			"created_at": ev.createdAt.UTC().Format(time.RFC3339Nano),
			"trigger":    map[string]any{"name": ev.trigger},
			"table":      map[string]any{"schema": ev.schema, "name": ev.table},
			"event": map[string]any{
				"op":                ev.op,
				"data":              ev.data,
				"session_variables": ev.session,
			},
			"delivery_info": map[string]any{"max_retries": d.RetryConf.NumRetries, "current_retry": ev.tries - 1},
		}
	default:
		var sched struct {
			Payload json.RawMessage `json:"payload"`
			Comment string          `json:"comment"`
		}
		_ = json.Unmarshal(ev.def, &sched)
		m := map[string]any{
			"id":             ev.id,
			"created_at":     ev.createdAt.UTC().Format(time.RFC3339Nano),
			"scheduled_time": ev.scheduledAt.UTC().Format(time.RFC3339Nano),
			"payload":        sched.Payload,
			"comment":        nilIfEmpty(sched.Comment),
		}
		if sched.Payload == nil {
			m["payload"] = nil
		}
		if ev.kind == "cron" {
			m["name"] = ev.trigger
		}
		body = m
	}
	return json.Marshal(body)
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// post sends the event; it reports success (a 2xx answer).
func (s *Service) post(ctx context.Context, t *control.Tenant, ev *claimed, d *Delivery, a *attempt) bool {
	body, err := payload(ev, d)
	if err != nil {
		a.err = ptr("payload: " + err.Error())
		return false
	}
	url := d.Webhook
	if d.WebhookFromEnv != "" {
		url = s.opts.Getenv(d.WebhookFromEnv)
	}
	shown := map[string]string{}
	rec := func() {
		a.request = mustJSON(map[string]any{"url": url, "headers": shown, "body": json.RawMessage(body)})
	}
	defer rec()
	if err := checkWebhookURL(url); err != nil {
		a.err = ptr(fmt.Sprintf("webhook from env %s: %v", d.WebhookFromEnv, err))
		return false
	}
	rctx, cancel := context.WithTimeout(ctx, d.RetryConf.Timeout())
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		a.err = ptr(err.Error())
		return false
	}
	set := func(k, v string, secret bool) {
		req.Header.Set(k, v)
		if secret {
			v = "********"
		}
		shown[http.CanonicalHeaderKey(k)] = v
	}
	set("Content-Type", "application/json", false)
	set("User-Agent", "kapok-events", false)
	set("Idempotency-Key", ev.id, false)
	set("X-Kapok-Event-Id", ev.id, false)
	for _, h := range d.Headers {
		if h.ValueFromEnv != "" {
			set(h.Name, s.opts.Getenv(h.ValueFromEnv), true)
		} else {
			set(h.Name, h.Value, false)
		}
	}
	secret := d.Secret
	if d.SecretFromEnv != "" {
		secret = s.opts.Getenv(d.SecretFromEnv)
	}
	if secret != "" {
		set(SignatureHeader, Sign([]byte(secret), body), false)
	}
	start := time.Now()
	resp, err := s.client(t).http.Do(req)
	if err != nil {
		a.duration = time.Since(start)
		msg := err.Error()
		var re *RefusedError
		if errors.As(err, &re) {
			msg = re.Error()
		}
		a.err = &msg
		return false
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	a.duration = time.Since(start)
	a.status = ptr(resp.StatusCode)
	a.response = ptr(cleanText(b))
	if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && secs > 0 {
		a.retryAfter = time.Duration(secs) * time.Second
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		a.err = ptr(fmt.Sprintf("the webhook answered %d", resp.StatusCode))
		return false
	}
	return true
}

// Sign is the value of SignatureHeader for body: "sha256=" + hex(HMAC-SHA256(secret, body)).
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// cleanText makes a response body storable as Postgres text.
func cleanText(b []byte) string {
	s := string(b)
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	return strings.ReplaceAll(s, "\x00", "")
}

// cleanup deletes delivered events older than the retention, with their attempts, a
// bounded batch at a time so that no statement holds many locks.
func (s *Service) cleanup(ctx context.Context, g *group) error {
	for {
		tag, err := g.db.pool.Exec(ctx, `WITH old AS (
  SELECT id FROM kapok_events.event_log WHERE tenant = ANY($1::text[]) AND state = 'delivered' AND delivered_at < $2::timestamptz
  LIMIT 1000 FOR UPDATE SKIP LOCKED
), a AS (DELETE FROM kapok_events.attempts WHERE event_id IN (SELECT id FROM old))
DELETE FROM kapok_events.event_log WHERE id IN (SELECT id FROM old)`, g.tenants, s.clock.Now().Add(-s.opts.Retention))
		if err != nil || tag.RowsAffected() < 1000 {
			return err
		}
	}
}
