package realtime

import (
	"bytes"
	"encoding/json"
	"sort"
	"strings"
	"time"

	"github.com/kapok-dev/kapok/internal/jsonx"
)

// presenceMeta is one tracked presence: a key (several may share one) and its payload,
// told apart by phx_ref, as Phoenix.Presence keeps them.
type presenceMeta struct {
	key     string
	ref     string
	prev    string // phx_ref_prev: the ref this one replaced (a track that updates)
	payload json.RawMessage
	owner   *channel // nil: announced by another process
	replica string
	seen    time.Time
	seq     uint64
}

// json writes the meta as clients see it: the payload's members with phx_ref (and
// phx_ref_prev) added after them, so a payload cannot shadow them.
func (pm *presenceMeta) json(dst []byte) []byte {
	p := bytes.TrimSpace(pm.payload)
	if len(p) < 2 || p[0] != '{' {
		p = []byte("{}")
	}
	inner := bytes.TrimSpace(p[1 : len(p)-1])
	dst = append(dst, '{')
	if len(inner) > 0 {
		dst = append(dst, inner...)
		dst = append(dst, ',')
	}
	dst = append(dst, `"phx_ref":`...)
	dst = jsonx.AppendString(dst, pm.ref)
	if pm.prev != "" {
		dst = append(dst, `,"phx_ref_prev":`...)
		dst = jsonx.AppendString(dst, pm.prev)
	}
	return append(dst, '}')
}

// appendGroups writes {key: {"metas": […]}, …} for metas, in their order.
func appendGroups(dst []byte, metas []*presenceMeta) []byte {
	sort.Slice(metas, func(i, j int) bool { return metas[i].seq < metas[j].seq })
	groups := map[string][]*presenceMeta{}
	var keys []string
	for _, pm := range metas {
		if _, ok := groups[pm.key]; !ok {
			keys = append(keys, pm.key)
		}
		groups[pm.key] = append(groups[pm.key], pm)
	}
	dst = append(dst, '{')
	for i, k := range keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = jsonx.AppendString(dst, k)
		dst = append(dst, `:{"metas":[`...)
		for j, pm := range groups[k] {
			if j > 0 {
				dst = append(dst, ',')
			}
			dst = pm.json(dst)
		}
		dst = append(dst, "]}"...)
	}
	return append(dst, '}')
}

// state is the topic's presence_state. Call with Channels.mu held.
func (tp *topic) state() []byte {
	metas := make([]*presenceMeta, 0, len(tp.metas))
	for _, pm := range tp.metas {
		metas = append(metas, pm)
	}
	return appendGroups(nil, metas)
}

// removeOwned removes the presences ch tracked. Call with Channels.mu held.
func (tp *topic) removeOwned(ch *channel) []*presenceMeta {
	var left []*presenceMeta
	for ref, pm := range tp.metas {
		if pm.owner == ch {
			delete(tp.metas, ref)
			left = append(left, pm)
		}
	}
	return left
}

// diff is a presence_diff ready to go to the channels with presence on.
type diff struct {
	to      []*channel
	payload []byte
	topic   string
}

// diffLocked builds the presence_diff of joins and leaves. Call with Channels.mu held.
func (s *Channels) diffLocked(tp *topic, joins, leaves []*presenceMeta) *diff {
	if len(joins) == 0 && len(leaves) == 0 {
		return nil
	}
	d := &diff{topic: tp.key.topic}
	for ch := range tp.chans {
		d.to = append(d.to, ch)
	}
	if len(d.to) == 0 {
		return d
	}
	p := append([]byte(`{"joins":`), appendGroups(nil, joins)...)
	p = append(p, `,"leaves":`...)
	p = appendGroups(p, leaves)
	d.payload = append(p, '}')
	return d
}

// send pushes the diff to the channels whose presence is on.
func (d *diff) send(s *Channels) {
	if d == nil || d.payload == nil {
		return
	}
	var frames [2][]byte
	for _, ch := range d.to {
		c := ch.c
		c.mu.Lock()
		on := ch.presOn && !ch.closed
		c.mu.Unlock()
		if !on {
			continue
		}
		i := 0
		if c.o.Vsn == Vsn1 {
			i = 1
		}
		if frames[i] == nil {
			frames[i] = appendFrame(nil, c.o.Vsn, nil, nil, d.topic, "presence_diff", d.payload)
		}
		c.o.Send(false, frames[i])
		s.m.delPresence.Inc()
	}
}

// presence answers a presence message: track (or update) and untrack this channel's
// presence, replying ok as Supabase does.
func (c *Conn) presence(ch *channel, m *message) {
	s, t := c.s, c.o.Tenant
	var p struct {
		Event   string          `json:"event"`
		Payload json.RawMessage `json:"payload"`
	}
	if json.Unmarshal(m.Payload, &p) != nil {
		c.send(ch.joinRef, m.Ref, ch.topic, "phx_reply", reply("error", reason("Presence payload must be an object {type, event, payload}")))
		return
	}
	if !s.take(s.msgs, t.Name, t.Config.Limits.RealtimeMaxMessagesPerSecond) {
		s.m.rejected.WithLabelValues(reasonMessages).Inc()
		c.send(ch.joinRef, m.Ref, ch.topic, "phx_reply", reply("error", reason(ErrRateLimited.Error())))
		return
	}
	switch strings.ToLower(p.Event) {
	case "track":
		payload := bytes.TrimSpace(p.Payload)
		if len(payload) == 0 || string(payload) == "null" {
			payload = []byte("{}")
		}
		if payload[0] != '{' || !json.Valid(payload) {
			c.send(ch.joinRef, m.Ref, ch.topic, "phx_reply", reply("error", reason("Presence track payload must be a map")))
			return
		}
		c.mu.Lock()
		enable := !ch.presOn
		ch.presOn = true
		ch.tracked = true
		c.mu.Unlock()
		state := s.track(ch, append([]byte(nil), payload...), enable)
		c.send(ch.joinRef, m.Ref, ch.topic, "phx_reply", reply("ok", nil))
		if state != nil {
			// The track turned presence on: this channel never got the state.
			c.send(ch.joinRef, nil, ch.topic, "presence_state", state)
			s.m.delPresence.Inc()
		}
	case "untrack":
		c.mu.Lock()
		ch.tracked = false
		c.mu.Unlock()
		s.untrack(ch)
		c.send(ch.joinRef, m.Ref, ch.topic, "phx_reply", reply("ok", nil))
	default:
		c.send(ch.joinRef, m.Ref, ch.topic, "phx_reply", reply("error", reason("UnknownPresenceEvent: "+p.Event)))
	}
}

// track adds or updates ch's presence; with wantState it returns the topic's state.
func (s *Channels) track(ch *channel, payload json.RawMessage, wantState bool) []byte {
	s.mu.Lock()
	tp := ch.tp
	var old *presenceMeta
	for _, pm := range tp.metas {
		if pm.owner == ch {
			old = pm
			break
		}
	}
	if old != nil && bytes.Equal(old.payload, payload) {
		var state []byte
		if wantState {
			state = tp.state()
		}
		s.mu.Unlock()
		return state // Supabase ignores a track that changes nothing
	}
	s.seq++
	pm := &presenceMeta{key: ch.presKey, ref: randomRef(), payload: payload, owner: ch, replica: s.replica, seq: s.seq}
	var leaves []*presenceMeta
	if old != nil {
		pm.prev = old.ref
		delete(tp.metas, old.ref)
		leaves = append(leaves, old)
	}
	tp.metas[pm.ref] = pm
	d := s.diffLocked(tp, []*presenceMeta{pm}, leaves)
	var state []byte
	if wantState {
		state = tp.state()
	}
	r := s.relays[tp.url]
	s.mu.Unlock()
	d.send(s)
	if r != nil {
		r.publish(&relayMsg{Kind: kindJoin, Tenant: tp.key.tenant, Topic: tp.key.topic, Key: pm.key, Ref: pm.ref, Prev: pm.prev, Body: pm.payload})
	}
	return state
}

// untrack removes ch's presence.
func (s *Channels) untrack(ch *channel) {
	s.mu.Lock()
	tp := ch.tp
	left := tp.removeOwned(ch)
	d := s.diffLocked(tp, nil, left)
	r := s.relays[tp.url]
	s.mu.Unlock()
	d.send(s)
	if r != nil {
		for _, pm := range left {
			r.publish(&relayMsg{Kind: kindLeave, Tenant: tp.key.tenant, Topic: tp.key.topic, Ref: pm.ref})
		}
	}
}

// remotePresence applies another process's presence message to the topic.
func (s *Channels) remotePresence(m *relayMsg, now time.Time) {
	s.mu.Lock()
	k := topicKey{m.Tenant, m.Topic}
	tp := s.topics[k]
	if tp == nil {
		if m.Kind == kindLeave {
			s.mu.Unlock()
			return
		}
		// Kept while the presences live, for the channels that join meanwhile.
		tp = &topic{key: k, chans: map[*channel]struct{}{}, metas: map[string]*presenceMeta{}}
		s.topics[k] = tp
	}
	var joins, leaves []*presenceMeta
	switch m.Kind {
	case kindJoin:
		if old := tp.metas[m.Prev]; m.Prev != "" && old != nil && old.owner == nil && old.replica == m.Replica {
			delete(tp.metas, m.Prev)
			leaves = append(leaves, old)
		}
		if pm := tp.metas[m.Ref]; pm != nil {
			pm.seen = now
		} else {
			s.seq++
			pm = &presenceMeta{key: m.Key, ref: m.Ref, prev: m.Prev, payload: m.Body, replica: m.Replica, seen: now, seq: s.seq}
			tp.metas[m.Ref] = pm
			joins = append(joins, pm)
		}
	case kindLeave:
		if pm := tp.metas[m.Ref]; pm != nil && pm.owner == nil && pm.replica == m.Replica {
			delete(tp.metas, m.Ref)
			leaves = append(leaves, pm)
		}
	case kindState:
		listed := map[string]bool{}
		for _, e := range m.Metas {
			listed[e.Ref] = true
			if pm := tp.metas[e.Ref]; pm != nil {
				pm.seen = now
				continue
			}
			s.seq++
			pm := &presenceMeta{key: e.Key, ref: e.Ref, prev: e.Prev, payload: e.Body, replica: m.Replica, seen: now, seq: s.seq}
			tp.metas[e.Ref] = pm
			joins = append(joins, pm)
		}
		for ref, pm := range tp.metas {
			if pm.owner == nil && pm.replica == m.Replica && !listed[ref] {
				delete(tp.metas, ref)
				leaves = append(leaves, pm)
			}
		}
	}
	d := s.diffLocked(tp, joins, leaves)
	s.gc(tp)
	s.mu.Unlock()
	d.send(s)
}

// expire drops the remote presences not re-announced within the timeout: their process
// is gone.
func (s *Channels) expire(now time.Time) {
	var diffs []*diff
	s.mu.Lock()
	for _, tp := range s.topics {
		var leaves []*presenceMeta
		for ref, pm := range tp.metas {
			if pm.owner == nil && now.Sub(pm.seen) > s.ttl {
				delete(tp.metas, ref)
				leaves = append(leaves, pm)
			}
		}
		if d := s.diffLocked(tp, nil, leaves); d != nil {
			diffs = append(diffs, d)
		}
		s.gc(tp)
	}
	s.mu.Unlock()
	for _, d := range diffs {
		d.send(s)
	}
}

// announceAll sends the state of this process's presences, per topic, to the other
// processes: of every upstream, or of url only.
func (s *Channels) announceAll(url string) {
	type out struct {
		r *relay
		m *relayMsg
	}
	var msgs []out
	s.mu.Lock()
	for _, tp := range s.topics {
		if tp.url == "" || (url != "" && tp.url != url) {
			continue
		}
		r := s.relays[tp.url]
		if r == nil {
			continue
		}
		m := &relayMsg{Kind: kindState, Tenant: tp.key.tenant, Topic: tp.key.topic}
		for _, pm := range tp.metas {
			if pm.owner != nil {
				m.Metas = append(m.Metas, relayMeta{Key: pm.key, Ref: pm.ref, Prev: pm.prev, Body: pm.payload})
			}
		}
		if len(m.Metas) > 0 {
			msgs = append(msgs, out{r, m})
		}
	}
	s.mu.Unlock()
	for _, o := range msgs {
		o.r.publish(o.m)
	}
}
