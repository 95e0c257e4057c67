package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/kapok-dev/kapok/control"
	"github.com/kapok-dev/kapok/internal/testenv"
)

func wireServeConfig(t *testing.T, wireListen string) *control.Config {
	t.Helper()
	testenv.FreshSchema(t, "wire_serve_t", "CREATE TABLE x (id int)")
	cfg := &control.Config{
		Listen: "127.0.0.1:0", WireListen: wireListen, AdminKey: "wire-serve-t-admin",
		Upstreams: map[string]*control.Upstream{"dev": {URL: testenv.DirectURL(), Pooler: testenv.PoolerURL()}},
		Tenants:   []*control.TenantConfig{{Name: "wire-serve-t", Schemas: []string{"wire_serve_t"}}},
		Events:    control.EventsConfig{Disabled: true},
	}
	if err := cfg.Normalize(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestServeFailsClearlyWhenTheWirePortIsTaken(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	cfg := wireServeConfig(t, taken.Addr().String())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err = serve(ctx, cfg, slog.New(slog.NewTextHandler(&syncBuffer{}, nil)), nil)
	if err == nil || !strings.Contains(err.Error(), "wire port cannot listen on "+taken.Addr().String()) || !strings.Contains(err.Error(), "wire_listen") {
		t.Fatalf("serve = %v, want a refusal naming the wire address and wire_listen", err)
	}
}

func TestServeServesTheWirePortAndStopsIt(t *testing.T) {
	cfg := wireServeConfig(t, "127.0.0.1:0")
	logs := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, slog.New(slog.NewTextHandler(logs, nil)), nil) }()
	addr := regexp.MustCompile(`wire=(127\.0\.0\.1:\d+)`)
	var wireAddr string
	for end := time.Now().Add(15 * time.Second); wireAddr == "" && time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if m := addr.FindStringSubmatch(logs.String()); m != nil {
			wireAddr = m[1]
		}
	}
	if wireAddr == "" {
		cancel()
		t.Fatalf("serve logged no wire address:\n%s", logs)
	}
	host, port, _ := net.SplitHostPort(wireAddr)
	cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer ccancel()
	conn, err := pgconn.Connect(cctx, fmt.Sprintf("host=%s port=%s user=token.wire-serve-t password=wire-serve-t-admin sslmode=disable", host, port))
	if err != nil {
		cancel()
		t.Fatalf("connect to the wire port: %v", err)
	}
	if _, err := conn.Exec(cctx, "").ReadAll(); err != nil {
		t.Errorf("an empty query: %v", err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serve: %v", err)
		}
	case <-time.After(40 * time.Second):
		t.Fatal("serve did not stop")
	}
	if err := conn.Exec(cctx, "").Close(); err == nil {
		t.Error("the wire session outlived serve")
	}
	conn.Close(context.Background())
}
