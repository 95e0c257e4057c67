package rest

import (
	"testing"

	"github.com/kapok-dev/kapok/planner/catalog"
)

// A read of plain tables is marked RoleOnly; a read that reaches a row-secured table or a
// view anywhere, a call and a write are not.
func TestReadsOfPlainTablesAreRoleOnly(t *testing.T) {
	cat := testCatalog()
	cat.Table(testSchema, "tags").RowSecurity = true
	view := &catalog.Table{Schema: testSchema, Name: "author_names", Kind: catalog.KindView,
		Columns: []*catalog.Column{{Name: "name", TypeName: "text", TypeSchema: "pg_catalog"}}, PrimaryKey: []string{}}
	cat.Tables = append(cat.Tables, view)
	cat.Index()
	for _, c := range []struct {
		method, path, query, body string
		want                      bool
	}{
		{"GET", "/authors", "select=id,name&id=gt.1&order=name.desc&limit=5", "", true},
		{"GET", "/articles", "select=title,author:authors!articles_author_id_fkey(name,profiles(bio))&tsv=fts.cat&tags=cs.{a}", "", true},
		{"GET", "/authors", "select=id,articles!articles_author_id_fkey!inner(id)&articles.title=like.*Go*", "", true},
		{"GET", "/articles", "select=author_id,id.count()", "", true},
		{"HEAD", "/authors", "", "", true},
		{"GET", "/tags", "select=id", "", false},
		{"GET", "/articles", "select=title,tags(name)", "", false},
		{"GET", "/article_tags", "select=article_id,tags(name)", "", false},
		{"GET", "/author_names", "", "", false},
		{"GET", "/rpc/by_author", "author=1", "", false},
		{"POST", "/authors", "", `{"id":9,"name":"Di"}`, false},
		{"PATCH", "/authors", "id=eq.1", `{"name":"Ann"}`, false},
		{"DELETE", "/authors", "id=eq.1", "", false},
	} {
		req, err := ParseRequest(c.method, c.path, []byte(c.query), hdrs{})
		if err != nil {
			t.Fatalf("%s %s?%s: %v", c.method, c.path, c.query, err)
		}
		st, err := Compile(cat, req, []byte(c.body))
		if err != nil {
			t.Fatalf("%s %s?%s: %v", c.method, c.path, c.query, err)
		}
		if st.RoleOnly != c.want {
			t.Errorf("%s %s?%s: RoleOnly = %v, want %v", c.method, c.path, c.query, st.RoleOnly, c.want)
		}
	}
}
