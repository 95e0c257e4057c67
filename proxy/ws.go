package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/valyala/fasthttp"

	"github.com/kapok-dev/kapok/cache"
	"github.com/kapok-dev/kapok/control"
	"github.com/kapok-dev/kapok/internal/jsonx"
	"github.com/kapok-dev/kapok/planner"
	"github.com/kapok-dev/kapok/realtime"
)

// The GraphQL WebSocket subprotocols: graphql-ws's graphql-transport-ws, and the legacy
// subscriptions-transport-ws, whose subprotocol is named graphql-ws.
const (
	protoTransportWS = "graphql-transport-ws"
	protoLegacy      = "graphql-ws"
)

// Close codes of graphql-transport-ws.
const (
	closeBadMessage   = 4400
	closeUnauthorized = 4401
	closeForbidden    = 4403
	closeInitTimeout  = 4408
	closeDuplicateID  = 4409
	closeTooManyInits = 4429
	closeInternal     = 4500
)

const (
	wsInitTimeout = 10 * time.Second
	wsKeepAlive   = 10 * time.Second
	wsWriteWait   = 10 * time.Second
	wsSendQueue   = 1024
)

var wsUpgrader = websocket.FastHTTPUpgrader{
	Subprotocols: []string{protoTransportWS, protoLegacy},
	// Credentials travel in connection_init, never in cookies: any origin may connect, as
	// with the HTTP endpoint.
	CheckOrigin:     func(*fasthttp.RequestCtx) bool { return true },
	ReadBufferSize:  4096,
	WriteBufferSize: 4096,
}

// wsMessage is a message of either protocol.
type wsMessage struct {
	Type    string          `json:"type"`
	ID      *string         `json:"id,omitempty"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// wsConn is one GraphQL WebSocket connection.
type wsConn struct {
	a      *apis
	t      *control.Tenant
	c      *websocket.Conn
	legacy bool
	// log carries the upgrade request's id and trace context.
	log *slog.Logger
	// base is the upgrade request's headers, under those of connection_init.
	base    [][2]string
	maxSubs int

	out  chan wsFrame
	done chan struct{}
	once sync.Once

	mu     sync.Mutex
	inited bool
	acked  bool
	who    principal
	ops    map[string]*wsOp // live subscriptions by id; nil value: a one-shot operation running
	expiry *time.Timer

	replanMu sync.Mutex // one replan at a time
}

// graphqlSocket upgrades a GraphQL request to a WebSocket. Allow-list and rate limit were
// applied to the upgrade; credentials come with connection_init.
func (a *apis) graphqlSocket(ctx *fasthttp.RequestCtx, t *control.Tenant) string {
	var base [][2]string
	for k, v := range ctx.Request.Header.All() {
		switch strings.ToLower(string(k)) {
		case "authorization", "apikey", "x-hasura-admin-secret", "x-kapok-admin-key", "x-hasura-role", "cookie":
			base = append(base, [2]string{string(k), string(v)})
		}
	}
	log := a.s.requestLog(ctx)
	err := wsUpgrader.Upgrade(ctx, func(c *websocket.Conn) {
		w := &wsConn{a: a, t: t, c: c, legacy: c.Subprotocol() != protoTransportWS, base: base, log: log,
			maxSubs: t.Config.Limits.MaxSubscriptionsPerConnection,
			out:     make(chan wsFrame, wsSendQueue), done: make(chan struct{}), ops: map[string]*wsOp{}}
		if reason := a.sockets.add(w, t); reason != "" {
			w.closeNow(websocket.CloseServiceRestart, reason)
			return
		}
		defer a.sockets.remove(w)
		w.serve()
	})
	if err != nil {
		// The upgrader answered the handshake's error itself.
		return outcomeClientError
	}
	return outcomeOK
}

func (w *wsConn) serve() {
	_ = w.c.NetConn().SetDeadline(time.Time{}) // the HTTP server's timeouts end with the upgrade
	w.c.SetReadLimit(int64(w.t.Config.Limits.MaxBodyBytes))
	go w.writer()
	initTimer := time.AfterFunc(wsInitTimeout, func() {
		w.mu.Lock()
		inited := w.inited
		w.mu.Unlock()
		if !inited {
			w.closeWith(closeInitTimeout, "Connection initialisation timeout")
		}
	})
	defer initTimer.Stop()
	defer func() {
		// A close queued behind messages goes out after them.
		select {
		case <-w.done:
		case <-time.After(2 * time.Second):
		}
		w.stop()
	}()
	for {
		_, data, err := w.c.ReadMessage()
		if err != nil {
			return
		}
		var m wsMessage
		if err := json.Unmarshal(data, &m); err != nil || m.Type == "" {
			w.closeWith(closeBadMessage, "Invalid message received")
			return
		}
		if !w.handle(&m) {
			return
		}
	}
}

// handle answers one message; false ends the connection.
func (w *wsConn) handle(m *wsMessage) bool {
	switch m.Type {
	case "connection_init":
		return w.init(m.Payload)
	case "ping":
		if !w.legacy {
			w.send(appendFrame(nil, "pong", nil, nil))
		}
		return true
	case "pong":
		return true
	case "subscribe", "start":
		if (m.Type == "subscribe") == w.legacy {
			w.closeWith(closeBadMessage, "Invalid message type "+m.Type)
			return false
		}
		w.mu.Lock()
		acked := w.acked
		w.mu.Unlock()
		if !acked {
			if w.legacy {
				w.send(appendFrame(nil, "connection_error", nil, jsonMessage("connection_init is required before start")))
				return true
			}
			w.closeWith(closeUnauthorized, "Unauthorized")
			return false
		}
		if m.ID == nil || *m.ID == "" {
			w.closeWith(closeBadMessage, "Invalid message received: an operation needs an id")
			return false
		}
		return w.start(*m.ID, m.Payload)
	case "complete", "stop":
		if m.ID != nil {
			w.stopOp(*m.ID, m.Type == "stop")
		}
		return true
	case "connection_terminate":
		w.closeWith(websocket.CloseNormalClosure, "")
		return false
	}
	w.closeWith(closeBadMessage, "Invalid message type "+m.Type)
	return false
}

// init authenticates the connection with the headers of connection_init: payload.headers
// (Hasura's convention) or the payload's own string members, over the upgrade's.
func (w *wsConn) init(payload json.RawMessage) bool {
	w.mu.Lock()
	if w.inited {
		w.mu.Unlock()
		if w.legacy {
			return true
		}
		w.closeWith(closeTooManyInits, "Too many initialisation requests")
		return false
	}
	w.inited = true
	w.mu.Unlock()
	var rc fasthttp.RequestCtx
	for _, h := range w.base {
		rc.Request.Header.Set(h[0], h[1])
	}
	var p struct {
		Headers map[string]any `json:"headers"`
	}
	var flat map[string]any
	if len(payload) > 0 && !bytes.Equal(bytes.TrimSpace(payload), []byte("null")) {
		if json.Unmarshal(payload, &flat) != nil || json.Unmarshal(payload, &p) != nil {
			return w.refuse("connection_init payload must be a JSON object")
		}
	}
	for _, hs := range []map[string]any{flat, p.Headers} {
		for k, v := range hs {
			if s, ok := v.(string); ok {
				rc.Request.Header.Set(k, s)
			}
		}
	}
	g, err := w.a.guardFor(w.t)
	if err != nil {
		w.log.Error("tenant guard", "tenant", w.t.Name, "err", err)
		return w.refuse("the tenant's access settings are invalid")
	}
	w.a.prepare(context.Background(), w.t)
	who, err := g.authenticate(&rc)
	if err != nil {
		var ae *authError
		errors.As(err, &ae)
		w.a.s.metrics.rejected.WithLabelValues(ae.reason()).Inc()
		return w.refuse(ae.message)
	}
	w.mu.Lock()
	w.who, w.acked = who, true
	if exp := claimsExpiry(who.Claims); !exp.IsZero() {
		w.expiry = time.AfterFunc(time.Until(exp), func() {
			if w.legacy {
				w.send(appendFrame(nil, "connection_error", nil, jsonMessage("JWT expired")))
			}
			w.closeWith(closeForbidden, "JWT expired")
		})
	}
	w.mu.Unlock()
	w.send(appendFrame(nil, "connection_ack", nil, nil))
	if w.legacy {
		w.send(appendFrame(nil, "ka", nil, nil))
		go w.keepAlive()
	}
	return true
}

// refuse ends a connection whose credentials were refused: 4403 (graphql-transport-ws),
// or connection_error then close (legacy).
func (w *wsConn) refuse(message string) bool {
	if w.legacy {
		w.send(appendFrame(nil, "connection_error", nil, jsonMessage(message)))
		w.closeWith(websocket.CloseNormalClosure, message)
		return false
	}
	w.closeWith(closeForbidden, "Forbidden: "+message)
	return false
}

func claimsExpiry(claims []byte) time.Time {
	if len(claims) == 0 {
		return time.Time{}
	}
	var c struct {
		Exp json.Number `json:"exp"`
	}
	if json.Unmarshal(claims, &c) != nil || c.Exp == "" {
		return time.Time{}
	}
	f, err := c.Exp.Float64()
	if err != nil {
		return time.Time{}
	}
	return time.Unix(int64(f), 0)
}

func (w *wsConn) keepAlive() {
	t := time.NewTicker(wsKeepAlive)
	defer t.Stop()
	for {
		select {
		case <-w.done:
			return
		case <-t.C:
			w.send(appendFrame(nil, "ka", nil, nil))
		}
	}
}

// start runs one operation: a subscription joins the hub; a query or mutation runs once
// and completes.
func (w *wsConn) start(id string, payload json.RawMessage) bool {
	w.mu.Lock()
	if _, dup := w.ops[id]; dup {
		w.mu.Unlock()
		if w.legacy {
			w.opError(id, "validation-failed", "an operation with id "+id+" is already running")
			return true
		}
		w.closeWith(closeDuplicateID, "Subscriber for "+id+" already exists")
		return false
	}
	if len(w.ops) >= w.maxSubs {
		w.mu.Unlock()
		w.opError(id, "validation-failed", "too many operations on this connection")
		return true
	}
	w.ops[id] = nil
	who := w.who
	w.mu.Unlock()

	// payload is the frame's own copy (json.RawMessage): the request may keep it.
	reqs, _, err := parseGraphQLBody(payload, nil)
	if err != nil || len(reqs) != 1 {
		w.forget(id)
		w.opError(id, "invalid-json", "the payload must be a GraphQL request object {query, variables, operationName}")
		return true
	}
	r := reqs[0]
	if len(r.Query) == 0 {
		w.forget(id)
		w.opError(id, "validation-failed", "the request has no query")
		return true
	}
	op := &wsOp{req: r, who: who}
	op.started = op
	q, fail, once, _ := w.compile(op)
	switch {
	case fail != nil:
		w.forget(id)
		w.opErrorBody(id, fail)
		return true
	case once:
		go w.once1(id, who, &r)
		return true
	}
	w.mu.Lock()
	if cur, still := w.ops[id]; !still || cur != nil || w.closed() {
		w.mu.Unlock()
		return true // completed by the client meanwhile
	}
	w.ops[id] = op
	w.mu.Unlock()
	sub, err := w.a.hub.Subscribe(context.Background(), q, w.pusher(id, op.started))
	w.attach(id, op, q, sub, err)
	return true
}

// wsOp is a live subscription of the connection, with what compiling it again needs.
type wsOp struct {
	req gqlRequest // its frame is its own: the request keeps it
	who principal
	// started is the operation as the client started it, before any replan: results are
	// sent while the operation id is still that operation, whichever plan gave them.
	started *wsOp
	// version is the catalog version sub's plan was compiled against; sub is nil until
	// the hub took it.
	version string
	sub     *realtime.Sub
}

// compile plans op against the tenant's current catalog: the hub's query of a
// subscription, or once for a query or mutation (it runs once and completes), or fail,
// the errors to answer with; transient when they are the server's (no catalog, no
// pool), not the operation's.
func (w *wsConn) compile(op *wsOp) (q realtime.Query, fail []byte, once, transient bool) {
	a, t, who, r := w.a, w.t, op.who, &op.req
	snap, err := a.s.reg.Ensure(context.Background(), t)
	if err != nil {
		return q, planner.AppendGraphQLErrors(nil, gqlCodeUnavailable, msgNoSchema, "$"), false, true
	}
	var st gqlState
	key := cache.AppendKey(nil, t.Name, snap.Version, who.Role, shapeHash(&st.hash, []byte("socket\x00"), r.Query, r.OperationName))
	compile := func() (planner.Executable, error) { return a.compileGraphQL(t, snap, who, r, true) }
	in := planner.Input{Variables: r.Variables}
	plan, err := a.plans.get(key, compile)
	if err == nil {
		if k, refined := plan.AppendKey(key, &in); refined {
			key = k
			plan, err = a.plans.get(key, compile)
		}
	}
	if err != nil {
		var resp planner.Response
		graphqlDoor{}.compileFailure(a, origin{sock: w.log}, &resp, err)
		return q, resp.Body, false, false
	}
	p, ok := plan.(*planner.Plan)
	if !ok || !p.Subscription {
		return q, nil, true, false
	}
	pool, err := a.pool(t)
	if err != nil {
		return q, planner.AppendGraphQLErrors(nil, gqlCodeUnavailable, msgConnection, "$"), false, true
	}
	op.version = snap.Version
	q = realtime.Query{Tenant: t.Name, DirectURL: t.DirectURL, Managed: a.s.cfg.CheckManaged(t.Config, "") == nil,
		Key: key, Plan: p, Variables: append([]byte(nil), r.Variables...), Pool: pool,
		Interval: t.Config.Limits.SubscriptionInterval.D(), Poll: t.Config.Limits.SubscriptionPoll.D(),
		Max: t.Config.Limits.MaxSubscriptions}
	if who.withSession() {
		sess := who.session("POST", "/v1/graphql")
		q.Session = &sess
	}
	return q, nil, false, false
}

// pusher sends the hub's results for the operation started, while it is the connection's
// operation id (replanned or not).
func (w *wsConn) pusher(id string, started *wsOp) realtime.Push {
	msgType := "next"
	if w.legacy {
		msgType = "data"
	}
	return func(body []byte) {
		w.mu.Lock()
		cur := w.ops[id]
		live := cur != nil && cur.started == started
		w.mu.Unlock()
		if live {
			w.send(appendFrame(nil, msgType, &id, body))
		}
	}
}

// attach gives op the subscription the hub made of q (or its refusal, err): op stays the
// operation id unless the client completed it, or the connection closed, meanwhile.
func (w *wsConn) attach(id string, op *wsOp, q realtime.Query, sub *realtime.Sub, err error) {
	if err != nil {
		w.mu.Lock()
		mine := w.ops[id] == op
		if mine {
			delete(w.ops, id)
		}
		w.mu.Unlock()
		if !mine {
			return
		}
		var resp planner.Response
		in := planner.Input{Variables: q.Variables}
		if !q.Plan.Fail(&in, err, &resp) {
			switch {
			case errors.Is(err, realtime.ErrTooMany):
				planner.WriteGraphQLError(&resp, 200, "too-many-requests", err.Error(), "$")
			case errors.Is(err, realtime.ErrClosed):
				planner.WriteGraphQLError(&resp, 200, gqlCodeUnavailable, err.Error(), "$")
			default:
				w.log.Error("subscribe", "tenant", w.t.Name, "err", err)
				planner.WriteGraphQLError(&resp, 200, "unexpected", "could not start the subscription", "$")
			}
		}
		w.opErrorBody(id, resp.Body)
		return
	}
	w.mu.Lock()
	if w.ops[id] == op && !w.closed() {
		op.sub = sub
		w.mu.Unlock()
		return
	}
	w.mu.Unlock()
	sub.Cancel()
}

// replan compiles the connection's subscriptions again against the tenant's current
// catalog, after it changed: a subscription that still validates goes on under its new
// plan (without sending its unchanged result again, a stream after the last row it
// sent); one that no longer does (a field it reads was dropped or renamed, or its role
// lost the privilege) ends with the errors a new subscription would get. When the
// server cannot compile (no catalog, no pool), a subscription keeps its plan.
func (w *wsConn) replan() {
	w.replanMu.Lock()
	defer w.replanMu.Unlock()
	snap := w.t.Snapshot()
	if snap == nil {
		return // hibernated: no subscription keeps it awake
	}
	w.mu.Lock()
	stale := map[string]*wsOp{}
	for id, op := range w.ops {
		if op != nil && op.sub != nil && op.version != snap.Version {
			stale[id] = op
		}
	}
	w.mu.Unlock()
	for id, old := range stale {
		op := &wsOp{req: old.req, who: old.who, started: old.started}
		q, fail, once, transient := w.compile(op)
		if transient {
			// The catalog or the pool failed, not the operation: it keeps its plan, and
			// the tenant's next change tries again.
			w.log.Warn("subscription replan", "tenant", w.t.Name, "err", string(fail))
			continue
		}
		if fail == nil && once {
			fail = planner.AppendGraphQLErrors(nil, "validation-failed", "the subscription is no longer a subscription", "$")
		}
		w.mu.Lock()
		mine := w.ops[id] == old && !w.closed()
		if mine {
			if fail != nil {
				delete(w.ops, id)
			} else {
				w.ops[id] = op
			}
		}
		w.mu.Unlock()
		if !mine {
			continue // completed by the client meanwhile, which cancelled old
		}
		if fail != nil {
			old.sub.Cancel()
			w.opErrorBody(id, fail)
			continue
		}
		sub, err := w.a.hub.Replace(context.Background(), old.sub, q, w.pusher(id, op.started))
		if errors.Is(err, realtime.ErrGone) {
			continue
		}
		w.attach(id, op, q, sub, err)
	}
}

// once1 answers a query or mutation sent over the socket with one result, then complete.
func (w *wsConn) once1(id string, who principal, r *gqlRequest) {
	a, t := w.a, w.t
	st := gqlStates.Get().(*gqlState)
	defer gqlStates.Put(st)
	x := &st.x
	x.reset()
	x.from = origin{sock: w.log}
	defer func() { x.from = origin{} }()
	body := func() []byte {
		snap, err := a.s.reg.Ensure(context.Background(), t)
		if err != nil {
			return planner.AppendGraphQLErrors(nil, gqlCodeUnavailable, msgNoSchema, "$")
		}
		pool, err := a.pool(t)
		if err != nil {
			return planner.AppendGraphQLErrors(nil, gqlCodeUnavailable, msgConnection, "$")
		}
		adm, err := pool.Admit(context.Background())
		if err != nil {
			return planner.AppendGraphQLErrors(nil, "too-many-requests", rejectionMessage(err), "$")
		}
		defer adm.Release()
		x.pool = pool
		x.session = who.withSession()
		if x.session {
			x.sess = who.session("POST", "/v1/graphql")
		}
		a.graphqlOne(t, snap, who, r, st)
		return x.w.Body
	}()
	msgType := "next"
	if w.legacy {
		msgType = "data"
	}
	w.mu.Lock()
	_, live := w.ops[id]
	w.mu.Unlock()
	if live {
		w.send(appendFrame(nil, msgType, &id, body))
		w.send(appendFrame(nil, "complete", &id, nil))
	}
	w.forget(id)
}

// stopOp ends the client's operation id. The legacy protocol answers stop with complete.
func (w *wsConn) stopOp(id string, answer bool) {
	w.mu.Lock()
	op, ok := w.ops[id]
	delete(w.ops, id)
	w.mu.Unlock()
	if op != nil && op.sub != nil {
		op.sub.Cancel()
	}
	if ok && answer {
		w.send(appendFrame(nil, "complete", &id, nil))
	}
}

func (w *wsConn) forget(id string) {
	w.mu.Lock()
	delete(w.ops, id)
	w.mu.Unlock()
}

// opError answers an operation that could not start with one error.
func (w *wsConn) opError(id, code, message string) {
	w.opErrorBody(id, planner.AppendGraphQLErrors(nil, code, message, "$"))
}

// opErrorBody sends the errors of body ({"errors":[…]}) for operation id: graphql-ws's
// error message carries the array; the legacy protocol's carries the object.
func (w *wsConn) opErrorBody(id string, body []byte) {
	payload := body
	if !w.legacy {
		_, _ = jsonx.EachMember(body, jsonx.SkipSpace(body, 0), func(k, v []byte) error {
			if string(k) == `"errors"` {
				payload = v
			}
			return nil
		})
	}
	w.send(appendFrame(nil, "error", &id, payload))
	if w.legacy {
		w.send(appendFrame(nil, "complete", &id, nil))
	}
}

// wsFrame is a message to write, or the close that ends the connection.
type wsFrame struct {
	data   []byte
	close  bool
	code   int
	reason string
}

// send queues a frame; a client too slow to take its messages is disconnected rather
// than buffered without bound.
func (w *wsConn) send(frame []byte) {
	if !w.enqueue(wsFrame{data: frame}) {
		go w.closeNow(websocket.CloseTryAgainLater, "the client does not read its messages fast enough")
	}
}

func (w *wsConn) enqueue(f wsFrame) bool {
	select {
	case <-w.done:
		return true
	default:
	}
	select {
	case w.out <- f:
		return true
	default:
		return false
	}
}

func (w *wsConn) writer() {
	for {
		select {
		case <-w.done:
			return
		case f := <-w.out:
			if f.close {
				w.closeNow(f.code, f.reason)
				return
			}
			_ = w.c.SetWriteDeadline(time.Now().Add(wsWriteWait))
			if err := w.c.WriteMessage(websocket.TextMessage, f.data); err != nil {
				w.stop()
				return
			}
		}
	}
}

func (w *wsConn) closed() bool {
	select {
	case <-w.done:
		return true
	default:
		return false
	}
}

// closeWith ends the connection with code and reason once the messages queued before
// it are written.
func (w *wsConn) closeWith(code int, reason string) {
	if !w.enqueue(wsFrame{close: true, code: code, reason: reason}) {
		w.closeNow(code, reason)
	}
}

// closeNow sends a close frame with code and reason at once, then ends the connection.
func (w *wsConn) closeNow(code int, reason string) {
	if len(reason) > 120 {
		reason = reason[:120]
	}
	_ = w.c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(time.Second))
	w.stop()
}

// stop ends the connection and its subscriptions, once.
func (w *wsConn) stop() {
	w.once.Do(func() {
		close(w.done)
		w.mu.Lock()
		ops := w.ops
		w.ops = map[string]*wsOp{}
		if w.expiry != nil {
			w.expiry.Stop()
		}
		w.mu.Unlock()
		for _, op := range ops {
			if op != nil && op.sub != nil {
				op.sub.Cancel()
			}
		}
		_ = w.c.NetConn().SetReadDeadline(time.Now())
		_ = w.c.Close()
	})
}

// appendFrame writes {"id":…,"type":…,"payload":…} (id and payload when given).
func appendFrame(dst []byte, typ string, id *string, payload []byte) []byte {
	dst = append(dst, '{')
	if id != nil {
		dst = append(dst, `"id":`...)
		dst = jsonx.AppendString(dst, *id)
		dst = append(dst, ',')
	}
	dst = append(dst, `"type":"`...)
	dst = append(dst, typ...)
	dst = append(dst, '"')
	if payload != nil {
		dst = append(dst, `,"payload":`...)
		dst = append(dst, payload...)
	}
	return append(dst, '}')
}

func jsonMessage(m string) []byte {
	return append(jsonx.AppendString(append([]byte(nil), `{"message":`...), m), '}')
}

// socket is an open WebSocket connection of either endpoint.
type socket interface {
	closeNow(code int, reason string)
}

// sockets tracks open WebSocket connections and their tenants, for the drain at shutdown
// and a tenant's move.
type sockets struct {
	mu     sync.Mutex
	open   map[socket]*control.Tenant
	closed bool
}

// add registers w, a socket of tenant t; a non-empty answer is why it must close instead.
// A tenant retired since the upgrade resolved it (a move switched it, closeTenant) is
// refused: the check and closeTenant's sweep both hold mu, and the registry retires the
// tenant before closeTenant runs.
func (s *sockets) add(w socket, t *control.Tenant) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return "the server is shutting down"
	}
	if t.Retired() {
		return "the tenant is served from elsewhere now: reconnect"
	}
	if s.open == nil {
		s.open = map[socket]*control.Tenant{}
	}
	s.open[w] = t
	return ""
}

// closeTenant closes the sockets of old, a tenant that moved to another database, with
// 1012 (service restart): clients reconnect, to the tenant where it is now.
func (s *sockets) closeTenant(old *control.Tenant) {
	s.mu.Lock()
	var gone []socket
	for w, t := range s.open {
		if t.Name == old.Name && t.DirectURL == old.DirectURL {
			gone = append(gone, w)
			delete(s.open, w)
		}
	}
	s.mu.Unlock()
	for _, w := range gone {
		w.closeNow(websocket.CloseServiceRestart, "the tenant moved to a database of its own: reconnect")
	}
}

// replan has the GraphQL sockets of tenant t compile their subscriptions again, after its
// catalog changed (wsConn.replan).
func (s *sockets) replan(t *control.Tenant) {
	s.mu.Lock()
	var ws []*wsConn
	for so, st := range s.open {
		if w, ok := so.(*wsConn); ok && st == t {
			ws = append(ws, w)
		}
	}
	s.mu.Unlock()
	for _, w := range ws {
		w.replan()
	}
}

func (s *sockets) remove(w socket) {
	s.mu.Lock()
	delete(s.open, w)
	s.mu.Unlock()
}

// drain closes every connection with 1012 (service restart): clients reconnect, to
// another replica or to this one once it is back.
func (s *sockets) drain() {
	s.mu.Lock()
	s.closed = true
	open := s.open
	s.open = nil
	s.mu.Unlock()
	for w := range open {
		w.closeNow(websocket.CloseServiceRestart, "the server is restarting")
	}
}
