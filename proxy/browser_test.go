package proxy

import (
	"context"
	"encoding/json"
	"html/template"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kapok-dev/kapok/control"
	"github.com/kapok-dev/kapok/internal/testenv"
)

// browserPage runs supabase-js's UMD build in the page, as an app's script would, against
// Kapok on another origin, and posts what it saw to its own origin's /result.
var browserPage = template.Must(template.New("page").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>kapok cors</title><script src="/supabase.js"></script></head>
<body><script type="module">
const KAPOK = {{.Kapok}}, REFUSING = {{.Refusing}}, ANON = {{.Anon}}
const out = {}
try {
  const client = supabase.createClient(KAPOK, ANON, { db: { schema: 'browser_t' } })
  const up = await client.auth.signUp({ email: 'browser-' + Date.now() + '@kapok.test', password: 'browser-password-1' })
  out.signUp = { error: up.error ? up.error.message : null, session: !!up.data.session }
  const ins = await client.from('notes').insert({ body: 'from the browser' }).select('body')
  out.insert = { status: ins.status, error: ins.error ? ins.error.message : null, data: ins.data }
  const sel = await client.from('notes').select('body', { count: 'exact' })
  out.select = { status: sel.status, error: sel.error ? sel.error.message : null, count: sel.count, data: sel.data }
  const { data: { session } } = await client.auth.getSession()
  const gql = await fetch(KAPOK + '/v1/graphql', { method: 'POST',
    headers: { 'Content-Type': 'application/json', apikey: ANON, Authorization: 'Bearer ' + session.access_token },
    body: JSON.stringify({ query: '{ notes { body } }' }) })
  out.graphql = { status: gql.status, body: await gql.json() }
  const missing = await client.from('no_such_table').select()
  out.missing = { status: missing.status, code: missing.error ? missing.error.code : null }
  const user = await client.auth.getUser()
  out.getUser = { error: user.error ? user.error.message : null, email: user.data.user ? user.data.user.email : null }
  try {
    const r = await fetch(REFUSING + '/rest/v1/notes', { headers: { apikey: ANON } })
    out.refused = 'the browser let the page read a ' + r.status
  } catch (e) {
    out.refused = e.name
  }
  const so = await client.auth.signOut()
  out.signOut = so.error ? so.error.message : null
} catch (e) {
  out.exception = String(e && e.stack || e)
}
await fetch('/result', { method: 'POST', body: JSON.stringify(out) })
</script></body></html>`))

// TestSupabaseJSInABrowserOnAnotherOrigin loads a page in headless Chromium whose script,
// served from another origin than Kapok's, uses supabase-js as a web app does: sign-up,
// an insert and a counted select over REST under row-level security, GraphQL with the
// user's token, an error it must be able to read, sign-out. The browser enforces CORS, so
// each call works only if Kapok's answers allow it; a Kapok that allows another origin only
// is refused by the browser, which shows the check can fail.
func TestSupabaseJSInABrowserOnAnotherOrigin(t *testing.T) {
	chromium := testenv.AptTool(t, "chromium", "chromium")
	dir := testenv.NodeDir(t, filepath.Join("testdata", "supabase-js"), filepath.Join("@supabase", "supabase-js"))
	bundle := filepath.Join(dir, "node_modules", "@supabase", "supabase-js", "dist", "umd", "supabase.js")

	tc := &control.TenantConfig{Name: "browser", Schemas: []string{"browser_t"}, Auth: &control.AuthConfig{
		JWTSecret: "browser-t-secret-0123456789abcdef0123456", AnonRole: "browser_t_anon", AuthenticatedRole: "browser_t_user",
		Users: &control.UsersConfig{Autoconfirm: true},
	}}
	testenv.Exec(t, ownNotesRoles("browser_t"))
	dropAuthStore(t, tc)
	testenv.FreshSchema(t, "browser_t", "")
	ts := startServer(t, &control.Config{Tenants: []*control.TenantConfig{tc}})
	testenv.Exec(t, ownNotesDDL("browser_t")+
		"INSERT INTO browser_t.notes (user_id, body) VALUES ('00000000-0000-0000-0000-000000000001', 'somebody else''s')")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := ts.reg.Reload(ctx, tc.Name); err != nil {
		t.Fatal(err)
	}
	kapok := serveTCP(t, ts) + "/t/" + tc.Name
	refusing := startServer(t, &control.Config{CORS: control.CORSConfig{AllowedOrigins: []string{"https://elsewhere.example.com"}},
		Tenants: []*control.TenantConfig{tc}})
	keys, err := control.KeysFor(tc.Name, tc.Auth)
	if err != nil {
		t.Fatal(err)
	}

	refusingURL := serveTCP(t, refusing) + "/t/" + tc.Name
	results := make(chan string, 1)
	mux := http.NewServeMux()
	mux.HandleFunc("/{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = browserPage.Execute(w, map[string]string{"Kapok": kapok, "Refusing": refusingURL, "Anon": keys.Anon})
	})
	mux.HandleFunc("/supabase.js", func(w http.ResponseWriter, r *http.Request) { http.ServeFile(w, r, bundle) })
	mux.HandleFunc("POST /result", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		select {
		case results <- string(b):
		default:
		}
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0") // another port: another origin
	if err != nil {
		t.Fatal(err)
	}
	page := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = page.Serve(ln) }()
	t.Cleanup(func() { _ = page.Close() })

	var log strings.Builder
	cmd := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--enable-logging=stderr", "--v=0", "--user-data-dir="+t.TempDir(), "http://"+ln.Addr().String()+"/")
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	var raw string
	select {
	case raw = <-results:
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		_ = cmd.Wait() // its output is complete, and no longer written to
		t.Fatalf("the page reported nothing within 60 s; chromium:\n%s", log.String())
	}
	var out struct {
		Exception string
		SignUp    struct {
			Error   *string
			Session bool
		}
		Insert, Select struct {
			Status int
			Error  *string
			Count  *int
			Data   []map[string]any
		}
		GraphQL struct {
			Status int
			Body   struct {
				Data struct{ Notes []map[string]any }
			}
		}
		Missing struct {
			Status int
			Code   string
		}
		GetUser struct {
			Error *string
			Email string
		}
		Refused string
		SignOut *string
	}
	if err := json.Unmarshal([]byte(raw), &out); err != nil {
		t.Fatalf("%v: %s", err, raw)
	}
	t.Logf("the page saw: %s", raw)
	mine := []map[string]any{{"body": "from the browser"}}
	switch {
	case out.Exception != "":
		t.Fatalf("the page's script failed: %s", out.Exception)
	case out.SignUp.Error != nil || !out.SignUp.Session:
		t.Errorf("signUp: %s", raw)
	case out.Insert.Status != 201 || out.Insert.Error != nil || !jsonEqual(out.Insert.Data, mine):
		t.Errorf("insert: %s", raw)
	case out.Select.Status != 200 || out.Select.Count == nil || *out.Select.Count != 1 || !jsonEqual(out.Select.Data, mine):
		t.Errorf("select with count (Content-Range must be readable): %s", raw)
	case out.GraphQL.Status != 200 || !jsonEqual(out.GraphQL.Body.Data.Notes, mine):
		t.Errorf("graphql: %s", raw)
	case out.Missing.Status != 404 || out.Missing.Code == "":
		t.Errorf("an error's body must be readable: %s", raw)
	case out.GetUser.Error != nil || !strings.HasPrefix(out.GetUser.Email, "browser-"):
		t.Errorf("getUser: %s", raw)
	case out.Refused != "TypeError":
		t.Errorf("a Kapok allowing another origin only: %q, want the browser's TypeError", out.Refused)
	case out.SignOut != nil:
		t.Errorf("signOut: %s", raw)
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}
