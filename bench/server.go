package bench

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/valyala/fasthttp"
)

// newServer is the fasthttp configuration the baseline and echo servers share (the one the
// proxy uses too, so the HTTP layer costs the same on both sides of a comparison).
func newServer(h fasthttp.RequestHandler) *fasthttp.Server {
	return &fasthttp.Server{Handler: h, Name: "kapok-bench", ReadBufferSize: 8 << 10,
		ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: 90 * time.Second,
		MaxRequestBodySize: 1 << 20, NoDefaultServerHeader: true, NoDefaultDate: true, CloseOnShutdown: true}
}

// serveUntilDone serves s on ln until ctx ends.
func serveUntilDone(ctx context.Context, s *fasthttp.Server, ln net.Listener) error {
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.ShutdownWithContext(sctx)
		return nil
	}
}

// echoBody is the size and shape of a Q1 answer.
var echoBody = []byte(`{"data":{"customers_by_pk":{"id":4242,"name":"Customer 4242","email":"customer4242@example.com","country":"FR","created_at":"2019-07-14T08:31:12+00:00"}}}`)

func echoHandler(ctx *fasthttp.RequestCtx) {
	ctx.SetContentType("application/json")
	ctx.Response.SetBodyRaw(echoBody)
}

func cmdEcho(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("echo", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:8091", "address to serve on")
	if code, ok := parseFlags(fs, args, stderr); !ok {
		return code
	}
	ln, err := net.Listen("tcp4", *listen)
	if err != nil {
		fmt.Fprintf(stderr, "kapok bench echo: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "echo server on http://%s (a fixed %d-byte Q1 answer to every request)\n", ln.Addr(), len(echoBody))
	if err := serveUntilDone(ctx, newServer(echoHandler), ln); err != nil && !errors.Is(err, net.ErrClosed) {
		fmt.Fprintf(stderr, "kapok bench echo: %v\n", err)
		return 1
	}
	return 0
}
