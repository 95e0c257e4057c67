package proxy

import (
	"testing"

	"github.com/kapok-dev/kapok/control"
	"github.com/kapok-dev/kapok/internal/testenv"
)

func TestFullTextSearchWorksOnTextColumns(t *testing.T) {
	testenv.FreshSchema(t, "proxy_t_fts", `
		CREATE TABLE notes (id int PRIMARY KEY, body text NOT NULL);
		INSERT INTO notes VALUES (1, 'The cats are sleeping'), (2, 'A dog barks'), (3, 'Sleeping dogs lie');`)
	ts := startServer(t, &control.Config{Tenants: []*control.TenantConfig{{Name: "fts", Schemas: []string{"proxy_t_fts"}}}})
	cases := map[string]string{
		"/t/fts/rest/v1/notes?select=id&body=fts.sleeping&order=id":                  `[{"id":1},{"id":3}]`,
		"/t/fts/rest/v1/notes?select=id&body=fts(english).cat&order=id":              `[{"id":1}]`,
		"/t/fts/rest/v1/notes?select=id&body=plfts(english).dogs%20lie&order=id":     `[{"id":3}]`,
		"/t/fts/rest/v1/notes?select=id&body=wfts(english).dog%20-lie&order=id":      `[{"id":2}]`,
		"/t/fts/rest/v1/notes?select=id&body=not.fts(english).sleeping&order=id":     `[{"id":2}]`,
		"/t/fts/rest/v1/notes?select=id&body=phfts(english).sleeping%20dog&order=id": `[{"id":3}]`,
	}
	for path, want := range cases {
		r := ts.do("GET", path, "")
		if r.status != 200 {
			t.Fatalf("%s: %d %s", path, r.status, r.body)
		}
		jsonEq(t, r.body, want)
	}
}
