package events

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kapok-dev/kapok/internal/testenv"
)

func TestATenantRoleRecordsEventsButCannotReadTheLog(t *testing.T) {
	e := newEnv(t, "role", true)
	rcv := newReceiver(t, nil)
	s := e.service(nil)
	ctx := context.Background()
	role := fmt.Sprintf("ev_role_%d", os.Getpid())
	q := pgx.Identifier{role}.Sanitize()
	testenv.Exec(t, "DROP ROLE IF EXISTS "+q)
	testenv.Exec(t, "CREATE ROLE "+q+" NOLOGIN")
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), testenv.DirectURL())
		if err == nil {
			_, _ = c.Exec(context.Background(), "DROP OWNED BY "+q+"; DROP ROLE "+q)
			c.Close(context.Background())
		}
	})
	testenv.Exec(t, "GRANT "+q+" TO CURRENT_USER")
	testenv.Exec(t, "GRANT USAGE ON SCHEMA "+pgx.Identifier{e.schema}.Sanitize()+" TO "+q+"; GRANT ALL ON "+e.table()+" TO "+q)
	if _, err := s.CreateTrigger(ctx, e.tenant, &TriggerDef{Name: "ins", Table: TableRef{Name: "items"}, Insert: &OpSpec{},
		Delivery: Delivery{Webhook: rcv.URL}}); err != nil {
		t.Fatal(err)
	}
	p := testenv.Pool(t)
	err := pgx.BeginFunc(ctx, p, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT set_config('role', $1::text, true), set_config('request.jwt.claims', '{\"sub\":\"u9\"}', true)", role); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "INSERT INTO "+e.table()+" (id, name) VALUES (1, 'by the tenant role')")
		return err
	})
	if err != nil {
		t.Fatalf("the tenant role's insert failed: %v", err)
	}
	got := rcv.waitFor(t, 1, 10*time.Second)
	if v := path(got[0].payload(t), "event", "session_variables", "x-hasura-role"); v != role {
		t.Errorf("x-hasura-role = %v, want %s", v, role)
	}
	for _, sql := range []string{
		"SELECT count(*) FROM kapok_events.event_log",
		"SELECT count(*) FROM kapok_events.triggers",
		"INSERT INTO kapok_events.event_log (tenant) VALUES ('someone-else')",
		"SELECT kapok_events.capture()",
	} {
		t.Run("the tenant role cannot run "+sql, func(t *testing.T) {
			err := pgx.BeginFunc(ctx, p, func(tx pgx.Tx) error {
				if _, err := tx.Exec(ctx, "SELECT set_config('role', $1::text, true)", role); err != nil {
					return err
				}
				_, err := tx.Exec(ctx, sql)
				return err
			})
			if err == nil || !strings.Contains(err.Error(), "permission denied") {
				t.Fatalf("err = %v, want permission denied", err)
			}
		})
	}
}
