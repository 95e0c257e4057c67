package events

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/kapok-dev/kapok/control"
)

func TestEventsAreRefusedInADatabaseKapokOnlyReads(t *testing.T) {
	cfg := &control.Config{}
	cfg.DropIn("postgres://nobody@127.0.0.1:1/none?sslmode=disable", "", nil)
	if err := cfg.Normalize(); err != nil {
		t.Fatal(err)
	}
	reg := control.NewRegistry(cfg, nil)
	s := New(Options{Registry: reg})
	defer s.Close()
	tenant := reg.Tenant("default")
	ctx := context.Background()
	for name, call := range map[string]func() error{
		"listing triggers":   func() error { _, err := s.Triggers(ctx, tenant); return err },
		"dropping a trigger": func() error { return s.DropTrigger(ctx, tenant, "t") },
		"listing events":     func() error { _, err := s.Events(ctx, tenant, Filter{}); return err },
	} {
		t.Run(name+" is refused with a message naming --manage", func(t *testing.T) {
			err := call()
			if !errors.Is(err, control.ErrConflict) || !strings.Contains(err.Error(), "--manage") {
				t.Fatalf("err = %v", err)
			}
		})
	}
}
