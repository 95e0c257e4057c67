package proxy

import (
	"bytes"
	"encoding/binary"
	"sync"

	"github.com/cespare/xxhash/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kapok-dev/kapok/cache"
	"github.com/kapok-dev/kapok/planner"
)

// planCache is the process-wide plan cache of every API's plans. Keys are tenant \0 schema
// version \0 role \0 shape hash, then the API's own parts (REST and document keys carry a
// marker, so no two APIs meet under one key); the cache keeps the full key with each plan
// and compares it on every hit, so a hash collision can never hand a tenant another
// tenant's plan.
type planCache struct {
	c *cache.Cache[planner.Executable]
	// keys lists the keys compiled per tenant, so that a tenant that hibernates, changes
	// version or is deleted frees its plans (and the catalog they hold) at once, not when
	// the cache gets round to evicting them.
	mu   sync.Mutex
	keys map[string][]string
}

func newPlanCache(reg *prometheus.Registry) (*planCache, error) {
	c, err := cache.New[planner.Executable](cache.Config{MaxCost: 256 << 20, Metrics: true})
	if err != nil {
		return nil, err
	}
	reg.MustRegister(c)
	return &planCache{c: c, keys: map[string][]string{}}, nil
}

// shapeHash hashes length-prefixed parts of a request shape (query text, operationName…).
func shapeHash(d *xxhash.Digest, parts ...[]byte) uint64 {
	d.Reset()
	var l [8]byte
	for _, p := range parts {
		binary.LittleEndian.PutUint64(l[:], uint64(len(p)))
		_, _ = d.Write(l[:])
		_, _ = d.Write(p)
	}
	return d.Sum64()
}

// get returns the plan under key, compiling it once under concurrency on a miss.
func (pc *planCache) get(key []byte, compile func() (planner.Executable, error)) (planner.Executable, error) {
	p, _, err := pc.c.GetOrCompile(key, func() (planner.Executable, int64, error) {
		p, err := compile()
		if err != nil {
			return nil, 0, err
		}
		if i := bytes.IndexByte(key, 0); i > 0 {
			pc.mu.Lock()
			keys := pc.keys[string(key[:i])]
			if len(keys) >= maxListedPlans {
				// A tenant of endless ad-hoc shapes: its oldest plans are left to the
				// cache's own eviction rather than listed without bound.
				keys = append(keys[:0], keys[len(keys)/2:]...)
			}
			pc.keys[string(key[:i])] = append(keys, string(key))
			pc.mu.Unlock()
		}
		return p, p.Size(), nil
	})
	return p, err
}

// maxListedPlans bounds the keys listed per tenant.
const maxListedPlans = 1024

// forget drops every plan compiled for tenant (all but the oldest of a tenant that compiled
// more than maxListedPlans).
func (pc *planCache) forget(tenant string) {
	pc.mu.Lock()
	keys := pc.keys[tenant]
	delete(pc.keys, tenant)
	pc.mu.Unlock()
	for _, k := range keys {
		pc.c.Del([]byte(k))
	}
}

func (pc *planCache) close() { pc.c.Close() }
