package auth

import (
	"net/url"
	"strconv"
	"strings"
	"testing"
)

func TestAdminEndpointsRefuseAnyoneButTheService(t *testing.T) {
	e := newEnv(t, "admin-refuse", nil)
	e.createUser("ivy@example.com", "secret-1")
	s := e.signIn("ivy@example.com", "secret-1")
	id := s.userID
	fid := newRandomUUID()
	for _, c := range []struct{ method, path string }{
		{"GET", "/admin/users"},
		{"POST", "/admin/users"},
		{"GET", "/admin/users/" + id},
		{"PUT", "/admin/users/" + id},
		{"DELETE", "/admin/users/" + id},
		{"GET", "/admin/users/" + id + "/factors"},
		{"DELETE", "/admin/users/" + id + "/factors/" + fid},
		{"POST", "/admin/generate_link"},
		{"POST", "/invite"},
	} {
		for name, caller := range map[string]Caller{"anon": {}, "user": s.caller, "refused": {Err: "bad signature"}} {
			t.Run(c.method+" "+c.path+" as "+name, func(t *testing.T) {
				e.must(e.call(c.method, c.path, map[string]any{"email": "x@example.com", "type": "recovery"}, caller), 403, "not_admin")
			})
		}
	}
	e.must(e.call("GET", "/user", nil, s.caller), 200, "")
}

func TestAdminUsers(t *testing.T) {
	e := newEnv(t, "admin-users", nil)
	created := e.must(e.call("POST", "/admin/users", map[string]any{"email": "Jo@Example.com", "password": "secret-1",
		"email_confirm": true, "user_metadata": map[string]any{"plan": "pro", "n": 1},
		"app_metadata": map[string]any{"tier": "gold"}}, serviceKey), 200, "")
	id := created.str("id")
	if created.str("email") != "jo@example.com" || created.obj["email_confirmed_at"] == nil ||
		created.obj["app_metadata"].(map[string]any)["tier"] != "gold" || created.obj["app_metadata"].(map[string]any)["provider"] != "email" {
		t.Fatalf("created: %s", created.Body)
	}
	e.must(e.call("POST", "/admin/users", map[string]any{"email": "jo@example.com", "password": "secret-2"}, serviceKey), 422, "email_exists")
	e.must(e.call("POST", "/admin/users", map[string]any{"email": "short@example.com", "password": "abc"}, serviceKey), 422, "weak_password")
	for i := range 4 {
		e.must(e.call("POST", "/admin/users", map[string]any{"email": "u" + strconv.Itoa(i) + "@example.com"}, serviceKey), 200, "")
	}

	list := e.must(e.call("GET", "/admin/users?page=2&per_page=2", nil, serviceKey), 200, "")
	if list.Header.Get("X-Total-Count") != "5" || list.str("aud") != "authenticated" || len(list.obj["users"].([]any)) != 2 {
		t.Fatalf("page 2: %v %s", list.Header, list.Body)
	}
	link := list.Header.Get("Link")
	if !strings.Contains(link, `/admin/users?page=3&per_page=2>; rel="next"`) || !strings.Contains(link, `page=3&per_page=2>; rel="last"`) {
		t.Fatalf("Link: %s", link)
	}
	// auth-js reads the page number as the first parameter's value.
	for _, l := range strings.Split(link, ",") {
		if page := strings.Split(strings.Split(l, ";")[0], "=")[1]; !strings.HasPrefix(page, "3") {
			t.Fatalf("link %q does not start with its page", l)
		}
	}
	if l := e.must(e.call("GET", "/admin/users?filter=JO@", nil, serviceKey), 200, ""); len(l.obj["users"].([]any)) != 1 {
		t.Fatalf("filter: %s", l.Body)
	}
	e.must(e.call("GET", "/admin/users?page=0", nil, serviceKey), 400, "validation_failed")

	got := e.must(e.call("GET", "/admin/users/"+id, nil, serviceKey), 200, "")
	if got.str("id") != id {
		t.Fatalf("get: %s", got.Body)
	}
	upd := e.must(e.call("PUT", "/admin/users/"+id, map[string]any{"user_metadata": map[string]any{"n": nil, "lang": "fr"},
		"email": "joe@example.com", "email_confirm": true}, serviceKey), 200, "")
	meta := upd.obj["user_metadata"].(map[string]any)
	if meta["plan"] != "pro" || meta["lang"] != "fr" || meta["n"] != nil || len(meta) != 2 || upd.str("email") != "joe@example.com" {
		t.Fatalf("update: %s", upd.Body)
	}
	if ids := upd.obj["identities"].([]any); ids[0].(map[string]any)["email"] != "joe@example.com" {
		t.Fatalf("the email identity kept the old address: %v", ids)
	}
	e.signIn("joe@example.com", "secret-1")
	e.must(e.call("PUT", "/admin/users/"+id, map[string]any{"ban_duration": "forever"}, serviceKey), 400, "validation_failed")
	e.must(e.call("PUT", "/admin/users/"+id, map[string]any{"email": "u1@example.com"}, serviceKey), 422, "email_exists")

	e.exec(`INSERT INTO @S@.mfa_factors (user_id, friendly_name, status, secret) VALUES ($1::uuid, 'laptop', 'verified', 'x')`, id)
	factors := e.must(e.call("GET", "/admin/users/"+id+"/factors", nil, serviceKey), 200, "")
	if len(factors.list) != 1 || factors.list[0].(map[string]any)["friendly_name"] != "laptop" {
		t.Fatalf("factors: %s", factors.Body)
	}
	fid := factors.list[0].(map[string]any)["id"].(string)
	e.must(e.call("DELETE", "/admin/users/"+id+"/factors/"+fid, nil, serviceKey), 200, "")
	e.must(e.call("DELETE", "/admin/users/"+id+"/factors/"+fid, nil, serviceKey), 404, "mfa_factor_not_found")

	e.must(e.call("DELETE", "/admin/users/"+id, map[string]any{"should_soft_delete": false}, serviceKey), 200, "")
	e.must(e.call("GET", "/admin/users/"+id, nil, serviceKey), 404, "user_not_found")
	e.must(e.call("DELETE", "/admin/users/"+id, nil, serviceKey), 404, "user_not_found")
	e.must(e.call("GET", "/admin/users/not-a-uuid", nil, serviceKey), 404, "validation_failed")
	if n := e.count(`SELECT count(*) FROM @S@.audit_log WHERE action = 'user_deleted' AND actor_id = $1::uuid`, id); n != 1 {
		t.Fatalf("user_deleted rows: %d", n)
	}
}

func TestGenerateLinkAndInvite(t *testing.T) {
	e := newEnv(t, "links", withMailSink(t))
	e.createUser("kim@example.com", "secret-1")
	r := e.must(e.call("POST", "/admin/generate_link?redirect_to="+url.QueryEscape("http://app.test/welcome"),
		map[string]any{"type": "recovery", "email": "kim@example.com"}, serviceKey), 200, "")
	if r.str("verification_type") != "recovery" || r.str("hashed_token") == "" || r.str("email_otp") == "" ||
		r.str("redirect_to") != "http://app.test/welcome" || r.str("email") != "kim@example.com" {
		t.Fatalf("recovery link: %s", r.Body)
	}
	link, err := url.Parse(r.str("action_link"))
	if err != nil || link.Path != "/t/"+e.name+"/auth/v1/verify" || link.Query().Get("token") != r.str("hashed_token") ||
		link.Query().Get("type") != "recovery" || link.Query().Get("redirect_to") != "http://app.test/welcome" {
		t.Fatalf("action_link: %s", r.str("action_link"))
	}
	e.must(e.call("POST", "/admin/generate_link", map[string]any{"type": "recovery", "email": "none@example.com"}, serviceKey), 404, "user_not_found")
	e.must(e.call("POST", "/admin/generate_link", map[string]any{"type": "signup", "email": "kim@example.com", "password": "secret-2"}, serviceKey), 422, "email_exists")
	e.must(e.call("POST", "/admin/generate_link", map[string]any{"type": "sms", "email": "kim@example.com"}, serviceKey), 400, "validation_failed")
	su := e.must(e.call("POST", "/admin/generate_link", map[string]any{"type": "signup", "email": "lou@example.com", "password": "secret-2"}, serviceKey), 200, "")
	if su.str("verification_type") != "signup" || su.obj["email_confirmed_at"] != nil {
		t.Fatalf("signup link: %s", su.Body)
	}
	if n := e.count(`SELECT count(*) FROM @S@.one_time_tokens WHERE kind IN ('recovery', 'confirmation')`); n != 2 {
		t.Fatalf("one-time tokens: %d", n)
	}

	inv := e.must(e.call("POST", "/invite", map[string]any{"email": "max@example.com", "data": map[string]any{"team": "a"}}, serviceKey), 200, "")
	if inv.obj["invited_at"] == nil || inv.obj["user_metadata"].(map[string]any)["team"] != "a" {
		t.Fatalf("invite: %s", inv.Body)
	}
	e.must(e.call("POST", "/invite", map[string]any{"email": "kim@example.com"}, serviceKey), 422, "email_exists")
	if n := e.count(`SELECT count(*) FROM @S@.audit_log WHERE action = 'user_invited'`); n != 1 {
		t.Fatalf("user_invited rows: %d", n)
	}
}
