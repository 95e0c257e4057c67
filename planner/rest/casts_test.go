package rest

import (
	"testing"

	"github.com/kapok-dev/kapok/planner/catalog"
)

func TestCastsResolveToKnownTypesOnly(t *testing.T) {
	cat := testCatalog()
	cat.Enums = append(cat.Enums, &catalog.Enum{Schema: testSchema, Name: "Mood"})
	cat.Domains = append(cat.Domains, &catalog.Domain{Schema: testSchema, Name: "email"})
	cat.Index()
	l := &lowering{cat: cat, schema: testSchema}
	for _, c := range []struct{ cast, want string }{
		{"", ""},
		{"text", "text"},
		{"INTEGER", "int4"},
		{"double  precision", "float8"},
		{"timestamp with time zone", "timestamptz"},
		{"Mood", `"rest_t_plan"."Mood"`},
		{"email", `"rest_t_plan"."email"`},
		{"tags", `"rest_t_plan"."tags"`},
	} {
		t.Run("a cast to "+c.cast+" is written "+c.want, func(t *testing.T) {
			got, err := l.castType(c.cast)
			if err != nil || got != c.want {
				t.Fatalf("got %q, %v", got, err)
			}
		})
	}
	for _, cast := range []string{"$$", "nosuchtype", "pg_authid", "text[]", `text"`, "mood"} {
		t.Run("a cast to "+cast+" is an unknown type", func(t *testing.T) {
			_, err := l.castType(cast)
			e, ok := err.(*Error)
			if !ok || e.Status != 400 || e.Code != "42704" || e.Message != `type "`+cast+`" does not exist` {
				t.Fatalf("got %v", err)
			}
		})
	}
}
