package testserver

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/smtp"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/kapok-dev/kapok/control"
	"github.com/kapok-dev/kapok/internal/testenv"
)

func TestServeWireServesHTTPAndTheWirePortWithVerifiedTLS(t *testing.T) {
	testenv.FreshSchema(t, "testserver_wire_t", "CREATE TABLE x (id int)")
	tlsFiles := TLS(t)
	cfg := &control.Config{AdminKey: "testserver-wire-admin", Tenants: []*control.TenantConfig{{Name: "testserver-wire-t", Schemas: []string{"testserver_wire_t"}}}}
	cfg.Wire.TLSCertFile, cfg.Wire.TLSKeyFile = tlsFiles.Cert, tlsFiles.Key
	httpURL, wireAddr := ServeWire(t, cfg)

	resp, err := http.Get(httpURL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/healthz: %d", resp.StatusCode)
	}
	host, port, _ := net.SplitHostPort(wireAddr)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, mode := range []string{"sslmode=verify-full sslrootcert=" + tlsFiles.CA, "sslmode=disable"} {
		conn, err := pgconn.Connect(ctx, fmt.Sprintf("host=%s port=%s user=token.testserver-wire-t password=testserver-wire-admin %s", host, port, mode))
		if err != nil {
			t.Fatalf("%s: %v", mode, err)
		}
		if _, err := conn.Exec(ctx, "").ReadAll(); err != nil {
			t.Errorf("%s: empty query: %v", mode, err)
		}
		conn.Close(ctx)
	}
}

func TestMailSinkReceivesOnItsPort(t *testing.T) {
	s := MailSink(t)
	addr := net.JoinHostPort(s.Host(), fmt.Sprint(s.Port()))
	if err := smtp.SendMail(addr, nil, "a@example.com", []string{"b@example.com"}, []byte("Subject: t\r\n\r\nx\r\n")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if ms, err := s.Wait(ctx, "b@example.com", 1); err != nil || ms[0].Subject != "t" {
		t.Fatalf("%v %v", ms, err)
	}
}
