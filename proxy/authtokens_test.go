package proxy

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/jackc/pgx/v5"

	"github.com/kapok-dev/kapok/control"
	"github.com/kapok-dev/kapok/internal/testenv"
	"github.com/kapok-dev/kapok/wire"
)

// kapokUserClaims are the claims of a Kapok Auth access token of tenant for user sub.
func kapokUserClaims(tenant, sub string) jwt.MapClaims {
	now := time.Now()
	return jwt.MapClaims{"iss": control.Issuer, "ref": tenant, "aud": "authenticated", "sub": sub, "role": control.RoleAuthenticated,
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "email": sub + "@example.com", "aal": "aal1",
		"session_id": "00000000-0000-4000-8000-000000000001", "is_anonymous": false}
}

// signWith signs claims with key (RS256 for RSA, ES256 for EC), naming kid.
func signWith(t *testing.T, key crypto.Signer, kid string, claims jwt.MapClaims) string {
	t.Helper()
	var m jwt.SigningMethod = jwt.SigningMethodES256
	if _, ok := key.(*rsa.PrivateKey); ok {
		m = jwt.SigningMethodRS256
	}
	tok := jwt.NewWithClaims(m, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func pemPrivate(t *testing.T, key crypto.Signer) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

func pemPublic(t *testing.T, key crypto.PublicKey) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

func kidOf(t *testing.T, key crypto.Signer) string {
	t.Helper()
	kid, err := control.SigningKeyID(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	return kid
}

// TestKapokAuthTokensRunAsTheAuthenticatedRole checks how the proxy reads the tokens Kapok
// Auth issues: role "authenticated" in a token of this tenant runs as its
// authenticated_role, as anon runs as its anon_role, and the token is checked with the
// tenant's shared secret or the public half of its signing key.
func TestKapokAuthTokensRunAsTheAuthenticatedRole(t *testing.T) {
	const secret = "authtok-t-secret-0123456789abcdef0123"
	users := &control.AuthConfig{JWTSecret: secret, AnonRole: "web_anon", AuthenticatedRole: "app_user", Users: &control.UsersConfig{}}
	bearer := func(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }

	t.Run("a token of the tenant runs as its authenticated role, with its claims", func(t *testing.T) {
		p, err := mustAuth(t, "", users).authenticate(reqWith(bearer(hs256(t, secret, kapokUserClaims("shop", "u1")))))
		if err != nil || p.Admin || p.Role != "app_user" {
			t.Fatalf("got %+v, %v; want role app_user", p, err)
		}
		var c map[string]any
		if err := json.Unmarshal(p.Claims, &c); err != nil || c["sub"] != "u1" || c["role"] != "authenticated" {
			t.Fatalf("claims %s", p.Claims)
		}
	})
	t.Run("a token of another tenant sharing the secret is refused", func(t *testing.T) {
		_, err := mustAuth(t, "", users).authenticate(reqWith(bearer(hs256(t, secret, kapokUserClaims("other", "u1")))))
		if ae, ok := err.(*authError); !ok || ae.status != 401 || !strings.Contains(ae.message, "another tenant") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("a tenant without an authenticated role refuses it, saying why", func(t *testing.T) {
		a := mustAuth(t, "", &control.AuthConfig{JWTSecret: secret, AnonRole: "web_anon"})
		_, err := a.authenticate(reqWith(bearer(hs256(t, secret, kapokUserClaims("shop", "u1")))))
		if ae, ok := err.(*authError); !ok || ae.status != 401 || !strings.Contains(ae.message, "auth.authenticated_role") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("another issuer's role authenticated is a role name like any other", func(t *testing.T) {
		c := kapokUserClaims("shop", "u1")
		c["iss"] = "https://issuer.example"
		p, err := mustAuth(t, "", users).authenticate(reqWith(bearer(hs256(t, secret, c))))
		if err != nil || p.Role != "authenticated" {
			t.Fatalf("got %+v, %v; want the claim's own role", p, err)
		}
	})

	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	issuerKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []crypto.Signer{rsaKey, ecKey} {
		name := map[bool]string{true: "RS256", false: "ES256"}[key == crypto.Signer(rsaKey)]
		t.Run("a token signed "+name+" with users.signing_key runs as the authenticated role", func(t *testing.T) {
			a := mustAuth(t, "", &control.AuthConfig{AuthenticatedRole: "app_user", Users: &control.UsersConfig{SigningKey: pemPrivate(t, key)}})
			p, err := a.authenticate(reqWith(bearer(signWith(t, key, kidOf(t, key), kapokUserClaims("shop", "u1")))))
			if err != nil || p.Role != "app_user" {
				t.Fatalf("got %+v, %v", p, err)
			}
		})
	}
	t.Run("a token naming the signing key's kid but signed by another key is refused", func(t *testing.T) {
		a := mustAuth(t, "", &control.AuthConfig{AuthenticatedRole: "app_user", Users: &control.UsersConfig{SigningKey: pemPrivate(t, rsaKey)}})
		_, err := a.authenticate(reqWith(bearer(signWith(t, stranger, kidOf(t, rsaKey), kapokUserClaims("shop", "u1")))))
		if ae, ok := err.(*authError); !ok || ae.status != 401 {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("beside a public key of another issuer, each token is checked with its own key", func(t *testing.T) {
		a := mustAuth(t, "", &control.AuthConfig{JWTSecret: pemPublic(t, issuerKey.Public()), AuthenticatedRole: "app_user",
			Users: &control.UsersConfig{SigningKey: pemPrivate(t, rsaKey)}})
		p, err := a.authenticate(reqWith(bearer(signWith(t, rsaKey, kidOf(t, rsaKey), kapokUserClaims("shop", "u1")))))
		if err != nil || p.Role != "app_user" {
			t.Fatalf("Kapok Auth's token: %+v, %v", p, err)
		}
		p, err = a.authenticate(reqWith(bearer(signWith(t, issuerKey, "", jwt.MapClaims{"sub": "u2", "role": "issuer_role",
			"exp": time.Now().Add(time.Hour).Unix()}))))
		if err != nil || p.Role != "issuer_role" {
			t.Fatalf("the other issuer's token: %+v, %v", p, err)
		}
		if _, err := a.authenticate(reqWith(bearer(signWith(t, issuerKey, kidOf(t, rsaKey), kapokUserClaims("shop", "u1"))))); err == nil {
			t.Fatal("a token signed by the other issuer under Kapok Auth's kid was accepted")
		}
	})
}

// The roles are cluster-wide: created idempotently, never dropped. authtok_t_user is the
// tenant's authenticated_role.
const authTokensRolesSQL = `
DO $$BEGIN CREATE ROLE authtok_t_anon NOLOGIN; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END$$;
DO $$BEGIN CREATE ROLE authtok_t_user NOLOGIN; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END$$;
`

// authTokensDDL keeps each user's notes to themselves by the token's sub.
const authTokensDDL = `
CREATE TABLE notes (id int PRIMARY KEY, user_id text NOT NULL, body text NOT NULL);
INSERT INTO notes VALUES (1, 'alice', 'a1'), (2, 'alice', 'a2'), (3, 'bob', 'b1');
ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_notes ON notes USING (user_id = current_setting('request.jwt.claims', true)::json->>'sub');
CREATE FUNCTION whoami() RETURNS text LANGUAGE sql STABLE AS $$ SELECT current_user::text $$;
GRANT USAGE ON SCHEMA authtok_t TO authtok_t_anon, authtok_t_user;
GRANT SELECT ON notes TO authtok_t_user;
GRANT EXECUTE ON FUNCTION whoami() TO authtok_t_user;
`

// TestKapokAuthTokensOverRESTAndTheWirePort checks that a Kapok Auth access token is one
// credential for every door: REST runs it as the authenticated role under row-level
// security, and the wire port takes it as a password, through the same checks.
func TestKapokAuthTokensOverRESTAndTheWirePort(t *testing.T) {
	const schema, tenant, other = "authtok_t", "authtok", "authtok-b"
	const secret = "authtok-t-shared-secret-0123456789abcd"
	testenv.Exec(t, authTokensRolesSQL)
	testenv.FreshSchema(t, schema, authTokensDDL)
	cfg := &control.Config{WireListen: "127.0.0.1:0", Tenants: []*control.TenantConfig{
		{Name: tenant, Schemas: []string{schema}, Auth: &control.AuthConfig{JWTSecret: secret, AnonRole: "authtok_t_anon", AuthenticatedRole: "authtok_t_user"}},
		{Name: other, Schemas: []string{schema}, Auth: &control.AuthConfig{JWTSecret: secret, AnonRole: "authtok_t_anon", AuthenticatedRole: "authtok_t_user"}},
	}}
	ts := startServer(t, cfg)
	alice := hs256(t, secret, kapokUserClaims(tenant, "alice"))
	bobOfOther := hs256(t, secret, kapokUserClaims(other, "bob"))

	t.Run("REST runs a user's token as the authenticated role, under row-level security", func(t *testing.T) {
		r := ts.do("POST", "/t/"+tenant+"/rest/v1/rpc/whoami", "{}", "Authorization: Bearer "+alice)
		if r.status != 200 || r.body != `"authtok_t_user"` {
			t.Fatalf("whoami: %d %s", r.status, r.body)
		}
		r = ts.do("GET", "/t/"+tenant+"/rest/v1/notes?select=id&order=id", "", "Authorization: Bearer "+alice)
		if r.status != 200 || r.body != `[{"id":1},{"id":2}]` {
			t.Fatalf("notes: %d %s", r.status, r.body)
		}
	})
	t.Run("REST refuses a token of another tenant sharing the secret", func(t *testing.T) {
		r := ts.do("GET", "/t/"+tenant+"/rest/v1/notes", "", "Authorization: Bearer "+bobOfOther)
		if r.status != 401 || !strings.Contains(r.body, "another tenant") {
			t.Fatalf("%d %s", r.status, r.body)
		}
	})

	addr := serveWirePort(t, ts)
	t.Run("the wire port takes a user's token as the password", func(t *testing.T) {
		role, claims, err := ts.srv.WireAuth().Credential(tenant, alice)
		if err != nil || role != "authtok_t_user" || !strings.Contains(string(claims), `"sub":"alice"`) {
			t.Fatalf("Credential = %q, %s, %v", role, claims, err)
		}
		c := wireConnect(t, addr, tenant, alice)
		ctx := context.Background()
		var who, sub string
		var n int
		if err := c.QueryRow(ctx, "SELECT current_user::text, current_setting('request.jwt.claims', true)::json->>'sub', (SELECT count(*) FROM notes)").
			Scan(&who, &sub, &n); err != nil {
			t.Fatal(err)
		}
		if who != "authtok_t_user" || sub != "alice" || n != 2 {
			t.Fatalf("current_user %q, sub %q, notes %d; want authtok_t_user, alice, 2", who, sub, n)
		}
	})
	t.Run("the wire port refuses a token of another tenant", func(t *testing.T) {
		if _, _, err := ts.srv.WireAuth().Credential(tenant, bobOfOther); err == nil {
			t.Fatal("accepted")
		}
		ccfg := wireConfig(t, addr, tenant, bobOfOther)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if c, err := pgx.ConnectConfig(ctx, ccfg); err == nil {
			c.Close(ctx)
			t.Fatal("connected")
		}
	})
}

// serveWirePort serves ts's tenants on a Postgres wire port until the test ends, with
// ts's credential checks; the config must listen on loopback (plain text allowed). It
// returns the port's host:port.
func serveWirePort(t *testing.T, ts *testServer) string {
	t.Helper()
	cfg := ts.srv.cfg
	engine := wire.NewEngine(wire.EngineOptions{Config: cfg, Logger: ts.srv.log, Auth: ts.srv.WireAuth()})
	ws, err := wire.NewServer(wire.ServerOptions{Config: cfg, Registry: ts.reg, Auth: ts.srv.WireAuth(), Logger: ts.srv.log, Engine: engine})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = ws.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = ws.Shutdown(ctx)
		engine.Close()
	})
	return ln.Addr().String()
}

// wireConfig is a plain-text connection to tenant's database on the wire port at addr,
// with password as the credential.
func wireConfig(t *testing.T, addr, tenant, password string) *pgx.ConnConfig {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	c, err := pgx.ParseConfig("host=" + host + " port=" + port + " user=token dbname=" + tenant + " sslmode=disable connect_timeout=10")
	if err != nil {
		t.Fatal(err)
	}
	c.Password = password
	return c
}

// wireConnect connects through the wire port, closed when the test ends. The first
// connection may come while the tenant's roles still load: a refusal is retried briefly.
func wireConnect(t *testing.T, addr, tenant, password string) *pgx.Conn {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		c, err := pgx.ConnectConfig(ctx, wireConfig(t, addr, tenant, password))
		cancel()
		if err == nil {
			t.Cleanup(func() { c.Close(context.Background()) })
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("wire connect to %s: %v", tenant, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
