package bench

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/kapok-dev/kapok/internal/jsonx"
)

// gqlWSProtocol is the GraphQL over WebSocket protocol's subprotocol name (graphql-ws's
// graphql-transport-ws, the one Apollo and urql speak today).
const gqlWSProtocol = "graphql-transport-ws"

// Socket and subscription failures, by kind.
const (
	subErrDial      = iota // the upgrade failed
	subErrAck              // no connection_ack
	subErrSubscribe        // an error message answered a subscribe
	subErrComplete         // the server completed a subscription the client did not end
	subErrClosed           // the connection closed while the benchmark ran
	subErrProtocol         // a message the protocol does not allow here
	numSubErrKinds
)

var subErrKindNames = [numSubErrKinds]string{"dial", "ack", "subscribe", "complete", "closed", "protocol"}

// subErrors counts failures by kind and keeps the first message of each.
type subErrors struct {
	counts [numSubErrKinds]atomic.Uint64
	mu     sync.Mutex
	first  [numSubErrKinds]string
}

func (e *subErrors) add(kind int, msg string) {
	e.counts[kind].Add(1)
	e.mu.Lock()
	if e.first[kind] == "" {
		e.first[kind] = msg
	}
	e.mu.Unlock()
}

func (e *subErrors) summary() (map[string]uint64, map[string]string) {
	counts, first := map[string]uint64{}, map[string]string{}
	e.mu.Lock()
	defer e.mu.Unlock()
	for k := range numSubErrKinds {
		if n := e.counts[k].Load(); n > 0 {
			counts[subErrKindNames[k]] = n
			first[subErrKindNames[k]] = e.first[k]
		}
	}
	return counts, first
}

// liveSub is one subscription; only its socket's reader touches it once subscribed.
type liveSub struct {
	key     subKey
	message []byte // the subscribe message
	settled bool   // its first result (or its error) arrived; read and written by its socket's goroutines only
	// established is set at its first result; the run reads it once the writes start.
	established atomic.Bool
	seen        map[uint32]struct{}
}

// subSocket is one WebSocket connection of a tenant carrying many subscriptions; a
// subscription's protocol id is its index in subs plus one.
type subSocket struct {
	tenant *tenantData
	subs   []*liveSub
	conn   *websocket.Conn
	wmu    sync.Mutex
	done   chan struct{} // closed when the socket is over: its reader ended, or it never opened
}

// subRun is the state shared by the sockets of one benchmark run.
type subRun struct {
	url      string // ws://host:port + path with {tenant}
	adminKey string
	book     *pushBook
	errs     *subErrors
	sockets  []*subSocket
	groups   int // distinct (tenant, shape) pairs subscribed

	settled     sync.WaitGroup // one count per subscription, done at its first result or error
	established atomic.Int64   // subscriptions whose first result arrived
	measuring   atomic.Bool
	messages    atomic.Uint64 // next messages after the first of each subscription, while measuring
	closing     atomic.Bool
}

func (s *subSocket) write(msg []byte) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return s.conn.WriteMessage(websocket.TextMessage, msg)
}

// settleRest marks every subscription of s not yet settled, when the socket fails or ends.
func (s *subSocket) settleRest(r *subRun) {
	for _, sub := range s.subs {
		if !sub.settled {
			sub.settled = true
			r.settled.Done()
		}
	}
}

// open dials, initialises the connection and sends every subscribe message; a reader started
// once the server acknowledged handles what comes back. On failure every subscription of the
// socket counts as settled (and not established).
func (r *subRun) open(s *subSocket, dialer *websocket.Dialer) {
	fail := func(kind int, err error) {
		r.errs.add(kind, err.Error())
		s.settleRest(r)
		if s.conn != nil {
			s.conn.Close()
		}
		close(s.done)
	}
	hdr := http.Header{}
	headers := map[string]string{}
	if r.adminKey != "" {
		hdr.Set("X-Hasura-Admin-Secret", r.adminKey)
		headers["x-hasura-admin-secret"] = r.adminKey
	}
	url := strings.ReplaceAll(r.url, "{tenant}", s.tenant.name)
	conn, resp, err := dialer.Dial(url, hdr)
	if err != nil {
		if resp != nil {
			err = fmt.Errorf("%s: %w (HTTP %d)", url, err, resp.StatusCode)
		} else {
			err = fmt.Errorf("%s: %w", url, err)
		}
		fail(subErrDial, err)
		return
	}
	s.conn = conn
	if p := conn.Subprotocol(); p != gqlWSProtocol {
		fail(subErrDial, fmt.Errorf("%s: the server chose subprotocol %q, not %s", url, p, gqlWSProtocol))
		return
	}
	init, _ := json.Marshal(map[string]any{"type": "connection_init", "payload": map[string]any{"headers": headers}})
	if err := s.write(init); err != nil {
		fail(subErrAck, err)
		return
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		_, msg, err := conn.ReadMessage()
		if err != nil {
			fail(subErrAck, fmt.Errorf("waiting for connection_ack: %w", err))
			return
		}
		typ, _ := messageField(msg, "type")
		if typ == "connection_ack" {
			break
		}
		if typ == "ping" {
			_ = s.write([]byte(`{"type":"pong"}`))
			continue
		}
		fail(subErrAck, fmt.Errorf("%s instead of connection_ack: %.200s", typ, msg))
		return
	}
	_ = conn.SetReadDeadline(time.Time{})
	go r.read(s)
	for _, sub := range s.subs {
		if err := s.write(sub.message); err != nil {
			return // the reader sees the broken connection and settles the rest
		}
	}
}

// read handles one socket's messages until it closes.
func (r *subRun) read(s *subSocket) {
	defer close(s.done)
	defer s.settleRest(r)
	for {
		_, msg, err := s.conn.ReadMessage()
		at := time.Now()
		if err != nil {
			if !r.closing.Load() {
				r.errs.add(subErrClosed, err.Error())
			}
			return
		}
		typ, _ := messageField(msg, "type")
		switch typ {
		case "ping":
			_ = s.write([]byte(`{"type":"pong"}`))
			continue
		case "pong":
			continue
		}
		sub := s.sub(msg)
		if sub == nil {
			r.errs.add(subErrProtocol, fmt.Sprintf("%.200s", msg))
			continue
		}
		switch typ {
		case "next":
			if !sub.settled {
				sub.settled = true
				sub.established.Store(true)
				r.established.Add(1)
				r.settled.Done()
				continue
			}
			if r.measuring.Load() {
				r.messages.Add(1)
			}
			payload, _ := jsonMember(msg, "payload")
			r.book.eachMarker(payload, func(seq uint32) {
				if sub.seen == nil {
					sub.seen = map[uint32]struct{}{}
				}
				if _, dup := sub.seen[seq]; !dup {
					sub.seen[seq] = struct{}{}
					r.book.received(seq, at)
				}
			})
		case "error":
			r.errs.add(subErrSubscribe, fmt.Sprintf("%.300s", msg))
			if !sub.settled {
				sub.settled = true
				r.settled.Done()
			}
		case "complete":
			r.errs.add(subErrComplete, fmt.Sprintf("%.200s", msg))
			if !sub.settled {
				sub.settled = true
				r.settled.Done()
			}
		default:
			r.errs.add(subErrProtocol, fmt.Sprintf("%.200s", msg))
		}
	}
}

// sub is the subscription a message's id names, or nil.
func (s *subSocket) sub(msg []byte) *liveSub {
	id, ok := messageField(msg, "id")
	if !ok {
		return nil
	}
	n, err := strconv.Atoi(id)
	if err != nil || n < 1 || n > len(s.subs) {
		return nil
	}
	return s.subs[n-1]
}

// close ends the connection with a normal closure.
func (s *subSocket) close() { closeNormally(s.conn, &s.wmu) }

// closeNormally sends a normal closure on conn (nil: never opened) and closes it; wmu
// serialises the connection's writes.
func closeNormally(conn *websocket.Conn, wmu *sync.Mutex) {
	if conn == nil {
		return
	}
	wmu.Lock()
	_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	wmu.Unlock()
	_ = conn.Close()
}

// messageField reads a string member of a protocol message (type, id) without decoding the rest.
func messageField(msg []byte, key string) (string, bool) {
	raw, ok := jsonMember(msg, key)
	if !ok || jsonx.KindOf(raw) != jsonx.String {
		return "", false
	}
	s, err := jsonx.Unquote(nil, raw[1:len(raw)-1])
	return string(s), err == nil
}
