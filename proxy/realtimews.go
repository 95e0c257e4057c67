package proxy

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/valyala/fasthttp"

	"github.com/kapok-dev/kapok/control"
	"github.com/kapok-dev/kapok/poolmgr"
	"github.com/kapok-dev/kapok/realtime"
)

// Supabase Realtime: realtime-js connects to /realtime/v1/websocket?apikey=…&vsn=…, and
// sends broadcasts without a joined channel to /realtime/v1/api/broadcast.
var (
	prefixRealtime          = []byte("/realtime/v1")
	pathRealtimeSocket      = []byte("/realtime/v1/websocket")
	prefixRealtimeBroadcast = []byte("/realtime/v1/api/broadcast")
)

// rtIdleTimeout closes a socket that sent nothing, not even its heartbeat (every 25 s by
// default), for this long.
const rtIdleTimeout = 60 * time.Second

var rtUpgrader = websocket.FastHTTPUpgrader{
	// Credentials travel in the URL and the join payloads, never in cookies.
	CheckOrigin:     func(*fasthttp.RequestCtx) bool { return true },
	ReadBufferSize:  4096,
	WriteBufferSize: 4096,
}

// realtime serves /realtime/v1/…: the socket and the REST broadcast endpoint.
func (a *apis) realtime(ctx *fasthttp.RequestCtx, t *control.Tenant, rest []byte) string {
	g, err := a.guardFor(t)
	if err != nil {
		a.s.requestLog(ctx).Error("tenant guard", "tenant", t.Name, "err", err)
		writeJSONError(ctx, fasthttp.StatusInternalServerError, "unexpected", "the tenant's access settings are invalid")
		return outcomeError
	}
	if !a.admit(ctx, g, routeRealtime) {
		return outcomeRejected
	}
	a.prepare(ctx, t)
	switch {
	case bytes.Equal(rest, pathRealtimeSocket):
		return a.realtimeSocket(ctx, t, g)
	case underPrefix(rest, prefixRealtimeBroadcast):
		return a.realtimeBroadcast(ctx, t, g, rest[len(prefixRealtimeBroadcast):])
	}
	writeJSONError(ctx, fasthttp.StatusNotFound, "not-found", "no route for "+string(ctx.Method())+" "+string(ctx.Path()))
	return outcomeClientError
}

// realtimeAuth resolves a channel's credentials: the socket's apikey, with a channel's
// access token as its bearer token, through the same checks as an HTTP request.
func (a *apis) realtimeAuth(t *control.Tenant, g *guard, apikey string) func(token string) (realtime.Principal, error) {
	return func(token string) (realtime.Principal, error) {
		var rc fasthttp.RequestCtx
		if apikey != "" {
			rc.Request.Header.Set("apikey", apikey)
		}
		if token != "" {
			rc.Request.Header.Set("Authorization", "Bearer "+token)
		}
		who, err := g.authenticate(&rc)
		if err != nil {
			var ae *authError
			if !errors.As(err, &ae) {
				return realtime.Principal{}, &realtime.AuthError{Code: "Unauthorized", Message: err.Error()}
			}
			a.s.metrics.rejected.WithLabelValues(ae.reason()).Inc()
			switch {
			case ae.message == "JWT expired":
				return realtime.Principal{}, &realtime.AuthError{Code: "InvalidJWTToken", Message: "Token has expired"}
			case strings.HasPrefix(ae.message, "JWT"), strings.HasPrefix(ae.message, "invalid JWT"):
				return realtime.Principal{}, &realtime.AuthError{Code: "InvalidJWTToken", Message: ae.message}
			}
			return realtime.Principal{}, &realtime.AuthError{Code: "Unauthorized", Message: ae.message}
		}
		return realtimePrincipal(who), nil
	}
}

func realtimePrincipal(who principal) realtime.Principal {
	return realtime.Principal{
		Session: poolmgr.Session{Role: who.Role, Claims: who.Claims, Method: "GET", Path: "/realtime/v1/websocket"},
		Expires: claimsExpiry(who.Claims),
	}
}

// realtimeSocket upgrades the request after checking the socket's apikey, as Supabase
// refuses the connection of an invalid one.
func (a *apis) realtimeSocket(ctx *fasthttp.RequestCtx, t *control.Tenant, g *guard) string {
	if !websocket.FastHTTPIsWebSocketUpgrade(ctx) {
		writeJSONError(ctx, fasthttp.StatusBadRequest, "bad-request", "connect with a WebSocket: GET /realtime/v1/websocket?apikey=…&vsn=2.0.0")
		return outcomeClientError
	}
	vsn := string(ctx.QueryArgs().Peek("vsn"))
	switch vsn {
	case "":
		vsn = realtime.Vsn1 // Phoenix's default
	case realtime.Vsn1, realtime.Vsn2:
	default:
		writeJSONError(ctx, fasthttp.StatusBadRequest, "bad-request", "unsupported serializer version vsn="+vsn+": use 1.0.0 or 2.0.0")
		return outcomeClientError
	}
	apikey := string(ctx.QueryArgs().Peek("apikey"))
	if apikey == "" {
		apikey = string(ctx.Request.Header.Peek("apikey"))
	}
	auth := a.realtimeAuth(t, g, apikey)
	if _, err := auth(""); err != nil {
		status := fasthttp.StatusUnauthorized
		var ae *authError
		if errors.As(err, &ae) {
			status = ae.status
		}
		writeJSONError(ctx, status, "access-denied", err.Error())
		return outcomeClientError
	}
	managed := a.s.cfg.CheckManaged(t.Config, "") == nil
	err := rtUpgrader.Upgrade(ctx, func(c *websocket.Conn) {
		r := &rtSocket{a: a, c: c, out: make(chan rtFrame, wsSendQueue), done: make(chan struct{})}
		r.rc = a.channels.Connect(realtime.ConnOptions{Tenant: t, Vsn: vsn, Managed: managed, Authenticate: auth, Send: r.send})
		if reason := a.sockets.add(r, t); reason != "" {
			r.closeNow(websocket.CloseServiceRestart, reason)
			return
		}
		defer a.sockets.remove(r)
		r.serve(t.Config.Limits.MaxBodyBytes)
	})
	if err != nil {
		return outcomeClientError // the upgrader answered the handshake's error itself
	}
	return outcomeOK
}

// rtSocket is one Supabase Realtime WebSocket: it reads frames into its realtime.Conn
// and writes what that queues.
type rtSocket struct {
	a    *apis
	c    *websocket.Conn
	rc   *realtime.Conn
	out  chan rtFrame
	done chan struct{}
	once sync.Once
	// wmu orders writes with stop: once stopped (the handler may have returned and
	// fasthttp reused the connection), nothing is written.
	wmu     sync.Mutex
	stopped bool
}

type rtFrame struct {
	data   []byte
	binary bool
	close  bool
	code   int
	reason string
}

func (r *rtSocket) serve(maxBody int) {
	_ = r.c.NetConn().SetDeadline(time.Time{}) // the HTTP server's timeouts end with the upgrade
	r.c.SetReadLimit(int64(maxBody))
	go r.writer()
	defer func() {
		// A close queued behind messages goes out after them.
		select {
		case <-r.done:
		case <-time.After(2 * time.Second):
		}
		r.stop()
	}()
	idle := r.a.rtIdle
	for {
		_ = r.c.SetReadDeadline(time.Now().Add(idle))
		typ, data, err := r.c.ReadMessage()
		if err != nil {
			var te interface{ Timeout() bool }
			if errors.As(err, &te) && te.Timeout() {
				r.closeNow(websocket.CloseNormalClosure, "no message (heartbeat) within "+idle.String())
			}
			r.stop()
			return
		}
		if err := r.rc.Handle(typ == websocket.BinaryMessage, data); err != nil {
			r.closeWith(websocket.CloseUnsupportedData, "malformed message")
			return
		}
	}
}

// send queues a frame; a client too slow to read its messages is disconnected rather
// than buffered without bound.
func (r *rtSocket) send(binary bool, data []byte) {
	select {
	case <-r.done:
		return
	default:
	}
	select {
	case r.out <- rtFrame{data: data, binary: binary}:
	default:
		go r.closeNow(websocket.CloseTryAgainLater, "the client does not read its messages fast enough")
	}
}

func (r *rtSocket) writer() {
	for {
		select {
		case <-r.done:
			return
		case f := <-r.out:
			if f.close {
				r.closeNow(f.code, f.reason)
				return
			}
			typ := websocket.TextMessage
			if f.binary {
				typ = websocket.BinaryMessage
			}
			r.wmu.Lock()
			err := errSocketStopped
			if !r.stopped {
				_ = r.c.SetWriteDeadline(time.Now().Add(wsWriteWait))
				err = r.c.WriteMessage(typ, f.data)
			}
			r.wmu.Unlock()
			if err != nil {
				r.stop()
				return
			}
		}
	}
}

func (r *rtSocket) closeWith(code int, reason string) {
	select {
	case r.out <- rtFrame{close: true, code: code, reason: reason}:
	default:
		r.closeNow(code, reason)
	}
}

func (r *rtSocket) closeNow(code int, reason string) {
	if len(reason) > 120 {
		reason = reason[:120]
	}
	r.wmu.Lock()
	if !r.stopped {
		_ = r.c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(time.Second))
	}
	r.wmu.Unlock()
	r.stop()
}

var errSocketStopped = errors.New("socket stopped")

// stop ends the socket and leaves its channels, once.
func (r *rtSocket) stop() {
	r.once.Do(func() {
		r.wmu.Lock()
		r.stopped = true
		r.wmu.Unlock()
		close(r.done)
		r.rc.Close()
		_ = r.c.NetConn().SetReadDeadline(time.Now())
		_ = r.c.Close()
	})
}

// realtimeBroadcast serves realtime-js's REST broadcasts: POST /api/broadcast with
// {messages: [{topic, event, payload, private}]} (channel.send() before a join), and POST
// /api/broadcast/{topic}/events/{event} with the payload as body (httpSend). Both answer
// 202 as Supabase does.
func (a *apis) realtimeBroadcast(ctx *fasthttp.RequestCtx, t *control.Tenant, g *guard, rest []byte) string {
	if !ctx.IsPost() {
		ctx.Response.Header.Set("Allow", "POST")
		writeJSONError(ctx, fasthttp.StatusMethodNotAllowed, "method-not-allowed", "use POST")
		return outcomeClientError
	}
	if _, err := g.authenticate(ctx); err != nil {
		var ae *authError
		status := fasthttp.StatusUnauthorized
		if errors.As(err, &ae) {
			a.s.metrics.rejected.WithLabelValues(ae.reason()).Inc()
			status = ae.status
		}
		writeJSONError(ctx, status, "access-denied", err.Error())
		return outcomeClientError
	}
	body := ctx.PostBody()
	if len(body) > t.Config.Limits.MaxBodyBytes {
		a.s.metrics.rejected.WithLabelValues("body_too_large").Inc()
		writeBodyTooLarge(ctx, routeRealtime, t.Config.Limits.MaxBodyBytes)
		return outcomeClientError
	}
	type msg struct {
		Topic   string          `json:"topic"`
		Event   string          `json:"event"`
		Payload json.RawMessage `json:"payload"`
		Private bool            `json:"private"`
	}
	var msgs []msg
	if len(rest) == 0 || string(rest) == "/" {
		var b struct {
			Messages []msg `json:"messages"`
		}
		if err := json.Unmarshal(body, &b); err != nil || len(b.Messages) == 0 {
			writeJSONError(ctx, fasthttp.StatusBadRequest, "bad-request", `the body must be {"messages":[{"topic","event","payload"}]}`)
			return outcomeClientError
		}
		msgs = b.Messages
	} else {
		// /{topic}/events/{event}
		parts := bytes.Split(bytes.TrimPrefix(rest, []byte("/")), []byte("/"))
		if len(parts) != 3 || string(parts[1]) != "events" {
			writeJSONError(ctx, fasthttp.StatusNotFound, "not-found", "no route for POST "+string(ctx.Path()))
			return outcomeClientError
		}
		topic, err1 := url.PathUnescape(string(parts[0]))
		event, err2 := url.PathUnescape(string(parts[2]))
		if err1 != nil || err2 != nil || !json.Valid(body) {
			writeJSONError(ctx, fasthttp.StatusBadRequest, "bad-request", "the body must be the JSON payload of the broadcast")
			return outcomeClientError
		}
		msgs = []msg{{Topic: topic, Event: event, Payload: append(json.RawMessage(nil), body...), Private: string(ctx.QueryArgs().Peek("private")) == "true"}}
	}
	for _, m := range msgs {
		if m.Private {
			writeJSONError(ctx, fasthttp.StatusForbidden, "access-denied", "Kapok serves public channels only (no realtime.messages policies)")
			return outcomeClientError
		}
		if m.Topic == "" || m.Event == "" {
			writeJSONError(ctx, fasthttp.StatusBadRequest, "bad-request", "every message needs a topic and an event")
			return outcomeClientError
		}
	}
	managed := a.s.cfg.CheckManaged(t.Config, "") == nil
	for _, m := range msgs {
		if err := a.channels.Broadcast(t, managed, m.Topic, m.Event, m.Payload); err != nil {
			ctx.Response.Header.Set("Retry-After", "1")
			writeJSONError(ctx, fasthttp.StatusTooManyRequests, "too-many-requests", err.Error())
			return outcomeRejected
		}
	}
	ctx.SetStatusCode(fasthttp.StatusAccepted)
	return outcomeOK
}
