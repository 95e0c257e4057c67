package proxy

import (
	"context"
	"strings"
	"testing"

	"github.com/kapok-dev/kapok/control"
	"github.com/kapok-dev/kapok/internal/testenv"
)

// restFixtureDDL is a small blog: authors, articles, tags through a join table, and
// functions of every return kind.
const restFixtureDDL = `
CREATE TABLE authors (id int PRIMARY KEY, name text NOT NULL, email text UNIQUE);
CREATE TABLE articles (id serial PRIMARY KEY, author_id int REFERENCES authors(id), title text NOT NULL,
  views int NOT NULL DEFAULT 0, labels text[] NOT NULL DEFAULT '{}', body text,
  body_tsv tsvector GENERATED ALWAYS AS (to_tsvector('english', coalesce(body, ''))) STORED);
CREATE TABLE tags (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE article_tags (article_id int REFERENCES articles(id), tag_id int REFERENCES tags(id), PRIMARY KEY (article_id, tag_id));
INSERT INTO authors VALUES (1,'Ada','ada@example.com'),(2,'Brian','brian@example.com'),(3,'Cleo',NULL);
INSERT INTO articles (author_id,title,views,labels,body) VALUES
  (1,'Engines',10,'{math,history}','the analytical engine computes numbers'),
  (1,'Notes',25,'{math}','notes on the engine'),
  (2,'Unix',7,'{os}','pipes and small tools'),
  (2,'C',40,'{lang,os}','a language for systems');
SELECT setval(pg_get_serial_sequence('articles','id'), 4);
INSERT INTO tags VALUES (1,'classic'),(2,'systems');
INSERT INTO article_tags VALUES (1,1),(2,1),(3,2),(4,2),(4,1);
CREATE FUNCTION add(a int, b int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT a + b';
CREATE FUNCTION articles_by(author int) RETURNS SETOF articles LANGUAGE sql STABLE SET search_path FROM CURRENT
  AS 'SELECT * FROM articles WHERE author_id = author ORDER BY id';
CREATE FUNCTION view_stats() RETURNS TABLE(author_id int, total bigint) LANGUAGE sql STABLE SET search_path FROM CURRENT
  AS 'SELECT author_id, sum(views) FROM articles GROUP BY author_id ORDER BY author_id';
CREATE FUNCTION bump(article int) RETURNS void LANGUAGE sql VOLATILE SET search_path FROM CURRENT
  AS 'UPDATE articles SET views = views + 1 WHERE id = article';
CREATE FUNCTION fail(msg text) RETURNS int LANGUAGE plpgsql AS 'BEGIN RAISE EXCEPTION ''%'', msg; END';
`

// restServer serves the fixture in schema rest_t_<name> as tenant "blog".
func restServer(t testing.TB, name string) *testServer {
	schema := "rest_t_" + name
	testenv.FreshSchema(t, schema, restFixtureDDL)
	return startServer(t, &control.Config{DefaultTenant: "blog", Tenants: []*control.TenantConfig{
		{Name: "blog", Schemas: []string{schema}},
	}})
}

type restCase struct {
	name, method, path, body string
	headers                  []string
	status                   int
	want                     string            // exact JSON ("" = empty body)
	wantHeaders              map[string]string // exact header values
}

func runRESTCases(t *testing.T, ts *testServer, cases []restCase) {
	t.Helper()
	runRESTCasesAt(t, ts, "/t/blog/rest/v1", cases)
}

// runRESTCasesAt runs cases against the REST root at base. An empty want means no body,
// except for error statuses, whose body is then left unchecked.
func runRESTCasesAt(t *testing.T, ts *testServer, base string, cases []restCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := ts.do(c.method, base+c.path, c.body, c.headers...)
			if r.status != c.status {
				t.Fatalf("status %d, want %d: %s", r.status, c.status, r.body)
			}
			if c.want == "" {
				if r.body != "" && r.status < 400 {
					t.Fatalf("body %q, want none", r.body)
				}
			} else {
				jsonEq(t, r.body, c.want)
			}
			for k, v := range c.wantHeaders {
				if r.header[k] != v {
					t.Errorf("header %s = %q, want %q", k, r.header[k], v)
				}
			}
		})
	}
}

func TestRESTReads(t *testing.T) {
	ts := restServer(t, "reads")
	runRESTCases(t, ts, []restCase{
		{name: "a table reads as an array with Content-Range", method: "GET", path: "/authors?select=id,name&order=id",
			status: 200, want: `[{"id":1,"name":"Ada"},{"id":2,"name":"Brian"},{"id":3,"name":"Cleo"}]`,
			wantHeaders: map[string]string{"Content-Range": "0-2/*", "Content-Type": "application/json; charset=utf-8"}},
		{name: "filters, order and limit apply", method: "GET", path: "/articles?select=title&views=gt.8&order=views.desc&limit=2",
			status: 200, want: `[{"title":"C"},{"title":"Notes"}]`, wantHeaders: map[string]string{"Content-Range": "0-1/*"}},
		{name: "to-one and to-many embeds nest", method: "GET", path: "/authors?select=name,articles(title)&id=eq.2&articles.order=id",
			status: 200, want: `[{"name":"Brian","articles":[{"title":"Unix"},{"title":"C"}]}]`},
		{name: "many-to-many goes through the join table", method: "GET", path: "/articles?select=title,tags(name)&id=eq.4",
			status: 200, want: `[{"title":"C","tags":[{"name":"classic"},{"name":"systems"}]}]`},
		{name: "count=exact gives the total and a partial range is 206", method: "GET", path: "/articles?select=id&order=id&limit=2",
			headers: []string{"Prefer: count=exact"}, status: 206, want: `[{"id":1},{"id":2}]`,
			wantHeaders: map[string]string{"Content-Range": "0-1/4"}},
		{name: "an offset past the end is 416", method: "GET", path: "/articles?offset=10", headers: []string{"Prefer: count=exact"},
			status: 416, want: `{"code":"PGRST103","details":"An offset of 10 was requested, but there are only 4 rows.","hint":null,"message":"Requested range not satisfiable"}`},
		{name: "no rows is */0 with count", method: "GET", path: "/articles?id=eq.99", headers: []string{"Prefer: count=exact"},
			status: 200, want: `[]`, wantHeaders: map[string]string{"Content-Range": "*/0"}},
		{name: "the Range header limits rows", method: "GET", path: "/articles?select=id&order=id", headers: []string{"Range: 1-2"},
			status: 200, want: `[{"id":2},{"id":3}]`, wantHeaders: map[string]string{"Content-Range": "1-2/*"}},
		{name: "a spread puts a to-one relation's columns at the parent level", method: "GET",
			path: "/articles?select=title,...authors(author:name)&id=eq.3", status: 200, want: `[{"title":"Unix","author":"Brian"}]`},
		{name: "a spread of a to-many relation is PGRST119", method: "GET", path: "/authors?select=name,...articles(title)", status: 400,
			want: `{"code":"PGRST119","details":"'authors' and 'articles' do not form a many-to-one or one-to-one relationship","hint":null,"message":"A spread operation on 'articles' is not possible"}`},
		{name: "aggregates group by the other columns", method: "GET", path: "/articles?select=author_id,n:count(),views.max()&order=author_id.desc",
			status: 200, want: `[{"author_id":2,"n":2,"max":40},{"author_id":1,"n":2,"max":25}]`},
		{name: "an embed's bare count is its row count, zero included", method: "GET", path: "/authors?select=name,articles(count)&order=id",
			status: 200, want: `[{"name":"Ada","articles":[{"count":2}]},{"name":"Brian","articles":[{"count":2}]},{"name":"Cleo","articles":[{"count":0}]}]`},
		{name: "embedded aggregates with aliases, casts and an embed filter", method: "GET",
			path:   "/authors?select=name,articles(total:views.sum(),views.avg()::int,views.max())&articles.views=gt.8&order=id",
			status: 200, want: `[{"name":"Ada","articles":[{"total":35,"avg":18,"max":25}]},{"name":"Brian","articles":[{"total":40,"avg":40,"max":40}]},{"name":"Cleo","articles":[{"total":null,"avg":null,"max":null}]}]`},
		{name: "embedded aggregates group by the embed's columns", method: "GET", path: "/tags?select=name,article_tags(tag_id,count())&order=id",
			status: 200, want: `[{"name":"classic","article_tags":[{"tag_id":1,"count":3}]},{"name":"systems","article_tags":[{"tag_id":2,"count":2}]}]`},
		{name: "a to-one embed's count is an object", method: "GET", path: "/articles?select=title,authors(count)&id=eq.1",
			status: 200, want: `[{"title":"Engines","authors":{"count":1}}]`},
		{name: "an inner embed's count keeps parents with matching rows", method: "GET", path: "/authors?select=name,articles!inner(count)&articles.views=gt.30",
			status: 200, want: `[{"name":"Brian","articles":[{"count":1}]}]`},
		{name: "sum of a text column is 42883", method: "GET", path: "/authors?select=articles(title.sum())", status: 404,
			want: `{"code":"42883","details":null,"hint":"No function matches the given name and argument types. You might need to add explicit type casts.","message":"function sum(text) does not exist"}`},
		{name: "an aggregate of a missing column is 42703", method: "GET", path: "/authors?select=articles(nope.count())", status: 400,
			want: `{"code":"42703","details":null,"hint":null,"message":"column articles.nope does not exist"}`},
		{name: "a singular object", method: "GET", path: "/authors?select=name&id=eq.1",
			headers: []string{"Accept: application/vnd.pgrst.object+json"}, status: 200, want: `{"name":"Ada"}`,
			wantHeaders: map[string]string{"Content-Type": "application/vnd.pgrst.object+json; charset=utf-8"}},
		{name: "a singular object of several rows is 406", method: "GET", path: "/authors",
			headers: []string{"Accept: application/vnd.pgrst.object+json"}, status: 406,
			want: `{"code":"PGRST116","details":"The result contains 3 rows","hint":null,"message":"JSON object requested, multiple (or no) rows returned"}`},
		{name: "HEAD has headers and no body", method: "HEAD", path: "/authors", headers: []string{"Prefer: count=exact"},
			status: 200, wantHeaders: map[string]string{"Content-Range": "0-2/3"}},
		{name: "an unknown table is 42P01 / 404", method: "GET", path: "/nope", status: 404,
			want: `{"code":"42P01","details":null,"hint":null,"message":"relation \"rest_t_reads.nope\" does not exist"}`},
		{name: "an unknown column is 42703 / 400", method: "GET", path: "/authors?select=nope", status: 400,
			want: `{"code":"42703","details":null,"hint":null,"message":"column authors.nope does not exist"}`},
		{name: "a bad value is 22P02 / 400", method: "GET", path: "/authors?id=eq.abc", status: 400,
			want: `{"code":"22P02","details":null,"hint":null,"message":"invalid input syntax for type integer: \"abc\""}`},
	})
}

func TestRESTCSVQuotesValues(t *testing.T) {
	ts := restServer(t, "csv")
	ts.do("PATCH", "/t/blog/rest/v1/authors?id=eq.3", `{"name":"Cleo, \"the\" third"}`)
	r := ts.do("GET", "/t/blog/rest/v1/authors?select=id,name,email&order=id", "", "Accept: text/csv")
	want := "id,name,email\n1,Ada,ada@example.com\n2,Brian,brian@example.com\n3,\"Cleo, \"\"the\"\" third\","
	if r.status != 200 || r.body != want {
		t.Fatalf("%d\n%s\nwant\n%s", r.status, r.body, want)
	}
	if ct, cr := r.header["Content-Type"], r.header["Content-Range"]; ct != "text/csv; charset=utf-8" || cr != "0-2/*" {
		t.Fatalf("Content-Type %q, Content-Range %q", ct, cr)
	}
}

func TestRESTWrites(t *testing.T) {
	ts := restServer(t, "writes")
	rep := "Prefer: return=representation"
	runRESTCases(t, ts, []restCase{
		{name: "a single insert without return is 201 with no body", method: "POST", path: "/tags", body: `{"id":3,"name":"new"}`,
			status: 201, wantHeaders: map[string]string{"Content-Range": "*/*"}},
		{name: "headers-only gives the Location of a single insert", method: "POST", path: "/tags", body: `{"id":30,"name":"loc"}`,
			headers: []string{"Prefer: return=headers-only"}, status: 201,
			wantHeaders: map[string]string{"Location": "/tags?id=eq.30", "Preference-Applied": "return=headers-only"}},
		{name: "a bulk insert returns its rows", method: "POST", path: "/tags?select=id,name", body: `[{"id":4,"name":"a"},{"id":5,"name":"b"}]`,
			headers: []string{rep}, status: 201, want: `[{"id":4,"name":"a"},{"id":5,"name":"b"}]`,
			wantHeaders: map[string]string{"Preference-Applied": "return=representation"}},
		{name: "?columns= picks the inserted keys", method: "POST", path: "/tags?columns=id,name", body: `[{"id":6,"name":"c","junk":1}]`,
			headers: []string{rep}, status: 201, want: `[{"id":6,"name":"c"}]`},
		{name: "missing=default fills absent keys with defaults", method: "POST", path: "/articles?columns=author_id,title,views&select=title,views,labels",
			body:    `[{"author_id":3,"title":"d1"},{"author_id":3,"title":"d2","views":5}]`,
			headers: []string{"Prefer: return=representation,missing=default"}, status: 201,
			want:        `[{"title":"d1","views":0,"labels":[]},{"title":"d2","views":5,"labels":[]}]`,
			wantHeaders: map[string]string{"Preference-Applied": "missing=default, return=representation"}},
		{name: "without missing=default absent keys are null", method: "POST", path: "/articles?columns=author_id,title,body&select=title,body",
			body:    `[{"author_id":3,"title":"n1","body":"b"},{"author_id":3,"title":"n2"}]`,
			headers: []string{"Prefer: return=representation"}, status: 201, want: `[{"title":"n1","body":"b"},{"title":"n2","body":null}]`},
		{name: "a duplicate key is 23505 / 409", method: "POST", path: "/tags", body: `{"id":1,"name":"dup"}`, status: 409,
			want: `{"code":"23505","details":"Key (id)=(1) already exists.","hint":null,"message":"duplicate key value violates unique constraint \"tags_pkey\""}`},
		{name: "a missing reference is 23503 / 409", method: "POST", path: "/articles?select=id", body: `{"author_id":42,"title":"x"}`, status: 409,
			want: `{"code":"23503","details":"Key (author_id)=(42) is not present in table \"authors\".","hint":null,"message":"insert or update on table \"articles\" violates foreign key constraint \"articles_author_id_fkey\""}`},
		{name: "an unknown body column is PGRST204", method: "POST", path: "/tags", body: `{"id":9,"nope":1}`, status: 400,
			want: `{"code":"PGRST204","details":null,"hint":null,"message":"Could not find the 'nope' column of 'tags' in the schema cache"}`},
		{name: "merge-duplicates upserts", method: "POST", path: "/tags", body: `[{"id":1,"name":"CLASSIC"},{"id":7,"name":"g"}]`,
			headers: []string{"Prefer: return=representation, resolution=merge-duplicates"}, status: 201, want: `[{"id":1,"name":"CLASSIC"},{"id":7,"name":"g"}]`,
			wantHeaders: map[string]string{"Preference-Applied": "resolution=merge-duplicates, return=representation"}},
		{name: "ignore-duplicates skips conflicts", method: "POST", path: "/tags", body: `[{"id":1,"name":"zzz"},{"id":8,"name":"h"}]`,
			headers: []string{"Prefer: return=representation,resolution=ignore-duplicates"}, status: 201, want: `[{"id":8,"name":"h"}]`},
		{name: "PATCH updates the filtered rows and embeds in the returned rows", method: "PATCH",
			path: "/articles?id=eq.3&select=title,views,authors(name)", body: `{"views":8}`,
			headers: []string{rep}, status: 200, want: `[{"title":"Unix","views":8,"authors":{"name":"Brian"}}]`,
			wantHeaders: map[string]string{"Content-Range": "0-0/*"}},
		{name: "PATCH without return is 204", method: "PATCH", path: "/articles?author_id=eq.1", body: `{"views":0}`, status: 204,
			wantHeaders: map[string]string{"Content-Range": "0-1/*"}},
		{name: "PUT inserts one row by primary key: 201 (PostgREST v12)", method: "PUT", path: "/tags?id=eq.20", body: `{"id":20,"name":"put"}`,
			headers: []string{rep}, status: 201, want: `[{"id":20,"name":"put"}]`},
		{name: "PUT of a row that exists updates it: 200", method: "PUT", path: "/tags?id=eq.20", body: `{"id":20,"name":"PUT"}`,
			headers: []string{rep}, status: 200, want: `[{"id":20,"name":"PUT"}]`},
		{name: "and without the row, 204 either way", method: "PUT", path: "/tags?id=eq.20", body: `{"id":20,"name":"put"}`, status: 204},
		{name: "merge-duplicates that only updates is 200 (PostgREST v12)", method: "POST", path: "/tags", body: `[{"id":1,"name":"Classic"},{"id":20,"name":"put"}]`,
			headers: []string{"Prefer: return=representation, resolution=merge-duplicates"}, status: 200, want: `[{"id":1,"name":"Classic"},{"id":20,"name":"put"}]`},
		{name: "even with return=minimal", method: "POST", path: "/tags", body: `{"id":1,"name":"Classic"}`,
			headers: []string{"Prefer: resolution=merge-duplicates"}, status: 200},
		{name: "and with an empty array", method: "POST", path: "/tags", body: `[]`,
			headers: []string{"Prefer: return=representation, resolution=merge-duplicates"}, status: 200, want: `[]`},
		{name: "PUT needs eq on the primary key", method: "PUT", path: "/tags?name=eq.x", body: `{"id":20,"name":"put"}`, status: 405,
			want: `{"code":"PGRST105","details":null,"hint":null,"message":"Filters must include all and only primary key columns with 'eq' operators"}`},
		{name: "DELETE returns the deleted rows as one object", method: "DELETE", path: "/tags?id=eq.20",
			headers: []string{rep, "Accept: application/vnd.pgrst.object+json"}, status: 200, want: `{"id":20,"name":"put"}`},
		{name: "a singular PATCH of several rows is 406 and changes nothing", method: "PATCH", path: "/articles?author_id=eq.2",
			body: `{"title":"same"}`, headers: []string{"Accept: application/vnd.pgrst.object+json"}, status: 406,
			want: `{"code":"PGRST116","details":"The result contains 2 rows","hint":null,"message":"JSON object requested, multiple (or no) rows returned"}`},
		{name: "so the titles are unchanged", method: "GET", path: "/articles?select=title&author_id=eq.2&order=id", status: 200,
			want: `[{"title":"Unix"},{"title":"C"}]`},
		{name: "a singular insert of one row returns the object", method: "POST", path: "/tags?select=name", body: `{"id":40,"name":"one"}`,
			headers: []string{"Accept: application/vnd.pgrst.object+json", "Prefer: return=representation"}, status: 201, want: `{"name":"one"}`},
		{name: "DELETE without return is 204, with no range (PostgREST v12)", method: "DELETE", path: "/tags?id=in.(4,5)", status: 204,
			wantHeaders: map[string]string{"Content-Range": "*/*"}},
		// One object and an array of objects with the same keys take two plans.
		{name: "an object insert counts its row", method: "POST", path: "/tags?columns=id,name", body: `{"id":50,"name":"o"}`,
			status: 201, wantHeaders: map[string]string{"Content-Range": "*/*"}},
		{name: "then an array insert of the same keys inserts every element", method: "POST", path: "/tags?columns=id,name",
			body: `[{"id":51,"name":"p"},{"id":52,"name":"q"}]`, status: 201},
		{name: "and an object again", method: "POST", path: "/tags?columns=id,name", body: ` {"id":53,"name":"r"}`, status: 201},
		{name: "all of them are there", method: "GET", path: "/tags?select=id&id=gte.50&order=id", status: 200,
			want: `[{"id":50},{"id":51},{"id":52},{"id":53}]`},
	})
}

func TestRESTCalls(t *testing.T) {
	ts := restServer(t, "calls")
	runRESTCases(t, ts, []restCase{
		{name: "a scalar function over GET", method: "GET", path: "/rpc/add?a=1&b=2", status: 200, want: `3`},
		{name: "a scalar function over POST", method: "POST", path: "/rpc/add", body: `{"a":4,"b":5}`, status: 200, want: `9`},
		{name: "a setof function with filters and select", method: "POST", path: "/rpc/articles_by?select=title&views=gt.10",
			body: `{"author":1}`, status: 200, want: `[{"title":"Notes"}]`},
		{name: "RETURNS TABLE", method: "GET", path: "/rpc/view_stats?order=author_id", status: 200,
			want: `[{"author_id":1,"total":35},{"author_id":2,"total":47}]`},
		{name: "a void function is 204", method: "POST", path: "/rpc/bump", body: `{"article":1}`, status: 204},
		{name: "GET on a volatile function is 405", method: "GET", path: "/rpc/bump?article=1", status: 405,
			want: `{"code":"25006","details":null,"hint":"call it with POST","message":"cannot execute a volatile function in a read-only request"}`},
		{name: "an unknown function is PGRST202", method: "POST", path: "/rpc/nope", body: `{}`, status: 404,
			want: `{"code":"PGRST202","details":null,"hint":"Check the function's name and the names of its arguments","message":"Could not find the function rest_t_calls.nope() in the schema cache"}`},
		{name: "RAISE is P0001 / 400", method: "POST", path: "/rpc/fail", body: `{"msg":"boom"}`, status: 400,
			want: `{"code":"P0001","details":null,"hint":null,"message":"boom"}`},
	})
}

func TestRESTServesTheOpenAPIDocument(t *testing.T) {
	ts := restServer(t, "doc")
	for _, c := range []struct{ path, contentType, want string }{
		{"/t/blog/rest/v1/", "application/openapi+json; charset=utf-8", `"url":"/t/blog/rest/v1"`},
		{"/t/blog/swagger.json", "application/openapi+json; charset=utf-8", `"url":"/t/blog/rest/v1"`},
		{"/rest/v1/", "application/openapi+json; charset=utf-8", `"url":"/rest/v1"`},
		{"/t/blog/ai-spec.md", "text/markdown; charset=utf-8", "authors"},
	} {
		r := ts.do("GET", c.path, "")
		if r.status != 200 || r.header["Content-Type"] != c.contentType || !strings.Contains(r.body, c.want) || !strings.Contains(r.body, "/authors") {
			t.Errorf("GET %s: %d %s %.300s", c.path, r.status, r.header["Content-Type"], r.body)
		}
	}
}

// An empty object inserts a row of defaults, as PostgREST and Hasura do; an array of them,
// one row each. The rows are counted in the database, not in the answer.
func TestRESTInsertOfEmptyObjectsTakesTheDefaults(t *testing.T) {
	schema := "rest_t_empty_insert"
	testenv.FreshSchema(t, schema, `CREATE TABLE stamps (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
		label text NOT NULL DEFAULT 'none', at timestamptz NOT NULL DEFAULT now());
		CREATE TABLE needy (id serial PRIMARY KEY, name text NOT NULL);`)
	ts := startServer(t, &control.Config{Tenants: []*control.TenantConfig{{Name: "stamps", Schemas: []string{schema}}}})
	count := func() int {
		var n int
		if err := testenv.Conn(t).QueryRow(context.Background(), "SELECT count(*) FROM "+schema+".stamps WHERE label = 'none'").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	rep := "Prefer: return=representation"
	if r := ts.do("POST", "/t/stamps/rest/v1/stamps?select=id,label", `{}`, rep); r.status != 201 || r.body != `[{"id":1,"label":"none"}]` {
		t.Fatalf("POST {}: %d %s", r.status, r.body)
	}
	if r := ts.do("POST", "/t/stamps/rest/v1/stamps?select=id", `[{},{}]`, rep); r.status != 201 || r.body != `[{"id":2},{"id":3}]` {
		t.Fatalf("POST [{},{}]: %d %s", r.status, r.body)
	}
	if r := ts.do("POST", "/t/stamps/rest/v1/stamps", `{}`); r.status != 201 {
		t.Fatalf("POST {} without return: %d %s", r.status, r.body)
	}
	if n := count(); n != 4 {
		t.Fatalf("%d rows of defaults in the table, want 4", n)
	}
	// GraphQL (Hasura): objects without fields, one row of defaults each.
	if r := ts.gql("/t/stamps/v1/graphql", `mutation { insert_stamps(objects: [{}, {}, {}]) { affected_rows returning { label } } }`, nil); r.status != 200 ||
		r.body != `{"data":{"insert_stamps":{"affected_rows":3,"returning":[{"label":"none"},{"label":"none"},{"label":"none"}]}}}` {
		t.Fatalf("insert_stamps of three empty objects: %d %s", r.status, r.body)
	}
	if r := ts.gql("/t/stamps/v1/graphql", `mutation { insert_stamps_one(object: {}) { id } }`, nil); r.status != 200 || r.body != `{"data":{"insert_stamps_one":{"id":8}}}` {
		t.Fatalf("insert_stamps_one of an empty object: %d %s", r.status, r.body)
	}
	if n := count(); n != 8 {
		t.Fatalf("%d rows of defaults in the table, want 8", n)
	}
	// A table whose columns need values answers the constraint's error, not a syntax error.
	if r := ts.do("POST", "/t/stamps/rest/v1/needy", `{}`); r.status != 400 || !strings.Contains(r.body, `"code":"23502"`) {
		t.Fatalf("POST {} to a table that needs values: %d %s", r.status, r.body)
	}
}
