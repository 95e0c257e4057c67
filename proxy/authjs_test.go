package proxy

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kapok-dev/kapok/control"
	"github.com/kapok-dev/kapok/internal/mailsink"
	"github.com/kapok-dev/kapok/internal/oidctest"
	"github.com/kapok-dev/kapok/internal/testenv"
)

// ownNotesRoles creates the roles <p>_anon and <p>_user, the anon and authenticated roles
// of a tenant of schema p. The roles are cluster-wide: created idempotently, never dropped.
func ownNotesRoles(p string) string {
	return strings.ReplaceAll(`
DO $$BEGIN CREATE ROLE {p}_anon NOLOGIN; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END$$;
DO $$BEGIN CREATE ROLE {p}_user NOLOGIN; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END$$;
`, "{p}", p)
}

// ownNotesDDL is each user's notes in schema p, kept to their owner by row-level security
// on auth.uid(), which also fills user_id on insert. It names auth.uid(), so it runs once
// Kapok has prepared the tenant's auth store.
func ownNotesDDL(p string) string {
	return strings.ReplaceAll(`
CREATE TABLE {p}.notes (id bigserial PRIMARY KEY, user_id uuid NOT NULL DEFAULT auth.uid(), body text);
ALTER TABLE {p}.notes ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_notes ON {p}.notes USING (user_id = auth.uid()) WITH CHECK (user_id = auth.uid());
GRANT USAGE ON SCHEMA {p} TO {p}_anon, {p}_user;
GRANT SELECT, INSERT ON {p}.notes TO {p}_user;
GRANT USAGE ON SEQUENCE {p}.notes_id_seq TO {p}_user;
`, "{p}", p)
}

// authJSTenant is the tenant of the auth-js suite, with its mail server and its OpenID
// Connect provider.
func authJSTenant(smtpPort int, idp *oidctest.Provider) *control.TenantConfig {
	return &control.TenantConfig{Name: "authjs", Schemas: []string{"authjs_t"}, Auth: &control.AuthConfig{
		JWTSecret: authJSSecret, AnonRole: "authjs_t_anon", AuthenticatedRole: "authjs_t_user",
		Users: &control.UsersConfig{
			SiteURL:      authJSApp,
			RedirectURLs: []string{authJSApp + "/*"},
			SMTP:         control.SMTPConfig{Host: "127.0.0.1", Port: smtpPort, AdminEmail: "auth@kapok.test", SenderName: "Kapok", TLS: "none"},
			External: map[string]*control.OAuthProvider{authJSProvider: {
				ClientID: idp.ClientID, ClientSecret: idp.ClientSecret, Issuer: idp.URL,
			}},
		},
	}}
}

const (
	authJSSecret    = "authjs-t-secret-0123456789abcdef0123456"
	authJSApp       = "http://app.kapok.test"
	authJSProvider  = "kapokidp"
	authJSOIDCEmail = "oidc.user@idp.kapok.test"
)

// TestAuthJS drives the real @supabase/supabase-js client's auth (pinned in
// testdata/supabase-js/package-lock.json) against Kapok Auth on a TCP port, under the
// /t/{tenant} prefix: sign-up confirmed by the mailed link, password sign-in, refresh and
// sign-out, a magic link's code, TOTP MFA up to aal2, OAuth through a local OpenID
// Connect provider (implicit and PKCE), the admin API, and the tokens it hands out used
// with REST and GraphQL under row-level security on auth.uid(). The mails go through SMTP
// to an in-process mail sink, whose HTTP API the client reads. Then the same user's token
// is a password on the wire port. Node and npm are required: the test fails without them.
func TestAuthJS(t *testing.T) {
	dir := testenv.NodeDir(t, filepath.Join("testdata", "supabase-js"), filepath.Join("@supabase", "supabase-js"))

	smtpPort, mailAPI := startMailSink(t)
	idp := oidctest.Start(t)
	idp.SetUser(oidctest.User{Subject: "oidc-subject-1", Email: authJSOIDCEmail, EmailVerified: true, Name: "OIDC User"})
	tc := authJSTenant(smtpPort, idp)
	testenv.Exec(t, ownNotesRoles("authjs_t"))
	dropAuthStore(t, tc)
	testenv.FreshSchema(t, "authjs_t", "")
	ts := startServer(t, &control.Config{WireListen: "127.0.0.1:0", Tenants: []*control.TenantConfig{tc}})
	// Kapok prepared the store, auth.uid() included, when the tenant loaded: the tables
	// that name it come now, and a reload grants them to the tenant's role.
	testenv.Exec(t, ownNotesDDL("authjs_t"))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := ts.reg.Reload(ctx, tc.Name); err != nil {
		t.Fatal(err)
	}
	base := serveTCP(t, ts)
	url := base + "/t/" + tc.Name
	idp.AllowRedirect(url + "/auth/v1/callback")
	keys, err := control.KeysFor(tc.Name, tc.Auth)
	if err != nil {
		t.Fatal(err)
	}
	const alice, alicePassword = "alice@kapok.test", "alice-password-1"
	// Node 20 has a WebSocket only behind this flag, and supabase-js's realtime client
	// needs one to construct; Node 22 accepts the flag and has it anyway.
	runNodeCases(t, ctx, "auth-js", dir, []string{
		"KAPOK_URL=" + url, "KAPOK_SCHEMA=authjs_t", "KAPOK_ANON_KEY=" + keys.Anon, "KAPOK_SERVICE_KEY=" + keys.ServiceRole,
		"KAPOK_MAIL_API=" + mailAPI, "KAPOK_APP=" + authJSApp, "KAPOK_PROVIDER=" + authJSProvider, "KAPOK_OIDC_EMAIL=" + authJSOIDCEmail,
		"KAPOK_ALICE_EMAIL=" + alice, "KAPOK_ALICE_PASSWORD=" + alicePassword,
		"KAPOK_BOB_EMAIL=bob@kapok.test", "KAPOK_BOB_PASSWORD=bob-password-1",
	}, "--experimental-websocket", "auth.mjs")

	// The wire port takes the access token as a password: auth.uid() is the user, and
	// row-level security shows their notes only (the suite gave alice two, bob one).
	addr := serveWirePort(t, ts)
	t.Run("the wire port takes a Kapok Auth access token as the password", func(t *testing.T) {
		s := passwordSignIn(t, base+"/t/"+tc.Name, keys.Anon, alice, alicePassword)
		c := wireConnect(t, addr, tc.Name, s.AccessToken)
		var uid, role string
		var n int
		if err := c.QueryRow(ctx, "SELECT auth.uid()::text, current_user::text, (SELECT count(*) FROM notes)").Scan(&uid, &role, &n); err != nil {
			t.Fatal(err)
		}
		if uid != s.User.ID || role != "authjs_t_user" || n != 2 {
			t.Fatalf("auth.uid() %s, current_user %s, notes %d; want %s, authjs_t_user, 2", uid, role, n, s.User.ID)
		}
		var all int
		if err := testenv.Conn(t).QueryRow(ctx, "SELECT count(*) FROM authjs_t.notes").Scan(&all); err != nil || all <= n {
			t.Fatalf("the table holds %d notes (%v): the check needs other users' notes too", all, err)
		}
	})
}

// authSession is the part of a GoTrue token response the Go tests read.
type authSession struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	User         struct {
		ID    string `json:"id"`
		Email string `json:"email"`
	} `json:"user"`
}

// authPost posts body to the tenant's /auth/v1 at url (path with its query) with the anon
// key, as auth-js does, plus headers ("Name: value"); it returns the status and body.
func authPost(t *testing.T, url, anon, path string, body any, headers ...string) (int, string) {
	t.Helper()
	return authDo(t, "POST", url, anon, path, body, headers...)
}

func authDo(t *testing.T, method, url, anon, path string, body any, headers ...string) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = strings.NewReader(string(b))
	}
	req, err := http.NewRequest(method, url+"/auth/v1"+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("apikey", anon)
	req.Header.Set("Authorization", "Bearer "+anon)
	req.Header.Set("X-Supabase-Api-Version", "2024-01-01")
	if body != nil {
		req.Header.Set("Content-Type", "application/json;charset=UTF-8")
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ":")
		if strings.EqualFold(k, "Host") { // net/http sends req.Host, never a Host header
			req.Host = strings.TrimSpace(v)
			continue
		}
		req.Header.Set(k, strings.TrimSpace(v))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// passwordSignIn signs email in with password and returns the session.
func passwordSignIn(t *testing.T, url, anon, email, password string) authSession {
	t.Helper()
	status, body := authPost(t, url, anon, "/token?grant_type=password", map[string]string{"email": email, "password": password})
	var s authSession
	if err := json.Unmarshal([]byte(body), &s); status != 200 || err != nil || s.AccessToken == "" || s.User.ID == "" {
		t.Fatalf("sign in %s: %d %s", email, status, body)
	}
	return s
}

// dropAuthStore removes the tenant's Kapok Auth store, before the test (users of an earlier
// run) and after it.
func dropAuthStore(t *testing.T, tc *control.TenantConfig) {
	t.Helper()
	drop := "DROP SCHEMA IF EXISTS " + pgx.Identifier{control.AuthSchema(tc)}.Sanitize() + " CASCADE"
	testenv.Exec(t, drop)
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), testenv.DirectURL())
		if err != nil {
			return
		}
		defer c.Close(context.Background())
		_, _ = c.Exec(context.Background(), drop)
	})
}

// startMailSink runs a mail sink on loopback until the test ends: it takes mails over SMTP
// (smtpPort) and lists them over HTTP (api: GET /api/messages).
func startMailSink(t *testing.T) (smtpPort int, api string) {
	t.Helper()
	s, err := mailsink.Start("127.0.0.1:0", "127.0.0.1:0", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s.Port(), s.URL()
}
