package cache

import (
	"bytes"
	"errors"
	"sync"
	"time"

	"github.com/dgraph-io/ristretto/v2"
	"golang.org/x/sync/singleflight"
)

// Config sizes the cache. Zero values take the defaults noted per field.
type Config struct {
	// MaxCost bounds the sum of the entries' costs (compile gives each its cost, normally
	// its size in bytes; the key's length is added). Default 256 MiB.
	MaxCost int64
	// NumCounters is the number of TinyLFU counters, about ten times the number of entries
	// expected when full. Default MaxCost/100 (entries of about 1 KiB), at least 10,000.
	NumCounters int64
	// Metrics turns on ristretto's hit, miss and eviction counters (a few atomic adds per
	// operation, sharded). Without it the collector reports compilations and collisions only.
	Metrics bool
}

// Cache is a plan cache. It is safe for concurrent use.
type Cache[V any] struct {
	rc      *ristretto.Cache[[]byte, *entry[V]]
	sf      singleflight.Group
	metrics *metrics
	// life orders Close after the writes in progress: ristretto's Set, Del and Wait send
	// on a channel that its Close closes, and a tenant's plans may be dropped (Del) by a
	// catalog reload while the server shuts down.
	life   sync.RWMutex
	closed bool
}

type entry[V any] struct {
	key []byte // the full key, compared on every hit
	val V
}

// entryOverhead approximates an entry's own memory beyond the key and the caller's cost.
const entryOverhead = 64

// New starts a cache. Close stops its goroutines.
func New[V any](cfg Config) (*Cache[V], error) {
	return newCache[V](cfg, nil)
}

// newCache takes the key hash function so tests can force collisions.
func newCache[V any](cfg Config, keyToHash func([]byte) (uint64, uint64)) (*Cache[V], error) {
	if cfg.MaxCost <= 0 {
		cfg.MaxCost = 256 << 20
	}
	if cfg.NumCounters <= 0 {
		cfg.NumCounters = max(cfg.MaxCost/100, 10_000)
	}
	c := &Cache[V]{metrics: newMetrics()}
	rc, err := ristretto.NewCache(&ristretto.Config[[]byte, *entry[V]]{
		NumCounters: cfg.NumCounters,
		MaxCost:     cfg.MaxCost,
		BufferItems: 64,
		Metrics:     cfg.Metrics,
		KeyToHash:   keyToHash,
		// Costs are what compile says plus the key; ristretto's own per-item cost would
		// make small MaxCost values keep nothing.
		IgnoreInternalCost: true,
	})
	if err != nil {
		return nil, err
	}
	c.rc = rc
	c.metrics.rc = rc.Metrics
	return c, nil
}

// Get returns the value stored under key. It does not allocate, and does not retain key.
func (c *Cache[V]) Get(key []byte) (V, bool) {
	e, ok := c.rc.Get(key)
	if ok && bytes.Equal(e.key, key) {
		return e.val, true
	}
	if ok {
		c.metrics.collisions.Add(1)
	}
	var zero V
	return zero, false
}

// Set stores v under a copy of key. It is asynchronous: a Get right after it may miss (Wait
// makes it visible), and the admission policy may drop it; both only cost a recompile.
func (c *Cache[V]) Set(key []byte, v V, cost int64) bool {
	c.life.RLock()
	defer c.life.RUnlock()
	if c.closed {
		return false
	}
	k := bytes.Clone(key)
	return c.rc.Set(k, &entry[V]{key: k, val: v}, cost+int64(len(k))+entryOverhead)
}

// ErrPanicked is returned to every waiter when compile panicked (the panic is not re-raised).
var ErrPanicked = errors.New("cache: compile panicked")

// GetOrCompile returns the value under key, compiling and storing it on a miss. Concurrent
// misses on one key share a single compile; an error is returned to all of them and is not
// cached. hit reports whether the value came from the cache. key is not retained.
func (c *Cache[V]) GetOrCompile(key []byte, compile func() (v V, cost int64, err error)) (v V, hit bool, err error) {
	if v, ok := c.Get(key); ok {
		return v, true, nil
	}
	r, err, _ := c.sf.Do(string(key), func() (res any, err error) {
		// A flight that finished just before ours may have stored it already.
		if v, ok := c.Get(key); ok {
			return v, nil
		}
		start := time.Now()
		defer func() {
			if p := recover(); p != nil {
				err = ErrPanicked
			}
			c.metrics.observeCompile(time.Since(start), err)
		}()
		v, cost, err := compile()
		if err != nil {
			return nil, err
		}
		c.Set(key, v, cost)
		c.Wait() // later Gets see it; misses are rare, so the wait is cheap overall
		return v, nil
	})
	if err != nil {
		var zero V
		return zero, false, err
	}
	return r.(V), false, nil
}

// Del drops the entry under key, if any.
func (c *Cache[V]) Del(key []byte) {
	c.life.RLock()
	defer c.life.RUnlock()
	if !c.closed {
		c.rc.Del(key)
	}
}

// Wait blocks until every Set so far has been applied (or dropped).
func (c *Cache[V]) Wait() {
	c.life.RLock()
	defer c.life.RUnlock()
	if !c.closed {
		c.rc.Wait()
	}
}

// Clear drops every entry.
func (c *Cache[V]) Clear() {
	c.life.Lock()
	defer c.life.Unlock()
	if !c.closed {
		c.rc.Clear()
	}
}

// Close stops the cache's goroutines; Get then always misses and Set does nothing.
func (c *Cache[V]) Close() {
	c.life.Lock()
	defer c.life.Unlock()
	if !c.closed {
		c.closed = true
		c.rc.Close()
	}
}
