package graphql_test

import (
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kapok-dev/kapok/control/catalogload"
	"github.com/kapok-dev/kapok/internal/testenv"
	"github.com/kapok-dev/kapok/planner/catalog"
	"github.com/kapok-dev/kapok/planner/gqlschema"
)

var update = flag.Bool("update", false, "rewrite testdata golden files (after review)")

// fixtureSchema is the Postgres schema the fixture lives in; it is the default schema,
// so its tables are unprefixed in GraphQL.
const fixtureSchema = "graphql_t_fixture"

var (
	testdataDir     = "testdata"
	catalogSnapshot = filepath.Join(testdataDir, "fixture_catalog.json")
)

var fixture struct {
	once    sync.Once
	created bool
	cat     *catalog.Schema
	err     error
}

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if fixture.created {
		if c, err := pgx.Connect(context.Background(), testenv.DirectURL()); err == nil {
			_, _ = c.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+fixtureSchema+" CASCADE")
			_ = c.Close(context.Background())
		}
	}
	os.Exit(code)
}

// fixtureDB creates the fixture schema once per test binary and loads its catalog.
func fixtureDB(t testing.TB) *catalog.Schema {
	t.Helper()
	fixture.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		ddl, err := os.ReadFile(filepath.Join(testdataDir, "fixture.sql"))
		if err != nil {
			fixture.err = err
			return
		}
		c, err := pgx.Connect(ctx, testenv.DirectURL())
		if err != nil {
			fixture.err = err
			return
		}
		defer c.Close(ctx)
		q := pgx.Identifier{fixtureSchema}.Sanitize()
		if _, err := c.Exec(ctx, "DROP SCHEMA IF EXISTS "+q+" CASCADE; CREATE SCHEMA "+q); err != nil {
			fixture.err = err
			return
		}
		fixture.created = true
		if _, err := c.Exec(ctx, "SET search_path TO "+q+"; "+string(ddl)+"; RESET search_path"); err != nil {
			fixture.err = err
			return
		}
		fixture.cat, fixture.err = catalogload.Load(ctx, c, []string{fixtureSchema})
	})
	if fixture.err != nil {
		t.Fatalf("fixture database: %v\nstart the dev stack with `make test` (or `go run ./cmd/kapok dev up`)", fixture.err)
	}
	return fixture.cat
}

var snapshot struct {
	once sync.Once
	s    *gqlschema.Schema
	err  error
}

// fixtureGraphQL is the GraphQL schema of the fixture, built from the catalog snapshot
// in testdata (no database needed). With -update the snapshot is first refreshed from
// the database.
func fixtureGraphQL(t testing.TB) *gqlschema.Schema {
	t.Helper()
	snapshot.once.Do(func() {
		var cat *catalog.Schema
		if *update {
			cat = fixtureDB(t)
			b, err := json.MarshalIndent(cat, "", "  ")
			if err != nil {
				snapshot.err = err
				return
			}
			if err := os.WriteFile(catalogSnapshot, append(b, '\n'), 0o644); err != nil {
				snapshot.err = err
				return
			}
		}
		b, err := os.ReadFile(catalogSnapshot)
		if err != nil {
			snapshot.err = err
			return
		}
		cat = &catalog.Schema{}
		if err := json.Unmarshal(b, cat); err != nil {
			snapshot.err = err
			return
		}
		cat.Index()
		snapshot.s, snapshot.err = gqlschema.Build(cat, gqlschema.Options{})
	})
	if snapshot.err != nil {
		t.Fatalf("fixture schema: %v", snapshot.err)
	}
	return snapshot.s
}
