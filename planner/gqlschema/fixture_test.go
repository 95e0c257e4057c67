package gqlschema

import "github.com/kapok-dev/kapok/planner/catalog"

// col builds a catalog column; opts: "notnull", "default", "array", "enum",
// "generated", "identity", "ro" (view column that cannot be written).
func col(pos int, name, typ, typeName string, opts ...string) *catalog.Column {
	c := &catalog.Column{Name: name, Position: pos, Type: typ, TypeName: typeName, TypeSchema: "pg_catalog",
		Nullable: true, Insertable: true, Updatable: true}
	for _, o := range opts {
		switch o {
		case "notnull":
			c.Nullable = false
		case "default":
			c.HasDefault = true
		case "array":
			c.IsArray = true
		case "enum":
			c.IsEnum = true
		case "generated":
			c.IsGenerated, c.Insertable, c.Updatable = true, false, false
		case "identity":
			c.IsIdentity, c.IdentityKind, c.HasDefault = true, "d", true
		case "ro":
			c.Insertable, c.Updatable = false, false
		}
	}
	return c
}

func withComment(c *catalog.Column, comment string) *catalog.Column { c.Comment = comment; return c }

func table(schema, name string, kind catalog.TableKind, cols ...*catalog.Column) *catalog.Table {
	writable := kind == catalog.KindTable
	return &catalog.Table{Schema: schema, Name: name, Kind: kind, Columns: cols,
		Insertable: writable, Updatable: writable, Deletable: writable}
}

func objRel(name, schema, remote string, cols, remoteCols []string, fk string) *catalog.Relationship {
	return &catalog.Relationship{Name: name, Kind: catalog.ObjectRel, RemoteSchema: schema, RemoteTable: remote,
		Columns: cols, RemoteColumns: remoteCols, Constraint: fk}
}

func arrRel(name, schema, remote string, cols, remoteCols []string, fk string) *catalog.Relationship {
	return &catalog.Relationship{Name: name, Kind: catalog.ArrayRel, RemoteSchema: schema, RemoteTable: remote,
		Columns: cols, RemoteColumns: remoteCols, Constraint: fk}
}

// fixtureCatalog covers every column type, FK shapes (clashing relationships, self
// FK, composite FK, cross-schema FK), views, a table without primary key, a second
// schema, and names that must be left out. Its default schema is "app", not "public".
func fixtureCatalog() *catalog.Schema {
	authors := table("app", "authors", catalog.KindTable,
		col(1, "id", "integer", "int4", "notnull", "identity"),
		withComment(col(2, "name", "text", "text", "notnull"), "Display name"),
		col(3, "email", "character varying(255)", "varchar"),
		col(4, "bio", "text", "text"),
		col(5, "profile", "jsonb", "jsonb"),
		col(6, "settings", "json", "json"),
		col(7, "tags", "text[]", "text", "array", "notnull"),
		col(8, "lucky_numbers", "integer[]", "int4", "array"),
		col(9, "rating", "numeric(4,2)", "numeric"),
		col(10, "score", "double precision", "float8"),
		col(11, "ratio", "real", "float4"),
		col(12, "rank", "smallint", "int2"),
		col(13, "followers", "bigint", "int8", "notnull", "default"),
		col(14, "active", "boolean", "bool", "notnull", "default"),
		col(15, "mood", "app.mood", "mood", "enum"),
		col(16, "created_at", "timestamp with time zone", "timestamptz", "notnull", "default"),
		col(17, "birthday", "date", "date"),
		col(18, "wakes_at", "time without time zone", "time"),
		col(19, "sleeps_at", "time with time zone", "timetz"),
		col(20, "last_seen", "timestamp without time zone", "timestamp"),
		col(21, "uid", "uuid", "uuid"),
		col(22, "initials", "character(3)", "bpchar"),
		col(23, "handle", "citext", "citext"),
		col(24, "ip", "inet", "inet"),
		col(25, "avatar", "bytea", "bytea"),
		col(26, "bad name", "text", "text"),
		col(27, "name_upper", "text", "text", "generated"),
		col(28, "balance", "money", "money"),
		col(29, "moods", "app.mood[]", "mood", "array", "enum"),
	)
	authors.Comment = "People who write.\nQuoted: \"yes\" \\ done"
	authors.PrimaryKey, authors.PrimaryKeyName = []string{"id"}, "authors_pkey"
	authors.Uniques = []*catalog.UniqueConstraint{{Name: "authors_email_key", Columns: []string{"email"}}}
	authors.Relationships = []*catalog.Relationship{
		arrRel("articles_by_author_id", "app", "articles", []string{"id"}, []string{"author_id"}, "articles_author_id_fkey"),
		arrRel("articles_by_reviewer_id", "app", "articles", []string{"id"}, []string{"reviewer_id"}, "articles_reviewer_id_fkey"),
		arrRel("invoices", "billing", "invoices", []string{"id"}, []string{"author_id"}, "invoices_author_id_fkey"),
		arrRel("ghosts", "hidden", "ghosts", []string{"id"}, []string{"author_id"}, "ghosts_author_id_fkey"),
	}

	articles := table("app", "articles", catalog.KindTable,
		col(1, "id", "bigint", "int8", "notnull", "default"),
		col(2, "author_id", "integer", "int4", "notnull"),
		col(3, "reviewer_id", "integer", "int4"),
		col(4, "title", "text", "text", "notnull"),
		col(5, "body", "text", "text"),
		col(6, "published", "boolean", "bool", "notnull", "default"),
		col(7, "metadata", "jsonb", "jsonb", "notnull", "default"),
	)
	articles.PrimaryKey, articles.PrimaryKeyName = []string{"id"}, "articles_pkey"
	articles.ForeignKeys = []*catalog.ForeignKey{
		{Name: "articles_author_id_fkey", Columns: []string{"author_id"}, RefSchema: "app", RefTable: "authors", RefColumns: []string{"id"}},
		{Name: "articles_reviewer_id_fkey", Columns: []string{"reviewer_id"}, RefSchema: "app", RefTable: "authors", RefColumns: []string{"id"}},
	}
	articles.Relationships = []*catalog.Relationship{
		objRel("author", "app", "authors", []string{"author_id"}, []string{"id"}, "articles_author_id_fkey"),
		objRel("reviewer", "app", "authors", []string{"reviewer_id"}, []string{"id"}, "articles_reviewer_id_fkey"),
	}

	categories := table("app", "categories", catalog.KindTable,
		col(1, "id", "integer", "int4", "notnull", "default"),
		col(2, "parent_id", "integer", "int4"),
		col(3, "name", "text", "text", "notnull"),
	)
	categories.PrimaryKey, categories.PrimaryKeyName = []string{"id"}, "categories_pkey"
	categories.Uniques = []*catalog.UniqueConstraint{{Name: "categories_parent_id_name_key", Columns: []string{"parent_id", "name"}}}
	categories.ForeignKeys = []*catalog.ForeignKey{{Name: "categories_parent_id_fkey", Columns: []string{"parent_id"}, RefSchema: "app", RefTable: "categories", RefColumns: []string{"id"}}}
	categories.Relationships = []*catalog.Relationship{
		arrRel("categories", "app", "categories", []string{"id"}, []string{"parent_id"}, "categories_parent_id_fkey"),
		objRel("parent", "app", "categories", []string{"parent_id"}, []string{"id"}, "categories_parent_id_fkey"),
	}

	orders := table("app", "orders", catalog.KindTable,
		col(1, "order_no", "integer", "int4", "notnull"),
		col(2, "region", "text", "text", "notnull"),
		col(3, "placed_at", "timestamp with time zone", "timestamptz", "notnull", "default"),
	)
	orders.PrimaryKey, orders.PrimaryKeyName = []string{"order_no", "region"}, "orders_pkey"
	orders.Relationships = []*catalog.Relationship{
		arrRel("order_lines", "app", "order_lines", []string{"order_no", "region"}, []string{"order_no", "region"}, "order_lines_order_fkey"),
	}
	lines := table("app", "order_lines", catalog.KindTable,
		col(1, "order_no", "integer", "int4", "notnull"),
		col(2, "region", "text", "text", "notnull"),
		col(3, "line", "integer", "int4", "notnull"),
		col(4, "qty", "integer", "int4", "notnull"),
	)
	lines.PrimaryKey, lines.PrimaryKeyName = []string{"order_no", "region", "line"}, "order_lines_pkey"
	lines.ForeignKeys = []*catalog.ForeignKey{{Name: "order_lines_order_fkey", Columns: []string{"order_no", "region"}, RefSchema: "app", RefTable: "orders", RefColumns: []string{"order_no", "region"}}}
	lines.Relationships = []*catalog.Relationship{
		objRel("order", "app", "orders", []string{"order_no", "region"}, []string{"order_no", "region"}, "order_lines_order_fkey"),
	}

	stats := table("app", "author_stats", catalog.KindView,
		col(1, "author_id", "integer", "int4", "ro"),
		col(2, "article_count", "bigint", "int8", "ro"),
	)
	stats.Comment = "Per-author counts"

	recent := table("app", "recent_articles", catalog.KindView,
		col(1, "id", "bigint", "int8"),
		col(2, "title", "text", "text"),
	)
	recent.Insertable, recent.Updatable, recent.Deletable = true, true, true

	daily := table("app", "daily_totals", catalog.KindMaterializedView,
		col(1, "day", "date", "date"),
		col(2, "total", "numeric", "numeric"),
	)

	events := table("app", "events", catalog.KindTable,
		col(1, "name", "text", "text", "notnull"),
		col(2, "payload", "jsonb", "jsonb"),
		col(3, "at", "timestamp with time zone", "timestamptz"),
	)

	badTable := table("app", "bad-table", catalog.KindTable, col(1, "id", "integer", "int4"))
	clash := table("app", "authors_aggregate", catalog.KindTable, col(1, "id", "integer", "int4"))

	invoices := table("billing", "invoices", catalog.KindTable,
		col(1, "id", "uuid", "uuid", "notnull", "default"),
		col(2, "author_id", "integer", "int4", "notnull"),
		col(3, "amount", "numeric(12,2)", "numeric", "notnull"),
		col(4, "status", "billing.invoice_status", "invoice_status", "enum", "notnull"),
	)
	invoices.Columns[3].TypeSchema = "billing"
	invoices.PrimaryKey, invoices.PrimaryKeyName = []string{"id"}, "invoices_pkey"
	invoices.ForeignKeys = []*catalog.ForeignKey{{Name: "invoices_author_id_fkey", Columns: []string{"author_id"}, RefSchema: "app", RefTable: "authors", RefColumns: []string{"id"}}}
	invoices.Relationships = []*catalog.Relationship{
		objRel("author", "app", "authors", []string{"author_id"}, []string{"id"}, "invoices_author_id_fkey"),
	}
	for _, c := range authors.Columns {
		if c.IsEnum {
			c.TypeSchema = "app"
		}
	}

	s := &catalog.Schema{
		Version: "fixture",
		Schemas: []string{"app", "billing"},
		Tables:  []*catalog.Table{articles, stats, authors, clash, badTable, categories, daily, events, lines, orders, recent, invoices},
		Enums: []*catalog.Enum{
			{Schema: "app", Name: "mood", Values: []string{"happy", "sad"}},
			{Schema: "billing", Name: "invoice_status", Values: []string{"draft", "paid"}},
		},
	}
	s.Index()
	return s
}
