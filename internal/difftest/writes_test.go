package difftest

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/valyala/fasthttp"

	"github.com/kapok-dev/kapok/internal/testenv"
)

const (
	defaultWriteCases = 400
	writesSchema      = "difftest_writes"
	writesTenant      = "difftest-writes"
)

// TestWritesAsTheOracle sends random updates and deletes (GraphQL update_/delete_ with
// where and _set, REST PATCH and DELETE with filters and return=representation) to Kapok,
// one at a time, and checks the rows each returns and the table after it against the
// oracle's prediction: which rows the filter selects, their new values, and which writes
// break a foreign key and so change nothing. The fixture is reloaded after every write.
// KAPOK_DIFFTEST_SEED, KAPOK_DIFFTEST_WRITES and KAPOK_DIFFTEST_CASE reproduce a run.
func TestWritesAsTheOracle(t *testing.T) {
	runWrites(t, "KAPOK_DIFFTEST_WRITES", func(g *Generator, o *Oracle, k *kapok, i int) (string, string, Outcome, string) {
		m := g.Mutation(i%2 == 1)
		want := o.Apply(m)
		return m.Table, describeMutation(m), want, k.checkMutation(o, m, want)
	})
}

// TestInsertsAsTheOracle does the same with random inserts and upserts (GraphQL insert_
// with on_conflict, REST POST with resolution=merge-duplicates or ignore-duplicates):
// new rows, taken ids, NOT NULL columns left out, foreign keys that name no row.
func TestInsertsAsTheOracle(t *testing.T) {
	runWrites(t, "KAPOK_DIFFTEST_INSERTS", func(g *Generator, o *Oracle, k *kapok, i int) (string, string, Outcome, string) {
		in := g.Insert(i%2 == 1)
		want := o.ApplyInsert(in)
		return in.Table, describeInsert(in), want, k.checkInsert(o, in, want)
	})
}

// runWrites runs the write cases that write draws and checks (the table it writes, the
// request as sent, the oracle's outcome, and "" or how Kapok's answer differs), then
// checks the table after each against the outcome and reloads the fixture.
func runWrites(t *testing.T, casesVar string, write func(g *Generator, o *Oracle, k *kapok, i int) (table, desc string, want Outcome, msg string)) {
	seed := envInt(t, "KAPOK_DIFFTEST_SEED", defaultSeed)
	first, last := caseRange(t, int(envInt(t, casesVar, defaultWriteCases)))
	t.Logf("seed %d, cases %d..%d (KAPOK_DIFFTEST_SEED=%d reproduces this run)", seed, first, last-1, seed)
	inserts := FixtureInserts(seed)
	testenv.FreshSchema(t, writesSchema, FixtureDDL+";\n"+inserts)
	conn := testenv.Conn(t)
	ctx := context.Background()
	db, err := Load(ctx, conn, writesSchema)
	if err != nil {
		t.Fatal(err)
	}
	oracle := NewOracle(db)
	k := startKapokOn(t, writesTenant, writesSchema, 2)
	reload := "SET search_path TO " + pgx.Identifier{writesSchema}.Sanitize() + "; TRUNCATE comments, articles, authors; " + inserts + "; RESET search_path"

	var failed, touched, violations, empty int
	start := time.Now()
	for i := first; i < last; i++ {
		g := NewGenerator(db, rand.New(rand.NewPCG(seed, uint64(i)|1<<40)))
		table, desc, want, msg := write(g, oracle, k, i)
		switch {
		case want.Violation != "":
			violations++
		case len(want.Touched) == 0:
			empty++
		default:
			touched += len(want.Touched)
		}
		if msg == "" {
			now, err := Load(ctx, conn, writesSchema)
			if err != nil {
				t.Fatal(err)
			}
			if msg = Diff(oracle.Rows(table, want.After), asAnswer(oracle, table, now.Tables[table].Rows)); msg != "" {
				msg = "the table after it: " + msg
			}
		}
		if msg != "" {
			failed++
			if failed <= 8 {
				t.Errorf("case %d of seed %d fails (KAPOK_DIFFTEST_SEED=%d KAPOK_DIFFTEST_CASE=%d):\n%s\n%s", i, seed, seed, i, desc, msg)
			}
		}
		if _, err := conn.Exec(ctx, reload); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d writes in %v, %d failed; %d rows touched, %d writes touching none, %d breaking a constraint",
		last-first, time.Since(start).Round(time.Millisecond), failed, touched, empty, violations)
	if last-first >= 100 && (touched == 0 || empty == 0 || violations == 0) {
		t.Errorf("the generator should draw writes of every outcome")
	}
}

// asAnswer is rows read back from the table as a decoded answer holds them, for Diff.
func asAnswer(o *Oracle, table string, rows []Row) any {
	b, _ := json.Marshal(plain(o.Rows(table, rows)))
	v, _ := Decode(b)
	return v
}

func describeMutation(m *Mutation) string {
	if m.REST {
		method, path, body := MutationREST(m)
		p, _ := url.QueryUnescape(path)
		if body != nil {
			return fmt.Sprintf("%s /rest/v1%s\nPrefer: %s\n%s", method, p, mutationPrefer(m), body)
		}
		return fmt.Sprintf("%s /rest/v1%s\nPrefer: %s", method, p, mutationPrefer(m))
	}
	return describeDocument(MutationGraphQL(m))
}

// mutationPrefer is the Prefer header of a PostgREST mutation.
func mutationPrefer(m *Mutation) string {
	if m.MaxAffected >= 0 {
		return fmt.Sprintf("return=representation, handling=strict, max-affected=%d", m.MaxAffected)
	}
	return "return=representation"
}

// checkMutation sends m and compares what comes back with want: "" when they agree.
func (k *kapok) checkMutation(o *Oracle, m *Mutation, want Outcome) string {
	field := "update_" + m.Table
	if m.Delete {
		field = "delete_" + m.Table
	}
	w := written{rest: m.REST, table: m.Table, field: field, status: 200}
	if m.REST {
		w.method, w.path, w.body = MutationREST(m)
		w.prefer = mutationPrefer(m)
	} else {
		q, vars := MutationGraphQL(m)
		w.body, _ = json.Marshal(map[string]any{"query": q, "variables": vars})
	}
	return k.checkWrite(o, w, want)
}

func describeInsert(in *Insert) string {
	if in.REST {
		path, prefer, body := InsertREST(in)
		return fmt.Sprintf("POST /rest/v1%s\nPrefer: %s\n%s", path, prefer, body)
	}
	return InsertGraphQL(in)
}

// checkInsert sends in and compares what comes back with want: "" when they agree.
func (k *kapok) checkInsert(o *Oracle, in *Insert, want Outcome) string {
	w := written{rest: in.REST, table: in.Table, field: "insert_" + in.Table, method: "POST", status: 201}
	if in.Upsert && len(in.Update) > 0 && want.Inserted == 0 {
		w.status = 200 // merge-duplicates that only updated (PostgREST v12)
	}
	if in.REST {
		w.path, w.prefer, w.body = InsertREST(in)
	} else {
		w.body, _ = json.Marshal(map[string]any{"query": InsertGraphQL(in)})
	}
	return k.checkWrite(o, w, want)
}

// written is a write as sent: REST (method, path, Prefer, body; status on success) or a
// GraphQL request body whose root field is field.
type written struct {
	rest                 bool
	table, field         string
	method, path, prefer string
	body                 []byte
	status               int
}

// checkWrite sends w and compares what comes back with want: the rows returned, or the
// error of the violation (REST: 409, or 400 for NOT NULL, with PostgreSQL's code; GraphQL:
// Hasura's constraint-violation and no data).
func (k *kapok) checkWrite(o *Oracle, w written, want Outcome) string {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	if w.rest {
		req.SetRequestURI("http://kapok.test/t/" + writesTenant + "/rest/v1" + w.path)
		req.Header.SetMethod(w.method)
		req.Header.Set("Prefer", w.prefer)
	} else {
		req.SetRequestURI("http://kapok.test/t/" + writesTenant + "/v1/graphql")
		req.Header.SetMethod("POST")
	}
	if w.body != nil {
		req.Header.SetContentType("application/json")
		req.SetBody(w.body)
	}
	if err := k.c.DoTimeout(req, resp, 30*time.Second); err != nil {
		return err.Error()
	}
	got, err := Decode(resp.Body())
	if err != nil {
		return fmt.Sprintf("status %d, not JSON: %q", resp.StatusCode(), resp.Body())
	}
	obj, _ := got.(map[string]any)
	switch {
	case want.Violation != "" && w.rest:
		for _, code := range strings.Split(want.Violation, "|") {
			status := 409
			if code == "23502" || code == "PGRST124" {
				status = 400
			}
			if resp.StatusCode() == status && obj != nil && obj["code"] == code {
				return ""
			}
		}
		return fmt.Sprintf("want the error %s (409, or 400 for 23502 and PGRST124), got status %d: %s", want.Violation, resp.StatusCode(), resp.Body())
	case want.Violation != "":
		if !gqlViolation(got) {
			return fmt.Sprintf("want a constraint-violation error (%s) and no data, got %s", want.Violation, resp.Body())
		}
		return ""
	case w.rest:
		if resp.StatusCode() != w.status {
			return fmt.Sprintf("status %d: %s", resp.StatusCode(), resp.Body())
		}
		return Diff(o.Rows(w.table, want.Touched), got)
	}
	if resp.StatusCode() != 200 || obj == nil || obj["errors"] != nil {
		return fmt.Sprintf("status %d: %s", resp.StatusCode(), resp.Body())
	}
	return Diff(map[string]any{w.field: map[string]any{"affected_rows": int64(len(want.Touched)), "returning": o.Rows(w.table, want.Touched)}}, obj["data"])
}

// gqlViolation reports whether a GraphQL answer is Hasura's for a broken constraint: no
// data, and one error whose extensions.code is constraint-violation.
func gqlViolation(answer any) bool {
	obj, _ := answer.(map[string]any)
	if obj == nil || obj["data"] != nil {
		return false
	}
	errs, _ := obj["errors"].([]any)
	if len(errs) != 1 {
		return false
	}
	e, _ := errs[0].(map[string]any)
	ext, _ := e["extensions"].(map[string]any)
	return ext != nil && ext["code"] == "constraint-violation"
}
