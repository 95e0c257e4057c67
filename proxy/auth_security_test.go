package proxy

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kapok-dev/kapok/control"
	"github.com/kapok-dev/kapok/internal/mailsink"
	"github.com/kapok-dev/kapok/internal/testenv"
)

// The roles are cluster-wide: created idempotently, never dropped.
const authSecRolesSQL = `
DO $$BEGIN CREATE ROLE authsec_t_anon NOLOGIN; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END$$;
DO $$BEGIN CREATE ROLE authsec_t_user NOLOGIN; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END$$;
`

const authSecDDL = `
CREATE TABLE notes (id int PRIMARY KEY, body text);
GRANT USAGE ON SCHEMA authsec_t TO authsec_t_user;
GRANT SELECT ON notes TO authsec_t_user;
`

// authSecTenant is a tenant of the security checks: users confirmed at sign-up, refresh
// tokens reusable for reuse after rotation, and limits as given. Every tenant shares one
// JWT secret, as tenants of one deployment may.
func authSecTenant(name string, reuse time.Duration, limits control.AuthRateLimits) *control.TenantConfig {
	return &control.TenantConfig{Name: name, Schemas: []string{"authsec_t"}, Auth: &control.AuthConfig{
		JWTSecret: "authsec-t-shared-secret-0123456789abcdef", AnonRole: "authsec_t_anon", AuthenticatedRole: "authsec_t_user",
		Users: &control.UsersConfig{Autoconfirm: true, RefreshReuseInterval: control.Duration(reuse), RateLimits: limits},
	}}
}

// authSecServer serves the security checks' tenants on a TCP port (rate limits are per
// client address) and returns each tenant's URL and anon key.
func authSecServer(t *testing.T, tenants ...*control.TenantConfig) (urls, anon map[string]string) {
	t.Helper()
	testenv.Exec(t, authSecRolesSQL)
	testenv.FreshSchema(t, "authsec_t", authSecDDL)
	for _, tc := range tenants {
		dropAuthStore(t, tc)
	}
	ts := startServer(t, &control.Config{Tenants: tenants})
	base := serveTCP(t, ts)
	urls, anon = map[string]string{}, map[string]string{}
	for _, tc := range tenants {
		urls[tc.Name] = base + "/t/" + tc.Name
		keys, err := control.KeysFor(tc.Name, tc.Auth)
		if err != nil {
			t.Fatal(err)
		}
		anon[tc.Name] = keys.Anon
	}
	return urls, anon
}

// signUp creates a confirmed user (the tenant autoconfirms) and returns their session.
func signUp(t *testing.T, url, anon, email, password string) authSession {
	t.Helper()
	status, body := authPost(t, url, anon, "/signup", map[string]string{"email": email, "password": password})
	var s authSession
	if err := json.Unmarshal([]byte(body), &s); status != 200 || err != nil || s.RefreshToken == "" {
		t.Fatalf("sign up %s: %d %s", email, status, body)
	}
	return s
}

// errorCode is GoTrue's error code of an answer.
func errorCode(body string) string {
	var e struct {
		Code string `json:"code"`
	}
	_ = json.Unmarshal([]byte(body), &e)
	return e.Code
}

func refresh(t *testing.T, url, anon, token string) (int, authSession, string) {
	t.Helper()
	status, body := authPost(t, url, anon, "/token?grant_type=refresh_token", map[string]string{"refresh_token": token})
	var s authSession
	_ = json.Unmarshal([]byte(body), &s)
	return status, s, body
}

// TestAuthRefreshTokenReuseRevokesTheSession checks reuse detection: a rotated refresh
// token presented again within the reuse interval is a client's concurrent refresh and
// succeeds; past it, it is a stolen token's replay, and the whole session ends, the newest
// refresh token and the access tokens included.
func TestAuthRefreshTokenReuseRevokesTheSession(t *testing.T) {
	const reuse = 2 * time.Second
	tc := authSecTenant("authsec-reuse", reuse, control.AuthRateLimits{TokenRefresh: -1, SignInPerIP: -1})
	urls, anon := authSecServer(t, tc)
	url, key := urls[tc.Name], anon[tc.Name]

	s0 := signUp(t, url, key, "reuse@kapok.test", "reuse-password-1")
	status, s1, body := refresh(t, url, key, s0.RefreshToken)
	if status != 200 || s1.RefreshToken == "" || s1.RefreshToken == s0.RefreshToken {
		t.Fatalf("first refresh: %d %s", status, body)
	}
	rotated := time.Now()
	status, s2, body := refresh(t, url, key, s0.RefreshToken)
	if time.Since(rotated) < reuse/2 && (status != 200 || s2.RefreshToken == "") {
		t.Fatalf("the rotated token again within the reuse interval (a concurrent refresh): %d %s", status, body)
	}
	newest := s1
	if s2.RefreshToken != "" {
		newest = s2
	}
	if status, body := authDo(t, "GET", url, key, "/user", nil, "Authorization: Bearer "+newest.AccessToken); status != 200 {
		t.Fatalf("the session before the reuse: %d %s", status, body)
	}

	time.Sleep(time.Until(rotated.Add(reuse + 500*time.Millisecond)))
	status, _, body = refresh(t, url, key, s0.RefreshToken)
	if status != 400 || errorCode(body) != "refresh_token_already_used" {
		t.Fatalf("the rotated token past the reuse interval: %d %s; want 400 refresh_token_already_used", status, body)
	}
	if status, _, body := refresh(t, url, key, newest.RefreshToken); status != 400 {
		t.Fatalf("the session's newest refresh token after the reuse: %d %s; want 400", status, body)
	}
	status, body = authDo(t, "GET", url, key, "/user", nil, "Authorization: Bearer "+newest.AccessToken)
	if status != 403 || errorCode(body) != "session_not_found" {
		t.Fatalf("the session's access token after the reuse: %d %s; want 403 session_not_found", status, body)
	}
	// Another session of the same user lives on.
	other := passwordSignIn(t, url, key, "reuse@kapok.test", "reuse-password-1")
	if status, _, body := refresh(t, url, key, other.RefreshToken); status != 200 {
		t.Fatalf("another session: %d %s", status, body)
	}
}

// TestAuthTokensAreGoodForTheirTenantOnly checks that a user's token of one tenant is
// refused by another tenant, even one sharing the JWT secret: by its REST API and by its
// auth API alike.
func TestAuthTokensAreGoodForTheirTenantOnly(t *testing.T) {
	a := authSecTenant("authsec-a", 0, control.AuthRateLimits{})
	b := authSecTenant("authsec-b", 0, control.AuthRateLimits{})
	urls, anon := authSecServer(t, a, b)
	s := signUp(t, urls[a.Name], anon[a.Name], "tenant-a@kapok.test", "tenant-a-password")
	bearer := "Authorization: Bearer " + s.AccessToken

	rest := func(url, key string) (int, string) {
		req, _ := http.NewRequest("GET", url+"/rest/v1/notes", nil)
		req.Header.Set("apikey", key)
		req.Header.Set("Authorization", "Bearer "+s.AccessToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if status, body := rest(urls[a.Name], anon[a.Name]); status != 200 {
		t.Fatalf("tenant a's REST with its own user's token: %d %s", status, body)
	}
	if status, body := authDo(t, "GET", urls[a.Name], anon[a.Name], "/user", nil, bearer); status != 200 {
		t.Fatalf("tenant a's /user with its own user's token: %d %s", status, body)
	}
	if status, body := rest(urls[b.Name], anon[b.Name]); status != 401 {
		t.Fatalf("tenant b's REST with tenant a's token: %d %s; want 401", status, body)
	}
	if status, body := authDo(t, "GET", urls[b.Name], anon[b.Name], "/user", nil, bearer); status != 401 {
		t.Fatalf("tenant b's /user with tenant a's token: %d %s; want 401", status, body)
	}
	if status, body := authPost(t, urls[b.Name], anon[b.Name], "/logout", nil, bearer); status != 401 {
		t.Fatalf("tenant b's /logout with tenant a's token: %d %s; want 401", status, body)
	}
}

// TestAuthPasswordGuessingIsRateLimited checks that repeated failed sign-ins are refused
// with 429 and Retry-After: per account, and per client address across accounts.
func TestAuthPasswordGuessingIsRateLimited(t *testing.T) {
	perAccount := authSecTenant("authsec-account", 0, control.AuthRateLimits{SignInPerAccount: 3, SignInPerIP: -1})
	perIP := authSecTenant("authsec-address", 0, control.AuthRateLimits{SignInPerAccount: -1, SignInPerIP: 4})
	urls, anon := authSecServer(t, perAccount, perIP)

	// check makes failed attempts: the first allowed ones are answered 400, and one more
	// (whether the limit counts the attempt that reaches it or the next) gets the 429.
	check := func(t *testing.T, url, key string, allowed int, email func(i int) string) {
		t.Helper()
		for i := 0; i <= allowed+1; i++ {
			req, _ := http.NewRequest("POST", url+"/auth/v1/token?grant_type=password",
				strings.NewReader(`{"email":"`+email(i)+`","password":"guess-`+string(rune('a'+i))+`"}`))
			req.Header.Set("apikey", key)
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var e struct {
				Code string `json:"code"`
			}
			_ = json.NewDecoder(resp.Body).Decode(&e)
			resp.Body.Close()
			switch {
			case resp.StatusCode == 400 && e.Code == "invalid_credentials" && i <= allowed:
				continue
			case resp.StatusCode == 429 && i >= allowed:
				if e.Code != "over_request_rate_limit" || resp.Header.Get("Retry-After") == "" {
					t.Fatalf("attempt %d: 429 %s Retry-After %q; want over_request_rate_limit with Retry-After", i+1, e.Code, resp.Header.Get("Retry-After"))
				}
				return
			}
			t.Fatalf("attempt %d of a limit of %d: %d %s", i+1, allowed, resp.StatusCode, e.Code)
		}
		t.Fatalf("%d failed attempts and no 429", allowed+2)
	}
	t.Run("per account", func(t *testing.T) {
		signUp(t, urls[perAccount.Name], anon[perAccount.Name], "victim@kapok.test", "victim-password-1")
		check(t, urls[perAccount.Name], anon[perAccount.Name], 3, func(int) string { return "victim@kapok.test" })
	})
	t.Run("per client address, across accounts", func(t *testing.T) {
		check(t, urls[perIP.Name], anon[perIP.Name], 4, func(i int) string { return "nobody-" + string(rune('a'+i)) + "@kapok.test" })
	})
}

// TestAuthUnknownEmailAndWrongPasswordLookAlike checks that sign-in does not tell whether
// an account exists: an unknown email and a wrong password get the same answer, and take
// about as long (both compare a bcrypt hash). This is a property check with a generous
// bound, not a timing benchmark.
func TestAuthUnknownEmailAndWrongPasswordLookAlike(t *testing.T) {
	tc := authSecTenant("authsec-timing", 0, control.AuthRateLimits{SignInPerAccount: -1, SignInPerIP: -1})
	urls, anon := authSecServer(t, tc)
	url, key := urls[tc.Name], anon[tc.Name]
	signUp(t, url, key, "known@kapok.test", "known-password-1")

	attempt := func(email string) (int, string, time.Duration) {
		start := time.Now()
		status, body := authPost(t, url, key, "/token?grant_type=password", map[string]string{"email": email, "password": "wrong-password-1"})
		return status, body, time.Since(start)
	}
	attempt("warm-up@kapok.test")
	var unknown, wrong []time.Duration
	for i := range 10 {
		su, bu, du := attempt("unknown-" + string(rune('a'+i)) + "@kapok.test")
		sw, bw, dw := attempt("known@kapok.test")
		if su != 400 || su != sw || bu != bw || errorCode(bu) != "invalid_credentials" {
			t.Fatalf("unknown email: %d %s\nwrong password: %d %s\nwant the same 400 invalid_credentials", su, bu, sw, bw)
		}
		unknown, wrong = append(unknown, du), append(wrong, dw)
	}
	median := func(d []time.Duration) time.Duration {
		slices.Sort(d)
		return d[len(d)/2]
	}
	mu, mw := median(unknown), median(wrong)
	if mu > 2*mw || mw > 2*mu {
		t.Fatalf("median sign-in time: unknown email %v, wrong password %v; want within a factor of 2", mu, mw)
	}
}

// TestAuthMailedLinksNeverFollowTheHostHeader checks against password-reset poisoning: a
// client that sends POST /recover for somebody else's address with a Host of its choosing
// must not get that host into the mailed link, which carries the code. The link is built
// on public_url (or auth.users.external_url); without either, only a loopback Host is
// trusted, and any other is refused before a mail goes.
func TestAuthMailedLinksNeverFollowTheHostHeader(t *testing.T) {
	sink, err := mailsink.Start("127.0.0.1:0", "127.0.0.1:0", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sink.Close() })
	tenant := func(name, external string) *control.TenantConfig {
		tc := authSecTenant(name, 0, control.AuthRateLimits{})
		tc.Auth.Users.SMTP = control.SMTPConfig{Host: "127.0.0.1", Port: sink.Port(), AdminEmail: "auth@kapok.test", TLS: "none"}
		tc.Auth.Users.ExternalURL = external
		return tc
	}
	testenv.Exec(t, authSecRolesSQL)
	testenv.FreshSchema(t, "authsec_t", authSecDDL)
	plain, own := tenant("authlink-plain", ""), tenant("authlink-own", "https://login.example.com/auth/v1")
	dropAuthStore(t, plain)
	dropAuthStore(t, own)
	serve := func(publicURL string) string {
		ts := startServer(t, &control.Config{PublicURL: publicURL, Tenants: []*control.TenantConfig{plain, own}})
		return serveTCP(t, ts)
	}
	recoverMail := func(t *testing.T, base string, tc *control.TenantConfig, email string, headers ...string) (int, string, string) {
		t.Helper()
		keys, err := control.KeysFor(tc.Name, tc.Auth)
		if err != nil {
			t.Fatal(err)
		}
		url := base + "/t/" + tc.Name
		sink.Clear()
		signUp(t, url, keys.Anon, email, "victim-password-1")
		status, body := authPost(t, url, keys.Anon, "/recover", map[string]string{"email": email}, headers...)
		if status != 200 {
			return status, body, ""
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		msgs, err := sink.Wait(ctx, email, 1)
		if err != nil {
			t.Fatalf("no recovery mail: %v", err)
		}
		return status, body, msgs[0].Text + msgs[0].HTML
	}

	withoutPublicURL := serve("")
	withPublicURL := serve("https://api.example.com/")
	t.Run("without public_url, another Host is refused and nothing is mailed", func(t *testing.T) {
		status, body, _ := recoverMail(t, withoutPublicURL, plain, "victim-1@kapok.test", "Host: attacker.example")
		if status != 500 || !strings.Contains(body, "public_url") {
			t.Fatalf("%d %s", status, body)
		}
		if n := len(sink.Messages()); n != 0 {
			t.Fatalf("%d mails sent", n)
		}
	})
	t.Run("without public_url, a loopback Host is this machine and is used", func(t *testing.T) {
		_, _, mail := recoverMail(t, withoutPublicURL, plain, "victim-2@kapok.test")
		if !strings.Contains(mail, withoutPublicURL+"/t/authlink-plain/auth/v1/verify?") {
			t.Fatalf("%s", mail)
		}
	})
	t.Run("with public_url, the link is on it whatever the Host", func(t *testing.T) {
		_, _, mail := recoverMail(t, withPublicURL, plain, "victim-3@kapok.test", "Host: attacker.example")
		if !strings.Contains(mail, "https://api.example.com/t/authlink-plain/auth/v1/verify?") || strings.Contains(mail, "attacker") {
			t.Fatalf("%s", mail)
		}
	})
	t.Run("a tenant's external_url comes first", func(t *testing.T) {
		_, _, mail := recoverMail(t, withPublicURL, own, "victim-4@kapok.test", "Host: attacker.example")
		if !strings.Contains(mail, "https://login.example.com/auth/v1/verify?") || strings.Contains(mail, "attacker") {
			t.Fatalf("%s", mail)
		}
	})
}
