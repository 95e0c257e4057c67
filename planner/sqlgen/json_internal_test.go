package sqlgen

import (
	"context"
	"testing"

	"github.com/kapok-dev/kapok/internal/testenv"
	"github.com/kapok-dev/kapok/planner/ir"
)

// TestJSONStringMatchesPostgres checks that a key concatObject writes reads the same as
// the one row_to_json writes for a column of that name.
func TestJSONStringMatchesPostgres(t *testing.T) {
	conn := testenv.Conn(t)
	for _, key := range []string{"plain", `quo"te`, `back\slash`, "line\nbreak", "tab\there", "bell\x07", "\x1f", "é ünï", "a'b", "/slash"} {
		var got string
		sql := "SELECT row_to_json(x)::text FROM (SELECT 1 AS " + ir.QuoteIdent(key) + ") AS x"
		if err := conn.QueryRow(context.Background(), sql).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if want := "{" + jsonString(key) + ":1}"; got != want {
			t.Errorf("key %q: Postgres writes %s, concatObject %s", key, got, want)
		}
	}
}
