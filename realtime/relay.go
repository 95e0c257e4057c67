package realtime

import (
	"context"
	"encoding/json"
	"net/url"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// RelayChannel is the NOTIFY channel that carries broadcasts and presences between the
// Kapok processes serving one upstream database.
const RelayChannel = "kapok_realtime"

// maxNotify is the largest payload sent in the NOTIFY itself (PostgreSQL's limit is 8000
// bytes); a larger message goes through kapok.realtime_messages and the NOTIFY carries its
// id.
const maxNotify = 7900

// installRelaySQL creates the table of large messages, once per database.
const installRelaySQL = `DO $install$
BEGIN
  PERFORM pg_advisory_xact_lock(hashtext('kapok.realtime_messages_v1'));
  CREATE SCHEMA IF NOT EXISTS kapok;
  CREATE TABLE IF NOT EXISTS kapok.realtime_messages (
    id bigserial PRIMARY KEY,
    body text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now());
  REVOKE ALL ON kapok.realtime_messages FROM PUBLIC;
END
$install$`

// storeSQL keeps a large message and notifies its id, in one statement.
const storeSQL = `WITH m AS (INSERT INTO kapok.realtime_messages (body) VALUES ($1::text) RETURNING id)
SELECT pg_notify('` + RelayChannel + `', json_build_object('r', $2::text, 'id', m.id)::text) FROM m`

// Messages are read by the other processes within a second; a minute is ample.
const (
	relayRetention = time.Minute
	relayQueue     = 4096
)

// Relay message kinds.
const (
	kindBroadcast = "b"
	kindJoin      = "pj" // a presence joined (or updated: Prev is the ref it replaces)
	kindLeave     = "pl"
	kindState     = "ps" // every presence of one process in one topic
	kindQuery     = "q"  // a process (re)connected: the others announce their presences
)

// relayMsg is one message between processes. Replica tells a process its own messages.
type relayMsg struct {
	Replica string          `json:"r"`
	Kind    string          `json:"k,omitempty"`
	ID      int64           `json:"id,omitempty"` // stored in kapok.realtime_messages
	Tenant  string          `json:"t,omitempty"`
	Topic   string          `json:"c,omitempty"`
	Body    json.RawMessage `json:"m,omitempty"`
	Event   string          `json:"e,omitempty"`
	Data    []byte          `json:"d,omitempty"` // a binary broadcast's payload (base64)
	Key     string          `json:"key,omitempty"`
	Ref     string          `json:"ref,omitempty"`
	Prev    string          `json:"prev,omitempty"`
	Metas   []relayMeta     `json:"s,omitempty"`
}

type relayMeta struct {
	Key  string          `json:"key"`
	Ref  string          `json:"ref"`
	Prev string          `json:"prev,omitempty"`
	Body json.RawMessage `json:"m"`
}

// relayJoinWait bounds how long after a relay starts the joins that started it wait for
// its first LISTEN; an upstream that cannot be reached does not hold joins longer.
const relayJoinWait = 3 * time.Second

// relay is one upstream database's link: a LISTEN connection and a small pool that
// publishes, in order, what this process sends.
type relay struct {
	s      *Channels
	url    string
	out    chan *relayMsg
	cancel context.CancelFunc
	done   chan struct{}

	// ready closes at the first LISTEN: from then on this process hears the others.
	ready     chan struct{}
	readyOnce sync.Once
	waitUntil time.Time
}

func startRelay(s *Channels, url string) *relay {
	ctx, cancel := context.WithCancel(context.Background())
	r := &relay{s: s, url: url, out: make(chan *relayMsg, relayQueue), cancel: cancel, done: make(chan struct{}),
		ready: make(chan struct{}), waitUntil: time.Now().Add(relayJoinWait)}
	go r.run(ctx)
	return r
}

// pending returns what a join waits for before its reply, so that a joined channel hears
// the broadcasts other processes send next: the first LISTEN, for what remains of
// relayJoinWait. It returns nil once the relay listens or the wait is over.
func (r *relay) pending() (<-chan struct{}, time.Duration) {
	select {
	case <-r.ready:
		return nil, 0
	default:
	}
	d := time.Until(r.waitUntil)
	if d <= 0 {
		return nil, 0
	}
	return r.ready, d
}

// awaitRelay waits for ready (from relay.pending), for at most d.
func awaitRelay(ready <-chan struct{}, d time.Duration) {
	if ready == nil {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ready:
	case <-t.C:
	}
}

func (r *relay) close() {
	r.cancel()
	<-r.done
}

// publish queues m for the other processes; a full queue drops it (presences are
// re-announced; a broadcast is at most once anyway).
func (r *relay) publish(m *relayMsg) {
	m.Replica = r.s.replica
	select {
	case r.out <- m:
	default:
		r.s.log.Warn("realtime: relay queue full; message dropped", "upstream", redactURL(r.url))
	}
}

func (r *relay) run(ctx context.Context) {
	defer close(r.done)
	cfg, err := pgxpool.ParseConfig(r.url)
	if err != nil {
		r.s.log.Error("realtime: relay", "err", err)
		return
	}
	cfg.MaxConns, cfg.MinConns = 2, 0
	cfg.MaxConnIdleTime = time.Minute
	cfg.ConnConfig.RuntimeParams["application_name"] = "kapok-realtime"
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		r.s.log.Error("realtime: relay", "err", err)
		return
	}
	defer pool.Close()
	// Without the table, messages that fit a NOTIFY still cross; a few attempts, then on.
	for try := 0; try < 3; try++ {
		c, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err = pool.Exec(c, installRelaySQL)
		cancel()
		if err == nil || ctx.Err() != nil {
			break
		}
		if try == 2 {
			r.s.log.Warn("realtime: cannot create kapok.realtime_messages; messages over 7.9 kB will not reach other Kapok processes",
				"upstream", redactURL(r.url), "err", err)
		} else if !sleep(ctx, backoff(try)) {
			return
		}
	}
	listening := make(chan struct{})
	go r.listen(ctx, cfg.ConnConfig.Copy(), pool, listening)
	r.send(ctx, pool)
	<-listening // closed by listen when it ends
}

// send publishes the queue, and deletes old stored messages every minute.
func (r *relay) send(ctx context.Context, pool *pgxpool.Pool) {
	clean := time.NewTicker(relayRetention)
	defer clean.Stop()
	for {
		select {
		case <-ctx.Done():
			r.flush(pool)
			return
		case <-clean.C:
			c, cancel := context.WithTimeout(ctx, 10*time.Second)
			_, _ = pool.Exec(c, `DELETE FROM kapok.realtime_messages WHERE created_at < now() - $1::interval`, relayRetention.String())
			cancel()
		case m := <-r.out:
			r.write(ctx, pool, m)
		}
	}
}

// flush sends what is queued when the relay stops (the presences' leaves of a
// shutting-down process), for at most a few seconds.
func (r *relay) flush(pool *pgxpool.Pool) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	for {
		select {
		case m := <-r.out:
			r.write(ctx, pool, m)
		default:
			return
		}
	}
}

func (r *relay) write(ctx context.Context, pool *pgxpool.Pool, m *relayMsg) {
	body, err := json.Marshal(m)
	if err != nil {
		return
	}
	c, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if len(body) <= maxNotify {
		_, err = pool.Exec(c, `SELECT pg_notify($1::text, $2::text)`, RelayChannel, string(body))
	} else {
		_, err = pool.Exec(c, storeSQL, string(body), r.s.replica)
	}
	if err != nil {
		if ctx.Err() == nil {
			r.s.log.Warn("realtime: relay publish failed", "upstream", redactURL(r.url), "err", err)
		}
		return
	}
	r.s.m.relaySent.Inc()
}

// listen receives the other processes' messages, reconnecting with backoff; on every
// (re)connection it asks them to announce their presences.
func (r *relay) listen(ctx context.Context, cc *pgx.ConnConfig, pool *pgxpool.Pool, done chan struct{}) {
	defer close(done)
	for try := 0; ctx.Err() == nil; try++ {
		conn, err := pgx.ConnectConfig(ctx, cc)
		if err == nil {
			if _, err = conn.Exec(ctx, "LISTEN "+RelayChannel); err == nil {
				try = 0
				r.readyOnce.Do(func() { close(r.ready) })
				// What the others sent before this connection listened is lost to it: ask
				// them for their presences, and tell ours, which they may have missed
				// for the same reason.
				r.publish(&relayMsg{Kind: kindQuery})
				r.s.announceAll(r.url)
				err = r.receive(ctx, conn, pool)
			}
			conn.Close(context.Background())
		}
		if ctx.Err() != nil {
			return
		}
		r.s.log.Warn("realtime: relay connection lost; reconnecting", "upstream", redactURL(r.url), "err", err)
		if !sleep(ctx, backoff(try)) {
			return
		}
	}
}

func (r *relay) receive(ctx context.Context, conn *pgx.Conn, pool *pgxpool.Pool) error {
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		var m relayMsg
		if json.Unmarshal([]byte(n.Payload), &m) != nil || m.Replica == r.s.replica {
			continue
		}
		if m.ID != 0 {
			var body string
			c, cancel := context.WithTimeout(ctx, 10*time.Second)
			err := pool.QueryRow(c, `SELECT body FROM kapok.realtime_messages WHERE id = $1::bigint`, m.ID).Scan(&body)
			cancel()
			if err != nil || json.Unmarshal([]byte(body), &m) != nil || m.Replica == r.s.replica {
				continue
			}
		}
		r.s.m.relayReceived.Inc()
		r.s.remote(r.url, &m)
	}
}

// remote applies a message from another process.
func (s *Channels) remote(url string, m *relayMsg) {
	switch m.Kind {
	case kindBroadcast:
		s.mu.Lock()
		tp := s.topics[topicKey{m.Tenant, m.Topic}]
		s.mu.Unlock()
		if tp == nil {
			return
		}
		b := &bcast{json: m.Body}
		if m.Body == nil {
			b = &bcast{binary: true, event: m.Event, data: m.Data}
		}
		s.publish(tp, nil, b, false)
	case kindJoin, kindLeave, kindState:
		s.remotePresence(m, time.Now())
	case kindQuery:
		s.announceAll(url)
	}
}

func backoff(try int) time.Duration {
	d := 250 * time.Millisecond << min(try, 5)
	return min(d, 5*time.Second)
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// redactURL drops a URL's password for logs.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
