package sqlgen_test

import (
	"fmt"
	"strings"

	"github.com/kapok-dev/kapok/planner/ir"
	"github.com/kapok-dev/kapok/planner/sqlgen"
)

// casesSchema is the schema testdata/fixture.sql is loaded into.
const casesSchema = "sqlgen_t_cases"

var (
	authorsT     = ir.Relation{Schema: casesSchema, Name: "authors"}
	articlesT    = ir.Relation{Schema: casesSchema, Name: "articles"}
	tagsT        = ir.Relation{Schema: casesSchema, Name: "tags"}
	articleTagsT = ir.Relation{Schema: casesSchema, Name: "article_tags"}
)

// sqlCase is one IR tree and how it is built; its expected SQL lives in
// testdata/<topic>.sql under its name.
type sqlCase struct {
	topic, name string
	build       func() (sqlgen.Statement, error)
}

func col(name string) *ir.Column           { return &ir.Column{Name: name} }
func param(slot int, typ string) *ir.Param { return &ir.Param{Slot: slot, Type: typ} }
func field(name string, v ir.Value) ir.Field {
	return ir.Field{Name: name, Value: v}
}
func object(fields ...ir.Field) *ir.Object { return &ir.Object{Fields: fields} }
func columns(names ...string) *ir.Object {
	o := &ir.Object{}
	for _, n := range names {
		o.Fields = append(o.Fields, field(n, col(n)))
	}
	return o
}
func eq(column string, p *ir.Param) *ir.Compare {
	return &ir.Compare{Left: col(column), Op: ir.OpEq, Right: p}
}
func asc(column string) ir.OrderItem { return ir.OrderItem{Column: col(column)} }
func desc(column string) ir.OrderItem {
	return ir.OrderItem{Column: col(column), Descending: true, Nulls: ir.NullsLast}
}

// byAuthor links articles to their author row; ofArticle, an author to the article row.
var (
	byAuthor  = &ir.Link{Columns: []string{"id"}, RemoteColumns: []string{"author_id"}}
	ofArticle = &ir.Link{Columns: []string{"author_id"}, RemoteColumns: []string{"id"}}
	tagsOf    = &ir.Link{Columns: []string{"id"}, RemoteColumns: []string{"id"}, Through: &ir.Junction{
		Relation: articleTagsT, Columns: []string{"article_id"}, RemoteColumns: []string{"tag_id"}}}
)

func query(roots ...ir.Root) func() (sqlgen.Statement, error) {
	return func() (sqlgen.Statement, error) { return sqlgen.Build(&ir.Query{Roots: roots}) }
}

func root(name string, sel *ir.Select) ir.Root {
	return ir.Root{Name: name, Value: &ir.Nested{Select: sel}}
}

func bare(sel *ir.Select, rows bool) func() (sqlgen.Statement, error) {
	return func() (sqlgen.Statement, error) {
		return sqlgen.Build(&ir.Query{Bare: true, Rows: rows, Roots: []ir.Root{root("", sel)}})
	}
}

func mutation(m *ir.Mutation) func() (sqlgen.Statement, error) {
	return func() (sqlgen.Statement, error) { return sqlgen.BuildMutation(m) }
}

func restRead(r *ir.RESTRead) func() (sqlgen.Statement, error) {
	return func() (sqlgen.Statement, error) { return sqlgen.BuildRESTRead(r) }
}

func restWrite(w *ir.RESTWrite) func() (sqlgen.Statement, error) {
	return func() (sqlgen.Statement, error) { return sqlgen.BuildRESTWrite(w) }
}

func restCall(c *ir.RESTCall) func() (sqlgen.Statement, error) {
	return func() (sqlgen.Statement, error) { return sqlgen.BuildRESTCall(c) }
}

// returning is a mutation response: affected_rows and the rows as objects of cols.
func returning(cols ...string) ir.Value {
	return &ir.Nest{Object: object(
		field("affected_rows", &ir.AffectedRows{}),
		field("returning", &ir.Nested{Select: &ir.Select{From: ir.MutatedRows, Shape: ir.ShapeArray, Output: columns(cols...)}}),
	)}
}

var sqlCases = []sqlCase{
	// select: root fields, nesting, order, pages and output shapes.
	{"select", "a bare root array numbers parameters in order of first use", bare(&ir.Select{
		From: authorsT, Shape: ir.ShapeArray, Output: columns("id"),
		Where: &ir.Or{Exprs: []ir.Expr{eq("id", param(7, "int4")), &ir.Compare{Left: col("id"), Op: ir.OpGt, Right: param(7, "int4")}}},
		Limit: param(2, "int4"),
	}, false)},
	{"select", "root fields make one object, each root a sub-select", query(
		root("authors", &ir.Select{From: authorsT, Shape: ir.ShapeArray, Output: columns("id", "name"), OrderBy: []ir.OrderItem{asc("id")}}),
		root("authors_by_pk", &ir.Select{From: authorsT, Shape: ir.ShapeObject, Output: columns("name"), Where: eq("id", param(0, "int4"))}),
		ir.Root{Name: "__typename", Value: &ir.Literal{Param: *param(1, "text")}},
	)},
	{"select", "an array relationship is limited and ordered per parent row, an object relationship is one row", query(
		root("authors", &ir.Select{From: authorsT, Shape: ir.ShapeArray, OrderBy: []ir.OrderItem{asc("id")}, Output: object(
			field("name", col("name")),
			field("articles", &ir.Nested{Select: &ir.Select{From: articlesT, Shape: ir.ShapeArray, Link: byAuthor,
				OrderBy: []ir.OrderItem{desc("rating"), asc("id")}, Limit: param(0, "int4"),
				Output: object(
					field("title", col("title")),
					field("author", &ir.Nested{Select: &ir.Select{From: authorsT, Shape: ir.ShapeObject, Link: ofArticle, Output: columns("email")}}),
				)}}),
		)}),
	)},
	{"select", "a many-to-many link goes through the junction", query(
		root("a", &ir.Select{From: articlesT, Shape: ir.ShapeObject, Where: eq("id", param(0, "int4")), Output: object(
			field("tags", &ir.Nested{Select: &ir.Select{From: tagsT, Shape: ir.ShapeArray, Link: tagsOf, Output: columns("name")}}),
		)}),
	)},
	{"select", "spread keys of one to-one relation share one lateral join", bare(&ir.Select{From: articlesT, Shape: ir.ShapeArray, Output: func() *ir.Object {
		author := &ir.Select{From: authorsT, Shape: ir.ShapeObject, Link: ofArticle, Output: columns("name", "email")}
		return object(field("title", col("title")), field("name", &ir.Spread{Select: author, Key: "name"}), field("email", &ir.Spread{Select: author, Key: "email"}))
	}()}, false)},
	{"select", "JSON path keys are parameters and casts are checked type names", bare(&ir.Select{From: authorsT, Shape: ir.ShapeArray, Output: object(
		field("city", &ir.Column{Name: "profile", Path: []ir.PathStep{{Key: param(0, "text")}}, PathText: true}),
		field("first_lang", &ir.Column{Name: "profile", Path: []ir.PathStep{{Key: param(1, "text")}, {Index: 0}}}),
		field("id_text", &ir.Column{Name: "id", Cast: "text"}),
	)}, false)},
	{"select", "an output key longer than a column name is built with json_build_object", bare(&ir.Select{From: authorsT, Shape: ir.ShapeArray,
		OrderBy: []ir.OrderItem{asc("id")},
		Output:  object(field(strings.Repeat("k", 64), col("name")), field("id", col("id")))}, false)},
	{"select", "distinct on puts its columns first in the order and keeps the first row of each", bare(&ir.Select{From: articlesT, Shape: ir.ShapeArray,
		DistinctOn: []string{"author_id"}, OrderBy: []ir.OrderItem{desc("rating")}, Output: columns("author_id", "title")}, false)},
	{"select", "order by an object relationship column, a JSON path and an array aggregate", bare(&ir.Select{From: articlesT, Shape: ir.ShapeArray,
		OrderBy: []ir.OrderItem{
			{Via: &ir.OrderVia{Relation: authorsT, Link: ofArticle, Column: col("name")}, Nulls: ir.NullsFirst},
			{Via: &ir.OrderVia{Relation: articleTagsT, Link: &ir.Link{Columns: []string{"id"}, RemoteColumns: []string{"article_id"}}, Agg: &ir.Agg{Func: ir.AggCount}}, Descending: true},
			{Column: &ir.Column{Name: "title", Cast: "text"}},
		},
		Limit: param(0, "int4"), Offset: param(1, "int4"), Output: columns("id")}, false)},
	{"select", "a root with rows allowed returns one object per row for the executor", bare(&ir.Select{From: authorsT, Shape: ir.ShapeArray,
		OrderBy: []ir.OrderItem{asc("id")}, Output: columns("id", "name")}, true)},
	{"select", "a root object with rows allowed returns its row or none", bare(&ir.Select{From: authorsT, Shape: ir.ShapeObject,
		Where: eq("id", param(0, "int4")), Output: columns("id", "name")}, true)},

	// aggregate: one scan for the aggregates and the nodes.
	{"aggregate", "aggregates and nodes come from one scan of the ordered, limited rows", query(
		root("articles_aggregate", &ir.Select{From: articlesT, Shape: ir.ShapeAggregate, OrderBy: []ir.OrderItem{asc("id")}, Limit: param(0, "int4"), Output: object(
			field("aggregate", &ir.Nest{Object: object(
				field("count", &ir.Agg{Func: ir.AggCount}),
				field("sum", &ir.Nest{Object: object(field("rating", &ir.Agg{Func: ir.AggSum, Columns: []string{"rating"}}))}),
				field("avg", &ir.Nest{Object: object(field("rating", &ir.Agg{Func: ir.AggAvg, Columns: []string{"rating"}}))}),
			)}),
			field("nodes", &ir.Rows{Object: columns("id", "title")}),
		)}),
	)},
	{"aggregate", "an aggregate over filtered rows reads the table directly", query(
		root("articles_aggregate", &ir.Select{From: articlesT, Shape: ir.ShapeAggregate, Where: eq("published", param(0, "bool")), Output: object(
			field("count", &ir.Agg{Func: ir.AggCount, Columns: []string{"author_id"}, Distinct: true}),
			field("both", &ir.Agg{Func: ir.AggCount, Columns: []string{"author_id", "rating"}}),
			field("max", &ir.Agg{Func: ir.AggMax, Columns: []string{"rating"}, Cast: "text"}),
		)}),
	)},
	{"aggregate", "a nested aggregate is a scalar sub-select per parent row", query(
		root("authors", &ir.Select{From: authorsT, Shape: ir.ShapeArray, Output: object(
			field("name", col("name")),
			field("articles_aggregate", &ir.Nested{Select: &ir.Select{From: articlesT, Shape: ir.ShapeAggregate, Link: byAuthor,
				Output: object(field("aggregate", &ir.Nest{Object: object(field("count", &ir.Agg{Func: ir.AggCount}))}))}}),
		)}),
	)},

	{"aggregate", "an aggregate object wider than one concat call nests the calls", query(
		root("articles_aggregate", &ir.Select{From: articlesT, Shape: ir.ShapeAggregate, Output: func() *ir.Object {
			o := &ir.Object{}
			for i := range 60 {
				o.Fields = append(o.Fields, field(fmt.Sprintf("max_%d", i), &ir.Agg{Func: ir.AggMax, Columns: []string{"rating"}}))
			}
			return o
		}()}),
	)},

	// where: filters are parameters, groups are parenthesised.
	{"where", "AND, OR and NOT nest as parenthesised groups", bare(&ir.Select{From: articlesT, Shape: ir.ShapeArray, Output: columns("id"),
		Where: &ir.And{Exprs: []ir.Expr{
			&ir.Or{Exprs: []ir.Expr{eq("title", param(0, "text")), &ir.Compare{Left: col("rating"), Op: ir.OpGte, Right: param(1, "int4")}}},
			&ir.Not{Expr: &ir.And{Exprs: []ir.Expr{&ir.IsNull{Expr: col("author_id")}, eq("published", param(2, "bool"))}}},
			&ir.Not{Expr: &ir.Or{}},
		}}}, false)},
	{"where", "a relationship filter is EXISTS over the linked rows", bare(&ir.Select{From: authorsT, Shape: ir.ShapeArray, Output: columns("name"),
		Where: &ir.Exists{Relation: articlesT, Link: byAuthor, Where: &ir.Or{Exprs: []ir.Expr{
			&ir.Compare{Left: col("title"), Op: ir.OpILike, Right: param(0, "text")},
			&ir.Exists{Relation: articleTagsT, Link: &ir.Link{Columns: []string{"id"}, RemoteColumns: []string{"article_id"}}, Where: eq("tag_id", param(1, "int4"))},
		}}}}, false)},
	{"where", "list, null, JSON and text-search operators", bare(&ir.Select{From: authorsT, Shape: ir.ShapeArray, Output: columns("id"),
		Where: &ir.And{Exprs: []ir.Expr{
			&ir.Compare{Left: col("id"), Op: ir.OpEqAny, Right: param(0, "int4[]")},
			&ir.Compare{Left: col("name"), Op: ir.OpNeqAll, Right: &ir.Array{Items: []ir.Expr{param(1, "text"), param(2, "text")}, Type: "text[]"}},
			&ir.IsNull{Expr: col("email"), Negate: true},
			&ir.Compare{Left: col("profile"), Op: ir.OpContains, Right: param(3, "jsonb")},
			&ir.Compare{Left: col("profile"), Op: ir.OpHasKey, Right: param(4, "text")},
			&ir.Compare{Left: &ir.Func{Name: "to_tsvector", Args: []ir.Expr{col("name")}}, Op: ir.OpTextSearch, Right: &ir.Func{Name: "plainto_tsquery", Args: []ir.Expr{param(5, "text")}}},
		}}}, false)},
	{"where", "an aggregate filter over related rows is a scalar sub-select", bare(&ir.Select{From: authorsT, Shape: ir.ShapeArray, Output: columns("name"),
		Where: &ir.Compare{Left: &ir.Related{Relation: articlesT, Link: byAuthor, Where: eq("published", param(0, "bool")), Agg: &ir.Agg{Func: ir.AggCount}},
			Op: ir.OpGt, Right: param(1, "int8")}}, false)},

	// mutation: data-modifying CTEs read back through "m".
	{"mutation", "insert values with on conflict returns affected rows and the rows", mutation(&ir.Mutation{Op: ir.MutInsert, Table: tagsT,
		Columns: []string{"id", "name"}, Values: [][]ir.Expr{{param(0, "int4"), param(1, "text")}, {param(2, "int4"), nil}},
		OnConflict: &ir.OnConflict{Constraint: "tags_name_key", UpdateColumns: []string{"name"}, Where: eq("id", param(3, "int4"))},
		Response:   returning("id", "name")})},
	{"mutation", "insert rows of a json parameter", mutation(&ir.Mutation{Op: ir.MutInsert, Table: tagsT,
		Rows: param(0, "json"), Columns: []string{"id", "name"}, Response: returning("id")})},
	{"mutation", "nested insert steps see each other's rows", mutation(&ir.Mutation{Op: ir.MutInsert, Table: authorsT,
		Steps: []*ir.InsertStep{
			{Name: "i0", Table: authorsT, Columns: []string{"id", "name"}, Values: [][]ir.Expr{{param(0, "int4"), param(1, "text")}}},
			{Name: "i1", Table: articlesT, Columns: []string{"id", "author_id", "title"}, Values: [][]ir.Expr{{param(2, "int4"), &ir.RowRef{Step: "i0", Column: "id"}, param(3, "text")}}},
		},
		Result: []string{"i0"},
		Response: &ir.Nest{Object: object(
			field("affected_rows", &ir.AffectedRows{}),
			field("returning", &ir.Nested{Select: &ir.Select{From: ir.MutatedRows, Shape: ir.ShapeArray, Output: object(
				field("name", col("name")),
				field("articles", &ir.Nested{Select: &ir.Select{From: articlesT, Shape: ir.ShapeArray, Link: byAuthor, Output: columns("title")}}),
			)}}),
		)},
	})},
	{"mutation", "update sets expressions over the old row", mutation(&ir.Mutation{Op: ir.MutUpdate, Table: articlesT,
		Set: []ir.Assignment{
			{Column: "rating", Value: &ir.Compare{Left: col("rating"), Op: ir.OpAdd, Right: param(0, "int4")}},
			{Column: "title", Value: param(1, "text")},
		},
		Where:    &ir.And{Exprs: []ir.Expr{eq("author_id", param(2, "int4")), &ir.Compare{Left: col("rating"), Op: ir.OpLt, Right: param(3, "int4")}}},
		Response: returning("id", "rating")})},
	{"mutation", "delete by primary key answers the row or null", mutation(&ir.Mutation{Op: ir.MutDelete, Table: articleTagsT,
		Where:    &ir.And{Exprs: []ir.Expr{eq("article_id", param(0, "int4")), eq("tag_id", param(1, "int4"))}},
		Response: &ir.Nested{Select: &ir.Select{From: ir.MutatedRows, Shape: ir.ShapeObject, Output: columns("article_id", "tag_id")}}})},

	// rest: PostgREST statements and their envelopes `<rows>,<total>,<body>`.
	{"rest", "a read returns one object per row for the executor's envelope", restRead(&ir.RESTRead{Select: &ir.Select{From: articlesT, Shape: ir.ShapeArray,
		Where: eq("author_id", param(0, "int4")), OrderBy: []ir.OrderItem{desc("id")}, Limit: param(1, "int8"),
		Output: object(field("title", col("title")), field("author", &ir.Nested{Select: &ir.Select{From: authorsT, Shape: ir.ShapeObject, Link: ofArticle, Output: columns("name")}}))}})},
	{"rest", "a read with the exact count builds the envelope with its total", restRead(&ir.RESTRead{Total: true, Select: &ir.Select{From: articlesT, Shape: ir.ShapeArray,
		Where: &ir.Compare{Left: col("title"), Op: ir.OpLike, Right: param(0, "text")}, OrderBy: []ir.OrderItem{asc("id")}, Limit: param(1, "int8"), Offset: param(2, "int8"),
		Output: columns("id", "title")}})},
	{"rest", "a CSV read writes the header and one quoted line per row", restRead(&ir.RESTRead{CSV: true, Select: &ir.Select{From: authorsT, Shape: ir.ShapeArray,
		OrderBy: []ir.OrderItem{asc("id")}, Output: columns("id", "name", "email")}})},
	{"rest", "a grouped read outputs one object per group", restRead(&ir.RESTRead{Grouped: true, Select: &ir.Select{From: articlesT, Shape: ir.ShapeArray,
		OrderBy: []ir.OrderItem{desc("author_id")}, Output: object(field("author_id", col("author_id")), field("total", &ir.Agg{Func: ir.AggSum, Columns: []string{"rating"}}), field("count", &ir.Agg{Func: ir.AggCount}))}})},
	{"rest", "a grouped read with the total counts the groups", restRead(&ir.RESTRead{Grouped: true, Total: true, Select: &ir.Select{From: articlesT, Shape: ir.ShapeArray,
		Output: object(field("published", col("published")), field("count", &ir.Agg{Func: ir.AggCount}))}})},
	{"rest", "an insert returning the rows of a json body", restWrite(&ir.RESTWrite{Op: ir.MutInsert, Table: tagsT, Columns: []string{"id", "name"}, Body: param(0, "json"),
		OnConflict: []string{"id"}, Returning: &ir.Select{From: ir.MutatedRows, Shape: ir.ShapeArray, Output: columns("id", "name")}})},
	{"rest", "an insert with missing=default fills absent keys with their defaults", restWrite(&ir.RESTWrite{Op: ir.MutInsert, Table: articlesT, Columns: []string{"id", "title", "published"},
		Body: param(0, "json"), MissingDefault: true, Defaults: []string{"", "", "false"}})},
	{"rest", "an update without a representation returns only the count", restWrite(&ir.RESTWrite{Op: ir.MutUpdate, Table: articlesT, Columns: []string{"title"}, Body: param(0, "json"),
		Where: eq("id", param(1, "int4"))})},
	{"rest", "a singular delete fails unless exactly one row went", restWrite(&ir.RESTWrite{Op: ir.MutDelete, Table: articleTagsT, Where: eq("article_id", param(0, "int4")), Singular: true,
		Returning: &ir.Select{From: ir.MutatedRows, Shape: ir.ShapeArray, Output: columns("tag_id")}})},
	{"rest", "a set-returning call reads its rows through the envelope", restCall(&ir.RESTCall{Function: ir.Relation{Schema: casesSchema, Name: "top_articles"},
		Args: []ir.NamedArg{{Name: "min_rating", Value: param(0, "int4")}}, Set: true, Composite: true, Total: true,
		Rows: &ir.Select{From: ir.CallRows, Shape: ir.ShapeArray, OrderBy: []ir.OrderItem{asc("id")}, Output: columns("id", "title")}})},
	{"rest", "a scalar call's body is its value", restCall(&ir.RESTCall{Function: ir.Relation{Schema: casesSchema, Name: "article_count"}})},
}
