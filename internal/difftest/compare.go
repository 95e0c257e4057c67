package difftest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"sort"
	"strings"
	"time"
)

// Decode parses a JSON answer keeping numbers exact.
func Decode(b []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

// Diff returns "" when got (decoded JSON) is the oracle's want, else where they first differ.
func Diff(want, got any) string { return diff("$", want, got) }

func diff(path string, want, got any) string {
	switch w := want.(type) {
	case nil:
		if got != nil {
			return fmt.Sprintf("%s: want null, got %s", path, show(got))
		}
		return ""
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return fmt.Sprintf("%s: want an object, got %s", path, show(got))
		}
		var keys []string
		for k := range w {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			gv, ok := g[k]
			if !ok {
				return fmt.Sprintf("%s: key %q missing", path, k)
			}
			if d := diff(path+"."+k, w[k], gv); d != "" {
				return d
			}
		}
		for k := range g {
			if _, ok := w[k]; !ok {
				return fmt.Sprintf("%s: unexpected key %q", path, k)
			}
		}
		return ""
	case []any:
		g, ok := got.([]any)
		if !ok {
			return fmt.Sprintf("%s: want an array, got %s", path, show(got))
		}
		for i := 0; i < len(w) && i < len(g); i++ {
			if d := diff(fmt.Sprintf("%s[%d]", path, i), w[i], g[i]); d != "" {
				return d
			}
		}
		if len(w) != len(g) {
			return fmt.Sprintf("%s: want %d elements, got %d", path, len(w), len(g))
		}
		return ""
	case Unordered:
		return diffUnordered(path, w, got)
	case int64, *big.Rat, Approx:
		n, ok := got.(json.Number)
		if !ok {
			return fmt.Sprintf("%s: want number %s, got %s", path, show(want), show(got))
		}
		r, ok := new(big.Rat).SetString(string(n))
		if !ok {
			return fmt.Sprintf("%s: bad number %s", path, n)
		}
		if a, isApprox := want.(Approx); isApprox {
			d := new(big.Rat).Sub(r, a.R)
			d.Abs(d)
			tol := new(big.Rat).Abs(a.R)
			if tol.Cmp(big.NewRat(1, 1)) < 0 {
				tol.SetInt64(1)
			}
			tol.Mul(tol, big.NewRat(1, 1_000_000_000))
			if d.Cmp(tol) > 0 {
				return fmt.Sprintf("%s: want about %s, got %s", path, show(want), n)
			}
			return ""
		}
		if r.Cmp(rat(want)) != 0 {
			return fmt.Sprintf("%s: want %s, got %s", path, show(want), n)
		}
		return ""
	case time.Time:
		s, ok := got.(string)
		if !ok {
			return fmt.Sprintf("%s: want timestamp %s, got %s", path, show(want), show(got))
		}
		ts, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return fmt.Sprintf("%s: want timestamp %s, got %q", path, show(want), s)
		}
		if !ts.Equal(w) {
			return fmt.Sprintf("%s: want %s, got %s", path, show(want), s)
		}
		// A timestamp the oracle put in a zone (Prefer: timezone) must carry its offset.
		if _, wo := w.Zone(); w.Location() != time.UTC {
			if _, gotOff := ts.Zone(); gotOff != wo {
				return fmt.Sprintf("%s: want %s (offset %+ds), got %s", path, w.Format(time.RFC3339), wo, s)
			}
		}
		return ""
	case Date:
		if s, ok := got.(string); !ok || s != string(w) {
			return fmt.Sprintf("%s: want %s, got %s", path, show(want), show(got))
		}
		return ""
	default:
		if want != got {
			return fmt.Sprintf("%s: want %s, got %s", path, show(want), show(got))
		}
		return ""
	}
}

// Show writes an oracle answer (or a decoded one) as JSON.
func Show(v any) string { return show(v) }

func show(v any) string {
	b, err := json.Marshal(plain(v))
	if err != nil {
		return fmt.Sprint(v)
	}
	s := string(b)
	if len(s) > 1500 {
		s = s[:1500] + "…"
	}
	return s
}

// plain turns oracle values into what encoding/json writes as PostgreSQL would.
func plain(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = plain(e)
		}
		return m
	case []any:
		l := make([]any, len(x))
		for i, e := range x {
			l[i] = plain(e)
		}
		return l
	case Unordered:
		return plain([]any(x))
	case *big.Rat:
		return json.Number(strings.TrimRight(strings.TrimRight(x.FloatString(6), "0"), "."))
	case Approx:
		return json.Number(x.R.FloatString(6))
	case time.Time:
		return x.Format(time.RFC3339)
	}
	return v
}
