package statement

import "testing"

func TestRenumberRewritesPlaceholdersOnly(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`SELECT $1::int4 + $12::int8`, `SELECT "_k"."p1"::int4 + "_k"."p12"::int8`},
		{`SELECT '$1', "a$1", t."$2" FROM x WHERE y = $2::text`, `SELECT '$1', "a$1", t."$2" FROM x WHERE y = "_k"."p2"::text`},
		{`SELECT 'it''s $1' || $1::text`, `SELECT 'it''s $1' || "_k"."p1"::text`},
		{`SELECT E'\'$1' || $1::text`, `SELECT E'\'$1' || "_k"."p1"::text`},
		{`SELECT $q$ $1 $q$ || $1::text, $$ $2 $$`, `SELECT $q$ $1 $q$ || "_k"."p1"::text, $$ $2 $$`},
		{`SELECT "x""$1" FROM t`, `SELECT "x""$1" FROM t`},
	} {
		if got := renumber(c.in); got != c.want {
			t.Errorf("renumber(%s)\n got %s\nwant %s", c.in, got, c.want)
		}
	}
}

func TestTextArrayLiteral(t *testing.T) {
	got := string(AppendTextArray(nil, [][]byte{[]byte(`a"b`), nil, []byte(`c\d`), []byte("NULL"), {}}))
	if want := `{"a\"b",NULL,"c\\d","NULL",""}`; got != want {
		t.Fatalf("got %s want %s", got, want)
	}
}

func TestMultiplexSQLWrapsByResult(t *testing.T) {
	got, ok := Multiplex(`SELECT row_to_json(o) FROM (SELECT $1::int4 AS a) AS o`, 1, Array)
	want := `SELECT (SELECT coalesce('[' || string_agg("_r"."v"::text, ',') || ']', '[]') FROM (SELECT row_to_json(o) FROM (SELECT "_k"."p1"::int4 AS a) AS o) AS "_r"("v")) FROM unnest($1::text[]) WITH ORDINALITY AS "_k"("p1", "i") ORDER BY "_k"."i"`
	if !ok || got != want {
		t.Fatalf("got %s", got)
	}
	if _, ok := Multiplex(`UPDATE t SET a = $1::int4`, 1, Count); ok {
		t.Fatal("a command count was multiplexed")
	}
}
