//go:build race

package proxy

// The race detector makes sync.Pool drop items at random, so allocation counts are
// only asserted without it.
func init() { restAllocsChecked = false }
