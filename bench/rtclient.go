package bench

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/kapok-dev/kapok/internal/jsonx"
)

// The Phoenix channel protocol as supabase-js 2.119.1 (realtime-js over @supabase/phoenix)
// speaks it: serializer vsn 2.0.0, whose text frames are arrays
// [join_ref, ref, topic, event, payload]; a heartbeat on topic "phoenix" every 25 s; a channel
// "realtime:<name>" joined with phx_join and its config, answered by phx_reply
// {status, response}; each change as a "postgres_changes" frame {ids, data}.
const (
	phxVsn            = "2.0.0"
	phxHeartbeatEvery = 25 * time.Second
)

// phxFrame encodes one frame; an empty joinRef or ref is null.
func phxFrame(joinRef, ref, topic, event string, payload []byte) []byte {
	b := make([]byte, 0, 64+len(topic)+len(event)+len(payload))
	b = append(b, '[')
	for _, s := range [...]string{joinRef, ref, topic, event} {
		if s == "" {
			b = append(b, "null"...)
		} else {
			b = jsonx.AppendString(b, s)
		}
		b = append(b, ',')
	}
	return append(append(b, payload...), ']')
}

// phxMessage is a received frame, each field the raw JSON of its element.
type phxMessage struct {
	joinRef, ref, topic, event, payload []byte
}

var errPhxFrame = errors.New("not a Phoenix vsn 2.0.0 frame: want [join_ref, ref, topic, event, payload]")

// parsePhx splits a text frame into its five elements without decoding them.
func parsePhx(msg []byte) (phxMessage, error) {
	var m phxMessage
	i := jsonx.SkipSpace(msg, 0)
	if i >= len(msg) || msg[i] != '[' {
		return m, errPhxFrame
	}
	n := 0
	end, err := jsonx.EachElement(msg, i, func(k int, el []byte) error {
		switch k {
		case 0:
			m.joinRef = el
		case 1:
			m.ref = el
		case 2:
			m.topic = el
		case 3:
			m.event = el
		case 4:
			m.payload = el
		default:
			return errPhxFrame
		}
		n = k + 1
		return nil
	})
	if err != nil || n != 5 || jsonx.SkipSpace(msg, end) != len(msg) ||
		jsonx.KindOf(m.topic) != jsonx.String || jsonx.KindOf(m.event) != jsonx.String {
		return phxMessage{}, errPhxFrame
	}
	return m, nil
}

// rtFilter is a subscriber's postgres_changes filter: none, id=eq.K or id=in.(K,…).
type rtFilter struct {
	ids []int32 // empty: every row
	in  bool
}

func (f rtFilter) String() string {
	switch {
	case len(f.ids) == 0:
		return ""
	case !f.in:
		return "id=eq." + strconv.Itoa(int(f.ids[0]))
	}
	b := []byte("id=in.(")
	for i, id := range f.ids {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, int64(id), 10)
	}
	return string(append(b, ')'))
}

// rtJoinPayload is the phx_join payload supabase-js sends for a channel with one
// postgres_changes binding (channel.on('postgres_changes', {event, schema, table, filter}))
// subscribed right after createClient(url, key): no access_token, since the client learns its
// token asynchronously and fixes the payload at subscribe(); the key of the socket URL stands
// for it, and as the token then is that same key, no access_token message follows.
func rtJoinPayload(schema, table string, f rtFilter) []byte {
	binding := map[string]string{"event": "*", "schema": schema, "table": table}
	if s := f.String(); s != "" {
		binding["filter"] = s
	}
	b, _ := json.Marshal(map[string]any{"config": map[string]any{
		"broadcast":        map[string]bool{"ack": false, "self": false},
		"presence":         map[string]any{"key": "", "enabled": false},
		"postgres_changes": []map[string]string{binding},
		"private":          false,
	}})
	return b
}

// rtChannel is one subscriber: a channel with one postgres_changes binding.
type rtChannel struct {
	tenant int
	filter rtFilter
	topic  string
	join   []byte // the phx_join frame
	// settled: its join was answered (or failed); read and written by its socket's goroutines only.
	settled     bool
	established atomic.Bool
	// seen holds the markers of book seenIn the channel received: the warm-up's book and the
	// measured one both number their writes from 1.
	seen   map[uint32]struct{}
	seenIn *pushBook
}

// rtSocket is one WebSocket connection of a tenant carrying many channels.
type rtSocket struct {
	tenant  *rtTenant
	chans   []*rtChannel
	byTopic map[string]*rtChannel // by the topic's JSON string, quotes included
	conn    *websocket.Conn
	wmu     sync.Mutex
	done    chan struct{}
}

// rtTenant is a tenant as the benchmark addresses it.
type rtTenant struct {
	name, schema string
}

// rtRun is the state the sockets of one run share.
type rtRun struct {
	url    string // ws://host:port + path with {tenant}
	apikey string
	book   atomic.Pointer[pushBook]
	errs   *subErrors

	sockets     []*rtSocket
	settled     sync.WaitGroup // one count per channel, done at its join's answer or failure
	established atomic.Int64
	measuring   atomic.Bool
	deliveries  atomic.Uint64 // postgres_changes frames while measuring
	duplicates  atomic.Uint64 // a marker a channel had already received
	closing     atomic.Bool

	tsMu   sync.Mutex
	tsHist Histogram // commit_timestamp → receipt, while measuring
	tsBad  atomic.Uint64
}

func (s *rtSocket) write(msg []byte) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return s.conn.WriteMessage(websocket.TextMessage, msg)
}

func (s *rtSocket) settleRest(r *rtRun) {
	for _, c := range s.chans {
		if !c.settled {
			c.settled = true
			r.settled.Done()
		}
	}
}

// open dials, sends every channel's join and reads until the socket closes; a failed dial
// settles every channel of the socket (not established).
func (r *rtRun) open(s *rtSocket, dialer *websocket.Dialer) {
	addr := r.socketURL(s.tenant.name)
	conn, resp, err := dialer.Dial(addr, nil)
	if err != nil {
		err = fmt.Errorf("%s: %w", addr, err)
		if resp != nil {
			err = fmt.Errorf("%w (HTTP %d)", err, resp.StatusCode)
		}
		r.errs.add(subErrDial, err.Error())
		s.settleRest(r)
		close(s.done)
		return
	}
	s.conn = conn
	go r.read(s)
	go s.heartbeat()
	for _, c := range s.chans {
		if err := s.write(c.join); err != nil {
			return // the reader sees the broken connection and settles the rest
		}
	}
}

// socketURL is what supabase-js connects to: the endpoint with apikey and vsn.
func (r *rtRun) socketURL(tenant string) string {
	return strings.ReplaceAll(r.url, "{tenant}", tenant) + "?apikey=" + url.QueryEscape(r.apikey) + "&vsn=" + phxVsn
}

func (s *rtSocket) heartbeat() {
	t := time.NewTicker(phxHeartbeatEvery)
	defer t.Stop()
	for n := 1; ; n++ {
		select {
		case <-s.done:
			return
		case <-t.C:
			if s.write(phxFrame("", "hb"+strconv.Itoa(n), "phoenix", "heartbeat", []byte("{}"))) != nil {
				return
			}
		}
	}
}

// read handles one socket's frames until it closes.
func (r *rtRun) read(s *rtSocket) {
	defer close(s.done)
	defer s.settleRest(r)
	for {
		typ, msg, err := s.conn.ReadMessage()
		at := time.Now()
		if err != nil {
			if !r.closing.Load() {
				r.errs.add(subErrClosed, err.Error())
			}
			return
		}
		if typ != websocket.TextMessage {
			r.errs.add(subErrProtocol, fmt.Sprintf("a binary frame of %d bytes", len(msg)))
			continue
		}
		m, err := parsePhx(msg)
		if err != nil {
			r.errs.add(subErrProtocol, fmt.Sprintf("%v: %.200s", err, msg))
			continue
		}
		if string(m.topic) == `"phoenix"` {
			continue // heartbeat replies
		}
		c := s.byTopic[string(m.topic)]
		if c == nil {
			r.errs.add(subErrProtocol, fmt.Sprintf("a frame for a topic never joined: %.200s", msg))
			continue
		}
		switch string(m.event) {
		case `"postgres_changes"`:
			r.delivered(c, m.payload, at)
		case `"phx_reply"`:
			if c.settled {
				continue
			}
			c.settled = true
			if ok, why := joinAnswer(m.payload); ok {
				c.established.Store(true)
				r.established.Add(1)
			} else {
				r.errs.add(subErrSubscribe, why)
			}
			r.settled.Done()
		case `"system"`:
			if st, _ := messageField(m.payload, "status"); st == "error" {
				r.errs.add(subErrSubscribe, fmt.Sprintf("system: %.300s", m.payload))
			}
		case `"phx_error"`, `"phx_close"`:
			if !r.closing.Load() {
				r.errs.add(subErrComplete, fmt.Sprintf("%s on %s: %.200s", m.event, m.topic, m.payload))
			}
			if !c.settled {
				c.settled = true
				r.settled.Done()
			}
		case `"presence_state"`, `"presence_diff"`:
		default:
			r.errs.add(subErrProtocol, fmt.Sprintf("%.200s", msg))
		}
	}
}

// joinAnswer reads a phx_reply to a join: ok with the one postgres_changes binding echoed
// (supabase-js fails the channel otherwise), or the reason it failed.
func joinAnswer(payload []byte) (ok bool, why string) {
	status, _ := messageField(payload, "status")
	if status != "ok" {
		return false, fmt.Sprintf("join refused: %.300s", payload)
	}
	resp, _ := jsonMember(payload, "response")
	pc, found := jsonMember(resp, "postgres_changes")
	n := 0
	if found {
		_, _ = jsonx.EachElement(pc, 0, func(int, []byte) error { n++; return nil })
	}
	if n != 1 {
		return false, fmt.Sprintf("join answered without its one postgres_changes binding: %.300s", payload)
	}
	return true, ""
}

// delivered records a postgres_changes frame: the markers of the row it carries (its new
// record: an old record holds the previous write's), and its commit_timestamp's age.
func (r *rtRun) delivered(c *rtChannel, payload []byte, at time.Time) {
	data, _ := jsonMember(payload, "data")
	if r.measuring.Load() {
		r.deliveries.Add(1)
		if ts, ok := commitTimestamp(data); ok {
			r.tsMu.Lock()
			r.tsHist.Record(at.Sub(ts))
			r.tsMu.Unlock()
		} else {
			r.tsBad.Add(1)
		}
	}
	rec, ok := jsonMember(data, "record")
	if !ok {
		return
	}
	book := r.book.Load()
	if c.seenIn != book {
		c.seen, c.seenIn = map[uint32]struct{}{}, book
	}
	book.eachMarker(rec, func(seq uint32) {
		if _, dup := c.seen[seq]; dup {
			r.duplicates.Add(1)
			return
		}
		c.seen[seq] = struct{}{}
		book.received(seq, at)
	})
}

// commitTimestampLayouts are the forms a commit_timestamp takes: Supabase's ISO 8601 with Z
// or an offset, and PostgreSQL's own text form of a timestamptz.
var commitTimestampLayouts = []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999Z07"}

func commitTimestamp(data []byte) (time.Time, bool) {
	s, ok := messageField(data, "commit_timestamp")
	if !ok {
		return time.Time{}, false
	}
	for _, l := range commitTimestampLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// close ends the connection with a normal closure.
func (s *rtSocket) close() { closeNormally(s.conn, &s.wmu) }
