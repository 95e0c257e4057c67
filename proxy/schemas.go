package proxy

import (
	"sync"

	"golang.org/x/sync/singleflight"

	"github.com/kapok-dev/kapok/control"
	"github.com/kapok-dev/kapok/planner/gqlschema"
)

// schemaCache holds the GraphQL schemas of each tenant's current catalog version, one per
// role: "" is the whole schema (admin requests), any other role the schema of its
// privileges. Privileges are part of the catalog version, so a GRANT gives new schemas; a
// new version drops the tenant's old ones.
type schemaCache struct {
	mu      sync.Mutex
	tenants map[string]*tenantSchemas
	sf      singleflight.Group
}

type tenantSchemas struct {
	version string
	roles   map[string]*gqlschema.Schema
}

func newSchemaCache() *schemaCache { return &schemaCache{tenants: map[string]*tenantSchemas{}} }

// get returns the GraphQL schema that role sees in snapshot snap of tenant t, building it
// once per (tenant, version, role).
func (c *schemaCache) get(t *control.Tenant, snap *control.Snapshot, role string) (*gqlschema.Schema, error) {
	if role != "" {
		// Roles the catalog does not know have PUBLIC's privileges: they share its schema,
		// so made-up role names in tokens cannot grow the cache.
		role = snap.Catalog.Privileges.For(role).Role
	}
	c.mu.Lock()
	ts := c.tenants[t.Name]
	var s *gqlschema.Schema
	if ts != nil && ts.version == snap.Version {
		s = ts.roles[role]
	}
	c.mu.Unlock()
	if s != nil {
		return s, nil
	}
	v, err, _ := c.sf.Do(t.Name+"\x00"+snap.Version+"\x00"+role, func() (any, error) {
		var s *gqlschema.Schema
		var err error
		if role == "" {
			s, err = gqlschema.Build(snap.Catalog, gqlschema.Options{})
		} else {
			s, err = gqlschema.BuildFor(snap.Catalog, role, gqlschema.Options{})
		}
		if err != nil {
			return nil, err
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		// Keep only the tenant's current version: a request still holding an older
		// snapshot gets its schema without evicting the new ones.
		if cur := t.Snapshot(); cur == nil || cur.Version != snap.Version {
			return s, nil
		}
		ts := c.tenants[t.Name]
		if ts == nil || ts.version != snap.Version {
			ts = &tenantSchemas{version: snap.Version, roles: map[string]*gqlschema.Schema{}}
			c.tenants[t.Name] = ts
		}
		ts.roles[role] = s
		return s, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*gqlschema.Schema), nil
}

// drop forgets tenant t's schemas (its catalog changed, or it is gone).
func (c *schemaCache) drop(t *control.Tenant) { c.forget(t.Name) }

func (c *schemaCache) forget(tenant string) {
	c.mu.Lock()
	delete(c.tenants, tenant)
	c.mu.Unlock()
}

// holds reports whether any schema of tenant is cached.
func (c *schemaCache) holds(tenant string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tenants[tenant] != nil
}
