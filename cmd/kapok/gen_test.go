package main

import (
	"strings"
	"testing"

	"github.com/kapok-dev/kapok/control"
	"github.com/kapok-dev/kapok/internal/testenv"
	"github.com/kapok-dev/kapok/internal/testserver"
)

// genServer serves config tenants with the CLI tests' admin key on a local port.
func genServer(t *testing.T, tenants ...*control.TenantConfig) string {
	t.Helper()
	return testserver.Serve(t, &control.Config{AdminKey: cliKey, Tenants: tenants})
}

func TestCLIPrintsKeysAndGeneratedTypes(t *testing.T) {
	testenv.FreshSchema(t, "gen_t_cli", `CREATE TYPE mood AS ENUM ('ok', 'sad');
CREATE TABLE people (id int PRIMARY KEY, name text NOT NULL, mood mood);`)
	auth := &control.AuthConfig{JWTSecret: "gen-t-secret-gen-t-secret-0123456789", AnonRole: "gen_t_anon"}
	url := genServer(t, &control.TenantConfig{Name: "gencli", Schemas: []string{"gen_t_cli"}, Auth: auth})
	keys, err := control.KeysFor("gencli", auth)
	if err != nil {
		t.Fatal(err)
	}
	flags := []string{"--url", url, "--admin-key", cliKey}
	cases := []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"tenant keys prints both keys", append([]string{"tenant", "keys", "gencli"}, flags...), 0,
			[]string{"anon key          " + keys.Anon, "service_role key  " + keys.ServiceRole}},
		{"tenant keys --json prints them as JSON", append([]string{"tenant", "keys", "gencli", "--json"}, flags...), 0,
			[]string{`"anon_key": "` + keys.Anon + `"`}},
		{"tenant keys of an unknown tenant is not found", append([]string{"tenant", "keys", "nope"}, flags...), exitNotFound, nil},
		{"tenant keys without a name is a usage error", append([]string{"tenant", "keys"}, flags...), exitUsage, nil},
		{"gen types prints the Database type of the only tenant", append([]string{"gen", "types", "--lang", "typescript"}, flags...), 0,
			[]string{"export type Database = {", "  public: {", `mood: Database["public"]["Enums"]["mood"] | null`, `mood: "ok" | "sad"`, "export type Tables<"}},
		{"gen types --lang graphql prints the SDL", append([]string{"gen", "types", "--lang", "graphql", "--tenant", "gencli"}, flags...), 0,
			[]string{"type people {", "query_root"}},
		{"gen types with an unknown language is a usage error", append([]string{"gen", "types", "--lang", "rust"}, flags...), exitUsage, nil},
		{"gen with an unknown command is a usage error", []string{"gen", "models"}, exitUsage, nil},
		{"gen --help prints the usage", []string{"gen", "--help"}, 0, []string{"kapok gen types --lang typescript"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, out, errOut := kapok(c.args...)
			if code != c.code {
				t.Fatalf("exit %d, want %d\n%s\n%s", code, c.code, out, errOut)
			}
			for _, w := range c.want {
				if !strings.Contains(out, w) {
					t.Fatalf("missing %q in\n%s", w, out)
				}
			}
		})
	}
}
