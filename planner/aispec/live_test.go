package aispec_test

import (
	"encoding/json"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kapok-dev/kapok/control"
	"github.com/kapok-dev/kapok/internal/testenv"
	"github.com/kapok-dev/kapok/internal/testserver"
)

// liveDDL holds rows the insert examples would collide with if they reused sample keys:
// books id 1, authors email 'example' and 'example-1'.
const liveDDL = `
CREATE TABLE authors (
  id    serial PRIMARY KEY,
  name  text NOT NULL,
  email text NOT NULL UNIQUE
);
CREATE TABLE books (
  id        integer PRIMARY KEY,
  author_id integer NOT NULL REFERENCES authors(id),
  title     text NOT NULL,
  status    text NOT NULL DEFAULT 'draft'
);
INSERT INTO authors (name, email) VALUES ('example', 'example'), ('other', 'example-1');
INSERT INTO books (id, author_id, title) VALUES (1, 1, 'example');
CREATE FUNCTION book_count(author integer) RETURNS bigint LANGUAGE sql STABLE AS
  $$ SELECT count(*) FROM aispec_t_live.books WHERE author_id = author $$;
`

// serveOpen serves schema as the only tenant of an instance without credentials.
func serveOpen(t *testing.T, tenant, schema string) string {
	t.Helper()
	return testserver.Serve(t, &control.Config{
		Tenants: []*control.TenantConfig{{Name: tenant, Upstream: "dev", Schemas: []string{schema}, Isolation: control.IsolationNone}},
	})
}

var (
	shBlockRE   = regexp.MustCompile("(?s)```sh\n(.*?)```")
	gqlBlockRE  = regexp.MustCompile("(?s)```graphql\n(.*?)```")
	shellVarsRE = regexp.MustCompile(`(?m)^[A-Z_]+=.*$`)
)

// TestTheSpecsExamplesRunAgainstTheInstanceItDescribes fetches ai-spec.md from a running
// Kapok, runs every curl example of the tables and functions with the shell variables the
// document defines, twice (inserts must not collide with rows already there, nor with
// their own first run), and sends every GraphQL example.
func TestTheSpecsExamplesRunAgainstTheInstanceItDescribes(t *testing.T) {
	for _, tool := range []string{"bash", "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed to run the document's examples: %v", tool, err)
		}
	}
	testenv.FreshSchema(t, "aispec_t_live", liveDDL)
	base := serveOpen(t, "aispec-t-live", "aispec_t_live")
	resp, err := http.Get(base + "/t/aispec-t-live/ai-spec.md")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	doc := string(b)
	if resp.StatusCode != 200 {
		t.Fatalf("GET ai-spec.md: %d %s", resp.StatusCode, doc)
	}

	t.Run("an open instance's examples send no credentials", func(t *testing.T) {
		for _, bad := range []string{"$TOKEN", "TOKEN="} {
			if strings.Contains(doc, bad) {
				t.Errorf("the document of an open instance mentions %q", bad)
			}
		}
	})
	t.Run("it does not show admin calls an instance without admin key refuses", func(t *testing.T) {
		if strings.Contains(doc, "$ADMIN_KEY") || strings.Contains(doc, "<admin key>") || !strings.Contains(doc, "admin API is disabled") {
			t.Error("the admin section shows calls the instance refuses")
		}
	})
	t.Run("it says what is not served", func(t *testing.T) {
		for _, want := range []string{"## Not served", "Auth", "Storage", "Edge Functions"} {
			if !strings.Contains(doc, want) {
				t.Errorf("the document lacks %q", want)
			}
		}
	})

	blocks := shBlockRE.FindAllStringSubmatch(doc, -1)
	if len(blocks) < 2 {
		t.Fatalf("want the shell variables and examples, found %d sh blocks", len(blocks))
	}
	vars := strings.Join(shellVarsRE.FindAllString(blocks[0][1], -1), "\n")
	var curls []string
	for _, blk := range blocks[1:] {
		for _, line := range strings.Split(blk[1], "\n") {
			line = strings.TrimSpace(line)
			// Only the tenant's own API: the admin block changes the schema.
			if strings.HasPrefix(line, "curl ") && !strings.Contains(line, "X-Kapok-Admin-Key") {
				curls = append(curls, line)
			}
		}
	}
	if len(curls) < 5 {
		t.Fatalf("found only %d curl examples:\n%s", len(curls), doc)
	}
	for round := 1; round <= 2; round++ {
		for _, c := range curls {
			t.Run("round "+string(rune('0'+round))+": "+c, func(t *testing.T) {
				script := vars + "\n" + strings.Replace(c, "curl ", `curl -sS -o /dev/stderr -w '%{http_code}' `, 1)
				out, err := exec.Command("bash", "-c", script).CombinedOutput()
				s := string(out)
				if err != nil || len(s) < 3 || s[len(s)-3] != '2' {
					t.Errorf("%v: %s", err, s)
				}
			})
		}
		time.Sleep(time.Millisecond) // the next round's $UNIQUE differs
	}

	for i, blk := range gqlBlockRE.FindAllStringSubmatch(doc, -1) {
		q := blk[1]
		t.Run("GraphQL example "+string(rune('1'+i))+" answers data", func(t *testing.T) {
			body, _ := json.Marshal(map[string]string{"query": q})
			resp, err := http.Post(base+"/t/aispec-t-live/v1/graphql", "application/json", strings.NewReader(string(body)))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var out struct {
				Data   json.RawMessage `json:"data"`
				Errors []any           `json:"errors"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || len(out.Errors) > 0 || len(out.Data) == 0 {
				t.Errorf("%v %v\n%s", err, out.Errors, q)
			}
		})
	}
}
