package wire

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kapok-dev/kapok/control"
	"github.com/kapok-dev/kapok/internal/devstack"
	"github.com/kapok-dev/kapok/internal/testenv"
)

// fakeAuth accepts the secrets it holds, per tenant, and the roles it calls usable.
type fakeAuth struct {
	creds  map[string]fakeCred // tenant + "/" + secret
	usable map[string]bool     // tenant + "/" + role
}

type fakeCred struct {
	role   string
	claims []byte
}

func (a *fakeAuth) Credential(tenant, secret string) (string, []byte, error) {
	c, ok := a.creds[tenant+"/"+secret]
	if !ok {
		return "", nil, errors.New("invalid API key")
	}
	return c.role, c.claims, nil
}

func (a *fakeAuth) Usable(tenant, role string) bool { return a.usable[tenant+"/"+role] }

// fakeEngine answers like a server that runs nothing: every query gets EmptyQueryResponse.
// It records the sessions it serves and the cancels it gets.
type fakeEngine struct {
	mu       sync.Mutex
	sessions []Identity
	clients  []*Client
	cancels  [][2]uint32
	drained  bool
	// drainCloses makes Drain close idle sessions with 57P01, as the Engine does.
	drainCloses bool
	live        map[*Client]struct{}
}

func (e *fakeEngine) Serve(ctx context.Context, c *Client, id Identity) error {
	e.mu.Lock()
	e.sessions = append(e.sessions, id)
	e.clients = append(e.clients, c)
	if e.live == nil {
		e.live = map[*Client]struct{}{}
	}
	e.live[c] = struct{}{}
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		delete(e.live, c)
		e.mu.Unlock()
	}()
	stop := context.AfterFunc(ctx, func() { c.Conn.Close() })
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

func (e *fakeEngine) Cancel(pid, secret uint32) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.cancels = append(e.cancels, [2]uint32{pid, secret})
}

func (e *fakeEngine) Drain() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.drained = true
	if !e.drainCloses {
		return
	}
	for c := range e.live {
		// An idle session's goroutine only reads: write beside it, not through its Backend.
		b, _ := (&pgproto3.ErrorResponse{Severity: "FATAL", Code: "57P01", Message: "terminating connection due to administrator command"}).Encode(nil)
		_, _ = c.Conn.Write(b)
		c.Conn.Close()
	}
}

func (e *fakeEngine) lastSession(t *testing.T) Identity {
	t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.sessions) == 0 {
		t.Fatal("the engine served no session")
	}
	return e.sessions[len(e.sessions)-1]
}

// The tenants of these tests need no tables: the front only routes and authenticates.
const (
	tenantA      = "front-t-a" // its own role has a password (SCRAM)
	tenantB      = "front-t-b" // allows 10.0.0.0/8 only
	tenantC      = "front-t-c" // two wire connections at most
	scramRole    = "front_t_scram_user"
	scramOwn     = "front_t_scram_own"
	scramNoPass  = "front_t_scram_nopass"
	scramExpired = "front_t_scram_expired"
	scramPass    = "front-t-secret pässword"
)

type front struct {
	srv     *Server
	engine  *fakeEngine
	auth    *fakeAuth
	metrics *Metrics
	host    string
	port    string
}

func startFront(t *testing.T, tune func(*control.Config)) *front {
	t.Helper()
	cfg := &control.Config{
		WireListen: "127.0.0.1:0",
		Upstreams:  map[string]*control.Upstream{"dev": {URL: testenv.DirectURL(), Pooler: testenv.PoolerURL()}},
		Tenants: []*control.TenantConfig{
			{Name: tenantA, Role: scramOwn},
			{Name: tenantB, AllowCIDRs: []string{"10.0.0.0/8"}},
			{Name: tenantC, Limits: &control.Limits{MaxWireConnections: 2}},
		},
	}
	if tune != nil {
		tune(cfg)
	}
	if err := cfg.Normalize(); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.Default()
	}
	f := &front{engine: &fakeEngine{}, metrics: NewMetrics(), auth: &fakeAuth{
		creds: map[string]fakeCred{
			tenantA + "/admin-key": {},
			tenantA + "/user-key":  {role: "app_user"},
			tenantA + "/user-jwt":  {role: "app_user", claims: []byte(`{"sub":"alice"}`)},
			tenantB + "/admin-key": {},
			tenantC + "/admin-key": {},
		},
		usable: map[string]bool{tenantA + "/" + scramRole: true, tenantA + "/" + scramNoPass: true, tenantA + "/" + scramExpired: true},
	}}
	srv, err := newServer(ServerOptions{Config: cfg, Registry: control.NewRegistry(cfg, log), Auth: f.auth, Logger: log, Metrics: f.metrics}, f.engine)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", cfg.WireListen)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	f.srv = srv
	f.host, f.port, _ = net.SplitHostPort(ln.Addr().String())
	return f
}

// connect opens a client connection with conninfo's settings added to the server's address.
func (f *front) connect(t *testing.T, conninfo string) (*pgconn.PgConn, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cfg, err := pgconn.ParseConfig(fmt.Sprintf("host=%s port=%s connect_timeout=10 %s", f.host, f.port, conninfo))
	if err != nil {
		t.Fatal(err)
	}
	c, err := pgconn.ConnectConfig(ctx, cfg)
	if err == nil {
		t.Cleanup(func() { c.Close(context.Background()) })
	}
	return c, err
}

// mustConnect connects and runs an empty query through the engine.
func (f *front) mustConnect(t *testing.T, conninfo string) *pgconn.PgConn {
	t.Helper()
	c, err := f.connect(t, conninfo)
	if err != nil {
		t.Fatalf("connect %q: %v", conninfo, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.Exec(ctx, "").ReadAll(); err != nil {
		t.Fatalf("query: %v", err)
	}
	return c
}

// refusedWith checks that err is a server error with code whose message contains msg.
func refusedWith(t *testing.T, err error, code, msg string) *pgconn.PgError {
	t.Helper()
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		t.Fatalf("err = %v, want a server error %s", err, code)
	}
	if pe.Code != code || !strings.Contains(pe.Message, msg) || pe.Severity != "FATAL" {
		t.Fatalf("err = %s %s %q, want FATAL %s containing %q", pe.Severity, pe.Code, pe.Message, code, msg)
	}
	return pe
}

// scramRoles gives the scratch roles passwords (SCRAM-SHA-256, PostgreSQL's default).
func scramRoles(t *testing.T) {
	t.Helper()
	testenv.Exec(t, "SET password_encryption = 'scram-sha-256'")
	for _, r := range []string{scramRole, scramOwn, scramNoPass, scramExpired} {
		q := pgx.Identifier{r}.Sanitize()
		testenv.Exec(t, "DO $$BEGIN CREATE ROLE "+q+" NOLOGIN; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END$$")
	}
	c := testenv.Conn(t)
	ctx := context.Background()
	for _, q := range []string{
		"SET password_encryption = 'scram-sha-256'",
		"ALTER ROLE " + scramRole + " PASSWORD '" + scramPass + "' VALID UNTIL 'infinity'",
		"ALTER ROLE " + scramOwn + " PASSWORD '" + scramPass + "'",
		"ALTER ROLE " + scramNoPass + " PASSWORD NULL",
		"ALTER ROLE " + scramExpired + " PASSWORD '" + scramPass + "' VALID UNTIL '2001-01-01'",
	} {
		if _, err := c.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), testenv.DirectURL())
		if err != nil {
			return
		}
		defer c.Close(context.Background())
		for _, r := range []string{scramRole, scramOwn, scramNoPass, scramExpired} {
			_, _ = c.Exec(context.Background(), "DROP ROLE IF EXISTS "+pgx.Identifier{r}.Sanitize())
		}
	})
}

func TestARoleWithAPasswordAuthenticatesWithSCRAM(t *testing.T) {
	scramRoles(t)
	tlsFiles := testTLS(t)
	f := startFront(t, func(c *control.Config) { c.Wire.TLSCertFile, c.Wire.TLSKeyFile = tlsFiles.Cert, tlsFiles.Key })
	for _, mode := range []string{"sslmode=disable", "sslmode=require", "sslmode=require channel_binding=require", "sslmode=verify-full sslrootcert=" + tlsFiles.CA} {
		t.Run("a usable role with its password runs as that role ("+mode+")", func(t *testing.T) {
			f.mustConnect(t, fmt.Sprintf("user=%s.%s password='%s' %s", scramRole, tenantA, scramPass, mode))
			id := f.engine.lastSession(t)
			if id.Tenant.Name != tenantA || id.User != scramRole || id.Role != scramRole || id.Token || id.Claims != nil {
				t.Fatalf("identity = %+v", id)
			}
		})
	}
	t.Run("the tenant's own role with its password runs as the tenant (role \"\")", func(t *testing.T) {
		f.mustConnect(t, fmt.Sprintf("user=%s database=%s password='%s' sslmode=disable", scramOwn, tenantA, scramPass))
		if id := f.engine.lastSession(t); id.Role != "" || id.User != scramOwn || id.Token {
			t.Fatalf("identity = %+v", id)
		}
	})
	t.Run("a wrong password is refused with 28P01", func(t *testing.T) {
		_, err := f.connect(t, fmt.Sprintf("user=%s.%s password=wrong sslmode=require", scramRole, tenantA))
		refusedWith(t, err, "28P01", fmt.Sprintf("password authentication failed for user %q", scramRole+"."+tenantA))
		if n := testutil.ToFloat64(f.metrics.connections.WithLabelValues(tenantA, OutcomeAuthFailed)); n < 1 {
			t.Errorf("auth_failed counted %v times", n)
		}
	})
	t.Run("an expired password is refused with 28P01", func(t *testing.T) {
		_, err := f.connect(t, fmt.Sprintf("user=%s.%s password='%s' sslmode=disable", scramExpired, tenantA, scramPass))
		refusedWith(t, err, "28P01", "password authentication failed")
	})
	t.Run("a role without a password is asked for a token instead", func(t *testing.T) {
		f.mustConnect(t, fmt.Sprintf("user=%s.%s password=user-key sslmode=disable", scramNoPass, tenantA))
		if id := f.engine.lastSession(t); id.Role != "app_user" || !id.Token {
			t.Fatalf("identity = %+v", id)
		}
	})
	t.Run("a role the tenant may not use is asked for a token, its password is refused", func(t *testing.T) {
		_, err := f.connect(t, fmt.Sprintf("user=%s.%s password='%s' sslmode=disable", scramRole, tenantC, scramPass))
		refusedWith(t, err, "28P01", "password authentication failed")
	})
}

func TestATenantCredentialIsAcceptedAsAPassword(t *testing.T) {
	f := startFront(t, nil)
	cases := []struct {
		name, conninfo string
		role           string
		token          bool
		claims         string
	}{
		{"the admin key runs as the tenant's own role", "user=token." + tenantA + " password=admin-key", "", false, ""},
		{"an API key runs as its role", "user=token." + tenantA + " password=user-key", "app_user", true, ""},
		{"a JWT runs as its role with its claims", "user=token." + tenantA + " password=user-jwt", "app_user", true, `{"sub":"alice"}`},
		{"the database names the tenant when the user has no tenant", "user=token database=" + tenantA + " password=admin-key", "", false, ""},
		{"the database may repeat the tenant", "user=token." + tenantA + " database=" + tenantA + " password=admin-key", "", false, ""},
		{"the database may be the tenant's Postgres database", "user=token." + tenantA + " database=" + dbName(t) + " password=admin-key", "", false, ""},
		{"the database may be the user, as libpq sends it", "user=token." + tenantA + " database=token." + tenantA + " password=admin-key", "", false, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f.mustConnect(t, c.conninfo+" sslmode=disable")
			id := f.engine.lastSession(t)
			if id.Tenant.Name != tenantA || id.User != "token" || id.Role != c.role || id.Token != c.token || string(id.Claims) != c.claims {
				t.Fatalf("identity = %+v", id)
			}
		})
	}
	t.Run("startup parameters and options reach the session", func(t *testing.T) {
		f.mustConnect(t, "user=token."+tenantA+` password=admin-key sslmode=disable application_name=psql options='-c search_path=app\\ x --statement-timeout=5s'`)
		p := f.engine.lastSession(t).Params
		if p["application_name"] != "psql" || p["search_path"] != "app x" || p["statement_timeout"] != "5s" || p["user"] != "" || p["options"] != "" {
			t.Fatalf("params = %v", p)
		}
	})
	t.Run("a wrong password is refused with 28P01", func(t *testing.T) {
		_, err := f.connect(t, "user=token."+tenantA+" password=nope sslmode=disable")
		refusedWith(t, err, "28P01", `password authentication failed for user "token.`+tenantA+`"`)
	})
	t.Run("another tenant's key is refused", func(t *testing.T) {
		_, err := f.connect(t, "user=token."+tenantC+" password=user-key sslmode=disable")
		refusedWith(t, err, "28P01", "password authentication failed")
	})
	t.Run("each session gets its own BackendKeyData", func(t *testing.T) {
		a := f.mustConnect(t, "user=token."+tenantA+" password=admin-key sslmode=disable")
		b := f.mustConnect(t, "user=token."+tenantA+" password=admin-key sslmode=disable")
		if a.PID() == 0 || a.PID() == b.PID() || string(a.SecretKey()) == string(b.SecretKey()) {
			t.Fatalf("keys: %d %x, %d %x", a.PID(), a.SecretKey(), b.PID(), b.SecretKey())
		}
	})
}

func dbName(t *testing.T) string {
	cfg, err := pgconn.ParseConfig(testenv.DirectURL())
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Database
}

func TestRoutingAndAdmissionRefusals(t *testing.T) {
	f := startFront(t, nil)
	t.Run("an unknown tenant is 3D000", func(t *testing.T) {
		_, err := f.connect(t, "user=token database=front-t-nope password=x sslmode=disable")
		refusedWith(t, err, "3D000", `database "front-t-nope" does not exist`)
		if n := testutil.ToFloat64(f.metrics.connections.WithLabelValues("", OutcomeUnknownTenant)); n != 1 {
			t.Errorf("unknown_tenant counted %v times", n)
		}
	})
	t.Run("an unknown tenant in the user is 3D000", func(t *testing.T) {
		_, err := f.connect(t, "user=token.front-t-nope password=x sslmode=disable")
		refusedWith(t, err, "3D000", `database "token.front-t-nope" does not exist`)
	})
	t.Run("a database other than the user's tenant is 3D000, naming only the database asked for", func(t *testing.T) {
		_, err := f.connect(t, "user=token."+tenantA+" database=elsewhere password=admin-key sslmode=disable")
		pe := refusedWith(t, err, "3D000", `database "elsewhere" does not exist`)
		if strings.Contains(pe.Message, tenantA) {
			t.Errorf("message names a tenant: %s", pe.Message)
		}
	})
	t.Run("an address outside allow_cidrs is 28000", func(t *testing.T) {
		_, err := f.connect(t, "user=token."+tenantB+" password=admin-key sslmode=disable")
		refusedWith(t, err, "28000", "may not connect")
		if n := testutil.ToFloat64(f.metrics.connections.WithLabelValues(tenantB, OutcomeRefusedAddress)); n != 1 {
			t.Errorf("refused_address counted %v times", n)
		}
	})
	t.Run("a replication connection is refused", func(t *testing.T) {
		_, err := f.connect(t, "user=token."+tenantA+" password=admin-key sslmode=disable replication=database")
		refusedWith(t, err, "0A000", "replication")
	})
	t.Run("a client option other than -c is refused", func(t *testing.T) {
		_, err := f.connect(t, "user=token."+tenantA+" password=admin-key sslmode=disable options='-d 5'")
		refusedWith(t, err, "08P01", "not supported")
	})
	t.Run("the tenant's limits.max_wire_connections is 53300 beyond", func(t *testing.T) {
		f.mustConnect(t, "user=token."+tenantC+" password=admin-key sslmode=disable")
		c2 := f.mustConnect(t, "user=token."+tenantC+" password=admin-key sslmode=disable")
		_, err := f.connect(t, "user=token."+tenantC+" password=admin-key sslmode=disable")
		refusedWith(t, err, "53300", "too many connections")
		// A closed connection makes room.
		c2.Close(context.Background())
		waitFor(t, func() bool {
			c, err := f.connect(t, "user=token."+tenantC+" password=admin-key sslmode=disable")
			if err == nil {
				c.Close(context.Background())
			}
			return err == nil
		})
	})
}

func TestTheProcessWideCapIs53300(t *testing.T) {
	f := startFront(t, func(c *control.Config) { c.Wire.MaxClientConns = 1 })
	f.mustConnect(t, "user=token."+tenantA+" password=admin-key sslmode=disable")
	_, err := f.connect(t, "user=token."+tenantC+" password=admin-key sslmode=disable")
	refusedWith(t, err, "53300", "too many clients")
	if n := testutil.ToFloat64(f.metrics.connections.WithLabelValues(tenantC, OutcomeTooMany)); n != 1 {
		t.Errorf("too_many counted %v times", n)
	}
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if ok() {
			return
		}
	}
	t.Fatal("timed out")
}

func testTLS(t *testing.T) devstack.TLSFiles {
	t.Helper()
	files, err := devstack.EnsureTLS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func TestTLS(t *testing.T) {
	tlsFiles := testTLS(t)
	other := testTLS(t)
	required := startFront(t, func(c *control.Config) {
		c.Wire.TLSCertFile, c.Wire.TLSKeyFile = tlsFiles.Cert, tlsFiles.Key
		c.Wire.AllowPlaintext = new(false)
	})
	t.Run("where TLS is required, plain text is 28000 saying to use sslmode=require", func(t *testing.T) {
		_, err := required.connect(t, "user=token."+tenantA+" password=admin-key sslmode=disable")
		pe := refusedWith(t, err, "28000", "only TLS")
		if !strings.Contains(pe.Hint, "sslmode=require") {
			t.Errorf("hint = %q", pe.Hint)
		}
		if n := testutil.ToFloat64(required.metrics.connections.WithLabelValues(tenantA, OutcomeTLSRequired)); n != 1 {
			t.Errorf("tls_required counted %v times", n)
		}
	})
	for _, mode := range []string{"sslmode=require", "sslmode=prefer", "sslmode=verify-ca sslrootcert=" + tlsFiles.CA, "sslmode=verify-full sslrootcert=" + tlsFiles.CA} {
		t.Run("where TLS is required, "+mode+" connects", func(t *testing.T) {
			c := required.mustConnect(t, "user=token."+tenantA+" password=admin-key "+mode)
			if _, ok := c.Conn().(interface{ ConnectionState() tls.ConnectionState }); !ok {
				t.Fatalf("the connection is %T, not TLS", c.Conn())
			}
		})
	}
	t.Run("verify-full with another CA fails", func(t *testing.T) {
		_, err := required.connect(t, "user=token."+tenantA+" password=admin-key sslmode=verify-full sslrootcert="+other.CA)
		if err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Fatalf("err = %v, want a certificate error", err)
		}
	})
	optional := startFront(t, func(c *control.Config) { c.Wire.TLSCertFile, c.Wire.TLSKeyFile = tlsFiles.Cert, tlsFiles.Key })
	for _, mode := range []string{"sslmode=disable", "sslmode=verify-full sslrootcert=" + tlsFiles.CA} {
		t.Run("where TLS is optional, "+mode+" connects", func(t *testing.T) {
			optional.mustConnect(t, "user=token."+tenantA+" password=admin-key "+mode)
		})
	}
	none := startFront(t, nil)
	t.Run("without a certificate, SSLRequest is answered N", func(t *testing.T) {
		none.mustConnect(t, "user=token."+tenantA+" password=admin-key sslmode=prefer")
		_, err := none.connect(t, "user=token."+tenantA+" password=admin-key sslmode=require")
		if err == nil || !strings.Contains(err.Error(), "server refused TLS connection") {
			t.Fatalf("err = %v, want the server to refuse TLS", err)
		}
	})
	t.Run("GSSEncRequest is answered N", func(t *testing.T) {
		none.mustConnect(t, "user=token."+tenantA+" password=admin-key sslmode=disable gssencmode=prefer")
	})
}

func TestACancelRequestReachesTheEngineWithTheSessionsKey(t *testing.T) {
	f := startFront(t, nil)
	c := f.mustConnect(t, "user=token."+tenantA+" password=admin-key sslmode=disable")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// A key no session holds is dropped.
	raw, err := net.Dial("tcp", net.JoinHostPort(f.host, f.port))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := (&pgproto3.CancelRequest{ProcessID: c.PID(), SecretKey: []byte{1, 2, 3, 4}}).Encode(nil)
	if string(c.SecretKey()) == "\x01\x02\x03\x04" {
		b, _ = (&pgproto3.CancelRequest{ProcessID: c.PID(), SecretKey: []byte{4, 3, 2, 1}}).Encode(nil)
	}
	_, _ = raw.Write(b)
	_, _ = io.ReadAll(raw) // the front closes it
	raw.Close()
	if err := c.CancelRequest(ctx); err != nil {
		t.Fatal(err)
	}
	want := [2]uint32{c.PID(), binary.BigEndian.Uint32(c.SecretKey())}
	waitFor(t, func() bool {
		f.engine.mu.Lock()
		defer f.engine.mu.Unlock()
		return len(f.engine.cancels) > 0
	})
	f.engine.mu.Lock()
	defer f.engine.mu.Unlock()
	if len(f.engine.cancels) != 1 || f.engine.cancels[0] != want {
		t.Fatalf("cancels = %v, want only %v", f.engine.cancels, want)
	}
}

func TestShutdown(t *testing.T) {
	t.Run("the engine drains idle sessions and Shutdown returns once they are gone", func(t *testing.T) {
		f := startFront(t, nil)
		f.engine.drainCloses = true
		c := f.mustConnect(t, "user=token."+tenantA+" password=admin-key sslmode=disable")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := f.srv.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Exec(ctx, "").ReadAll(); err == nil {
			t.Fatal("the session outlived Shutdown")
		}
		if _, err := f.connect(t, "user=token."+tenantA+" password=admin-key sslmode=disable"); err == nil {
			t.Fatal("a connection was accepted after Shutdown")
		}
	})
	t.Run("sessions left at the deadline are closed", func(t *testing.T) {
		f := startFront(t, nil)
		c := f.mustConnect(t, "user=token."+tenantA+" password=admin-key sslmode=disable")
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		if err := f.srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Shutdown = %v, want the deadline", err)
		}
		f.engine.mu.Lock()
		drained := f.engine.drained
		f.engine.mu.Unlock()
		if !drained {
			t.Error("Shutdown did not drain the engine")
		}
		qctx, qcancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer qcancel()
		if _, err := c.Exec(qctx, "").ReadAll(); err == nil {
			t.Fatal("the session outlived Shutdown")
		}
	})
}

// rawStartup sends a startup message and returns the front's answers up to the first
// authentication request or error.
func rawStartup(t *testing.T, f *front, msg *pgproto3.StartupMessage) []pgproto3.BackendMessage {
	t.Helper()
	conn, err := net.Dial("tcp", net.JoinHostPort(f.host, f.port))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	fe := pgproto3.NewFrontend(conn, conn)
	fe.Send(msg)
	if err := fe.Flush(); err != nil {
		t.Fatal(err)
	}
	var out []pgproto3.BackendMessage
	for {
		m, err := fe.Receive()
		if err != nil {
			t.Fatalf("after %v: %v", out, err)
		}
		switch m := m.(type) {
		case *pgproto3.NegotiateProtocolVersion:
			out = append(out, &pgproto3.NegotiateProtocolVersion{NewestMinorProtocol: m.NewestMinorProtocol, UnrecognizedOptions: append([]string(nil), m.UnrecognizedOptions...)})
		case *pgproto3.AuthenticationCleartextPassword:
			return append(out, &pgproto3.AuthenticationCleartextPassword{})
		case *pgproto3.ErrorResponse:
			e := *m
			return append(out, &e)
		default:
			t.Fatalf("unexpected %T", m)
		}
	}
}

func TestProtocolVersions(t *testing.T) {
	f := startFront(t, nil)
	params := map[string]string{"user": "token." + tenantA}
	t.Run("3.0 goes straight to authentication", func(t *testing.T) {
		got := rawStartup(t, f, &pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersion30, Parameters: params})
		if len(got) != 1 {
			t.Fatalf("answers = %#v", got)
		}
	})
	t.Run("3.2 with a protocol option is told 3.0 and the option's name, then authenticates", func(t *testing.T) {
		p := map[string]string{"user": "token." + tenantA, "_pq_.test_option": "on"}
		got := rawStartup(t, f, &pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersion32, Parameters: p})
		n, ok := got[0].(*pgproto3.NegotiateProtocolVersion)
		if len(got) != 2 || !ok || n.NewestMinorProtocol != 0 || len(n.UnrecognizedOptions) != 1 || n.UnrecognizedOptions[0] != "_pq_.test_option" {
			t.Fatalf("answers = %#v", got)
		}
		if _, ok := got[1].(*pgproto3.AuthenticationCleartextPassword); !ok {
			t.Fatalf("answers = %#v", got)
		}
	})
	t.Run("3.9 is told 3.0", func(t *testing.T) {
		conn, err := net.Dial("tcp", net.JoinHostPort(f.host, f.port))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		body := binary.BigEndian.AppendUint32(nil, 3<<16|9)
		body = append(body, "user\x00token."+tenantA+"\x00\x00"...)
		_, _ = conn.Write(append(binary.BigEndian.AppendUint32(nil, uint32(len(body)+4)), body...))
		m, err := pgproto3.NewFrontend(conn, conn).Receive()
		if n, ok := m.(*pgproto3.NegotiateProtocolVersion); err != nil || !ok || n.NewestMinorProtocol != 0 {
			t.Fatalf("answer = %#v, %v", m, err)
		}
	})
	for _, v := range []uint32{2 << 16, 4 << 16} {
		t.Run(fmt.Sprintf("protocol %d.0 is refused", v>>16), func(t *testing.T) {
			conn, err := net.Dial("tcp", net.JoinHostPort(f.host, f.port))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
			body := binary.BigEndian.AppendUint32(nil, v)
			body = append(body, "user\x00x\x00\x00"...)
			_, _ = conn.Write(append(binary.BigEndian.AppendUint32(nil, uint32(len(body)+4)), body...))
			m, err := pgproto3.NewFrontend(conn, conn).Receive()
			if e, ok := m.(*pgproto3.ErrorResponse); err != nil || !ok || e.Code != "0A000" || !strings.Contains(e.Message, "unsupported frontend protocol") {
				t.Fatalf("answer = %#v, %v", m, err)
			}
		})
	}
}

func TestGarbageAtStartupNeverPanics(t *testing.T) {
	f := startFront(t, func(c *control.Config) { c.Wire.StartupTimeout = control.Duration(time.Second) })
	for _, b := range startupSeeds() {
		conn, err := net.Dial("tcp", net.JoinHostPort(f.host, f.port))
		if err != nil {
			t.Fatal(err)
		}
		_ = conn.SetDeadline(time.Now().Add(3 * time.Second))
		_, _ = conn.Write(b)
		if tc, ok := conn.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		_, _ = io.ReadAll(conn)
		conn.Close()
	}
	// The front still serves.
	f.mustConnect(t, "user=token."+tenantA+" password=admin-key sslmode=disable")
}

// startupSeeds are first messages a client might send, well formed or not.
func startupSeeds() [][]byte {
	frame := func(body []byte) []byte {
		return append(binary.BigEndian.AppendUint32(nil, uint32(len(body)+4)), body...)
	}
	v30 := binary.BigEndian.AppendUint32(nil, 3<<16)
	return [][]byte{
		{},
		{0, 0, 0},
		{0, 0, 0, 0},
		{0xff, 0xff, 0xff, 0xff},
		{0, 0, 0, 8, 4, 0xd2, 0x16, 0x2f},    // SSLRequest
		{0, 0, 0, 8, 4, 0xd2, 0x16, 0x30},    // GSSEncRequest
		{0, 0, 0, 9, 4, 0xd2, 0x16, 0x2f, 0}, // SSLRequest too long
		frame(append(binary.BigEndian.AppendUint32(nil, codeCancel), 0, 0, 0, 1)), // cancel without a secret
		frame(append(binary.BigEndian.AppendUint32(nil, codeCancel), 0, 0, 0, 1, 1, 2, 3, 4)),
		frame(append(v30, "user\x00a\x00\x00"...)),
		frame(append(v30, "user\x00a\x00"...)),            // no terminator
		frame(append(v30, "user\x00a"...)),                // no value terminator
		frame(append(v30, "user\x00\xff\xfe\x00\x00"...)), // not UTF-8
		frame(append(v30, "\x00"...)),                     // no user
		frame(append(v30, "\x00junk"...)),
		frame(append(v30, "options\x00-c\x00user\x00a\x00\x00"...)),
		frame(append(binary.BigEndian.AppendUint32(nil, 1234<<16|5681), 0)),
		[]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
		append([]byte{0, 0, 0, 8, 4, 0xd2, 0x16, 0x2f}, "not a TLS hello at all, just bytes"...),
	}
}

func FuzzParseStartup(f *testing.F) {
	for _, s := range startupSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		// Whole packets, and the same bytes as a packet's body.
		if p, err := readStartup(bytes.NewReader(b)); err == nil && p == nil {
			t.Fatal("nil packet without an error")
		}
		p, err := parseStartup(b)
		if err == nil && p.kind == startupSession {
			if _, err := sessionParams(p.params); err != nil {
				return
			}
		}
		if err == nil && p == nil {
			t.Fatal("nil packet without an error")
		}
	})
}

func FuzzParseOptions(f *testing.F) {
	for _, s := range []string{"", "-c a=b", `-c search_path=a\ b --x-y=1`, "-ca=b", "-c", "--=", "\\", "-d 5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := parseOptions(s)
		if err == nil {
			for k := range m {
				if k == "" {
					t.Fatalf("empty setting name from %q", s)
				}
			}
		}
	})
}

func TestParseOptions(t *testing.T) {
	cases := []struct {
		in   string
		want map[string]string
		err  bool
	}{
		{"", map[string]string{}, false},
		{"-c search_path=a,b", map[string]string{"search_path": "a,b"}, false},
		{`-csearch_path=a\ b  --Statement-Timeout=5s`, map[string]string{"search_path": "a b", "statement_timeout": "5s"}, false},
		{"-c", nil, true},
		{"-c novalue", nil, true},
		{"-d 5", nil, true},
	}
	for _, c := range cases {
		got, err := parseOptions(c.in)
		if (err != nil) != c.err || (!c.err && fmt.Sprint(got) != fmt.Sprint(c.want)) {
			t.Errorf("parseOptions(%q) = %v, %v; want %v (error %v)", c.in, got, err, c.want, c.err)
		}
	}
}

func TestParseVerifier(t *testing.T) {
	const good = "SCRAM-SHA-256$4096:c2FsdHNhbHQ=$47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
	v, err := parseVerifier(good)
	if err != nil || v.creds.Iters != 4096 || v.creds.Salt != "saltsalt" || len(v.creds.StoredKey) != 32 {
		t.Fatalf("parseVerifier = %+v, %v", v, err)
	}
	for _, bad := range []string{"", "md5abc", "SCRAM-SHA-256$", "SCRAM-SHA-256$x:c2FsdA==$a:b", "SCRAM-SHA-256$4096:c2FsdA==$YQ==:YQ==", "SCRAM-SHA-256$4096:!!$" + good[len(good)-45:]} {
		if _, err := parseVerifier(bad); err == nil {
			t.Errorf("parseVerifier(%q) accepted it", bad)
		}
	}
}
