package proxy

import (
	"container/list"
	"sync"

	"golang.org/x/sync/singleflight"

	"github.com/kapok-dev/kapok/control"
	"github.com/kapok-dev/kapok/planner/gqlschema"
)

// schemaCache holds the GraphQL schemas of each tenant's current catalog version, one per
// role: "" is the whole schema (admin requests), any other role the schema of its
// privileges. Privileges are part of the catalog version, so a GRANT gives new schemas; a
// new version drops the tenant's old ones.
//
// A schema is needed only to compile a request the plan cache does not hold, and it is
// the largest thing Kapok keeps per tenant (about 300 KB for four tables), so the cache is
// bounded: past budget bytes (gqlschema.Schema.Footprint, a document shared by tenants of
// one structure counted once) the schemas least recently used are dropped, and built again
// on their tenant's next compilation. Plans already compiled keep working without them.
type schemaCache struct {
	mu      sync.Mutex
	tenants map[string]*tenantSchemas
	lru     list.List // of *cachedSchema, most recently used first
	docs    map[any]int
	used    int64
	budget  int64 // <= 0: unbounded
	evicted uint64
	sf      singleflight.Group
}

type tenantSchemas struct {
	version string
	roles   map[string]*cachedSchema
}

type cachedSchema struct {
	tenant, role string
	s            *gqlschema.Schema
	elem         *list.Element
}

func newSchemaCache(budget int64) *schemaCache {
	return &schemaCache{tenants: map[string]*tenantSchemas{}, docs: map[any]int{}, budget: budget}
}

// get returns the GraphQL schema that role sees in snapshot snap of tenant t, building it
// once per (tenant, version, role) while it stays cached.
func (c *schemaCache) get(t *control.Tenant, snap *control.Snapshot, role string) (*gqlschema.Schema, error) {
	if role != "" {
		// Roles the catalog does not know have PUBLIC's privileges: they share its schema,
		// so made-up role names in tokens cannot grow the cache.
		role = snap.Catalog.Privileges.For(role).Role
	}
	c.mu.Lock()
	var s *gqlschema.Schema
	if ts := c.tenants[t.Name]; ts != nil && ts.version == snap.Version {
		if e := ts.roles[role]; e != nil {
			c.lru.MoveToFront(e.elem)
			s = e.s
		}
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
			if ts != nil {
				c.removeLocked(ts)
			}
			ts = &tenantSchemas{version: snap.Version, roles: map[string]*cachedSchema{}}
			c.tenants[t.Name] = ts
		}
		if old := ts.roles[role]; old != nil {
			c.unlinkLocked(old)
		}
		e := &cachedSchema{tenant: t.Name, role: role, s: s}
		c.linkLocked(e)
		ts.roles[role] = e
		// The schema just built stays: the request that built it compiles against it.
		for c.budget > 0 && c.used > c.budget && c.lru.Len() > 1 {
			last := c.lru.Back().Value.(*cachedSchema)
			c.unlinkLocked(last)
			if lt := c.tenants[last.tenant]; lt != nil && lt.roles[last.role] == last {
				delete(lt.roles, last.role)
				if len(lt.roles) == 0 {
					delete(c.tenants, last.tenant)
				}
			}
			c.evicted++
		}
		return s, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*gqlschema.Schema), nil
}

// linkLocked puts e first in the LRU list and its bytes in the count (its document's once).
func (c *schemaCache) linkLocked(e *cachedSchema) {
	e.elem = c.lru.PushFront(e)
	own, doc := e.s.Footprint()
	c.used += own
	d := e.s.Document()
	if c.docs[d]++; c.docs[d] == 1 {
		c.used += doc
	}
}

// unlinkLocked takes e out of the LRU list and its bytes out of the count.
func (c *schemaCache) unlinkLocked(e *cachedSchema) {
	c.lru.Remove(e.elem)
	own, doc := e.s.Footprint()
	c.used -= own
	d := e.s.Document()
	if c.docs[d]--; c.docs[d] <= 0 {
		delete(c.docs, d)
		c.used -= doc
	}
}

// removeLocked unlinks every schema of ts.
func (c *schemaCache) removeLocked(ts *tenantSchemas) {
	for _, e := range ts.roles {
		c.unlinkLocked(e)
	}
}

// drop forgets tenant t's schemas (its catalog changed, or it is gone).
func (c *schemaCache) drop(t *control.Tenant) { c.forget(t.Name) }

func (c *schemaCache) forget(tenant string) {
	c.mu.Lock()
	if ts := c.tenants[tenant]; ts != nil {
		c.removeLocked(ts)
		delete(c.tenants, tenant)
	}
	c.mu.Unlock()
}

// holds reports whether any schema of tenant is cached.
func (c *schemaCache) holds(tenant string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tenants[tenant] != nil
}

// stats reports the schemas held, the bytes they are estimated to hold, and how many were
// dropped to stay under the budget.
func (c *schemaCache) stats() (schemas int, bytes int64, evicted uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len(), c.used, c.evicted
}
