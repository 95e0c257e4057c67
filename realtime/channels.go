package realtime

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"hash/fnv"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kapok-dev/kapok/control"
	"github.com/kapok-dev/kapok/internal/jsonx"
	"github.com/kapok-dev/kapok/poolmgr"
)

// ChangeSource is what channels need of the postgres_changes source (*Changes).
type ChangeSource interface {
	Validate(t *control.Tenant, spec ChangeSpec) error
	Subscribe(t *control.Tenant, spec ChangeSpec, s poolmgr.Session, deliver func(data []byte)) (cancel func(), err error)
}

// Principal is who a channel acts as: the role and claims its postgres_changes run with.
type Principal struct {
	Session poolmgr.Session
	// Expires is when the credential expires (zero: never); the channel closes then.
	Expires time.Time
}

// AuthError is a refused credential: Code is Supabase's error code for it
// (InvalidJWTToken, Unauthorized), Message says why.
type AuthError struct{ Code, Message string }

func (e *AuthError) Error() string { return e.Message }

// ChannelsOptions configure NewChannels.
type ChannelsOptions struct {
	Logger  *slog.Logger
	Metrics *ChannelMetrics
	// Changes serves postgres_changes bindings; nil refuses them.
	Changes ChangeSource
	// PresenceAnnounce is how often a process re-announces its presences to the others
	// (15 s); PresenceTimeout is how long a remote presence lives without being re-announced
	// (45 s).
	PresenceAnnounce time.Duration
	PresenceTimeout  time.Duration
}

// Channels is the Supabase Realtime channel layer of one Kapok process: the channels
// joined on its sockets, grouped by tenant and topic, their presences, and the relay that
// carries broadcasts and presences to the other processes serving the same upstream.
type Channels struct {
	log      *slog.Logger
	m        *ChannelMetrics
	changes  ChangeSource
	replica  string
	announce time.Duration
	ttl      time.Duration

	mu     sync.Mutex
	topics map[topicKey]*topic
	relays map[string]*relay
	local  map[string]bool // upstreams served without a relay, logged once
	seq    uint64          // orders presences
	joins  map[string]*bucket
	msgs   map[string]*bucket
	closed bool

	stop chan struct{}
	done chan struct{}
}

type topicKey struct{ tenant, topic string }

// topic is one tenant's topic: the channels joined to it here and its presences (local
// and those other processes announced).
type topic struct {
	key   topicKey
	url   string // the relay's upstream; "" = this process only
	chans map[*channel]struct{}
	metas map[string]*presenceMeta // by phx_ref
}

// ErrRateLimited refuses a message over the tenant's realtime_max_messages_per_second.
var ErrRateLimited = errors.New("ClientMessageRateLimitReached: Too many messages per second")

// NewChannels starts the channel layer.
func NewChannels(o ChannelsOptions) *Channels {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Metrics == nil {
		o.Metrics = NewChannelMetrics()
	}
	if o.PresenceAnnounce <= 0 {
		o.PresenceAnnounce = 15 * time.Second
	}
	if o.PresenceTimeout <= 0 {
		o.PresenceTimeout = 3 * o.PresenceAnnounce
	}
	s := &Channels{log: o.Logger, m: o.Metrics, changes: o.Changes, replica: randomID(8),
		announce: o.PresenceAnnounce, ttl: o.PresenceTimeout,
		topics: map[topicKey]*topic{}, relays: map[string]*relay{}, local: map[string]bool{},
		joins: map[string]*bucket{}, msgs: map[string]*bucket{},
		stop: make(chan struct{}), done: make(chan struct{})}
	go s.tick()
	return s
}

// Close stops the relays. Close the sockets first: their channels' presences leave
// through the relays.
func (s *Channels) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	relays := s.relays
	s.relays = map[string]*relay{}
	s.mu.Unlock()
	close(s.stop)
	<-s.done
	for _, r := range relays {
		r.close()
	}
}

// tick re-announces local presences and drops remote ones not re-announced in time.
func (s *Channels) tick() {
	defer close(s.done)
	sweep := time.NewTicker(s.announce / 3)
	defer sweep.Stop()
	last := time.Now()
	for {
		select {
		case <-s.stop:
			return
		case now := <-sweep.C:
			s.expire(now)
			if now.Sub(last) >= s.announce-s.announce/6 {
				last = now
				s.announceAll("")
			}
		}
	}
}

// ConnOptions describe one socket.
type ConnOptions struct {
	Tenant *control.Tenant
	// Vsn is the serializer version the client asked for (Vsn1 or Vsn2).
	Vsn string
	// Managed: Kapok may create its relay table on the tenant's upstream; otherwise
	// broadcasts and presences stay within this process.
	Managed bool
	// Authenticate resolves a channel's credentials: its access_token, or "" for the
	// socket's own apikey.
	Authenticate func(token string) (Principal, error)
	// Send queues a frame for the client; it must not block, nor call back into the Conn.
	Send func(binary bool, data []byte)
}

// Conn is one client socket's channels.
type Conn struct {
	s *Channels
	o ConnOptions

	mu     sync.Mutex
	chans  map[string]*channel // by topic
	closed bool
}

// channel is one joined channel.
type channel struct {
	c        *Conn
	tp       *topic
	topic    string
	sub      string
	joinRef  *string
	self     bool
	ack      bool
	presKey  string
	bindings []binding

	// Under c.mu.
	// replied: the join reply is out. Until then what the channel pushes (changes, system
	// messages) waits in held, so that it follows the reply.
	replied bool
	held    [][]byte
	presOn  bool
	token   string
	who     Principal
	cancels []func()
	gen     int
	expiry  *time.Timer
	closed  bool
	tracked bool
}

type binding struct {
	id   int64
	spec ChangeSpec
	echo json.RawMessage // the client's binding with its id, as the join reply returns it
}

// Connect opens a socket's channel state.
func (s *Channels) Connect(o ConnOptions) *Conn {
	if o.Vsn != Vsn1 {
		o.Vsn = Vsn2
	}
	s.m.connections.Inc()
	return &Conn{s: s, o: o, chans: map[string]*channel{}}
}

// Close leaves every channel of the socket.
func (c *Conn) Close() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	chans := c.chans
	c.chans = map[string]*channel{}
	c.mu.Unlock()
	for _, ch := range chans {
		c.drop(ch)
	}
	c.s.m.connections.Dec()
}

func (c *Conn) send(joinRef, ref *string, topic, event string, payload []byte) {
	c.o.Send(false, appendFrame(nil, c.o.Vsn, joinRef, ref, topic, event, payload))
}

// Handle answers one frame from the client. An error is a frame no client sends: the
// socket should close.
func (c *Conn) Handle(binary bool, data []byte) error {
	var m *message
	var err error
	if binary {
		m, err = decodeBinary(data)
	} else {
		m, err = decodeText(data)
	}
	if err != nil {
		return err
	}
	s := c.s
	if m.Topic == "phoenix" && m.Event == "heartbeat" {
		s.m.msgHeartbeat.Inc()
		c.send(nil, m.Ref, "phoenix", "phx_reply", reply("ok", nil))
		return nil
	}
	if m.Event == "phx_join" {
		s.m.msgJoin.Inc()
		c.join(m)
		return nil
	}
	c.mu.Lock()
	ch := c.chans[m.Topic]
	c.mu.Unlock()
	if ch == nil {
		s.m.msgOther.Inc()
		if m.Ref != nil {
			c.send(m.JoinRef, m.Ref, m.Topic, "phx_reply", reply("error", reason("unmatched topic")))
		}
		return nil
	}
	switch m.Event {
	case "phx_leave":
		s.m.msgLeave.Inc()
		c.mu.Lock()
		if c.chans[m.Topic] == ch {
			delete(c.chans, m.Topic)
		}
		c.mu.Unlock()
		c.drop(ch)
		c.send(ch.joinRef, m.Ref, m.Topic, "phx_reply", reply("ok", nil))
	case "broadcast":
		s.m.msgBroadcast.Inc()
		c.broadcast(ch, m)
	case "presence":
		s.m.msgPresence.Inc()
		c.presence(ch, m)
	case "access_token":
		s.m.msgToken.Inc()
		c.refresh(ch, m)
	default:
		// Supabase ignores events it does not know.
		s.m.msgOther.Inc()
	}
	return nil
}

type joinPayload struct {
	Config struct {
		Broadcast struct {
			Self bool `json:"self"`
			Ack  bool `json:"ack"`
		} `json:"broadcast"`
		Presence struct {
			Key     json.RawMessage `json:"key"`
			Enabled bool            `json:"enabled"`
		} `json:"presence"`
		PostgresChanges []json.RawMessage `json:"postgres_changes"`
		Private         bool              `json:"private"`
		Options         struct {
			Wait bool `json:"wait"`
		} `json:"postgres_changes_options"`
	} `json:"config"`
	AccessToken *string `json:"access_token"`
	UserToken   *string `json:"user_token"`
}

// join answers phx_join as Supabase Realtime does: an error reply with a reason, or ok
// with the postgres_changes bindings and their ids; then presence_state, and the system
// message saying whether the bindings are subscribed.
func (c *Conn) join(m *message) {
	s, t := c.s, c.o.Tenant
	fail := func(metric, r string) {
		if metric != "" {
			s.m.rejected.WithLabelValues(metric).Inc()
		}
		c.send(m.JoinRef, m.Ref, m.Topic, "phx_reply", reply("error", reason(r)))
	}
	sub, ok := strings.CutPrefix(m.Topic, "realtime:")
	if !ok {
		fail("", "unmatched topic")
		return
	}
	if sub == "" {
		fail("", "TopicNameRequired: You must provide a topic name")
		return
	}
	var p joinPayload
	if err := json.Unmarshal(m.Payload, &p); err != nil {
		fail("", "InvalidJoinPayload: the join payload must be an object {config, access_token}")
		return
	}
	if p.Config.Private {
		fail(reasonPrivate, "Unauthorized: Kapok serves public channels only (no realtime.messages policies): join without private: true")
		return
	}
	// A second join of a topic on one socket replaces the first, as Phoenix does.
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	old := c.chans[m.Topic]
	delete(c.chans, m.Topic)
	count := len(c.chans)
	c.mu.Unlock()
	if old != nil {
		c.drop(old)
		c.send(old.joinRef, old.joinRef, old.topic, "phx_close", []byte("{}"))
	}
	lim := t.Config.Limits
	if count >= lim.RealtimeMaxChannels {
		fail(reasonChannels, "ChannelRateLimitReached: Too many channels")
		return
	}
	if !s.take(s.joins, t.Name, lim.RealtimeMaxJoinsPerSecond) {
		fail(reasonJoins, "ClientJoinRateLimitReached: Too many joins per second")
		return
	}
	token := channelToken(p.AccessToken, p.UserToken)
	who, err := c.o.Authenticate(token)
	if err != nil {
		var ae *AuthError
		if errors.As(err, &ae) {
			fail(reasonAuth, ae.Code+": "+ae.Message)
		} else {
			fail(reasonAuth, "Unauthorized: "+err.Error())
		}
		return
	}
	if !who.Expires.IsZero() && !time.Now().Before(who.Expires) {
		fail(reasonAuth, "InvalidJWTToken: Token has expired")
		return
	}
	ch := &channel{c: c, topic: m.Topic, sub: sub, joinRef: m.JoinRef, self: p.Config.Broadcast.Self,
		ack: p.Config.Broadcast.Ack, presOn: p.Config.Presence.Enabled, token: token, who: who}
	var key string
	if json.Unmarshal(p.Config.Presence.Key, &key) != nil || key == "" {
		if n, ok := numberString(p.Config.Presence.Key); ok {
			key = n
		} else {
			key = randomUUID()
		}
	}
	ch.presKey = key
	if ch.bindings, err = parseBindings(p.Config.PostgresChanges); err != nil {
		fail("", "InvalidJoinPayload: "+err.Error())
		return
	}
	if len(ch.bindings) > 0 && s.changes == nil {
		fail("", "RealtimeDisabledForConfiguration: postgres_changes are not available on this server")
		return
	}
	// The first joins of an upstream wait for its relay to listen (see relay.pending).
	ready, hold := s.relayPending(t, c.o.Managed)
	ch.replied = len(ch.bindings) == 0 && ready == nil
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.chans[m.Topic] = ch
	c.armExpiry(ch)
	c.mu.Unlock()
	s.m.channels.Inc()

	resp := []byte(`{"postgres_changes":[`)
	for i, b := range ch.bindings {
		if i > 0 {
			resp = append(resp, ',')
		}
		resp = append(resp, b.echo...)
	}
	resp = append(resp, "]}"...)
	state := s.attach(ch, t, c.o.Managed)
	joined := func() {
		c.send(m.JoinRef, m.Ref, m.Topic, "phx_reply", reply("ok", resp))
		if state != nil {
			c.send(ch.joinRef, nil, ch.topic, "presence_state", state)
			s.m.delPresence.Inc()
		}
	}
	if ch.replied {
		joined()
		return
	}
	go func() {
		awaitRelay(ready, hold)
		if len(ch.bindings) == 0 {
			ch.release(joined)
			return
		}
		ch.open(who, p.Config.Options.Wait, joined, func(r string) { fail("", r) })
	}()
}

// joinHold bounds how long a join reply waits for its postgres_changes subscriptions
// (realtime-js gives up on a join after 10 s).
const joinHold = 3 * time.Second

// open subscribes a joining channel's bindings, then sends its join reply (joined) and
// what the channel pushed meanwhile. Supabase replies first and subscribes after, so a
// change committed right after SUBSCRIBED may be missed; here the reply waits (up to
// joinHold) until the subscriptions are in place, and the first join of a database, which
// starts its replication stream, does not lose the changes its client makes next. A
// binding that cannot be subscribed gets Supabase's system error after the reply; with
// postgres_changes_options.wait, the reply waits as long as it takes and such a binding
// fails the join itself (refuse), as Supabase does.
func (ch *channel) open(who Principal, wait bool, joined func(), refuse func(reason string)) {
	done := make(chan error, 1)
	go func() { done <- ch.resubscribe(who) }()
	var hold <-chan time.Time
	if !wait {
		t := time.NewTimer(joinHold)
		defer t.Stop()
		hold = t.C
	}
	select {
	case err := <-done:
		if err != nil && !errors.Is(err, errSuperseded) && wait {
			c := ch.c
			c.mu.Lock()
			if c.chans[ch.topic] == ch {
				delete(c.chans, ch.topic)
			}
			c.mu.Unlock()
			c.drop(ch)
			refuse("RealtimeDisabledForConfiguration: " + err.Error())
			return
		}
		ch.release(joined)
		ch.report(err)
	case <-hold:
		ch.release(joined)
		ch.report(<-done)
	}
}

// errSuperseded: a newer subscription of the channel (an access_token) replaced this one,
// or the channel closed; the newer one reports.
var errSuperseded = errors.New("superseded")

// release sends the join reply, then what the channel held back; from then on it pushes
// directly.
func (ch *channel) release(joined func()) {
	c := ch.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if ch.replied {
		return
	}
	ch.replied = true
	held := ch.held
	ch.held = nil
	if ch.closed {
		return
	}
	joined()
	for _, f := range held {
		c.o.Send(false, f)
	}
}

// push sends a message of the channel's own, after its join reply.
func (ch *channel) push(joinRef *string, event string, payload []byte) {
	c := ch.c
	f := appendFrame(nil, c.o.Vsn, joinRef, nil, ch.topic, event, payload)
	c.mu.Lock()
	if !ch.replied {
		if !ch.closed {
			ch.held = append(ch.held, f)
		}
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	c.o.Send(false, f)
}

// channelToken is the join's access token; Supabase's publishable and secret keys
// ("sb_…") are no user token, and the socket's apikey stands.
func channelToken(access, user *string) string {
	for _, p := range []*string{access, user} {
		if p != nil && *p != "" && !strings.HasPrefix(*p, "sb_") {
			return *p
		}
	}
	return ""
}

func numberString(raw json.RawMessage) (string, bool) {
	var n json.Number
	if len(raw) == 0 || json.Unmarshal(raw, &n) != nil {
		return "", false
	}
	return n.String(), true
}

// parseBindings reads the join's postgres_changes. Each binding's id is a hash of its
// parameters, as Supabase's: the client matches the reply to its bindings by their
// fields, and each change to a binding by its id.
func parseBindings(raws []json.RawMessage) ([]binding, error) {
	var out []binding
	used := map[int64]bool{}
	for _, raw := range raws {
		if string(raw) == "null" {
			continue
		}
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(raw, &obj); err != nil {
			return nil, errors.New("each postgres_changes binding must be an object {event, schema, table, filter}")
		}
		var spec ChangeSpec
		for k, dst := range map[string]*string{"event": &spec.Event, "schema": &spec.Schema, "table": &spec.Table, "filter": &spec.Filter} {
			if v, ok := obj[k]; ok && string(v) != "null" {
				if json.Unmarshal(v, dst) != nil {
					return nil, errors.New("postgres_changes " + k + " must be a string")
				}
			}
		}
		if spec.Event == "" {
			spec.Event = "*"
		}
		spec.Event = strings.ToUpper(spec.Event)
		switch spec.Event {
		case "*", "INSERT", "UPDATE", "DELETE":
		default:
			return nil, errors.New("postgres_changes event must be one of *, INSERT, UPDATE, DELETE")
		}
		h := fnv.New32a()
		canon, _ := json.Marshal(obj) // sorted keys: the same parameters give the same id
		h.Write(canon)
		id := int64(h.Sum32() & (1<<27 - 1))
		for used[id] {
			id = (id + 1) & (1<<27 - 1)
		}
		used[id] = true
		obj["id"] = json.RawMessage(strconv.FormatInt(id, 10))
		echo, _ := json.Marshal(obj)
		out = append(out, binding{id: id, spec: spec, echo: echo})
	}
	return out, nil
}

// subscribe validates and subscribes every binding with who's session; on an error it
// cancels what it started.
func (ch *channel) subscribe(who Principal) ([]func(), error) {
	s, t := ch.c.s, ch.c.o.Tenant
	for _, b := range ch.bindings {
		if err := s.changes.Validate(t, b.spec); err != nil {
			return nil, err
		}
	}
	var cancels []func()
	for _, b := range ch.bindings {
		id := b.id
		cancel, err := s.changes.Subscribe(t, b.spec, who.Session, func(data []byte) { ch.deliverChange(id, data) })
		if err != nil {
			for _, f := range cancels {
				f()
			}
			return nil, err
		}
		cancels = append(cancels, cancel)
	}
	return cancels, nil
}

// resubscribe replaces the channel's subscriptions with who's. It returns errSuperseded
// when the channel closed or a later resubscribe replaced this one meanwhile.
func (ch *channel) resubscribe(who Principal) error {
	c := ch.c
	c.mu.Lock()
	if ch.closed {
		c.mu.Unlock()
		return errSuperseded
	}
	ch.gen++
	gen := ch.gen
	old := ch.cancels
	ch.cancels = nil
	c.mu.Unlock()
	for _, f := range old {
		f()
	}
	cancels, err := ch.subscribe(who)
	c.mu.Lock()
	if ch.closed || ch.gen != gen {
		c.mu.Unlock()
		for _, f := range cancels {
			f()
		}
		return errSuperseded
	}
	ch.cancels = cancels
	c.mu.Unlock()
	return err
}

// report says how a subscription went in a system message, as Supabase does: "Subscribed
// to PostgreSQL", or the error alone.
func (ch *channel) report(err error) {
	switch {
	case errors.Is(err, errSuperseded):
	case err != nil:
		ch.system("postgres_changes", "error", err.Error())
	default:
		ch.system("postgres_changes", "ok", "Subscribed to PostgreSQL")
	}
}

func (ch *channel) deliverChange(id int64, data []byte) {
	c := ch.c
	c.mu.Lock()
	closed := ch.closed
	c.mu.Unlock()
	if closed {
		return
	}
	p := append([]byte(`{"ids":[`), strconv.FormatInt(id, 10)...)
	p = append(p, `],"data":`...)
	p = append(p, data...)
	p = append(p, '}')
	ch.push(nil, "postgres_changes", p)
	c.s.m.delChanges.Inc()
}

// system pushes a "system" message: {extension, status, message, channel}.
func (ch *channel) system(extension, status, msg string) {
	p := append([]byte(`{"extension":`), jsonx.AppendString(nil, extension)...)
	p = append(p, `,"status":`...)
	p = jsonx.AppendString(p, status)
	p = append(p, `,"message":`...)
	p = jsonx.AppendString(p, msg)
	p = append(p, `,"channel":`...)
	p = jsonx.AppendString(p, ch.sub)
	p = append(p, '}')
	ch.push(ch.joinRef, "system", p)
	ch.c.s.m.delSystem.Inc()
}

// armExpiry closes the channel when its credential expires. Call with c.mu held.
func (c *Conn) armExpiry(ch *channel) {
	if ch.expiry != nil {
		ch.expiry.Stop()
		ch.expiry = nil
	}
	if ch.who.Expires.IsZero() {
		return
	}
	ch.expiry = time.AfterFunc(time.Until(ch.who.Expires), func() { c.shutdown(ch, "Token has expired") })
}

// shutdown closes one channel as Supabase does on an error after the join: a system
// error message, then phx_close. The socket and its other channels stay.
func (c *Conn) shutdown(ch *channel, msg string) {
	c.mu.Lock()
	if ch.closed || c.chans[ch.topic] != ch {
		c.mu.Unlock()
		return
	}
	delete(c.chans, ch.topic)
	c.mu.Unlock()
	ch.system("system", "error", msg)
	c.drop(ch)
	c.send(ch.joinRef, ch.joinRef, ch.topic, "phx_close", []byte("{}"))
}

// drop ends a channel removed from c.chans: its subscriptions, its presence.
func (c *Conn) drop(ch *channel) {
	c.mu.Lock()
	if ch.closed {
		c.mu.Unlock()
		return
	}
	ch.closed = true
	cancels := ch.cancels
	ch.cancels = nil
	if ch.expiry != nil {
		ch.expiry.Stop()
	}
	c.mu.Unlock()
	for _, f := range cancels {
		f()
	}
	c.s.detach(ch)
	c.s.m.channels.Dec()
}

// refresh applies an access_token event: the channel's claims change, its bindings are
// subscribed again with them; a token that does not verify closes the channel.
func (c *Conn) refresh(ch *channel, m *message) {
	var p struct {
		AccessToken *string `json:"access_token"`
	}
	if json.Unmarshal(m.Payload, &p) != nil || p.AccessToken == nil || *p.AccessToken == "" || strings.HasPrefix(*p.AccessToken, "sb_") {
		return
	}
	c.mu.Lock()
	same := ch.token == *p.AccessToken
	c.mu.Unlock()
	if same {
		return
	}
	who, err := c.o.Authenticate(*p.AccessToken)
	msg := ""
	switch {
	case err != nil:
		msg = err.Error()
	case !who.Expires.IsZero() && !time.Now().Before(who.Expires):
		msg = "Token has expired"
	}
	if msg != "" {
		c.s.m.rejected.WithLabelValues(reasonAuth).Inc()
		c.shutdown(ch, msg)
		return
	}
	c.mu.Lock()
	if ch.closed {
		c.mu.Unlock()
		return
	}
	ch.token, ch.who = *p.AccessToken, who
	c.armExpiry(ch)
	c.mu.Unlock()
	if len(ch.bindings) > 0 {
		go func() { ch.report(ch.resubscribe(who)) }()
	}
}

// broadcast relays a client's broadcast to the topic's channels here and elsewhere.
func (c *Conn) broadcast(ch *channel, m *message) {
	s, t := c.s, c.o.Tenant
	if !s.take(s.msgs, t.Name, t.Config.Limits.RealtimeMaxMessagesPerSecond) {
		s.m.rejected.WithLabelValues(reasonMessages).Inc()
		if m.Ref != nil {
			c.send(ch.joinRef, m.Ref, ch.topic, "phx_reply", reply("error", reason(ErrRateLimited.Error())))
		}
		return
	}
	var b bcast
	switch {
	case m.binary && m.userEncoding == encodingBinary:
		b.event, b.data, b.binary = m.userEvent, m.userPayload, true
	case m.binary:
		b.json = broadcastObject(m.userEvent, m.userPayload)
	default:
		b.json = append([]byte(nil), m.Payload...)
	}
	s.publish(ch.tp, ch, &b, true)
	if ch.ack && m.Ref != nil {
		c.send(ch.joinRef, m.Ref, ch.topic, "phx_reply", reply("ok", nil))
	}
}

// bcast is a broadcast: the JSON payload object clients receive, or a binary payload.
type bcast struct {
	json   []byte
	binary bool
	event  string
	data   []byte
}

func broadcastObject(event string, payload []byte) []byte {
	b := append([]byte(`{"type":"broadcast","event":`), jsonx.AppendString(nil, event)...)
	b = append(b, `,"payload":`...)
	b = append(b, payload...)
	return append(b, '}')
}

// Broadcast sends a message to a topic of tenant t from outside any socket (the REST
// broadcast endpoint). subTopic is the name without "realtime:".
func (s *Channels) Broadcast(t *control.Tenant, managed bool, subTopic, event string, payload json.RawMessage) error {
	if !s.take(s.msgs, t.Name, t.Config.Limits.RealtimeMaxMessagesPerSecond) {
		s.m.rejected.WithLabelValues(reasonMessages).Inc()
		return ErrRateLimited
	}
	if len(payload) == 0 {
		payload = json.RawMessage("{}")
	}
	tp := s.topicFor(t, managed, "realtime:"+subTopic)
	s.publish(tp, nil, &bcast{json: broadcastObject(event, payload)}, true)
	s.release(tp)
	return nil
}

// publish delivers b to the topic's channels here (but the sender's unless it asked for
// its own) and, when relay is set, to the other processes.
func (s *Channels) publish(tp *topic, from *channel, b *bcast, relay bool) {
	s.mu.Lock()
	to := make([]*channel, 0, len(tp.chans))
	for ch := range tp.chans {
		if ch != from || ch.self {
			to = append(to, ch)
		}
	}
	r := s.relays[tp.url]
	s.mu.Unlock()
	var frames [2][]byte
	for _, ch := range to {
		vsn := ch.c.o.Vsn
		if b.binary {
			if vsn == Vsn1 {
				continue // a 1.0.0 socket cannot carry a binary payload
			}
			if frames[1] == nil {
				frames[1] = appendBinaryBroadcast(nil, tp.key.topic, b.event, b.data)
			}
			ch.c.o.Send(true, frames[1])
		} else {
			i := 0
			if vsn == Vsn1 {
				i = 1
			}
			if frames[i] == nil {
				frames[i] = appendFrame(nil, vsn, nil, nil, tp.key.topic, "broadcast", b.json)
			}
			ch.c.o.Send(false, frames[i])
		}
		s.m.delBroadcast.Inc()
	}
	if relay && r != nil {
		rm := &relayMsg{Kind: kindBroadcast, Tenant: tp.key.tenant, Topic: tp.key.topic}
		if b.binary {
			rm.Event, rm.Data = b.event, b.data
		} else {
			rm.Body = b.json
		}
		r.publish(rm)
	}
}

// topicFor returns the topic, creating it (and the upstream's relay) on first use; the
// caller holds a reference until release.
func (s *Channels) topicFor(t *control.Tenant, managed bool, name string) *topic {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := topicKey{t.Name, name}
	tp := s.topics[k]
	if tp == nil {
		tp = &topic{key: k, chans: map[*channel]struct{}{}, metas: map[string]*presenceMeta{}}
		s.topics[k] = tp
	}
	if tp.url == "" && t.DirectURL != "" {
		tp.url = s.relayFor(t.DirectURL, managed)
	}
	return tp
}

// release forgets a topic nobody uses.
func (s *Channels) release(tp *topic) {
	s.mu.Lock()
	s.gc(tp)
	s.mu.Unlock()
}

// gc drops tp when it has neither channels nor presences. Call with s.mu held.
func (s *Channels) gc(tp *topic) {
	if len(tp.chans) == 0 && len(tp.metas) == 0 && s.topics[tp.key] == tp {
		delete(s.topics, tp.key)
	}
}

// relayPending starts the relay of t's upstream if need be and returns what a join waits
// for before its reply (nil: nothing).
func (s *Channels) relayPending(t *control.Tenant, managed bool) (<-chan struct{}, time.Duration) {
	if t.DirectURL == "" {
		return nil, 0
	}
	s.mu.Lock()
	r := s.relays[s.relayFor(t.DirectURL, managed)]
	s.mu.Unlock()
	if r == nil {
		return nil, 0
	}
	return r.pending()
}

// relayFor returns the URL of url's relay, starting it, or "" where broadcasts stay in
// this process. Call with s.mu held.
func (s *Channels) relayFor(url string, managed bool) string {
	if s.closed {
		return ""
	}
	if _, ok := s.relays[url]; ok {
		return url
	}
	if !managed {
		if !s.local[url] {
			s.local[url] = true
			s.log.Info("realtime: Kapok may not create its relay table on this upstream (not managed): broadcast and presence reach only the clients of this Kapok process",
				"upstream", redactURL(url))
		}
		return ""
	}
	s.relays[url] = startRelay(s, url)
	return url
}

// attach adds ch to its topic and returns the presence_state to send it (nil when its
// presence is off).
func (s *Channels) attach(ch *channel, t *control.Tenant, managed bool) []byte {
	tp := s.topicFor(t, managed, ch.topic)
	c := ch.c
	c.mu.Lock()
	presOn := ch.presOn
	c.mu.Unlock()
	s.mu.Lock()
	ch.tp = tp
	tp.chans[ch] = struct{}{}
	var state []byte
	if presOn {
		state = tp.state()
	}
	s.mu.Unlock()
	// Closed meanwhile (its token expired): drop found no topic to leave.
	c.mu.Lock()
	closed := ch.closed
	c.mu.Unlock()
	if closed {
		s.detach(ch)
		return nil
	}
	return state
}

// detach removes ch from its topic; its presence leaves.
func (s *Channels) detach(ch *channel) {
	s.mu.Lock()
	tp := ch.tp
	if tp == nil {
		s.mu.Unlock()
		return
	}
	delete(tp.chans, ch)
	left := tp.removeOwned(ch)
	d := s.diffLocked(tp, nil, left)
	r := s.relays[tp.url]
	s.gc(tp)
	s.mu.Unlock()
	d.send(s)
	if r != nil {
		for _, pm := range left {
			r.publish(&relayMsg{Kind: kindLeave, Tenant: tp.key.tenant, Topic: tp.key.topic, Ref: pm.ref})
		}
	}
}

// bucket is a token bucket: rate tokens a second, as many saved.
type bucket struct {
	rate   float64
	tokens float64
	last   time.Time
}

// take spends a token of key's bucket in m at rate a second (≤ 0: unlimited).
func (s *Channels) take(m map[string]*bucket, key string, rate float64) bool {
	if rate <= 0 {
		return true
	}
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	b := m[key]
	if b == nil || b.rate != rate {
		b = &bucket{rate: rate, tokens: rate, last: now}
		m[key] = b
	}
	b.tokens = math.Min(b.rate, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

func randomID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func randomUUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// randomRef is a presence's phx_ref.
func randomRef() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// TenantChannels counts the tenant's topics with a channel joined in this process, and
// those channels.
func (c *Channels) TenantChannels(tenant string) (topics, channels int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, t := range c.topics {
		if k.tenant == tenant && len(t.chans) > 0 {
			topics++
			channels += len(t.chans)
		}
	}
	return topics, channels
}
