package proxy

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"

	"github.com/kapok-dev/kapok/control"
	"github.com/kapok-dev/kapok/internal/testenv"
)

// testServer is a Kapok server on an in-memory listener, serving tenants of the dev stack.
type testServer struct {
	t   testing.TB
	srv *Server
	reg *control.Registry
	ln  *fasthttputil.InmemoryListener
	c   *fasthttp.Client
}

// startServer serves cfg's tenants; cfg gets the dev stack as its only upstream.
func startServer(t testing.TB, cfg *control.Config) *testServer {
	t.Helper()
	return startServerWith(t, cfg, Options{})
}

// startServerWith is startServer with opts' logger (default: none, or stderr under -v) and
// tracer.
func startServerWith(t testing.TB, cfg *control.Config, opts Options) *testServer {
	t.Helper()
	if cfg.Upstreams == nil {
		cfg.Upstreams = map[string]*control.Upstream{"dev": {URL: testenv.DirectURL(), Pooler: testenv.PoolerURL()}}
	}
	if err := cfg.Normalize(); err != nil {
		t.Fatal(err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
		if testing.Verbose() {
			log = slog.Default()
		}
	}
	reg := control.NewRegistry(cfg, log)
	srv, err := New(Options{Config: cfg, Registry: reg, Logger: log, Tracer: opts.Tracer})
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	ln := fasthttputil.NewInmemoryListener()
	go func() { _ = srv.Serve(ln) }()
	ts := &testServer{t: t, srv: srv, reg: reg, ln: ln}
	ts.c = &fasthttp.Client{Dial: func(string) (net.Conn, error) { return ln.Dial() }, MaxConnsPerHost: 512}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		reg.Close()
	})
	return ts
}

type response struct {
	status int
	header map[string]string
	body   string
}

// do sends a request; headers are "Name: value" strings.
func (ts *testServer) do(method, path, body string, headers ...string) response {
	ts.t.Helper()
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI("http://kapok.test" + path)
	req.Header.SetMethod(method)
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ":")
		if strings.EqualFold(k, "Host") {
			req.SetHost(strings.TrimSpace(v))
			continue
		}
		req.Header.Set(k, strings.TrimSpace(v))
	}
	if body != "" {
		req.SetBodyString(body)
		if len(req.Header.ContentType()) == 0 {
			req.Header.SetContentType("application/json")
		}
	}
	if err := ts.c.DoTimeout(req, resp, 30*time.Second); err != nil {
		ts.t.Fatalf("%s %s: %v", method, path, err)
	}
	r := response{status: resp.StatusCode(), body: string(resp.Body()), header: map[string]string{}}
	for k, v := range resp.Header.All() {
		r.header[string(k)] = string(v)
	}
	return r
}

// gql posts a GraphQL operation to path and returns the response.
func (ts *testServer) gql(path, query string, vars any, headers ...string) response {
	ts.t.Helper()
	body := map[string]any{"query": query}
	if vars != nil {
		body["variables"] = vars
	}
	b, _ := json.Marshal(body)
	return ts.do("POST", path, string(b), headers...)
}

// jsonEq fails unless got and want are the same JSON value.
func jsonEq(t *testing.T, got, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		t.Fatalf("response is not JSON: %v\n%s", err, got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad expectation: %v", err)
	}
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	if string(gb) != string(wb) {
		t.Fatalf("got  %s\nwant %s", gb, wb)
	}
}

func sleepMs(n int) { time.Sleep(time.Duration(n) * time.Millisecond) }
