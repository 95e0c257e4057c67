package difftest

import (
	"context"
	"fmt"
	"math/big"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// FixtureDDL creates the fixture's tables in the current schema. Text columns use the "C"
// collation so that PostgreSQL's order and comparisons are Go's byte order. articles has two
// foreign keys to authors, so both sides take Kapok's long relationship names.
const FixtureDDL = `
CREATE TABLE authors (
  id int PRIMARY KEY,
  name text COLLATE "C",
  age int,
  rating numeric(4,2),
  active boolean,
  born date
);
CREATE TABLE articles (
  id int PRIMARY KEY,
  author_id int REFERENCES authors,
  reviewer_id int REFERENCES authors,
  title text COLLATE "C" NOT NULL,
  score int,
  published boolean,
  created_at timestamptz NOT NULL
);
CREATE TABLE comments (
  id int PRIMARY KEY,
  article_id int NOT NULL REFERENCES articles,
  body text COLLATE "C",
  likes int
)`

// Schema returns the fixture's tables and relationships, without rows.
func Schema() *DB {
	authors := &Table{Name: "authors", Cols: []Column{
		{"id", KInt, false}, {"name", KText, true}, {"age", KInt, true},
		{"rating", KNumeric, true}, {"active", KBool, true}, {"born", KDate, true},
	}}
	articles := &Table{Name: "articles", Cols: []Column{
		{"id", KInt, false}, {"author_id", KInt, true}, {"reviewer_id", KInt, true},
		{"title", KText, false}, {"score", KInt, true}, {"published", KBool, true},
		{"created_at", KTimestamp, false},
	}}
	comments := &Table{Name: "comments", Cols: []Column{
		{"id", KInt, false}, {"article_id", KInt, false}, {"body", KText, true}, {"likes", KInt, true},
	}}
	authors.Rels = []*Rel{
		{Name: "articles_by_author_id", Many: true, Target: "articles", FK: "author_id", REST: "articles!author_id", RESTKey: "articles"},
		{Name: "articles_by_reviewer_id", Many: true, Target: "articles", FK: "reviewer_id", REST: "articles!reviewer_id", RESTKey: "articles"},
	}
	articles.Rels = []*Rel{
		{Name: "author", Target: "authors", FK: "author_id", REST: "authors!author_id", RESTKey: "authors"},
		{Name: "reviewer", Target: "authors", FK: "reviewer_id", REST: "authors!reviewer_id", RESTKey: "authors"},
		{Name: "comments", Many: true, Target: "comments", FK: "article_id", REST: "comments", RESTKey: "comments"},
	}
	comments.Rels = []*Rel{
		{Name: "article", Target: "articles", FK: "article_id", REST: "articles", RESTKey: "articles"},
	}
	return &DB{
		Tables: map[string]*Table{"authors": authors, "articles": articles, "comments": comments},
		Order:  []string{"authors", "articles", "comments"},
	}
}

// Words that make text filters interesting: case variants, underscores and percent signs
// (LIKE's wildcards as data), spaces, an empty string and many duplicates.
var words = []string{"ann", "Ann", "ANN", "bob_smith", "Bob Smith", "bob%", "100% real", "x_y%z",
	"o-neil", "", "zed", "Zed", "a", "ab", "abc", "abc_def", "ABC%DEF", "go tips", "Go_Tips", "sql 101"}

// FixtureInserts returns the INSERT statements of the fixture's rows for seed. The values
// are the fixture's own (never a request's), so they are written as literals.
func FixtureInserts(seed uint64) string {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	maybe := func(p float64, s string) string {
		if r.Float64() < p {
			return "NULL"
		}
		return s
	}
	text := func() string {
		w := words[r.IntN(len(words))]
		if r.IntN(3) == 0 {
			w += " " + words[r.IntN(len(words))]
		}
		return "'" + strings.ReplaceAll(w, "'", "''") + "'"
	}
	var b strings.Builder
	const nAuthors, nArticles, nComments = 40, 120, 240
	b.WriteString("INSERT INTO authors VALUES ")
	for i := 1; i <= nAuthors; i++ {
		if i > 1 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, "(%d,%s,%s,%s,%s,%s)", i,
			maybe(0.2, text()),
			maybe(0.25, fmt.Sprint(18+r.IntN(12))),
			maybe(0.25, fmt.Sprintf("%d.%02d", r.IntN(10)-2, []int{0, 25, 50, 75, 5}[r.IntN(5)])),
			maybe(0.3, fmt.Sprint(r.IntN(2) == 0)),
			maybe(0.3, fmt.Sprintf("'%04d-%02d-%02d'", 1950+r.IntN(6), 1+r.IntN(12), 1+r.IntN(28))))
	}
	b.WriteString(";\nINSERT INTO articles VALUES ")
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 1; i <= nArticles; i++ {
		if i > 1 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, "(%d,%s,%s,%s,%s,%s,'%s')", i,
			maybe(0.15, fmt.Sprint(1+r.IntN(nAuthors-5))), // the last authors have no articles
			maybe(0.5, fmt.Sprint(1+r.IntN(nAuthors))),
			text(),
			maybe(0.2, fmt.Sprint(r.IntN(8)-2)),
			maybe(0.2, fmt.Sprint(r.IntN(2) == 0)),
			base.Add(time.Duration(r.IntN(40))*time.Hour*24+time.Duration(r.IntN(3))*time.Hour).Format(time.RFC3339))
	}
	b.WriteString(";\nINSERT INTO comments VALUES ")
	for i := 1; i <= nComments; i++ {
		if i > 1 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, "(%d,%d,%s,%s)", i, 1+r.IntN(nArticles-10), maybe(0.2, text()), maybe(0.2, fmt.Sprint(r.IntN(6))))
	}
	return b.String()
}

// Load reads every table of the fixture in schema with plain SELECT * and nothing else.
func Load(ctx context.Context, conn *pgx.Conn, schema string) (*DB, error) {
	db := Schema()
	for _, name := range db.Order {
		t := db.Tables[name]
		rows, err := conn.Query(ctx, "SELECT * FROM "+pgx.Identifier{schema, name}.Sanitize())
		if err != nil {
			return nil, err
		}
		fields := rows.FieldDescriptions()
		for rows.Next() {
			vals, err := rows.Values()
			if err != nil {
				rows.Close()
				return nil, err
			}
			row := Row{}
			for i, f := range fields {
				v, err := goValue(t.Col(f.Name).Kind, vals[i])
				if err != nil {
					rows.Close()
					return nil, fmt.Errorf("%s.%s: %w", name, f.Name, err)
				}
				row[f.Name] = v
			}
			t.Rows = append(t.Rows, row)
		}
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	db.index()
	return db, nil
}

func goValue(k Kind, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch k {
	case KInt:
		return int64(v.(int32)), nil
	case KNumeric:
		n := v.(pgtype.Numeric)
		r := new(big.Rat).SetInt(n.Int)
		e := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(abs(n.Exp))), nil)
		if n.Exp >= 0 {
			r.Mul(r, new(big.Rat).SetInt(e))
		} else {
			r.Quo(r, new(big.Rat).SetInt(e))
		}
		return r, nil
	case KText, KBool:
		return v, nil
	case KDate:
		return Date(v.(time.Time).Format("2006-01-02")), nil
	case KTimestamp:
		return v.(time.Time).UTC(), nil
	}
	return nil, fmt.Errorf("unexpected value %T", v)
}

func abs(x int32) int32 {
	if x < 0 {
		return -x
	}
	return x
}
