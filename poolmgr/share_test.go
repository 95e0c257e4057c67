package poolmgr

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/kapok-dev/kapok/internal/statement"
	"github.com/kapok-dev/kapok/internal/testenv"
)

const shareDDL = `
CREATE TABLE kv (k int PRIMARY KEY, v int NOT NULL, owner text NOT NULL);
INSERT INTO kv SELECT g, g * 10, CASE WHEN g % 2 = 0 THEN 'even' ELSE 'odd' END FROM generate_series(1, 100) g;
ALTER TABLE kv ENABLE ROW LEVEL SECURITY;
CREATE POLICY mine ON kv USING (owner = (SELECT current_setting('request.jwt.claims', true)::json->>'sub'));
GRANT USAGE ON SCHEMA poolmgr_t_share TO poolmgr_t_r1;
GRANT SELECT, UPDATE ON kv TO poolmgr_t_r1;
`

// sharedPool is a one-connection pool whose reads share: any concurrency queues.
func sharedPool(t *testing.T) (*Manager, *Pool) {
	t.Helper()
	setupRoles(t)
	testenv.FreshSchema(t, "poolmgr_t_share", shareDDL)
	m := newManager(t, Config{})
	p, err := m.Get(ctx5s(t), "share", PoolConfig{URL: testenv.PoolerURL(), MaxConns: 1, ShareReads: true})
	if err != nil {
		t.Fatal(err)
	}
	return m, p
}

const readKV = `SELECT row_to_json(r) FROM (SELECT k, v FROM poolmgr_t_share.kv WHERE k = $1::int4 OR k = $2::int4 ORDER BY k) r`

// run sends one shareable read as a request would.
func runRead(ctx context.Context, p *Pool, sess *Session, st statement.Statement) (string, error) {
	out, ends, err := p.Run(ctx, &Request{Session: sess, Statements: []statement.Statement{st}, Shareable: true}, nil)
	if err != nil {
		return "", err
	}
	return string(out[:ends[0]]), nil
}

func TestSharedReadsAnswerEachRequestItsOwn(t *testing.T) {
	m, p := sharedPool(t)
	ctx := ctx5s(t)
	const n = 200
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a, b := i%100+1, (i*7)%100+1
			st := stmt(readKV, strconv.Itoa(a), strconv.Itoa(b))
			st.Result = statement.Array
			if i%5 == 0 {
				st.Args[0] = []byte(strconv.Itoa(1)) // identical sets: coalesced
				st.Args[1] = []byte(strconv.Itoa(2))
				a, b = 1, 2
			}
			got, err := runRead(ctx, p, nil, st)
			if err != nil {
				errs <- err
				return
			}
			lo, hi := min(a, b), max(a, b)
			want := fmt.Sprintf(`[{"k":%d,"v":%d},{"k":%d,"v":%d}]`, lo, lo*10, hi, hi*10)
			if lo == hi {
				want = fmt.Sprintf(`[{"k":%d,"v":%d}]`, lo, lo*10)
			}
			if got != want {
				errs <- fmt.Errorf("request %d: got %s, want %s", i, got, want)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	batched := counterValue(m.share.batched)
	coalesced := counterValue(m.share.coalesced)
	t.Logf("%d requests: %v batched, %v coalesced", n, batched, coalesced)
	if batched == 0 || coalesced == 0 {
		t.Fatalf("nothing was shared (batched %v, coalesced %v): the test does not test sharing", batched, coalesced)
	}
}

func TestSharedReadsReadTheirWrites(t *testing.T) {
	_, p := sharedPool(t)
	ctx := ctx5s(t)
	// Readers keep the only connection busy, so the checked reads wait and share.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				st := stmt(readKV, "7", "7")
				st.Result = statement.Array
				_, _ = runRead(ctx, p, nil, st)
			}
		}()
	}
	defer func() { close(stop); wg.Wait() }()
	for i := range 200 {
		v := 100000 + i
		w := stmt(`UPDATE poolmgr_t_share.kv SET v = $1::int4 WHERE k = 7`, strconv.Itoa(v))
		w.Result = statement.Count
		if _, _, err := p.Run(ctx, &Request{Statements: []statement.Statement{w}}, nil); err != nil {
			t.Fatal(err)
		}
		st := stmt(readKV, "7", "7")
		st.Result = statement.Array
		got, err := runRead(ctx, p, nil, st)
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf(`[{"k":7,"v":%d}]`, v); got != want {
			t.Fatalf("write %d: read %s, want %s", i, got, want)
		}
	}
}

func TestSharedReadsKeepEachSessionsRows(t *testing.T) {
	_, p := sharedPool(t)
	ctx := ctx5s(t)
	var wg sync.WaitGroup
	var bad atomic.Int64
	for i := range 120 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sub := "odd"
			if i%2 == 0 {
				sub = "even"
			}
			sess := &Session{Role: role1, Claims: []byte(`{"sub":"` + sub + `"}`)}
			st := stmt(`SELECT coalesce(json_agg(owner), '[]') FROM (SELECT DISTINCT owner FROM poolmgr_t_share.kv WHERE k <= $1::int4) o`, strconv.Itoa(i%50+2))
			got, err := runRead(ctx, p, sess, st)
			if err != nil {
				t.Error(err)
				return
			}
			if got != `["`+sub+`"]` {
				bad.Add(1)
				t.Errorf("%s read %s", sub, got)
			}
		}()
	}
	wg.Wait()
	if bad.Load() > 0 {
		t.Fatalf("%d reads saw another session's rows", bad.Load())
	}
}

func TestOneSetsErrorStaysWithItsRequests(t *testing.T) {
	_, p := sharedPool(t)
	ctx := ctx5s(t)
	// Hold the connection so that the reads below queue together.
	hold := stmt(`SELECT pg_sleep(0.3)::text`)
	go func() { _, _, _ = p.Run(ctx, &Request{Statements: []statement.Statement{hold}}, nil) }()
	time.Sleep(50 * time.Millisecond)
	var wg sync.WaitGroup
	results := make([]string, 6)
	errs := make([]error, 6)
	for i := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a := strconv.Itoa(i + 1)
			if i == 3 {
				a = "not a number"
			}
			st := stmt(readKV, a, a)
			st.Result = statement.Array
			results[i], errs[i] = runRead(ctx, p, nil, st)
		}()
	}
	wg.Wait()
	for i := range 6 {
		var pe *PgError
		switch {
		case i == 3:
			if !errors.As(errs[i], &pe) || pe.SQLState() != "22P02" {
				t.Errorf("the bad set: %v", errs[i])
			}
		case errs[i] != nil:
			t.Errorf("set %d failed with the bad one: %v", i, errs[i])
		case results[i] != fmt.Sprintf(`[{"k":%d,"v":%d}]`, i+1, (i+1)*10):
			t.Errorf("set %d: %s", i, results[i])
		}
	}
}

func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	_ = c.Write(&m)
	return m.GetCounter().GetValue()
}

func TestOneSQLReadAsTwoResultsIsNotShared(t *testing.T) {
	_, p := sharedPool(t)
	ctx := ctx5s(t)
	var wg sync.WaitGroup
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k := strconv.Itoa(i%10 + 1)
			st := stmt(readKV, k, k)
			want := fmt.Sprintf(`[{"k":%s,"v":%d}]`, k, (i%10+1)*10)
			if i%2 == 0 {
				st.Result = statement.Envelope // a REST read of the same statement
				want = "1,," + want
			} else {
				st.Result = statement.Array
			}
			got, err := runRead(ctx, p, nil, st)
			if err != nil || got != want {
				t.Errorf("request %d: %q, %v; want %q", i, got, err, want)
			}
		}()
	}
	wg.Wait()
}

// A RoleOnly read cannot see the session's claims and request settings, so reads of one
// role share whatever their claims; a full session's settings all count, and the two
// kinds never share.
func TestRoleOnlyReadsShareAcrossClaims(t *testing.T) {
	key := func(s *Session) string { return string(shareKey(nil, s, "SELECT 1", statement.Value)) }
	a := &Session{Role: "r", Claims: []byte(`{"sub":"a"}`), Method: "GET", Path: "/a", Headers: []byte(`{}`), RoleOnly: true}
	b := &Session{Role: "r", Claims: []byte(`{"sub":"b"}`), Method: "HEAD", Path: "/b", Headers: []byte(`{"x":"y"}`), RoleOnly: true}
	if key(a) != key(b) {
		t.Error("RoleOnly reads of one role with other claims do not share")
	}
	for name, s := range map[string]*Session{
		"another role":    {Role: "r2", RoleOnly: true},
		"another timeout": {Role: "r", StatementTimeout: time.Second, RoleOnly: true},
		"a full session":  {Role: "r", Claims: a.Claims, Method: a.Method, Path: a.Path, Headers: a.Headers},
		"no session":      nil,
	} {
		if key(s) == key(a) {
			t.Errorf("%s shares with a RoleOnly read", name)
		}
	}
	full := func(claims string) *Session { return &Session{Role: "r", Claims: []byte(claims)} }
	if key(full(`{"sub":"a"}`)) == key(full(`{"sub":"b"}`)) {
		t.Error("full sessions with other claims share")
	}
}
