package realtime

// This file stands in for the postgres_changes source (pgchanges.go, replication.go) until
// it lands, so that the channel layer compiles and its tests run: Validate accepts any spec
// naming a table of the tenant's catalog, and Subscribe never delivers. Delete it when the
// real source is merged.

import (
	"fmt"
	"log/slog"

	"github.com/kapok-dev/kapok/control"
	"github.com/kapok-dev/kapok/poolmgr"
)

// ChangeSpec is one postgres_changes binding of a channel.
type ChangeSpec struct{ Event, Schema, Table, Filter string }

// ChangesOptions configure NewChanges.
type ChangesOptions struct {
	Config *control.Config
	Pools  *poolmgr.Manager
	Logger *slog.Logger
}

// Changes is the postgres_changes source.
type Changes struct{}

// NewChanges builds the source.
func NewChanges(ChangesOptions) *Changes { return &Changes{} }

// Close stops the source.
func (c *Changes) Close() {}

// Validate reports a spec the tenant cannot subscribe to.
func (c *Changes) Validate(t *control.Tenant, spec ChangeSpec) error {
	snap := t.Snapshot()
	if snap == nil || snap.Catalog == nil {
		return fmt.Errorf("the schema of tenant %s is not loaded", t.Name)
	}
	if spec.Table == "" || spec.Table == "*" {
		for _, s := range snap.Catalog.Schemas {
			if s == spec.Schema {
				return nil
			}
		}
		return fmt.Errorf("schema %q is not exposed", spec.Schema)
	}
	if snap.Catalog.Table(spec.Schema, spec.Table) == nil {
		return fmt.Errorf("table %s.%s does not exist", spec.Schema, spec.Table)
	}
	return nil
}

// Subscribe never delivers.
func (c *Changes) Subscribe(t *control.Tenant, spec ChangeSpec, s poolmgr.Session, deliver func(data []byte)) (cancel func(), err error) {
	if err := c.Validate(t, spec); err != nil {
		return nil, err
	}
	return func() {}, nil
}
