package bench

import (
	"strings"
	"testing"
)

func TestPercentileIsTheNearestRank(t *testing.T) {
	xs := []float64{5, 1, 4, 2, 3, 6, 7, 8, 9, 10}
	for _, tc := range []struct {
		q    float64
		want float64
	}{{0.5, 5}, {0.99, 10}, {1, 10}, {0.1, 1}} {
		if got := percentile(xs, tc.q); got != tc.want {
			t.Errorf("percentile(%v) = %v, want %v", tc.q, got, tc.want)
		}
	}
	if percentile(nil, 0.99) != 0 {
		t.Error("the percentile of nothing is not 0")
	}
	if xs[0] != 5 {
		t.Error("percentile sorted its argument")
	}
}

func TestTheCreationTableSaysWhichTargetsAreMissed(t *testing.T) {
	var b strings.Builder
	writeCreation(&b, &TenantCreation{
		Schema:   Creations{N: 30, P50: 40, P99: 80, Max: 90},
		Database: Creations{N: 10, P50: 300, P99: 700, Max: 700},
		Load:     &Side{RPS: 1200},
	})
	out := b.String()
	for _, want := range []string{"schema", "met", "missed: p99 700 ms ≥ 500ms", "1200"} {
		if !strings.Contains(out, want) {
			t.Errorf("the table lacks %q:\n%s", want, out)
		}
	}
}
