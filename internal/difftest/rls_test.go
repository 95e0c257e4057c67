package difftest

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/jackc/pgx/v5"

	"github.com/kapok-dev/kapok/control"
	"github.com/kapok-dev/kapok/internal/testenv"
)

const (
	rlsSchema = "difftest_rls"
	rlsTenant = "difftest-rls"
	rlsRole   = "difftest_reader"
	rlsSecret = "difftest-rls-secret-0123456789abcdef"
	// rlsCases per parity: each case runs once with each of the two tokens.
	rlsCases = 1500
)

// The fixture with row-level security on comments: a reader sees the comments whose likes
// have the parity of its JWT's claim. The role is cluster-wide: created idempotently.
const rlsDDL = `
DO $$BEGIN CREATE ROLE difftest_reader NOLOGIN; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END$$;
GRANT USAGE ON SCHEMA difftest_rls TO difftest_reader;
GRANT SELECT ON authors, articles, comments TO difftest_reader;
ALTER TABLE comments ENABLE ROW LEVEL SECURITY;
CREATE POLICY by_parity ON comments USING (likes % 2 = (current_setting('request.jwt.claims', true)::json->>'parity')::int)`

// visible is db as a reader of parity sees it: comments whose likes have that parity, the
// policy evaluated in Go, sharing nothing with Kapok.
func visible(db *DB, parity int64) *DB {
	out := &DB{Tables: map[string]*Table{}, Order: db.Order}
	for name, t := range db.Tables {
		c := *t
		if name == "comments" {
			c.Rows = nil
			for _, r := range t.Rows {
				if likes, ok := r["likes"].(int64); ok && likes%2 == parity {
					c.Rows = append(c.Rows, r)
				}
			}
		}
		out.Tables[name] = &c
	}
	out.index()
	return out
}

// TestKapokAnswersAsTheOracleUnderRowSecurity runs random reads as a role whose rows of
// one table row-level security picks by a JWT claim, in both dialects: a read of the
// other, plain tables sets the role alone (ir.RoleOnly), one that reaches comments, as
// its root, an embed, a filter or an aggregate, must still carry the claims. Each case
// runs with two tokens, against the oracle of what each may see.
func TestKapokAnswersAsTheOracleUnderRowSecurity(t *testing.T) {
	seed := envInt(t, "KAPOK_DIFFTEST_SEED", defaultSeed)
	first, last := caseRange(t, int(envInt(t, "KAPOK_DIFFTEST_CASES", rlsCases)))
	testenv.FreshSchema(t, rlsSchema, FixtureDDL+";\n"+FixtureInserts(seed)+";\n"+rlsDDL)
	db, err := Load(context.Background(), testenv.Conn(t), rlsSchema)
	if err != nil {
		t.Fatal(err)
	}
	tc := &control.TenantConfig{Name: rlsTenant, Schemas: []string{rlsSchema}, Pool: control.PoolConfig{MaxConns: workers},
		Auth: &control.AuthConfig{JWTSecret: rlsSecret}}
	conn := testenv.Conn(t)
	if _, err := control.EnsureTenantRole(context.Background(), conn, tc, "postgres"); err != nil {
		t.Fatal(err)
	}
	testenv.Exec(t, "GRANT "+rlsRole+" TO "+pgx.Identifier{control.TenantRole(rlsTenant)}.Sanitize())
	k := startKapokFor(t, tc)
	avoid := avoidedBugs()

	var mu sync.Mutex
	var failures []failure
	var hidden atomic.Int64 // cases whose two answers differ: the policy mattered
	for parity := range int64(2) {
		tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"role": rlsRole, "parity": parity,
			"exp": time.Now().Add(time.Hour).Unix()}).SignedString([]byte(rlsSecret))
		if err != nil {
			t.Fatal(err)
		}
		oracle, other := NewOracle(visible(db, parity)), NewOracle(visible(db, 1-parity))
		kp := k.withBearer(tok)
		eachCase(first, last, workers, func(_, i int) {
			req := caseRequest(db, seed, i, avoid)
			if parity == 0 && Diff(oracle.Answer(req), other.Answer(req)) != "" {
				hidden.Add(1)
			}
			if msg := differs(oracle, kp.ask, req); msg != "" {
				mu.Lock()
				failures = append(failures, failure{i, req, "parity " + string(rune('0'+parity)) + ": " + msg})
				mu.Unlock()
			}
		})
		if len(failures) > 0 {
			report(t, seed, failures, oracle, kp.ask, describe)
			return
		}
	}
	t.Logf("%d cases per token, %d of which the policy changes, %d failed", last-first, hidden.Load(), len(failures))
	if last-first >= 100 && hidden.Load() < int64(last-first)/10 {
		t.Errorf("only %d of %d cases reach the row-secured rows: the test checks too little", hidden.Load(), last-first)
	}
}
