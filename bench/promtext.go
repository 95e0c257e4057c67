package bench

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
)

// promSnapshot is one scrape of a Prometheus text exposition, reduced to what the benchmarks
// compare between two scrapes: every series summed over its label sets, and each histogram's
// cumulative bucket counts by upper bound (also summed over label sets).
type promSnapshot struct {
	sums    map[string]float64
	buckets map[string]map[float64]float64 // histogram name (without _bucket) → le → cumulative count
}

// has reports whether the scrape held series name.
func (p promSnapshot) has(name string) bool {
	_, ok := p.sums[name]
	return ok
}

// parsePromText reads the Prometheus text format (version 0.0.4): comments and blank lines are
// skipped, a sample is `name{labels} value [timestamp]`.
func parsePromText(b []byte) (promSnapshot, error) {
	p := promSnapshot{sums: map[string]float64{}, buckets: map[string]map[float64]float64{}}
	for n := 1; len(b) > 0; n++ {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		name, labels, rest, err := splitSample(line)
		if err != nil {
			return p, fmt.Errorf("metrics line %d: %w", n, err)
		}
		val := rest
		if i := bytes.IndexByte(rest, ' '); i >= 0 {
			val = rest[:i]
		}
		v, err := strconv.ParseFloat(string(val), 64)
		if err != nil {
			return p, fmt.Errorf("metrics line %d: value %q: %w", n, val, err)
		}
		p.sums[name] += v
		if h, ok := strings.CutSuffix(name, "_bucket"); ok {
			le, ok := labelValue(labels, "le")
			if !ok {
				continue
			}
			bound, err := strconv.ParseFloat(le, 64)
			if err != nil {
				return p, fmt.Errorf("metrics line %d: le %q: %w", n, le, err)
			}
			m := p.buckets[h]
			if m == nil {
				m = map[float64]float64{}
				p.buckets[h] = m
			}
			m[bound] += v
		}
	}
	return p, nil
}

// splitSample cuts a sample line into its name, the text between its braces and what follows.
func splitSample(line []byte) (name string, labels, rest []byte, err error) {
	i := bytes.IndexAny(line, "{ ")
	if i <= 0 {
		return "", nil, nil, fmt.Errorf("malformed sample %q", line)
	}
	name = string(line[:i])
	if line[i] == ' ' {
		return name, nil, bytes.TrimSpace(line[i:]), nil
	}
	quoted := false
	for j := i + 1; j < len(line); j++ {
		switch c := line[j]; {
		case quoted && c == '\\':
			j++
		case c == '"':
			quoted = !quoted
		case !quoted && c == '}':
			return name, line[i+1 : j], bytes.TrimSpace(line[j+1:]), nil
		}
	}
	return "", nil, nil, fmt.Errorf("unterminated labels in %q", line)
}

// labelValue finds label key in the text between a sample's braces (values unescaped only as
// far as le and the benchmarks' own labels need: no escapes in them).
func labelValue(labels []byte, key string) (string, bool) {
	for len(labels) > 0 {
		eq := bytes.IndexByte(labels, '=')
		if eq < 0 || eq+1 >= len(labels) || labels[eq+1] != '"' {
			return "", false
		}
		k := string(bytes.TrimSpace(labels[:eq]))
		v := labels[eq+2:]
		end := 0
		for end < len(v) && v[end] != '"' {
			if v[end] == '\\' {
				end++
			}
			end++
		}
		if end >= len(v) {
			return "", false
		}
		if k == key {
			return string(v[:end]), true
		}
		labels = bytes.TrimLeft(v[end+1:], ", ")
	}
	return "", false
}

// delta is after's value of series name minus before's.
func promDelta(before, after promSnapshot, name string) float64 {
	return after.sums[name] - before.sums[name]
}

// histogramQuantile estimates quantile q of the observations histogram name received between two
// scrapes, interpolating linearly inside the bucket it falls in (as PromQL's histogram_quantile
// does). ok is false when nothing was observed.
func histogramQuantile(before, after promSnapshot, name string, q float64) (v float64, ok bool) {
	a := after.buckets[name]
	bounds := make([]float64, 0, len(a))
	for le := range a {
		bounds = append(bounds, le)
	}
	slices.Sort(bounds)
	if len(bounds) == 0 {
		return 0, false
	}
	counts := make([]float64, len(bounds))
	for i, le := range bounds {
		counts[i] = a[le] - before.buckets[name][le]
	}
	total := counts[len(counts)-1]
	if total <= 0 {
		return 0, false
	}
	rank := q * total
	lower, below := 0.0, 0.0
	for i, le := range bounds {
		if counts[i] >= rank {
			if math.IsInf(le, 1) {
				return lower, true // beyond the last finite bound: its value is all that is known
			}
			if counts[i] == below {
				return le, true
			}
			return lower + (le-lower)*(rank-below)/(counts[i]-below), true
		}
		lower, below = le, counts[i]
	}
	return lower, true
}

// scrapeMetrics reads and parses target's /metrics.
func scrapeMetrics(target string) (promSnapshot, error) {
	code, body, err := fasthttp.GetTimeout(nil, target+"/metrics", 10*time.Second)
	if err != nil {
		return promSnapshot{}, err
	}
	if code != fasthttp.StatusOK {
		return promSnapshot{}, fmt.Errorf("GET %s/metrics: status %d", target, code)
	}
	if len(body) == 0 {
		return promSnapshot{}, errors.New("empty /metrics")
	}
	return parsePromText(body)
}
