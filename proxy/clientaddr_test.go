package proxy

import (
	"net"
	"net/http"
	"net/netip"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/kapok-dev/kapok/control"
	"github.com/kapok-dev/kapok/internal/testenv"
)

func TestClientAddrBelievesOnlyTrustedProxies(t *testing.T) {
	s := &Server{}
	var err error
	if s.trusted, err = parseCIDRs([]string{"10.0.0.0/8", "192.0.2.1"}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, peer string
		xff        []string
		want       string
	}{
		{"a direct client is its peer", "198.51.100.7", nil, "198.51.100.7"},
		{"an untrusted peer's X-Forwarded-For is ignored", "198.51.100.7", []string{"203.0.113.9"}, "198.51.100.7"},
		{"a trusted proxy names the client", "10.1.2.3", []string{"203.0.113.9"}, "203.0.113.9"},
		{"a client's own X-Forwarded-For before the proxy's entry is not believed", "10.1.2.3", []string{"1.1.1.1, 203.0.113.9"}, "203.0.113.9"},
		{"a chain of trusted proxies is walked from the right", "10.1.2.3", []string{"203.0.113.9, 192.0.2.1, 10.9.9.9"}, "203.0.113.9"},
		{"several headers are one list", "10.1.2.3", []string{"1.1.1.1", "203.0.113.9, 10.0.0.5"}, "203.0.113.9"},
		{"ports and brackets are read", "10.1.2.3", []string{"[2001:db8::1]:4711"}, "2001:db8::1"},
		{"an IPv4 address with its port", "10.1.2.3", []string{"203.0.113.9:55000"}, "203.0.113.9"},
		{"a malformed entry stops at the proxy before it", "10.1.2.3", []string{"203.0.113.9, unknown, 10.0.0.5"}, "10.0.0.5"},
		{"only trusted proxies: the leftmost", "10.1.2.3", []string{"10.0.0.7, 10.0.0.5"}, "10.0.0.7"},
		{"a trusted proxy without the header is the client", "10.1.2.3", nil, "10.1.2.3"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var req fasthttp.Request
			for _, v := range c.xff {
				req.Header.Add("X-Forwarded-For", v)
			}
			var ctx fasthttp.RequestCtx
			ctx.Init(&req, &net.TCPAddr{IP: net.ParseIP(c.peer), Port: 40000}, nil)
			if got := s.clientAddr(&ctx); got != netip.MustParseAddr(c.want) {
				t.Fatalf("%s, want %s", got, c.want)
			}
		})
	}
}

// TestTrustedProxiesNameTheClientForAllowListsAndSignInLimits serves Kapok behind a
// "proxy" at 127.0.0.1 (the test's own connections) that sets X-Forwarded-For.
func TestTrustedProxiesNameTheClientForAllowListsAndSignInLimits(t *testing.T) {
	testenv.Exec(t, authSecRolesSQL)
	testenv.FreshSchema(t, "authsec_t", authSecDDL)
	limited := authSecTenant("xff-limits", 0, control.AuthRateLimits{SignInPerAccount: -1, SignInPerIP: 2})
	walled := authSecTenant("xff-walled", 0, control.AuthRateLimits{})
	walled.AllowCIDRs = []string{"203.0.113.0/24"}
	dropAuthStore(t, limited)
	dropAuthStore(t, walled)
	serve := func(trusted []string) string {
		return serveTCP(t, startServer(t, &control.Config{TrustedProxies: trusted, Tenants: []*control.TenantConfig{limited, walled}}))
	}
	behind, exposed := serve([]string{"127.0.0.1"}), serve(nil)
	keys, err := control.KeysFor(walled.Name, walled.Auth)
	if err != nil {
		t.Fatal(err)
	}
	settings := func(base, xff string) int {
		req, _ := http.NewRequest("GET", base+"/t/xff-walled/auth/v1/settings", nil)
		req.Header.Set("apikey", keys.Anon)
		if xff != "" {
			req.Header.Set("X-Forwarded-For", xff)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	t.Run("a tenant's allow list sees the forwarded client", func(t *testing.T) {
		if s := settings(behind, "203.0.113.9"); s != 200 {
			t.Errorf("an allowed client through the proxy: %d", s)
		}
		if s := settings(behind, "198.51.100.7"); s != 403 {
			t.Errorf("another client through the proxy: %d", s)
		}
		if s := settings(behind, "203.0.113.9, 198.51.100.7"); s != 403 {
			t.Errorf("a client claiming an allowed address before the proxy's entry: %d", s)
		}
	})
	t.Run("without trusted_proxies the header is a client's claim, ignored", func(t *testing.T) {
		if s := settings(exposed, "203.0.113.9"); s != 403 {
			t.Errorf("%d", s)
		}
	})
	t.Run("sign-in limits count each forwarded client apart", func(t *testing.T) {
		url := behind + "/t/" + limited.Name
		anon, err := control.KeysFor(limited.Name, limited.Auth)
		if err != nil {
			t.Fatal(err)
		}
		attempt := func(xff string) int {
			status, _ := authPost(t, url, anon.Anon, "/token?grant_type=password",
				map[string]string{"email": "nobody@kapok.test", "password": "wrong-password-1"}, "X-Forwarded-For: "+xff)
			return status
		}
		got := []int{attempt("198.51.100.1"), attempt("198.51.100.1"), attempt("198.51.100.1")}
		if got[2] != 429 {
			t.Fatalf("one client's attempts: %v, want the third refused with 429", got)
		}
		if s := attempt("198.51.100.2"); s != 400 {
			t.Fatalf("another client behind the same proxy: %d, want 400 (not locked out by the first)", s)
		}
	})
}
