package proxy

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/kapok-dev/kapok/control"
	"github.com/kapok-dev/kapok/internal/tracing"
)

// metricLines are the lines of /metrics that start with name.
func metricLines(ts *testServer, name string) []string {
	var out []string
	for _, l := range strings.Split(ts.do("GET", "/metrics", "").body, "\n") {
		if strings.HasPrefix(l, name+"{") || strings.HasPrefix(l, name+" ") {
			out = append(out, l)
		}
	}
	return out
}

func hasLine(lines []string, want string) bool {
	for _, l := range lines {
		if l == want {
			return true
		}
	}
	return false
}

func TestTenantsBeyondTheLabelCapAreCountedAsOther(t *testing.T) {
	ts := twoTenants(t, func(c *control.Config) { c.Metrics.MaxTenantLabels = 1 })
	q := "{ customers { id } }"
	ts.srv.api.measureOnce(context.Background()) // measuring storage labels nobody
	ts.gql("/t/two/v1/graphql", q, nil)          // first served: gets the one label
	ts.gql("/t/one/v1/graphql", q, nil)
	ts.gql("/t/one/v1/graphql", q, nil)
	ts.gql("/t/one/v1/graphql", "{ nope }", nil)
	ts.do("GET", "/t/two/rest/v1/customers", "")
	ts.do("GET", "/t/nobody/rest/v1/customers", "") // no tenant: no tenant series

	reqs := metricLines(ts, "kapok_tenant_requests_total")
	for _, want := range []string{
		`kapok_tenant_requests_total{api="graphql",outcome="ok",tenant="two"} 1`,
		`kapok_tenant_requests_total{api="rest",outcome="ok",tenant="two"} 1`,
		`kapok_tenant_requests_total{api="graphql",outcome="ok",tenant="other"} 2`,
		`kapok_tenant_requests_total{api="graphql",outcome="client_error",tenant="other"} 1`,
	} {
		if !hasLine(reqs, want) {
			t.Errorf("missing %s in\n%s", want, strings.Join(reqs, "\n"))
		}
	}
	if len(reqs) != 4 {
		t.Errorf("want exactly the 4 series used, got\n%s", strings.Join(reqs, "\n"))
	}
	lat := metricLines(ts, "kapok_tenant_request_duration_seconds_count")
	for _, want := range []string{
		`kapok_tenant_request_duration_seconds_count{api="graphql",tenant="two"} 1`,
		`kapok_tenant_request_duration_seconds_count{api="graphql",tenant="other"} 3`,
	} {
		if !hasLine(lat, want) {
			t.Errorf("missing %s in\n%s", want, strings.Join(lat, "\n"))
		}
	}
	if b := metricLines(ts, "kapok_tenant_request_duration_seconds_bucket"); len(b) != 3*(len(tenantBuckets)+1) {
		t.Errorf("want %d buckets per (tenant, api) for 3 pairs, got %d", len(tenantBuckets)+1, len(b))
	}
	if l := metricLines(ts, "kapok_db_execution_seconds_count"); len(l) != 1 || l[0] == "kapok_db_execution_seconds_count 0" {
		t.Errorf("database time not counted: %v", l)
	}
}

func TestOnlyListedTenantsGetALabel(t *testing.T) {
	ts := twoTenants(t, func(c *control.Config) { c.Metrics.TenantLabels = []string{"one"} })
	ts.gql("/t/two/v1/graphql", "{ customers { id } }", nil)
	ts.gql("/t/one/v1/graphql", "{ customers { id } }", nil)
	reqs := metricLines(ts, "kapok_tenant_requests_total")
	for _, want := range []string{
		`kapok_tenant_requests_total{api="graphql",outcome="ok",tenant="one"} 1`,
		`kapok_tenant_requests_total{api="graphql",outcome="ok",tenant="other"} 1`,
	} {
		if !hasLine(reqs, want) {
			t.Errorf("missing %s in\n%s", want, strings.Join(reqs, "\n"))
		}
	}
}

func TestARemovedTenantFreesItsLabel(t *testing.T) {
	m := newMetrics(control.MetricsConfig{MaxTenantLabels: 1})
	served := func(name string) string { // the label a request of name's counts under
		e := m.tenant(name)
		m.observe(routeGraphQL, outcomeOK, e, 0.001)
		return e.series.Load().label
	}
	m.tenant("measured") // storage measured, usage read: no request, no label taken
	a := m.tenant("a")
	if la, lb := served("a"), served("b"); la != "a" || lb != tenantOther {
		t.Fatalf("labels a=%q b=%q", la, lb)
	}
	m.forgetTenant("a")
	m.observe(routeGraphQL, outcomeOK, a, 0.001) // a request still in flight
	if got := served("c"); got != "c" {
		t.Fatalf("the freed label went to %q", got)
	}
	if got := served("b"); got != tenantOther {
		t.Fatalf("b, counted as other before, is now %q", got)
	}
	if got := served("measured"); got != tenantOther {
		t.Fatalf("measured, first served after c, is %q", got)
	}
	fams, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		for _, s := range f.GetMetric() {
			for _, l := range s.GetLabel() {
				if l.GetName() == "tenant" && l.GetValue() == "a" {
					t.Errorf("%s still has a series of the removed tenant", f.GetName())
				}
			}
		}
	}
}

// logBuffer collects JSON log lines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// lines returns the log records whose msg is msg.
func (l *logBuffer) lines(t *testing.T, msg string) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(l.b.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		if rec["msg"] == msg {
			out = append(out, rec)
		}
	}
	return out
}

func TestRequestsCarryARequestIDIntoResponsesAndLogs(t *testing.T) {
	logs := &logBuffer{}
	ts := startServerWith(t, twoTenantsConfig(t, func(c *control.Config) {
		c.SlowQuery = control.Duration(time.Nanosecond) // every request with statements logs one
	}), Options{Logger: slog.New(slog.NewJSONHandler(logs, nil))})
	q := "{ customers { id } }"
	hexID := regexp.MustCompile(`^[0-9a-f]{24}$`)

	a, b := ts.gql("/t/one/v1/graphql", q, nil), ts.gql("/t/one/v1/graphql", q, nil)
	ida, idb := a.header["X-Request-Id"], b.header["X-Request-Id"]
	if !hexID.MatchString(ida) || !hexID.MatchString(idb) || ida == idb {
		t.Fatalf("generated ids %q and %q: want two distinct 24-hex-digit ids", ida, idb)
	}
	if r := ts.do("GET", "/healthz", ""); !hexID.MatchString(r.header["X-Request-Id"]) {
		t.Errorf("a health check got no id: %v", r.header)
	}
	if r := ts.gql("/t/one/v1/graphql", q, nil, "X-Request-Id: lb-7f3a:9"); r.header["X-Request-Id"] != "lb-7f3a:9" {
		t.Errorf("the client's id was not echoed: %q", r.header["X-Request-Id"])
	}
	if r := ts.gql("/t/one/v1/graphql", q, nil, `X-Request-Id: "x" {}`); !hexID.MatchString(r.header["X-Request-Id"]) {
		t.Errorf("an id with quotes and spaces was kept: %q", r.header["X-Request-Id"])
	}
	const traceID, parentID = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	traced := ts.do("GET", "/t/one/rest/v1/customers", "", "traceparent: 00-"+traceID+"-"+parentID+"-01")

	slow := logs.lines(t, "slow query")
	byID := map[string]map[string]any{}
	for _, rec := range slow {
		id, _ := rec["request_id"].(string)
		byID[id] = rec
	}
	for _, id := range []string{ida, idb, "lb-7f3a:9", traced.header["X-Request-Id"]} {
		if byID[id] == nil {
			t.Errorf("no slow-query line with request_id %q among %d", id, len(slow))
		}
	}
	rec := byID[traced.header["X-Request-Id"]]
	if rec == nil {
		t.FailNow()
	}
	if rec["trace_id"] != traceID || rec["span_id"] != parentID {
		t.Errorf("trace context in the log line: trace_id=%v span_id=%v, want %s %s", rec["trace_id"], rec["span_id"], traceID, parentID)
	}
	if sql, _ := rec["sql"].([]any); len(sql) == 0 || !strings.Contains(sql[0].(string), "customers") || rec["tenant"] != "one" || rec["api"] != "rest" {
		t.Errorf("slow-query line: %v", rec)
	}
	if _, ok := byID[ida]["trace_id"]; ok {
		t.Errorf("a request without traceparent logged a trace id: %v", byID[ida])
	}
}

// otlpReceiver is an OTLP/HTTP trace collector: it keeps the spans it is sent.
type otlpReceiver struct {
	mu    sync.Mutex
	spans []*tracepb.Span
	srv   *httptest.Server
}

func newOTLPReceiver(t *testing.T) *otlpReceiver {
	r := &otlpReceiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path != "/v1/traces" || req.Header.Get("Content-Type") != "application/x-protobuf" {
			t.Errorf("OTLP export to %s as %s", req.URL.Path, req.Header.Get("Content-Type"))
			http.Error(w, "unexpected", http.StatusBadRequest)
			return
		}
		var body io.Reader = req.Body
		if req.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(req.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			body = zr
		}
		raw, err := io.ReadAll(body)
		var export coltracepb.ExportTraceServiceRequest
		if err == nil {
			err = proto.Unmarshal(raw, &export)
		}
		if err != nil {
			t.Errorf("OTLP export does not decode: %v", err)
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		for _, rs := range export.GetResourceSpans() {
			for _, ss := range rs.GetScopeSpans() {
				r.spans = append(r.spans, ss.GetSpans()...)
			}
		}
		r.mu.Unlock()
		out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(out)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func spanAttrs(s *tracepb.Span) map[string]string {
	out := map[string]string{}
	for _, kv := range s.GetAttributes() {
		v := kv.GetValue()
		switch {
		case v.GetStringValue() != "":
			out[kv.GetKey()] = v.GetStringValue()
		default:
			b, _ := json.Marshal(v.GetIntValue())
			out[kv.GetKey()] = string(b)
		}
	}
	return out
}

func TestTracingExportsARequestSpanAndItsDatabaseSpan(t *testing.T) {
	rcv := newOTLPReceiver(t)
	cfg := twoTenantsConfig(t, func(c *control.Config) {
		c.Tracing = control.TracingConfig{OTLPEndpoint: rcv.srv.URL, SampleRatio: 1}
	})
	tp, err := tracing.New(cfg.Tracing, "test")
	if err != nil {
		t.Fatal(err)
	}
	logs := &logBuffer{}
	cfg.SlowQuery = control.Duration(time.Nanosecond)
	ts := startServerWith(t, cfg, Options{Logger: slog.New(slog.NewJSONHandler(logs, nil)), Tracer: tp.Tracer()})

	const traceID, parentID = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
	r := ts.gql("/t/one/v1/graphql", "{ customers { id } }", nil, "traceparent: 00-"+traceID+"-"+parentID+"-01")
	if r.status != 200 {
		t.Fatalf("graphql %d %s", r.status, r.body)
	}
	ts.do("GET", "/t/two/rest/v1/nope", "") // no parent: a trace of its own (sample_ratio 1), a client error
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tp.Shutdown(ctx); err != nil { // exports what is queued
		t.Fatal(err)
	}

	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	var server, db, rest *tracepb.Span
	for _, s := range rcv.spans {
		a := spanAttrs(s)
		switch {
		case s.GetKind() == tracepb.Span_SPAN_KIND_SERVER && a["kapok.api"] == "graphql":
			server = s
		case s.GetKind() == tracepb.Span_SPAN_KIND_SERVER && a["kapok.api"] == "rest":
			rest = s
		case s.GetName() == "db":
			db = s
		}
	}
	if server == nil || db == nil || rest == nil {
		t.Fatalf("want a GraphQL server span, its db span and a REST server span; got %d spans: %v", len(rcv.spans), rcv.spans)
	}
	if got := hex.EncodeToString(server.GetTraceId()); got != traceID {
		t.Errorf("server span trace id %s, want the traceparent's %s", got, traceID)
	}
	if got := hex.EncodeToString(server.GetParentSpanId()); got != parentID {
		t.Errorf("server span parent %s, want %s", got, parentID)
	}
	a := spanAttrs(server)
	for k, v := range map[string]string{"kapok.tenant": "one", "kapok.api": "graphql", "kapok.outcome": "ok",
		"kapok.request_id": r.header["X-Request-Id"], "http.request.method": "POST", "http.response.status_code": "200"} {
		if a[k] != v {
			t.Errorf("server span %s = %q, want %q (all: %v)", k, a[k], v, a)
		}
	}
	if server.GetName() != "POST graphql" {
		t.Errorf("server span named %q", server.GetName())
	}
	if !bytes.Equal(db.GetParentSpanId(), server.GetSpanId()) || !bytes.Equal(db.GetTraceId(), server.GetTraceId()) {
		t.Errorf("the db span is not the server span's child")
	}
	if d := spanAttrs(db); d["db.system.name"] != "postgresql" || d["kapok.tenant"] != "one" || d["db.operation.batch.size"] != "1" {
		t.Errorf("db span attributes %v", d)
	}
	if hex.EncodeToString(rest.GetTraceId()) == traceID || len(rest.GetParentSpanId()) != 0 {
		t.Errorf("a request without traceparent joined another trace")
	}
	if ra := spanAttrs(rest); ra["kapok.tenant"] != "two" || ra["kapok.outcome"] != "client_error" {
		t.Errorf("REST span attributes %v", ra)
	}
	// The log line names Kapok's span, which the collector has.
	found := false
	for _, rec := range logs.lines(t, "slow query") {
		if rec["request_id"] == r.header["X-Request-Id"] {
			found = true
			if rec["trace_id"] != traceID || rec["span_id"] != hex.EncodeToString(server.GetSpanId()) {
				t.Errorf("log line trace context %v %v, want %s %x", rec["trace_id"], rec["span_id"], traceID, server.GetSpanId())
			}
		}
	}
	if !found {
		t.Errorf("no slow-query line for the traced request")
	}
}
