package proxy

import (
	"encoding/binary"

	"github.com/cespare/xxhash/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kapok-dev/kapok/cache"
	"github.com/kapok-dev/kapok/planner"
)

// planCache is the process-wide plan cache. Keys are tenant \0 schema version \0 role \0
// shape hash [\0 v \0 name=value …]; the cache keeps the full key with each plan and
// compares it on every hit, so a hash collision can never hand a tenant another tenant's plan.
type planCache struct {
	c *cache.Cache[*cachedPlan]
}

// cachedPlan is one entry of the shared cache: a GraphQL plan or a REST statement (REST
// keys carry a marker after the shape hash, so the two never meet under one key).
type cachedPlan struct {
	gql  *planner.Plan
	rest *restPlan
}

func newPlanCache(reg *prometheus.Registry) (*planCache, error) {
	c, err := cache.New[*cachedPlan](cache.Config{MaxCost: 256 << 20, Metrics: true})
	if err != nil {
		return nil, err
	}
	reg.MustRegister(c)
	return &planCache{c: c}, nil
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
func (pc *planCache) get(key []byte, compile func() (*planner.Plan, error)) (*planner.Plan, error) {
	p, _, err := pc.c.GetOrCompile(key, func() (*cachedPlan, int64, error) {
		p, err := compile()
		if err != nil {
			return nil, 0, err
		}
		return &cachedPlan{gql: p}, planCost(p), nil
	})
	if err != nil {
		return nil, err
	}
	if p.gql == nil {
		return nil, errPlanKind
	}
	return p.gql, nil
}

func planCost(p *planner.Plan) int64 {
	n := int64(256 + len(p.Data))
	for _, s := range p.Statements {
		n += int64(len(s.SQL) + 32*len(s.Params))
	}
	return n
}

func (pc *planCache) close() { pc.c.Close() }
