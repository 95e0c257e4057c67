package wire

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/kapok-dev/kapok/internal/testenv"
)

// The engine reads a batch's answers on the client goroutine when the batch ends in Sync
// or is a Query, and hands over to a reader goroutine when the server may wait for the
// client. These tests drive each hand-over with a raw protocol client.

// rawClient is a protocol-level client of the fixture's engine.
type rawClient struct {
	t    *testing.T
	conn net.Conn
	fe   *pgproto3.Frontend
}

func (f *fixture) raw(user string) *rawClient {
	f.t.Helper()
	conn, err := net.Dial("tcp", f.addr)
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { _ = conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	c := &rawClient{t: f.t, conn: conn, fe: pgproto3.NewFrontend(conn, conn)}
	c.fe.Send(&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersion30, Parameters: map[string]string{"user": user, "database": "kapok"}})
	c.flush()
	c.until('Z')
	return c
}

func (c *rawClient) flush() {
	c.t.Helper()
	if err := c.fe.Flush(); err != nil {
		c.t.Fatal(err)
	}
}

// until reads messages up to and including the first of type want, and returns them as
// one letter each (the protocol's type bytes) with the data rows' first values.
func (c *rawClient) until(want byte) (kinds string, rows []string) {
	c.t.Helper()
	var b strings.Builder
	for {
		m, err := c.fe.Receive()
		if err != nil {
			c.t.Fatalf("after %q: %v", b.String(), err)
		}
		k := backendKind(m)
		b.WriteByte(k)
		switch m := m.(type) {
		case *pgproto3.DataRow:
			rows = append(rows, string(m.Values[0]))
		case *pgproto3.ErrorResponse:
			c.t.Logf("error: %s %s", m.Code, m.Message)
		}
		if k == want {
			return b.String(), rows
		}
	}
}

func backendKind(m pgproto3.BackendMessage) byte {
	switch m.(type) {
	case *pgproto3.ParseComplete:
		return '1'
	case *pgproto3.BindComplete:
		return '2'
	case *pgproto3.CloseComplete:
		return '3'
	case *pgproto3.CommandComplete:
		return 'C'
	case *pgproto3.DataRow:
		return 'D'
	case *pgproto3.ErrorResponse:
		return 'E'
	case *pgproto3.CopyInResponse:
		return 'G'
	case *pgproto3.NoData:
		return 'n'
	case *pgproto3.RowDescription:
		return 'T'
	case *pgproto3.ReadyForQuery:
		return 'Z'
	case *pgproto3.ParameterStatus:
		return 'S'
	case *pgproto3.BackendKeyData:
		return 'K'
	case *pgproto3.AuthenticationOk:
		return 'R'
	}
	return '?'
}

// query sends a simple Query and reads its answers to ReadyForQuery.
func (c *rawClient) query(sql string) (kinds string, rows []string) {
	c.t.Helper()
	c.fe.Send(&pgproto3.Query{String: sql})
	c.flush()
	return c.until('Z')
}

// execute sends Parse, Bind, Describe and Execute of sql (unnamed) with text arguments.
func (c *rawClient) execute(sql string, args ...string) {
	params := make([][]byte, len(args))
	for i, a := range args {
		params[i] = []byte(a)
	}
	c.fe.Send(&pgproto3.Parse{Query: sql})
	c.fe.Send(&pgproto3.Bind{Parameters: params})
	c.fe.Send(&pgproto3.Describe{ObjectType: 'P'})
	c.fe.Send(&pgproto3.Execute{})
}

func TestBatchesSentTogetherAreAnsweredInOrder(t *testing.T) {
	f := newFixture(t, 1, "")
	c := f.raw("app")
	// Two batches in one write: the second waits in the client's socket while the first
	// is answered, then is answered on the same session.
	c.execute("SELECT $1::text", "one")
	c.fe.Send(&pgproto3.Sync{})
	c.execute("SELECT $1::text || '!'", "two")
	c.fe.Send(&pgproto3.Sync{})
	c.flush()
	kinds, rows := c.until('Z')
	if kinds != "12TDCZ" || len(rows) != 1 || rows[0] != "one" {
		t.Fatalf("first batch: %q %q", kinds, rows)
	}
	kinds, rows = c.until('Z')
	if kinds != "12TDCZ" || len(rows) != 1 || rows[0] != "two!" {
		t.Fatalf("second batch: %q %q", kinds, rows)
	}
}

func TestFlushWithoutSyncIsAnswered(t *testing.T) {
	f := newFixture(t, 1, "")
	c := f.raw("app")
	// Flush asks for the answers so far; no ReadyForQuery comes until Sync, so the
	// engine cannot wait for one before it reads the client again.
	c.execute("SELECT $1::text", "flushed")
	c.fe.Send(&pgproto3.Flush{})
	c.flush()
	kinds, rows := c.until('C')
	if kinds != "12TDC" || rows[0] != "flushed" {
		t.Fatalf("after Flush: %q %q", kinds, rows)
	}
	c.execute("SELECT $1::text", "then synced")
	c.fe.Send(&pgproto3.Sync{})
	c.flush()
	if kinds, rows := c.until('Z'); kinds != "12TDCZ" || rows[0] != "then synced" {
		t.Fatalf("after Sync: %q %q", kinds, rows)
	}
}

func TestCopyFromStdinInExtendedProtocol(t *testing.T) {
	f := newFixture(t, 1, "CREATE TABLE c (v int)")
	c := f.raw("app")
	// The server waits for COPY data after the Execute; PostgreSQL ignores the Sync sent
	// with it and answers ReadyForQuery to the one after CopyDone. Bad data: the server's
	// error ends the COPY, and the Sync after CopyDone is answered all the same.
	for _, step := range []struct{ data, want string }{{"1\n2\n3\n", "CZ"}, {"x\n", "EZ"}} {
		c.fe.Send(&pgproto3.Parse{Query: "COPY c FROM STDIN"})
		c.fe.Send(&pgproto3.Bind{})
		c.fe.Send(&pgproto3.Execute{})
		c.fe.Send(&pgproto3.Sync{})
		c.flush()
		if kinds, _ := c.until('G'); kinds != "12G" {
			t.Fatalf("before %q: %q", step.data, kinds)
		}
		c.fe.Send(&pgproto3.CopyData{Data: []byte(step.data)})
		c.fe.Send(&pgproto3.CopyDone{})
		c.fe.Send(&pgproto3.Sync{})
		c.flush()
		if kinds, _ := c.until('Z'); kinds != step.want {
			t.Fatalf("after %q: %q, want %q", step.data, kinds, step.want)
		}
	}
	if kinds, rows := c.query("SELECT sum(v)::text FROM c"); kinds != "TDCZ" || rows[0] != "6" {
		t.Fatalf("sum: %q %q", kinds, rows)
	}
}

func TestLongPipelineWithLargeAnswers(t *testing.T) {
	f := newFixture(t, 1, "")
	ctx := ctxT(t)
	pc := f.connect("app").PgConn()
	// Over 64 KB of Bind/Execute before the Sync, whose answers (about 3 MB) outgrow the
	// socket buffers while the client still sends: the engine must read the server while
	// it writes it.
	const n = 3000
	pad := strings.Repeat("p", 200)
	batch := &pgconn.Batch{}
	for i := range n {
		batch.ExecParams("SELECT $1::text || repeat('y', 1000)", [][]byte{[]byte(fmt.Sprintf("%d:%s", i, pad))}, nil, nil, nil)
	}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	res, err := pc.ExecBatch(ctx, batch).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != n {
		t.Fatalf("%d results, want %d", len(res), n)
	}
	for i, r := range res {
		want := fmt.Sprintf("%d:%s%s", i, pad, strings.Repeat("y", 1000))
		if r.Err != nil || len(r.Rows) != 1 || string(r.Rows[0][0]) != want {
			t.Fatalf("result %d: %v %d rows", i, r.Err, len(r.Rows))
		}
	}
}

func TestTransactionOpenedBySimpleQueryKeepsItsConnection(t *testing.T) {
	f := newFixture(t, 2, "")
	c := f.raw("app")
	// "BEGIN; SELECT" leaves the transaction open: the answers end with status T and the
	// statements after it run on the same server connection, in the same transaction.
	kinds, rows := c.query("BEGIN; SELECT txid_current()::text")
	if kinds != "CTDCZ" {
		t.Fatalf("begin: %q", kinds)
	}
	tx := rows[0]
	for range 3 {
		c.execute("SELECT txid_current()::text")
		c.fe.Send(&pgproto3.Sync{})
		c.flush()
		if kinds, rows := c.until('Z'); kinds != "12TDCZ" || rows[0] != tx {
			t.Fatalf("in the transaction: %q %q, want transaction %s", kinds, rows, tx)
		}
	}
	if kinds, _ := c.query("COMMIT"); kinds != "CZ" {
		t.Fatalf("commit: %q", kinds)
	}
}

func TestCleanTextDoesNotPassARefusal(t *testing.T) {
	f := newFixture(t, 1, "")
	f.e.inspect = scripted(map[string]verdict{
		"LISTEN news": {refuse: &refusal{Code: "0A000", Message: "LISTEN is not supported"}},
	})
	c := f.raw("app")
	// The engine remembers the last text that changes nothing; a refused text in
	// between, and again after it, is refused each time.
	for _, sql := range []string{"SELECT 1", "LISTEN news", "SELECT 1", "LISTEN news", "LISTEN news"} {
		c.execute(sql)
		c.fe.Send(&pgproto3.Sync{})
		c.flush()
		kinds, _ := c.until('Z')
		want := "12TDCZ"
		if sql == "LISTEN news" {
			want = "EZ"
		}
		if kinds != want {
			t.Fatalf("%s: %q, want %q", sql, kinds, want)
		}
	}
}

func TestServerGoneWhileIdleInTransaction(t *testing.T) {
	f := newFixture(t, 1, "")
	c := f.raw("app")
	_, rows := c.query("BEGIN; SELECT pg_backend_pid()::text")
	admin := testenv.Conn(t)
	if _, err := admin.Exec(ctxT(t), "SELECT pg_terminate_backend($1::int)", rows[0]); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	// Nobody reads the server connection while the client is idle in the transaction:
	// the client's next statement hears the server's FATAL error, then the session ends.
	c.fe.Send(&pgproto3.Query{String: "SELECT 1"})
	c.flush()
	var codes []string
	for {
		m, err := c.fe.Receive()
		if err != nil {
			break
		}
		if e, ok := m.(*pgproto3.ErrorResponse); ok {
			codes = append(codes, e.Code)
		}
	}
	if len(codes) == 0 || (codes[0] != "57P01" && codes[0] != "08006") {
		t.Fatalf("errors heard: %q, want the server's 57P01 or 08006 first", codes)
	}
}

func TestLongStatementHandedOverAndClientGoneCancelsIt(t *testing.T) {
	f := newFixture(t, 1, "")
	c := f.raw("app")
	// A statement longer than inlineWait: its answers come through the reader goroutine
	// the wait was handed to, and the session goes on.
	if kinds, rows := c.query("SELECT pg_sleep(0.3)::text"); kinds != "TDCZ" || rows[0] != "" {
		t.Fatalf("a 300 ms statement: %q %q", kinds, rows)
	}
	if kinds, rows := c.query("SELECT 'after'"); kinds != "TDCZ" || rows[0] != "after" {
		t.Fatalf("the next statement: %q %q", kinds, rows)
	}
	// A client that goes away during a long statement, without a cancel request: once the
	// wait is handed over the engine reads the client, sees it gone, and cancels the
	// statement, so the backend does not sleep on for 20 s.
	c.fe.Send(&pgproto3.Query{String: "SELECT pg_sleep(20)"})
	c.flush()
	time.Sleep(50 * time.Millisecond)
	_ = c.conn.Close()
	f.waitStopped("SELECT pg_sleep(20)")
}

// A statement a server of the pool parsed outside a transaction is taken without a server
// connection when another session prepares it outside a transaction: a client that
// prepares synchronously while its other sessions hold every server connection (pgbench
// -M prepared with several clients per thread) does not wait for them.
func TestPrepareOfAParsedStatementNeedsNoServerConnection(t *testing.T) {
	f := newFixture(t, 1, "") // one server connection; a wait for it lasts 5 s
	const sql = "SELECT (41 + $1::int)::text"
	a := f.raw("app")
	a.fe.Send(&pgproto3.Parse{Name: "s1", Query: sql})
	a.fe.Send(&pgproto3.Sync{})
	a.flush()
	if kinds, _ := a.until('Z'); kinds != "1Z" {
		t.Fatalf("first prepare: %q", kinds)
	}
	if kinds, _ := a.query("BEGIN"); kinds != "CZ" { // a holds the only server connection
		t.Fatalf("begin: %q", kinds)
	}

	b := f.raw("app")
	b.fe.Send(&pgproto3.Parse{Name: "mine", Query: sql})
	b.fe.Send(&pgproto3.Sync{})
	b.flush()
	_ = b.conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	if kinds, _ := b.until('Z'); kinds != "1Z" {
		t.Fatalf("prepare of the statement a parsed: %q", kinds)
	}
	// A text no server parsed needs the server: it waits for a's transaction to end.
	b.fe.Send(&pgproto3.Parse{Name: "other", Query: "SELECT 'other'"})
	b.fe.Send(&pgproto3.Sync{})
	b.flush()
	_ = b.conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if _, err := b.fe.Receive(); err == nil {
		t.Fatal("a statement no server parsed was answered while the only server connection was taken")
	}
	// The timed-out read may have consumed part of a message: a fresh client goes on.
	if kinds, _ := a.query("COMMIT"); kinds != "CZ" {
		t.Fatalf("commit: %q", kinds)
	}
	_ = b.conn.Close()

	c := f.raw("app")
	c.fe.Send(&pgproto3.Parse{Name: "mine", Query: sql})
	c.fe.Send(&pgproto3.Bind{PreparedStatement: "mine", Parameters: [][]byte{[]byte("1")}})
	c.fe.Send(&pgproto3.Execute{})
	c.fe.Send(&pgproto3.Sync{})
	c.flush()
	if kinds, rows := c.until('Z'); kinds != "12DCZ" || len(rows) != 1 || rows[0] != "42" {
		t.Fatalf("the statement taken without a server, run: %q %q", kinds, rows)
	}
}

// A client that sends its next batch before it reads the answer to the previous one,
// while the engine waits on the server: the engine's write of that answer, which would
// wait for the client's next message, cannot see one that came before the write. The wait
// is cut short (watchInline), the message is answered, and the session writes its
// answers plainly from then on.
func TestABatchSentDuringTheServersWorkIsAnswered(t *testing.T) {
	f := newFixture(t, 1, "")
	c := f.raw("app")
	_ = c.conn.SetDeadline(time.Now().Add(5 * time.Second)) // a wait never cut fails here
	for round := range 2 {
		start := time.Now()
		// Shorter than inlineWait, so that the client goroutine itself waits on the server.
		c.execute("SELECT pg_sleep(0.06)::text")
		c.fe.Send(&pgproto3.Sync{})
		c.flush()
		time.Sleep(20 * time.Millisecond) // the engine has read the batch and waits on PostgreSQL
		c.execute("SELECT $1::text", "two")
		c.fe.Send(&pgproto3.Sync{})
		c.flush()
		if kinds, _ := c.until('Z'); kinds != "12TDCZ" {
			t.Fatalf("round %d, first batch: %q", round, kinds)
		}
		kinds, rows := c.until('Z')
		if kinds != "12TDCZ" || len(rows) != 1 || rows[0] != "two" {
			t.Fatalf("round %d, second batch: %q %q", round, kinds, rows)
		}
		// The first round may wait for the cut (one to two inlineWaits); none waits long.
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("round %d took %s", round, d)
		}
		if round == 0 && !f.sessionsNoAwait() {
			t.Fatal("the session still waits for the client's messages after one came during a wait")
		}
	}
}

// sessionsNoAwait reports whether every session of the engine writes its answers plainly.
func (f *fixture) sessionsNoAwait() bool {
	f.e.mu.Lock()
	ss := make([]*session, 0, len(f.e.sessions))
	for s := range f.e.sessions {
		ss = append(ss, s)
	}
	f.e.mu.Unlock()
	for _, s := range ss {
		s.mu.Lock()
		no := s.noAwait
		s.mu.Unlock()
		if !no {
			return false
		}
	}
	return len(ss) > 0
}

// A client idle for longer than the wait for its next message lasts: the wait is cut
// short, and the session reads the client as usual, with no deadline left behind.
func TestAnIdleClientIsServedAfterItsWaitIsCut(t *testing.T) {
	f := newFixture(t, 1, "")
	c := f.raw("app")
	for i := range 3 {
		c.execute("SELECT $1::text", fmt.Sprint(i))
		c.fe.Send(&pgproto3.Sync{})
		c.flush()
		if kinds, rows := c.until('Z'); kinds != "12TDCZ" || len(rows) != 1 || rows[0] != fmt.Sprint(i) {
			t.Fatalf("transaction %d: %q %q", i, kinds, rows)
		}
		time.Sleep(3 * inlineWait) // past the cut
		if f.sessionsNoAwait() {
			t.Fatal("an idle client's cut wait turned the session's waits off")
		}
	}
	if kinds, rows := c.query("SELECT 'still here'"); kinds != "TDCZ" || len(rows) != 1 {
		t.Fatalf("after idling: %q %q", kinds, rows)
	}
}
