package proxy

import (
	"testing"

	"github.com/kapok-dev/kapok/control"
	"github.com/kapok-dev/kapok/internal/testenv"
)

// TestRESTPreferTimezone: Prefer: timezone=… renders timestamptz values in that zone for
// reads, writes and calls, as PostgREST does, says so in Preference-Applied, and ends with
// the request's transaction; a zone PostgreSQL does not know is a 400.
func TestRESTPreferTimezone(t *testing.T) {
	const schema = "rest_t_timezone"
	testenv.FreshSchema(t, schema, `
CREATE TABLE events (id int PRIMARY KEY, at timestamptz NOT NULL, label text);
INSERT INTO events VALUES (1, '2026-01-15 12:00:00+00', 'winter'), (2, '2026-07-15 12:00:00+00', 'summer');
CREATE FUNCTION first_at() RETURNS timestamptz LANGUAGE sql STABLE SET search_path FROM CURRENT AS 'SELECT min(at) FROM events';
CREATE FUNCTION events_after(t timestamptz) RETURNS SETOF events LANGUAGE sql STABLE SET search_path FROM CURRENT AS 'SELECT * FROM events WHERE at > t';
`)
	ts := startServer(t, &control.Config{DefaultTenant: "blog", Tenants: []*control.TenantConfig{{Name: "blog", Schemas: []string{schema}}}})
	plain := func() string {
		t.Helper()
		r := ts.do("GET", "/t/blog/rest/v1/events?select=id,at&order=id", "")
		if r.status != 200 || r.header["Preference-Applied"] != "" {
			t.Fatalf("GET without a timezone: %d %q %s", r.status, r.header["Preference-Applied"], r.body)
		}
		return r.body
	}
	before := plain()
	const (
		la    = `[{"id":1,"at":"2026-01-15T04:00:00-08:00"},{"id":2,"at":"2026-07-15T05:00:00-07:00"}]`
		tokyo = `[{"id":1,"at":"2026-01-15T21:00:00+09:00"},{"id":2,"at":"2026-07-15T21:00:00+09:00"}]`
	)
	runRESTCases(t, ts, []restCase{
		{name: "a read in Los Angeles time, summer and winter", method: "GET", path: "/events?select=id,at&order=id",
			headers: []string{"Prefer: timezone=America/Los_Angeles"}, status: 200, want: la,
			wantHeaders: map[string]string{"Preference-Applied": "timezone=America/Los_Angeles"}},
		{name: "with a count, in PostgREST's order", method: "GET", path: "/events?select=id,at&order=id",
			headers: []string{"Prefer: timezone=Asia/Tokyo, count=exact"}, status: 200, want: tokyo,
			wantHeaders: map[string]string{"Preference-Applied": "count=exact, timezone=Asia/Tokyo", "Content-Range": "0-1/2"}},
		{name: "a filter's literal is read in the zone too", method: "GET", path: "/events?select=id&at=lt.2026-01-15T13:00:00",
			headers: []string{"Prefer: timezone=Asia/Tokyo"}, status: 200, want: `[]`},
		{name: "the same filter in UTC", method: "GET", path: "/events?select=id&at=lt.2026-01-15T13:00:00",
			headers: []string{"Prefer: timezone=UTC"}, status: 200, want: `[{"id":1}]`},
		{name: "a write's representation", method: "PATCH", path: "/events?id=eq.1&select=id,at", body: `{"label":"cold"}`,
			headers: []string{"Prefer: return=representation, timezone=Asia/Tokyo", "Content-Type: application/json"}, status: 200,
			want:        `[{"id":1,"at":"2026-01-15T21:00:00+09:00"}]`,
			wantHeaders: map[string]string{"Preference-Applied": "return=representation, timezone=Asia/Tokyo"}},
		{name: "a function returning one value", method: "POST", path: "/rpc/first_at", body: `{}`,
			headers: []string{"Prefer: timezone=Asia/Tokyo", "Content-Type: application/json"}, status: 200,
			want: `"2026-01-15T21:00:00+09:00"`, wantHeaders: map[string]string{"Preference-Applied": "timezone=Asia/Tokyo"}},
		{name: "a function's rows, its argument read in the zone", method: "GET", path: "/rpc/events_after?t=2026-07-15T20:00:00&select=id,at",
			headers: []string{"Prefer: timezone=Asia/Tokyo"}, status: 200, want: `[{"id":2,"at":"2026-07-15T21:00:00+09:00"}]`},
		{name: "a zone PostgreSQL does not know", method: "GET", path: "/events?select=id",
			headers: []string{"Prefer: timezone=Mars/Olympus_Mons"}, status: 400,
			want: `{"code":"22023","details":null,"hint":null,"message":"invalid value for parameter \"TimeZone\": \"Mars/Olympus_Mons\""}`},
		{name: "quotes are a value, never SQL", method: "GET", path: "/events?select=id",
			headers: []string{"Prefer: timezone=UTC'); DROP TABLE events; --"}, status: 400},
	})
	if after := plain(); after != before {
		t.Fatalf("a request's timezone outlived it: %s, before %s", after, before)
	}
	if r := ts.do("GET", "/t/blog/rest/v1/events?select=id&order=id", ""); r.body != `[{"id":1},{"id":2}]` {
		t.Fatalf("events: %s", r.body)
	}
}
