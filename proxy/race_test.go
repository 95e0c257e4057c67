//go:build race

package proxy

// raceEnabled: the race detector makes sync.Pool drop items at random, so allocation
// budgets are asserted only in runs without it (make test runs them separately).
const raceEnabled = true
