package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/valyala/fasthttp"
)

// BaselineConfig configures the raw-pgx baseline server.
type BaselineConfig struct {
	DSN           string        // PgBouncer (transaction pooling) URL of the benchmark database
	DefaultTenant string        // this tenant (and requests without /t/<tenant>) reads DefaultSchema
	DefaultSchema string        // other tenants read the schema named after them ('-' as '_')
	MaxConns      int32         // pool size (0: pgxpool's default)
	Timeout       time.Duration // per request
	// TenantRole, when set, is the Postgres role of the other tenants (fmt verb %s: the
	// tenant's name): each of their requests first switches to it, local to its
	// transaction, in the same round trip. That is what any backend serving many
	// tenants from one pool must do to keep them apart, and what Kapok does for tenants
	// with isolation: role, so both sides of the multitenant scenario pay for it.
	TenantRole string
}

// Baseline answers the workload's GraphQL and REST requests with the hand-written statements
// of the workload (queries.sql): JSON built by Postgres, one statement per request on one pgx
// pool, the raw bytes written out. No parsing beyond finding the operation and its parameter,
// no plan cache, no compiler: it is the limit Kapok is measured against.
type Baseline struct {
	cfg   BaselineConfig
	pool  *pgxpool.Pool
	stmts sync.Map // schema -> *baselineStatements
}

// The workload statements, schema-qualified ({s}) because search_path cannot be set through
// PgBouncer in transaction mode. Keep Q1–Q4 in step with the workload's queries.sql.
const (
	sqlQ1 = `SELECT row_to_json(c) FROM (
  SELECT id, name, email, country, created_at FROM {s}.customers WHERE id = $1::int
) c`
	sqlQ2 = `SELECT coalesce(json_agg(o), '[]') FROM (
  SELECT id, status, total, created_at FROM {s}.orders
  WHERE customer_id = $1::int ORDER BY created_at DESC LIMIT 20
) o`
	sqlQ3 = `SELECT coalesce(json_agg(c), '[]') FROM (
  SELECT c.id, c.name,
    (SELECT coalesce(json_agg(o), '[]') FROM (
       SELECT o.id, o.total, o.created_at,
         (SELECT coalesce(json_agg(i), '[]') FROM (
            SELECT oi.quantity, oi.unit_price,
                   (SELECT json_build_object('name', p.name) FROM {s}.products p WHERE p.id = oi.product_id) AS product
            FROM {s}.order_items oi WHERE oi.order_id = o.id ORDER BY oi.id
          ) i) AS items
       FROM {s}.orders o WHERE o.customer_id = c.id ORDER BY o.created_at DESC LIMIT 5
     ) o) AS orders
  FROM {s}.customers c WHERE c.id >= $1::int ORDER BY c.id LIMIT 10
) c`
	sqlSetRole = `SELECT set_config('role', $1::text, true)`
	sqlQ4      = `SELECT json_build_object('count', count(*), 'sum', sum(total)) FROM {s}.orders WHERE customer_id = $1::int`

	sqlInsert     = `INSERT INTO {s}.bench_scratch (note, n) SELECT v->>'note', (v->>'n')::int FROM (SELECT $1::json AS v) x`
	sqlInsertJSON = sqlInsert + ` RETURNING json_build_object('id', id)`
	sqlUpdateJSON = `UPDATE {s}.bench_scratch SET n = ($1::json->>'n')::int, updated_at = now() WHERE id = ($1::json->>'id')::int RETURNING json_build_object('id', id, 'n', n)`
	sqlUpdate     = `UPDATE {s}.bench_scratch SET n = ($1::json->>'n')::int, updated_at = now() WHERE id = $2::int`
)

type baselineStatements struct {
	q1, q2, q3, q4, insert, insertJSON, updateJSON, update string
	// tenant: of a tenant other than the default one (see tenantQuery), switching to role
	// (when set) before each statement.
	tenant bool
	role   []byte
}

func statementsFor(schema string) *baselineStatements {
	s := func(q string) string { return strings.ReplaceAll(q, "{s}", pgx.Identifier{schema}.Sanitize()) }
	return &baselineStatements{q1: s(sqlQ1), q2: s(sqlQ2), q3: s(sqlQ3), q4: s(sqlQ4),
		insert: s(sqlInsert), insertJSON: s(sqlInsertJSON), updateJSON: s(sqlUpdateJSON), update: s(sqlUpdate)}
}

// NewBaseline opens the pool (QueryExecModeCacheDescribe: PgBouncer 1.18 cannot keep
// prepared statements) and checks that it connects.
func NewBaseline(ctx context.Context, cfg BaselineConfig) (*Baseline, error) {
	if cfg.DefaultTenant == "" {
		cfg.DefaultTenant = "bench"
	}
	if cfg.DefaultSchema == "" {
		cfg.DefaultSchema = "demo"
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	pc, err := pgxpool.ParseConfig(cfg.DSN)
	if err != nil {
		return nil, fmt.Errorf("baseline: %w", err)
	}
	pc.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeCacheDescribe
	pc.ShouldPing = func(_ context.Context, p pgxpool.ShouldPingParams) bool { return p.IdleDuration > 30*time.Second }
	if cfg.MaxConns > 0 {
		pc.MaxConns = cfg.MaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err == nil {
		err = pool.Ping(ctx)
	}
	if err != nil {
		if pool != nil {
			pool.Close()
		}
		return nil, fmt.Errorf("baseline: connect %s: %w", pc.ConnConfig.Host, err)
	}
	return &Baseline{cfg: cfg, pool: pool}, nil
}

// Close closes the pool.
func (b *Baseline) Close() { b.pool.Close() }

var tenantName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

func (b *Baseline) statements(tenant []byte) *baselineStatements {
	schema := b.cfg.DefaultSchema
	if len(tenant) > 0 && string(tenant) != b.cfg.DefaultTenant {
		if !tenantName.Match(tenant) {
			return nil
		}
		schema = TenantSchema(string(tenant))
	}
	if st, ok := b.stmts.Load(schema); ok {
		return st.(*baselineStatements)
	}
	fresh := statementsFor(schema)
	if schema != b.cfg.DefaultSchema {
		fresh.tenant = true
		if b.cfg.TenantRole != "" {
			fresh.role = fmt.Appendf(nil, b.cfg.TenantRole, tenant)
		}
	}
	st, _ := b.stmts.LoadOrStore(schema, fresh)
	return st.(*baselineStatements)
}

// Handler serves /healthz, [/t/<tenant>]/v1/graphql and [/t/<tenant>]/rest/v1/<table>.
func (b *Baseline) Handler(ctx *fasthttp.RequestCtx) {
	path := ctx.Path()
	var tenant []byte
	if rest, ok := bytes.CutPrefix(path, []byte("/t/")); ok {
		i := bytes.IndexByte(rest, '/')
		if i < 0 {
			ctx.Error(`{"message":"no route"}`, fasthttp.StatusNotFound)
			return
		}
		tenant, path = rest[:i], rest[i:]
	}
	if string(path) == "/healthz" {
		ctx.SetBodyString("ok")
		return
	}
	st := b.statements(tenant)
	if st == nil {
		ctx.Error(`{"message":"unknown tenant"}`, fasthttp.StatusNotFound)
		return
	}
	qctx, cancel := context.WithTimeout(context.Background(), b.cfg.Timeout)
	defer cancel()
	ctx.SetContentType("application/json; charset=utf-8")
	var err error
	switch {
	case string(path) == "/v1/graphql" && ctx.IsPost():
		err = b.graphql(qctx, ctx, st)
	default:
		table, ok := bytes.CutPrefix(path, []byte("/rest/v1/"))
		if !ok {
			ctx.Error(`{"message":"no route"}`, fasthttp.StatusNotFound)
			return
		}
		err = b.rest(qctx, ctx, st, table)
	}
	if err != nil {
		ctx.Response.Reset()
		ctx.SetContentType("application/json; charset=utf-8")
		ctx.SetStatusCode(fasthttp.StatusInternalServerError)
		msg, _ := json.Marshal(err.Error())
		fmt.Fprintf(ctx, `{"errors":[{"message":%s}]}`, msg)
	}
}

var errBadRequest = errors.New("baseline: request is not one of the workload's")

func (b *Baseline) graphql(qctx context.Context, ctx *fasthttp.RequestCtx, st *baselineStatements) error {
	body := ctx.PostBody()
	op, _ := jsonMember(body, "operationName")
	vars, _ := jsonMember(body, "variables")
	intVar := func(name string) (int, error) {
		raw, _ := jsonMember(vars, name)
		return parseInt(raw)
	}
	sql, root, name := graphqlRead(st, op)
	var arg any
	switch string(op) {
	case `"BenchInsert"`:
		sql, root, arg = st.insertJSON, "insert_bench_scratch_one", string(vars)
	case `"BenchUpdate"`:
		sql, root, arg = st.updateJSON, "update_bench_scratch_by_pk", string(vars)
	default:
		if sql == "" {
			return errBadRequest
		}
	}
	if name != "" {
		n, err := intVar(name)
		if err != nil {
			return err
		}
		arg = n
	}
	ctx.WriteString(`{"data":{"`)
	ctx.WriteString(root)
	ctx.WriteString(`":`)
	if err := b.writeOne(qctx, ctx, st, sql, arg); err != nil {
		return err
	}
	ctx.WriteString(`}}`)
	return nil
}

// graphqlRead is the statement of a workload read by its operation name (JSON, quoted),
// the root field of its answer and the variable that is its $1; "" for anything else.
func graphqlRead(st *baselineStatements, op []byte) (sql, root, variable string) {
	switch string(op) {
	case `"Q1"`:
		return st.q1, "customers_by_pk", "id"
	case `"Q2"`:
		return st.q2, "orders", "cid"
	case `"Q3"`:
		return st.q3, "customers", "start"
	case `"Q4"`:
		return st.q4, "orders_aggregate", "cid"
	}
	return "", "", ""
}

// restRead is the statement of a workload read by REST (a GET of table with query args),
// and the filter whose value is its $1; "" for anything else.
func restRead(st *baselineStatements, table []byte, args *fasthttp.Args) (sql, filter, op string) {
	switch {
	case string(table) == "customers" && bytes.HasPrefix(args.Peek("id"), []byte("eq.")):
		return st.q1, "id", "eq."
	case string(table) == "customers":
		return st.q3, "id", "gte."
	case string(table) == "orders" && bytes.HasPrefix(args.Peek("select"), []byte("count()")):
		return st.q4, "customer_id", "eq."
	case string(table) == "orders":
		return st.q2, "customer_id", "eq."
	}
	return "", "", ""
}

func (b *Baseline) rest(qctx context.Context, ctx *fasthttp.RequestCtx, st *baselineStatements, table []byte) error {
	args := ctx.QueryArgs()
	filter := func(name, op string) (int, error) {
		v, ok := bytes.CutPrefix(args.Peek(name), []byte(op))
		if !ok {
			return 0, errBadRequest
		}
		return parseInt(v)
	}
	method := string(ctx.Method())
	if sql, name, op := restRead(st, table, args); method == "GET" && sql != "" {
		v, err := filter(name, op)
		if err != nil {
			return err
		}
		switch sql {
		case st.q1:
			if !bytes.Contains(ctx.Request.Header.Peek("Accept"), []byte("vnd.pgrst.object")) {
				ctx.WriteString("[")
				defer ctx.WriteString("]")
				return b.writeRows(qctx, ctx, st, sql, v, "")
			}
			if err := b.writeRows(qctx, ctx, st, sql, v, ""); err != nil {
				return err
			}
			if len(ctx.Response.Body()) == 0 {
				ctx.SetStatusCode(fasthttp.StatusNotAcceptable)
				ctx.WriteString(`{"code":"PGRST116","message":"JSON object requested, multiple (or no) rows returned"}`)
			}
			return nil
		case st.q4:
			ctx.WriteString("[")
			defer ctx.WriteString("]")
		}
		return b.writeOne(qctx, ctx, st, sql, v)
	}
	switch {
	case method == "POST" && string(table) == "bench_scratch":
		if err := b.exec(qctx, st, st.insert, string(ctx.PostBody())); err != nil {
			return err
		}
		ctx.SetStatusCode(fasthttp.StatusCreated)
		return nil
	case method == "PATCH" && string(table) == "bench_scratch":
		id, err := filter("id", "eq.")
		if err != nil {
			return err
		}
		if err := b.exec(qctx, st, st.update, string(ctx.PostBody()), id); err != nil {
			return err
		}
		ctx.SetStatusCode(fasthttp.StatusNoContent)
		return nil
	}
	return errBadRequest
}

// exec runs a statement that returns no rows.
func (b *Baseline) exec(qctx context.Context, st *baselineStatements, sql string, args ...any) error {
	if st.tenant {
		return b.tenantQuery(qctx, st, sql, args, nil)
	}
	_, err := b.pool.Exec(qctx, sql, args...)
	return err
}

// tenantQuery runs sql for a tenant other than the default one, after the switch to its role
// (when it has one) in the same round trip and implicit transaction, and hands row the first
// column of each row (nil: NULL). It runs on the pooled connection's pgconn, the parameters
// in text (the statements cast them), so that no statement is described: every tenant's
// statements are texts of their own (schema-qualified), and through pgx's cache_describe
// each connection of the pool would describe each tenant's statements once, a round trip
// more, until every connection had met every statement of thousands of tenants.
func (b *Baseline) tenantQuery(qctx context.Context, st *baselineStatements, sql string, args []any, row func([]byte)) error {
	params := make([][]byte, len(args))
	for i, a := range args {
		switch v := a.(type) {
		case int:
			params[i] = strconv.AppendInt(nil, int64(v), 10)
		case string:
			params[i] = []byte(v)
		default:
			return fmt.Errorf("baseline: a parameter of type %T", a)
		}
	}
	c, err := b.pool.Acquire(qctx)
	if err != nil {
		return err
	}
	defer c.Release()
	var batch pgconn.Batch
	last := 0 // the result of sql
	if st.role != nil {
		batch.ExecParams(sqlSetRole, [][]byte{st.role}, nil, nil, nil)
		last = 1
	}
	batch.ExecParams(sql, params, nil, nil, nil)
	mrr := c.Conn().PgConn().ExecBatch(qctx, &batch)
	for i := 0; mrr.NextResult(); i++ {
		rr := mrr.ResultReader()
		for rr.NextRow() {
			if row != nil && i == last {
				row(rr.Values()[0])
			}
		}
		if _, err := rr.Close(); err != nil {
			mrr.Close()
			return err
		}
	}
	return mrr.Close()
}

// writeOne writes the single JSON value of sql, or null when it returns no row.
func (b *Baseline) writeOne(qctx context.Context, ctx *fasthttp.RequestCtx, st *baselineStatements, sql string, arg any) error {
	return b.writeRows(qctx, ctx, st, sql, arg, "null")
}

// writeRows writes the first column of each row as is (no row: ifNone).
func (b *Baseline) writeRows(qctx context.Context, ctx *fasthttp.RequestCtx, st *baselineStatements, sql string, arg any, ifNone string) error {
	n := 0
	write := func(v []byte) {
		if v != nil {
			ctx.Write(v)
		} else {
			ctx.WriteString("null")
		}
		n++
	}
	if st.tenant {
		if err := b.tenantQuery(qctx, st, sql, []any{arg}, write); err != nil {
			return err
		}
	} else {
		rows, err := b.pool.Query(qctx, sql, arg)
		if err != nil {
			return err
		}
		for rows.Next() {
			write(rows.RawValues()[0])
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	if n == 0 {
		ctx.WriteString(ifNone)
	}
	return nil
}

// parseInt reads a decimal int32 without allocating.
func parseInt(b []byte) (int, error) {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	if len(b) == 0 || len(b) > 10 {
		return 0, errBadRequest
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, errBadRequest
		}
		n = n*10 + int(c-'0')
	}
	if n > 1<<31-1 {
		return 0, errBadRequest
	}
	if neg {
		n = -n
	}
	return n, nil
}

func cmdBaseline(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("baseline", flag.ContinueOnError)
	var cfg BaselineConfig
	listen := fs.String("listen", "127.0.0.1:8090", "address to serve on")
	fs.StringVar(&cfg.DSN, "db", "postgres://postgres@127.0.0.1:64320/kapok_bench?sslmode=disable", "PgBouncer URL of the benchmark database")
	fs.StringVar(&cfg.DefaultTenant, "tenant", "bench", "tenant answered from --schema (other tenants: the schema of their name)")
	fs.StringVar(&cfg.DefaultSchema, "schema", "demo", "schema holding the dataset for --tenant")
	maxConns := fs.Int("pool-max-conns", 0, "pool size (0: pgxpool default, max(4, CPUs))")
	fs.DurationVar(&cfg.Timeout, "timeout", 10*time.Second, "per-request statement timeout")
	fs.StringVar(&cfg.TenantRole, "tenant-role", "", "switch to this role (%s: the tenant) before each statement of the tenants other than --tenant, as Kapok's isolation: role does (empty: no switch)")
	if code, ok := parseFlags(fs, args, stderr); !ok {
		return code
	}
	cfg.MaxConns = int32(*maxConns)
	b, err := NewBaseline(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "kapok bench baseline: %v\n", err)
		return 1
	}
	defer b.Close()
	ln, err := net.Listen("tcp4", *listen)
	if err != nil {
		fmt.Fprintf(stderr, "kapok bench baseline: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "baseline on http://%s (tenant %s = schema %s)\n", ln.Addr(), cfg.DefaultTenant, cfg.DefaultSchema)
	if err := serveUntilDone(ctx, newServer(b.Handler), ln); err != nil && !errors.Is(err, net.ErrClosed) {
		fmt.Fprintf(stderr, "kapok bench baseline: %v\n", err)
		return 1
	}
	return 0
}
