package sqlgen

import "testing"

func TestColumnListsNameWhatTheStatementReads(t *testing.T) {
	cases := map[string]string{
		"\x00t0\x00 FROM r AS t0 WHERE t0.\"a\" = 1) AS t0 x t0.\"b\"":        `t0."a", t0."b" FROM r AS t0 WHERE t0."a" = 1) AS t0 x t0."b"`,
		"\x00t0\x00, x AS \"__order_0\" FROM r AS t0) AS t0 t0.\"__order_0\"": `x AS "__order_0" FROM r AS t0) AS t0 t0."__order_0"`,
		"\x00t0\x00 FROM r AS t0) AS t0 'it''s t0.\"no\"' t0.\"we\"\"ird\"":   `t0."we""ird" FROM r AS t0) AS t0 'it''s t0."no"' t0."we""ird"`,
		"\x00t0\x00 FROM r AS t0) AS t0 xt0.\"no\" rt0.\"no\" t0.\"yes\"":     `t0."yes" FROM r AS t0) AS t0 xt0."no" rt0."no" t0."yes"`,
	}
	for in, want := range cases {
		if got := columnLists(in); got != want {
			t.Errorf("columnLists(%q)\n got %s\nwant %s", in, got, want)
		}
	}
}
