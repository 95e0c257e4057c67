package typescript

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kapok-dev/kapok/control/catalogload"
	"github.com/kapok-dev/kapok/internal/testenv"
	"github.com/kapok-dev/kapok/planner/catalog"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

func TestTheShopFixtureGivesTheGoldenTypes(t *testing.T) {
	ddl, err := os.ReadFile(filepath.Join("..", "openapi", "testdata", "shop.sql"))
	if err != nil {
		t.Fatal(err)
	}
	testenv.FreshSchema(t, "ts_t_shop", string(ddl))
	testenv.FreshSchema(t, "ts_t_extra", "CREATE TABLE notes (id int PRIMARY KEY, \"body text\" text);")
	cat, err := catalogload.Load(context.Background(), testenv.Conn(t), []string{"ts_t_shop", "ts_t_extra"})
	if err != nil {
		t.Fatal(err)
	}
	got := Generate(cat)
	path := filepath.Join("testdata", "shop.ts")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run `go test ./planner/typescript -update` to create it)", err)
	}
	if !bytes.Equal(got, want) {
		_ = os.WriteFile(path+".new", got, 0o644)
		t.Errorf("%s differs from the generated types, written to %s.new; review it and run `go test ./planner/typescript -update` to accept", path, path)
	}
}

func TestTheFirstSchemaIsPublicAndOthersKeepTheirNames(t *testing.T) {
	cat := &catalog.Schema{Schemas: []string{"app", "extra"}}
	cat.Finish()
	out := string(Generate(cat))
	for _, want := range []string{"\n  public: {\n", "\n  extra: {\n", "[_ in never]: never"} {
		if !strings.Contains(out, want) {
			t.Fatalf("missing %q in\n%s", want, out)
		}
	}
	if strings.Contains(out, "app: {") {
		t.Fatalf("the first schema kept its name:\n%s", out)
	}
}
