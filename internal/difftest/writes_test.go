package difftest

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/url"
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
	seed := envInt(t, "KAPOK_DIFFTEST_SEED", defaultSeed)
	first, last := caseRange(t, int(envInt(t, "KAPOK_DIFFTEST_WRITES", defaultWriteCases)))
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
		m := g.Mutation(i%2 == 1)
		want := oracle.Apply(m)
		switch {
		case want.Violation != "":
			violations++
		case len(want.Touched) == 0:
			empty++
		default:
			touched += len(want.Touched)
		}
		msg := k.checkMutation(oracle, m, want)
		if msg == "" {
			now, err := Load(ctx, conn, writesSchema)
			if err != nil {
				t.Fatal(err)
			}
			msg = Diff(oracle.Rows(m.Table, want.After), Show2Rows(oracle, m.Table, now.Tables[m.Table].Rows))
			if msg != "" {
				msg = "the table after it: " + msg
			}
		}
		if msg != "" {
			failed++
			if failed <= 8 {
				t.Errorf("case %d of seed %d fails (KAPOK_DIFFTEST_SEED=%d KAPOK_DIFFTEST_CASE=%d):\n%s\n%s", i, seed, seed, i, describeMutation(m), msg)
			}
		}
		if _, err := conn.Exec(ctx, reload); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d writes in %v, %d failed; %d rows touched, %d writes touching none, %d breaking a foreign key",
		last-first, time.Since(start).Round(time.Millisecond), failed, touched, empty, violations)
	if last-first >= 100 && (touched == 0 || empty == 0 || violations == 0) {
		t.Errorf("the generator should draw writes of every outcome")
	}
}

// Show2Rows is rows read back from the table as an answer would hold them, for Diff.
func Show2Rows(o *Oracle, table string, rows []Row) any {
	b, _ := json.Marshal(plain(o.Rows(table, rows)))
	v, _ := Decode(b)
	return v
}

func describeMutation(m *Mutation) string {
	if m.REST {
		method, path, body := MutationREST(m)
		p, _ := url.QueryUnescape(path)
		if body != nil {
			return fmt.Sprintf("%s /rest/v1%s\n%s", method, p, body)
		}
		return fmt.Sprintf("%s /rest/v1%s", method, p)
	}
	return describeDocument(MutationGraphQL(m))
}

// checkMutation sends m and compares what comes back with want: "" when they agree.
func (k *kapok) checkMutation(o *Oracle, m *Mutation, want Outcome) string {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	if m.REST {
		method, path, body := MutationREST(m)
		req.SetRequestURI("http://kapok.test/t/" + writesTenant + "/rest/v1" + path)
		req.Header.SetMethod(method)
		req.Header.Set("Prefer", "return=representation")
		if body != nil {
			req.Header.SetContentType("application/json")
			req.SetBody(body)
		}
	} else {
		q, vars := MutationGraphQL(m)
		body, _ := json.Marshal(map[string]any{"query": q, "variables": vars})
		req.SetRequestURI("http://kapok.test/t/" + writesTenant + "/v1/graphql")
		req.Header.SetMethod("POST")
		req.Header.SetContentType("application/json")
		req.SetBody(body)
	}
	if err := k.c.DoTimeout(req, resp, 30*time.Second); err != nil {
		return err.Error()
	}
	got, err := Decode(resp.Body())
	if err != nil {
		return fmt.Sprintf("status %d, not JSON: %q", resp.StatusCode(), resp.Body())
	}
	if want.Violation != "" {
		if m.REST {
			obj, _ := got.(map[string]any)
			if resp.StatusCode() != 409 || obj == nil || obj["code"] != want.Violation {
				return fmt.Sprintf("want a 409 with code %s, got status %d: %s", want.Violation, resp.StatusCode(), resp.Body())
			}
			return ""
		}
		obj, _ := got.(map[string]any)
		if obj == nil || obj["errors"] == nil || obj["data"] != nil {
			return fmt.Sprintf("want a constraint violation error and no data, got %s", resp.Body())
		}
		return ""
	}
	if m.REST {
		if resp.StatusCode() != 200 {
			return fmt.Sprintf("status %d: %s", resp.StatusCode(), resp.Body())
		}
		return Diff(o.Rows(m.Table, want.Touched), got)
	}
	obj, _ := got.(map[string]any)
	if resp.StatusCode() != 200 || obj == nil || obj["errors"] != nil {
		return fmt.Sprintf("status %d: %s", resp.StatusCode(), resp.Body())
	}
	field := "update_" + m.Table
	if m.Delete {
		field = "delete_" + m.Table
	}
	return Diff(map[string]any{field: map[string]any{"affected_rows": int64(len(want.Touched)), "returning": o.Rows(m.Table, want.Touched)}}, obj["data"])
}
