package wire

// This file is a stand-in for engine.go, servers.go and prepared.go: it has the Engine API
// the front and the binary call, answers every query with EmptyQueryResponse and relays
// nothing. Delete it when the engine lands.

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/kapok-dev/kapok/control"
)

// EngineOptions configures an Engine.
type EngineOptions struct {
	Config  *control.Config
	Logger  *slog.Logger
	Metrics *Metrics
}

// Engine serves authenticated client connections.
type Engine struct {
	mu       sync.Mutex
	draining bool
	conns    map[net.Conn]struct{}
}

// NewEngine creates an engine.
func NewEngine(opts EngineOptions) *Engine { return &Engine{conns: map[net.Conn]struct{}{}} }

// Serve answers c until Terminate, EOF, drain or ctx.
func (e *Engine) Serve(ctx context.Context, c *Client, id Identity) error {
	e.mu.Lock()
	if e.draining {
		e.mu.Unlock()
		return nil
	}
	e.conns[c.Conn] = struct{}{}
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		delete(e.conns, c.Conn)
		e.mu.Unlock()
	}()
	stop := context.AfterFunc(ctx, func() { _ = c.Conn.Close() })
	defer stop()
	be := c.Backend
	be.Send(&pgproto3.ParameterStatus{Name: "server_version", Value: "16.0"})
	be.Send(&pgproto3.ParameterStatus{Name: "client_encoding", Value: "UTF8"})
	be.Send(&pgproto3.BackendKeyData{ProcessID: c.PID, SecretKey: binary.BigEndian.AppendUint32(nil, c.Secret)})
	be.Send(&pgproto3.ReadyForQuery{TxStatus: 'I'})
	if err := be.Flush(); err != nil {
		return err
	}
	for {
		m, err := be.Receive()
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		switch m.(type) {
		case *pgproto3.Terminate:
			return nil
		case *pgproto3.Query:
			be.Send(&pgproto3.EmptyQueryResponse{})
			be.Send(&pgproto3.ReadyForQuery{TxStatus: 'I'})
			if err := be.Flush(); err != nil {
				return err
			}
		}
	}
}

// Cancel cancels what the session with this key runs.
func (e *Engine) Cancel(pid, secret uint32) {}

// Drain closes idle sessions with FATAL 57P01.
func (e *Engine) Drain() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.draining = true
	for c := range e.conns {
		be := pgproto3.NewBackend(c, c)
		be.Send(&pgproto3.ErrorResponse{Severity: "FATAL", Code: "57P01", Message: "terminating connection due to administrator command"})
		_ = be.Flush()
		_ = c.Close()
	}
}

// Close releases the engine's server connections.
func (e *Engine) Close() {}

// ServerParams returns the parameters a server connection of t reports.
func (e *Engine) ServerParams(ctx context.Context, t *control.Tenant) (map[string]string, error) {
	return map[string]string{"server_version": "16.0"}, nil
}

// Forget closes a removed tenant's server connections.
func (e *Engine) Forget(tenant string) {}
