package bench

import (
	"strings"
	"testing"
)

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
