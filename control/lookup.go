package control

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// ReadTenant reads one tenant of the control tables (kapok.tenants in the control database
// at url), not yet normalized, for tools that work without a registry (kapok backup). It
// returns nil when the tables do not hold it.
func ReadTenant(ctx context.Context, url, name string) (*TenantConfig, error) {
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		return nil, err
	}
	defer c.Close(context.Background())
	var found []*tenantRow
	rows, err := c.Query(ctx, selectTenantsSQL+" WHERE name = $1", name)
	if err == nil {
		found, err = scanTenantRows(rows)
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "42P01" { // no control tables here
		return nil, nil
	}
	if err != nil || len(found) == 0 {
		return nil, err
	}
	return found[0].config()
}
