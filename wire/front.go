package wire

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/xdg-go/scram"

	"github.com/kapok-dev/kapok/control"
	"github.com/kapok-dev/kapok/internal/certfile"
)

// ServerOptions is what the wire port needs.
type ServerOptions struct {
	Config   *control.Config
	Registry *control.Registry
	Auth     Authenticator
	Logger   *slog.Logger
	Metrics  *Metrics
	Engine   *Engine
}

// relay is what the front needs of the Engine (tests put a fake in its place).
type relay interface {
	Serve(ctx context.Context, c *Client, id Identity) error
	Cancel(pid, secret uint32)
	Drain()
}

// Server is the wire port: it accepts connections, negotiates TLS, authenticates and routes
// each client to its tenant, then hands it to the Engine.
type Server struct {
	cfg       *control.Config
	reg       *control.Registry
	auth      Authenticator
	log       *slog.Logger
	metrics   *Metrics
	engine    relay
	certs     *certfile.Source // nil: no TLS
	verifiers *verifiers

	// ctx is every session's context; it ends when Shutdown gives up waiting.
	ctx    context.Context
	cancel context.CancelFunc

	mu        sync.Mutex
	ln        net.Listener
	closing   bool
	conns     map[net.Conn]struct{}
	keys      map[uint32]uint32 // live sessions' BackendKeyData: pid -> secret
	admitted  int
	perTenant map[string]int
	wg        sync.WaitGroup
}

// startupSlack lets connections still in their startup exchange exceed max_client_conns a
// little, so that the ones beyond it can be told why (53300) rather than dropped.
const startupSlack = 100

// NewServer builds the wire port; Serve runs it.
func NewServer(opts ServerOptions) (*Server, error) {
	if opts.Engine == nil {
		return nil, errors.New("wire: ServerOptions.Engine is required")
	}
	return newServer(opts, opts.Engine)
}

func newServer(opts ServerOptions, engine relay) (*Server, error) {
	if opts.Config == nil || opts.Registry == nil || opts.Auth == nil {
		return nil, errors.New("wire: ServerOptions needs Config, Registry and Auth")
	}
	s := &Server{
		cfg: opts.Config, reg: opts.Registry, auth: opts.Auth, log: opts.Logger, metrics: opts.Metrics, engine: engine,
		conns: map[net.Conn]struct{}{}, keys: map[uint32]uint32{}, perTenant: map[string]int{},
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.metrics == nil {
		s.metrics = NewMetrics()
	}
	s.verifiers = newVerifiers(s.log)
	if w := &s.cfg.Wire; w.TLS() {
		certs, err := certfile.Open(w.TLSCertFile, w.TLSKeyFile, certfile.Options{Log: s.log, Name: "wire TLS"})
		if err != nil {
			return nil, err
		}
		s.certs = certs
	} else if !w.Plaintext() {
		s.log.Warn("wire: no TLS certificate (wire.tls_cert_file) and plain text not allowed: every client will be refused; " +
			"configure a certificate, or set wire.allow_plaintext: true")
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

// Serve accepts connections on ln until Shutdown, then returns nil.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		ln.Close()
		return nil
	}
	s.ln = ln
	s.mu.Unlock()
	var backoff time.Duration
	for {
		conn, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			closing := s.closing
			s.mu.Unlock()
			if closing {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.log.Warn("wire: accept", "err", err, "retry_in", backoff)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		s.mu.Lock()
		if s.closing || len(s.conns) >= s.cfg.Wire.MaxClientConns+startupSlack {
			s.mu.Unlock()
			conn.Close()
			continue
		}
		s.conns[conn] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.handle(conn)
	}
}

// Addr is the address Serve listens on (nil before Serve).
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Shutdown stops accepting, lets the Engine close idle sessions (Drain) and waits for the
// others to end, until ctx ends: then it closes them.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	if s.ln != nil {
		s.ln.Close()
	}
	s.mu.Unlock()
	s.engine.Drain()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
		s.cancel()
		s.mu.Lock()
		for c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		<-done
	}
	s.cancel()
	return err
}

// fatal is a refusal of the startup exchange: an ErrorResponse with severity FATAL.
type fatal struct {
	code, message, hint string
	outcome             string // kapok_wire_connections_total; "" = none counted
}

func (f *fatal) Error() string { return f.code + ": " + f.message }

func (s *Server) handle(conn net.Conn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, conn)
		s.mu.Unlock()
		conn.Close()
	}()
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("wire: panic serving a connection", "panic", p, "stack", string(debug.Stack()))
		}
	}()
	_ = conn.SetDeadline(time.Now().Add(s.cfg.Wire.StartupTimeout.D()))
	fc := fast(conn)
	c := &clientConn{s: s, conn: fc, raw: fc}
	c.run()
}

// clientConn is one connection through its startup exchange.
type clientConn struct {
	s    *Server
	raw  net.Conn
	conn net.Conn // raw, or the TLS connection over it
	tls  bool
	cert *tls.Certificate // presented in the TLS handshake
	be   *pgproto3.Backend
	mr   *messageReader // be reads the client through it
	addr netip.Addr

	tenant   *control.Tenant
	admitted bool
}

// serverTLS is the TLS config of this connection; it records the certificate presented,
// whose hash is the connection's channel binding data.
func (c *clientConn) serverTLS() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			c.cert = c.s.certs.Certificate()
			return c.cert, nil
		},
	}
}

func (c *clientConn) run() {
	s := c.s
	if ap, err := netip.ParseAddrPort(c.raw.RemoteAddr().String()); err == nil {
		c.addr = ap.Addr().Unmap()
	}
	p, err := c.startup()
	if err != nil {
		c.refuse(err)
		return
	}
	if p == nil {
		return // a cancel request, or the client went away
	}
	c.mr = newMessageReader(c.conn)
	c.be = pgproto3.NewBackend(c.mr, c.conn)
	c.be.SetMaxBodyLen(s.cfg.Wire.MaxMessageBytes)
	defer c.release()
	id, err := c.authenticate(p)
	if err != nil {
		c.refuse(err)
		return
	}
	pid, secret := s.newKey()
	defer s.dropKey(pid)
	s.mu.Lock()
	closing := s.closing
	s.mu.Unlock()
	if closing {
		c.refuse(&fatal{code: "57P01", message: "terminating connection due to administrator command"})
		return
	}
	_ = c.conn.SetDeadline(time.Time{})
	s.metrics.Connection(c.tenant.Name, OutcomeOK)
	s.metrics.Clients(c.tenant.Name, 1)
	defer s.metrics.Clients(c.tenant.Name, -1)
	err = s.engine.Serve(s.ctx, &Client{Conn: c.conn, Backend: c.be, PID: pid, Secret: secret, reader: c.mr}, id)
	if err != nil && !errors.Is(err, net.ErrClosed) && !errors.Is(err, io.EOF) && !errors.Is(err, context.Canceled) {
		s.log.Debug("wire: session ended", "tenant", c.tenant.Name, "err", err)
	}
}

// startup reads startup packets until a session's: it answers SSLRequest and GSSEncRequest
// and routes a CancelRequest (then returns nil).
func (c *clientConn) startup() (*startupPacket, error) {
	for {
		p, err := readStartup(c.conn)
		if err != nil {
			var ev errProtocolVersion
			if errors.As(err, &ev) {
				return nil, &fatal{code: "0A000", message: ev.Error(), outcome: OutcomeProtocol}
			}
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return nil, nil
			}
			var ne net.Error
			if errors.As(err, &ne) {
				return nil, nil // timed out, reset: nobody to answer
			}
			return nil, &fatal{code: "08P01", message: err.Error(), outcome: OutcomeProtocol}
		}
		switch p.kind {
		case startupSSL:
			if c.tls {
				return nil, &fatal{code: "08P01", message: "SSLRequest on a TLS connection", outcome: OutcomeProtocol}
			}
			if c.s.certs == nil {
				if _, err := c.conn.Write([]byte{'N'}); err != nil {
					return nil, nil
				}
				continue
			}
			if _, err := c.conn.Write([]byte{'S'}); err != nil {
				return nil, nil
			}
			tc := tls.Server(c.raw, c.serverTLS())
			if err := tc.Handshake(); err != nil {
				c.s.log.Debug("wire: TLS handshake", "addr", c.addr, "err", err)
				c.s.metrics.Connection("", OutcomeProtocol)
				return nil, nil
			}
			c.conn, c.tls = tc, true
		case startupGSSEnc:
			if _, err := c.conn.Write([]byte{'N'}); err != nil {
				return nil, nil
			}
		case startupCancel:
			c.s.cancelRequest(p.pid, p.secret)
			return nil, nil
		case startupSession:
			return p, nil
		}
	}
}

// cancelRequest forwards a cancel whose key is a live session's; PostgreSQL answers none.
func (s *Server) cancelRequest(pid uint32, secret []byte) {
	if len(secret) != 4 {
		return
	}
	want := binary.BigEndian.Uint32(secret)
	s.mu.Lock()
	have, ok := s.keys[pid]
	s.mu.Unlock()
	var a, b [4]byte
	binary.BigEndian.PutUint32(a[:], have)
	binary.BigEndian.PutUint32(b[:], want)
	if ok && subtle.ConstantTimeCompare(a[:], b[:]) == 1 {
		s.engine.Cancel(pid, want)
	}
}

// newKey draws a session's BackendKeyData, unique among live sessions.
func (s *Server) newKey() (pid, secret uint32) {
	var b [8]byte
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		_, _ = rand.Read(b[:])
		pid, secret = binary.BigEndian.Uint32(b[:4])&0x7fffffff, binary.BigEndian.Uint32(b[4:])
		if _, taken := s.keys[pid]; pid != 0 && !taken {
			s.keys[pid] = secret
			return pid, secret
		}
	}
}

func (s *Server) dropKey(pid uint32) {
	s.mu.Lock()
	delete(s.keys, pid)
	s.mu.Unlock()
}

// authenticate routes the session to its tenant, applies the tenant's admission rules and
// checks the client's credentials. It sends AuthenticationOk on success.
func (c *clientConn) authenticate(p *startupPacket) (Identity, error) {
	s := c.s
	if p.minor > protocolMinor || len(p.unknownOpt) > 0 {
		c.be.Send(&pgproto3.NegotiateProtocolVersion{NewestMinorProtocol: protocolMinor, UnrecognizedOptions: p.unknownOpt})
	}
	user := p.params["user"]
	if user == "" {
		return Identity{}, &fatal{code: "28000", message: "no PostgreSQL user name specified in startup packet", outcome: OutcomeProtocol}
	}
	if r, ok := p.params["replication"]; ok && r != "false" && r != "off" && r != "0" && r != "no" {
		return Identity{}, &fatal{code: "0A000", message: "replication connections are not supported by Kapok", outcome: OutcomeProtocol}
	}
	t, role, err := c.route(user, p.params["database"])
	if err != nil {
		return Identity{}, err
	}
	c.tenant = t
	if !allowed(t.Config.AllowCIDRs, c.addr) {
		return Identity{}, &fatal{code: "28000", outcome: OutcomeRefusedAddress,
			message: fmt.Sprintf("client address %s may not connect as user %q", c.addr, user)}
	}
	if !c.tls && !s.cfg.Wire.Plaintext() {
		return Identity{}, &fatal{code: "28000", outcome: OutcomeTLSRequired,
			message: "this server accepts only TLS connections",
			hint:    "connect with sslmode=require (or sslmode=verify-full with the server's CA)"}
	}
	if err := c.admit(); err != nil {
		return Identity{}, err
	}
	params, err := sessionParams(p.params)
	if err != nil {
		return Identity{}, &fatal{code: "08P01", message: err.Error(), outcome: OutcomeProtocol}
	}
	id := Identity{Tenant: t, User: role, Params: params, Addr: c.addr}
	if err := c.credentials(&id, user); err != nil {
		return Identity{}, err
	}
	c.be.Send(&pgproto3.AuthenticationOk{})
	return id, nil
}

// route finds the tenant: user "role.tenant" (the part after the last dot a tenant), else
// the database (else the user, as PostgreSQL defaults the database) names the tenant.
func (c *clientConn) route(user, database string) (*control.Tenant, string, error) {
	if i := strings.LastIndexByte(user, '.'); i > 0 && i < len(user)-1 {
		if t := c.s.reg.Tenant(user[i+1:]); t != nil {
			// libpq sends the user as the database when none is given.
			if database != "" && database != t.Name && database != user && database != databaseOf(t) {
				return nil, "", unknownDatabase(database)
			}
			return t, user[:i], nil
		}
	}
	name := database
	if name == "" {
		name = user
	}
	t := c.s.reg.Tenant(name)
	if t == nil {
		return nil, "", unknownDatabase(name)
	}
	return t, user, nil
}

func unknownDatabase(name string) error {
	return &fatal{code: "3D000", message: fmt.Sprintf("database %q does not exist", name), outcome: OutcomeUnknownTenant}
}

// databaseOf is the Postgres database the tenant lives in.
func databaseOf(t *control.Tenant) string {
	u, err := url.Parse(t.DirectURL)
	if err != nil {
		return ""
	}
	return strings.TrimPrefix(u.Path, "/")
}

// allowed reports whether addr is in the tenant's allow_cidrs (empty: anyone).
func allowed(cidrs []string, addr netip.Addr) bool {
	if len(cidrs) == 0 {
		return true
	}
	for _, s := range cidrs {
		if p, err := control.ParseAddrOrPrefix(s); err == nil && addr.IsValid() && p.Contains(addr) {
			return true
		}
	}
	return false
}

// admit counts the connection against the process's and the tenant's caps.
func (c *clientConn) admit() error {
	s := c.s
	name := c.tenant.Name
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.admitted >= s.cfg.Wire.MaxClientConns {
		return &fatal{code: "53300", message: "sorry, too many clients already", outcome: OutcomeTooMany}
	}
	if limit := c.tenant.Config.Limits.MaxWireConnections; s.perTenant[name] >= limit {
		return &fatal{code: "53300", message: fmt.Sprintf("too many connections for database %q", name), outcome: OutcomeTooMany,
			hint: "close idle connections, or raise the tenant's limits.max_wire_connections"}
	}
	s.admitted++
	s.perTenant[name]++
	c.admitted = true
	return nil
}

func (c *clientConn) release() {
	if !c.admitted {
		return
	}
	s := c.s
	s.mu.Lock()
	s.admitted--
	if s.perTenant[c.tenant.Name]--; s.perTenant[c.tenant.Name] <= 0 {
		delete(s.perTenant, c.tenant.Name)
	}
	s.mu.Unlock()
}

// sessionParams are the startup parameters the session applies like SET: all but user,
// database and replication, with options' -c settings.
func sessionParams(in map[string]string) (map[string]string, error) {
	out := map[string]string{}
	for k, v := range in {
		switch k {
		case "user", "database", "replication":
		case "options":
			opts, err := parseOptions(v)
			if err != nil {
				return nil, err
			}
			for ok, ov := range opts {
				out[ok] = ov
			}
		default:
			out[k] = v
		}
	}
	return out, nil
}

// credentials authenticates the client as user: SCRAM-SHA-256 against the role's own
// password when it is the tenant's own role or one it may use and has one, else a tenant
// credential (admin key, API key, JWT) sent as a password.
func (c *clientConn) credentials(id *Identity, user string) error {
	s, t, role := c.s, c.tenant, id.User
	failed := &fatal{code: "28P01", message: fmt.Sprintf("password authentication failed for user %q", user), outcome: OutcomeAuthFailed}
	own := role == t.Config.OwnRole()
	if own || s.auth.Usable(t.Name, role) {
		ctx, cancel := context.WithTimeout(s.ctx, s.cfg.Wire.StartupTimeout.D())
		v := s.verifiers.get(ctx, t.DirectURL, role)
		cancel()
		if v != nil {
			if err := c.scram(v); err != nil {
				s.log.Info("wire: authentication failed", "tenant", t.Name, "user", user, "addr", c.addr, "method", "scram", "err", err)
				return failed
			}
			if !own {
				id.Role = role
			}
			return nil
		}
	}
	c.be.Send(&pgproto3.AuthenticationCleartextPassword{})
	if err := c.be.Flush(); err != nil {
		return err
	}
	_ = c.be.SetAuthType(pgproto3.AuthTypeCleartextPassword)
	m, err := c.be.Receive()
	if err != nil {
		return clientGone(err)
	}
	pw, ok := m.(*pgproto3.PasswordMessage)
	if !ok {
		return &fatal{code: "08P01", message: fmt.Sprintf("expected password response, got message type %T", m), outcome: OutcomeProtocol}
	}
	r, claims, err := s.auth.Credential(t.Name, pw.Password)
	if err != nil {
		s.log.Info("wire: authentication failed", "tenant", t.Name, "user", user, "addr", c.addr, "method", "password", "err", err)
		return failed
	}
	id.Role, id.Claims, id.Token = r, claims, r != "" || claims != nil
	return nil
}

// scram runs a SCRAM-SHA-256 exchange against v; over TLS it offers channel binding
// (SCRAM-SHA-256-PLUS, tls-server-end-point) too.
func (c *clientConn) scram(v *verifier) error {
	mechs := []string{"SCRAM-SHA-256"}
	var cb scram.ChannelBinding
	if c.cert != nil {
		mechs = []string{"SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"}
		cb = scram.ChannelBinding{Type: scram.ChannelBindingTLSServerEndpoint, Data: endpointBinding(c.cert.Leaf)}
	}
	srv, err := scram.SHA256.NewServer(func(string) (scram.StoredCredentials, error) { return v.creds, nil })
	if err != nil {
		return err
	}
	conv := srv.NewConversation()
	if c.cert != nil {
		conv = srv.NewConversationWithChannelBinding(cb)
	}
	c.be.Send(&pgproto3.AuthenticationSASL{AuthMechanisms: mechs})
	if err := c.be.Flush(); err != nil {
		return err
	}
	_ = c.be.SetAuthType(pgproto3.AuthTypeSASL)
	m, err := c.be.Receive()
	if err != nil {
		return clientGone(err)
	}
	first, ok := m.(*pgproto3.SASLInitialResponse)
	if !ok {
		return &fatal{code: "08P01", message: fmt.Sprintf("expected SASL response, got message type %T", m), outcome: OutcomeProtocol}
	}
	if !slices.Contains(mechs, first.AuthMechanism) {
		return &fatal{code: "08P01", message: "client selected an invalid SASL authentication mechanism", outcome: OutcomeProtocol}
	}
	// The mechanism and the GS2 header must agree: "p=" only with -PLUS.
	if plus := first.AuthMechanism == "SCRAM-SHA-256-PLUS"; plus != strings.HasPrefix(string(first.Data), "p=") {
		return errors.New("channel binding flag does not match the selected mechanism")
	}
	out, err := conv.Step(string(first.Data))
	if err != nil {
		return err
	}
	c.be.Send(&pgproto3.AuthenticationSASLContinue{Data: []byte(out)})
	if err := c.be.Flush(); err != nil {
		return err
	}
	_ = c.be.SetAuthType(pgproto3.AuthTypeSASLContinue)
	m, err = c.be.Receive()
	if err != nil {
		return clientGone(err)
	}
	final, ok := m.(*pgproto3.SASLResponse)
	if !ok {
		return &fatal{code: "08P01", message: fmt.Sprintf("expected SASL response, got message type %T", m), outcome: OutcomeProtocol}
	}
	out, err = conv.Step(string(final.Data))
	if err != nil || !conv.Valid() {
		return fmt.Errorf("wrong password: %v", err)
	}
	if v.expired {
		return errors.New("the role's password has expired (rolvaliduntil)")
	}
	c.be.Send(&pgproto3.AuthenticationSASLFinal{Data: []byte(out)})
	return nil
}

// clientGone wraps a read error of the startup exchange: nobody is left to answer.
func clientGone(err error) error { return &goneError{err} }

type goneError struct{ err error }

func (e *goneError) Error() string { return "client went away: " + e.err.Error() }
func (e *goneError) Unwrap() error { return e.err }

// refuse ends the startup exchange: a FATAL ErrorResponse for a refusal, nothing when the
// client is gone.
func (c *clientConn) refuse(err error) {
	var f *fatal
	if !errors.As(err, &f) {
		var gone *goneError
		if !errors.As(err, &gone) {
			c.s.log.Debug("wire: startup", "addr", c.addr, "err", err)
		}
		return
	}
	if f.outcome != "" {
		tenant := ""
		if c.tenant != nil {
			tenant = c.tenant.Name
		}
		c.s.metrics.Connection(tenant, f.outcome)
	}
	msg := &pgproto3.ErrorResponse{Severity: "FATAL", SeverityUnlocalized: "FATAL", Code: f.code, Message: f.message, Hint: f.hint}
	if c.be != nil {
		c.be.Send(msg)
		_ = c.be.Flush()
		return
	}
	if b, err := msg.Encode(nil); err == nil {
		_, _ = c.conn.Write(b)
	}
}
