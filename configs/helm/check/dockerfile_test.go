package check

import (
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"sigs.k8s.io/yaml"
)

// stage is one FROM of a Dockerfile and the instructions under it. BuildKit's parser keeps
// an instruction's name as written: they are compared without case.
type stage struct {
	image, name string
	nodes       []*parser.Node
}

func (s *stage) all(instruction string) []*parser.Node {
	var out []*parser.Node
	for _, n := range s.nodes {
		if strings.EqualFold(n.Value, instruction) {
			out = append(out, n)
		}
	}
	return out
}

// args lists an instruction's arguments (the JSON form's elements, or the words).
func args(n *parser.Node) []string {
	var s []string
	for a := n.Next; a != nil; a = a.Next {
		s = append(s, a.Value)
	}
	return s
}

// stages parses the Dockerfile with BuildKit's own parser, as `docker build` would.
func stages(t *testing.T) []*stage {
	t.Helper()
	f, err := os.Open(repoFile("Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := parser.Parse(f)
	if err != nil {
		t.Fatalf("Dockerfile: %v", err)
	}
	if len(res.Warnings) > 0 {
		for _, w := range res.Warnings {
			t.Errorf("Dockerfile: %s", w.Short)
		}
	}
	var out []*stage
	for _, n := range res.AST.Children {
		if strings.EqualFold(n.Value, "from") {
			a := args(n)
			s := &stage{image: a[0]}
			if len(a) == 3 && strings.EqualFold(a[1], "as") {
				s.name = a[2]
			}
			out = append(out, s)
			continue
		}
		if len(out) == 0 {
			t.Fatalf("Dockerfile line %d: %s before FROM", n.StartLine, n.Value)
		}
		out[len(out)-1].nodes = append(out[len(out)-1].nodes, n)
	}
	return out
}

// makefileBuild returns the Makefile's build command, variables expanded, as words.
func makefileBuild(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(repoFile("Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	flags := regexp.MustCompile(`(?m)^BUILD_FLAGS\s*:?=\s*(.*)$`).FindStringSubmatch(text)
	recipe := regexp.MustCompile(`(?m)^build:.*\n\t(.*)$`).FindStringSubmatch(text)
	if flags == nil || recipe == nil {
		t.Fatal("the Makefile has no BUILD_FLAGS or no build target")
	}
	cmd := strings.NewReplacer("$(GO)", "go", "$(BUILD_FLAGS)", flags[1]).Replace(recipe[1])
	return strings.Fields(cmd)
}

// withoutOutput drops "-o PATH", the one part of a build command that may differ.
func withoutOutput(words []string) []string {
	var out []string
	for i := 0; i < len(words); i++ {
		if words[i] == "-o" {
			i++
			continue
		}
		out = append(out, words[i])
	}
	return out
}

func TestTheDockerfile(t *testing.T) {
	st := stages(t)
	if len(st) < 2 {
		t.Fatalf("%d stages: want a build stage and a runtime stage", len(st))
	}
	build, final := st[0], st[len(st)-1]

	t.Run("builds with the Go of go.mod", func(t *testing.T) {
		gomod, err := os.ReadFile(repoFile("go.mod"))
		if err != nil {
			t.Fatal(err)
		}
		m := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindStringSubmatch(string(gomod))
		if m == nil || build.image != "golang:"+m[1] || build.name == "" {
			t.Errorf("build stage FROM %s AS %s: want golang:%v, named", build.image, build.name, m)
		}
	})

	t.Run("runs the Makefile's build command", func(t *testing.T) {
		want := withoutOutput(makefileBuild(t))
		var got []string
		for _, n := range build.all("run") {
			if strings.Contains(n.Next.Value, "go build") {
				got = withoutOutput(strings.Fields(n.Next.Value))
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("the image builds with %q, the Makefile with %q", got, want)
		}
		if !slices.Contains(want, "CGO_ENABLED=0") || !slices.Contains(want, "-trimpath") {
			t.Errorf("the build %q is not static (CGO_ENABLED=0) or keeps the build paths (-trimpath)", want)
		}
	})

	t.Run("builds the console before the binary, which embeds it", func(t *testing.T) {
		console, gobuild := -1, -1
		for i, n := range build.all("run") {
			switch {
			case strings.Contains(n.Next.Value, "console/build"):
				console = i
			case strings.Contains(n.Next.Value, "go build"):
				gobuild = i
			}
		}
		if console < 0 || gobuild < 0 || console > gobuild {
			t.Errorf("the build stage runs console/build at step %d and go build at step %d: the console must be built first", console, gobuild)
		}
	})

	t.Run("the runtime stage is distroless or scratch, and holds only the binary and its config", func(t *testing.T) {
		if !strings.HasPrefix(final.image, "gcr.io/distroless/static") && final.image != "scratch" {
			t.Errorf("runtime stage FROM %s", final.image)
		}
		if final.image == "scratch" && !strings.Contains(strings.Join(nodeTexts(final.all("copy")), "\n"), "ca-certificates") {
			t.Error("a scratch image without CA certificates cannot verify PostgreSQL's or a webhook's TLS")
		}
		for _, n := range final.all("run") {
			t.Errorf("line %d: RUN in the runtime stage (%s)", n.StartLine, n.Original)
		}
		var fromBuild bool
		for _, n := range final.all("copy") {
			fromBuild = fromBuild || slices.Contains(n.Flags, "--from="+build.name)
		}
		if !fromBuild {
			t.Error("the runtime stage copies nothing from the build stage")
		}
	})

	t.Run("no ADD fetches a URL", func(t *testing.T) {
		for _, s := range st {
			for _, n := range s.all("add") {
				for _, a := range args(n) {
					if regexp.MustCompile(`^(https?|git|ssh)://|^git@`).MatchString(a) {
						t.Errorf("line %d: %s", n.StartLine, n.Original)
					}
				}
			}
		}
	})

	t.Run("runs as the chart's non-root user", func(t *testing.T) {
		users := final.all("user")
		if len(users) == 0 {
			t.Fatal("no USER in the runtime stage: the image would run as root")
		}
		uid, _, _ := strings.Cut(users[len(users)-1].Next.Value, ":")
		n, err := strconv.Atoi(uid)
		if err != nil || n == 0 {
			t.Fatalf("USER %s: want a numeric uid other than 0, which runAsNonRoot can check", uid)
		}
		var values struct {
			PodSecurityContext struct {
				RunAsUser int `json:"runAsUser"`
			} `json:"podSecurityContext"`
		}
		b, err := os.ReadFile(chartDir + "/values.yaml")
		if err != nil {
			t.Fatal(err)
		}
		if err := yaml.Unmarshal(b, &values); err != nil {
			t.Fatal(err)
		}
		if values.PodSecurityContext.RunAsUser != n {
			t.Errorf("the chart runs the pod as uid %d, the image as %d", values.PodSecurityContext.RunAsUser, n)
		}
	})

	t.Run("exposes the HTTP and wire ports and serves the config the chart mounts", func(t *testing.T) {
		var ports []string
		for _, n := range final.all("expose") {
			ports = append(ports, args(n)...)
		}
		if !slices.Equal(ports, []string{"8080", "6543"}) {
			t.Errorf("EXPOSE %v, want 8080 6543", ports)
		}
		entry := final.all("entrypoint")
		cmd := final.all("cmd")
		if len(entry) != 1 || len(cmd) != 1 || !entry[0].Attributes["json"] || !cmd[0].Attributes["json"] {
			t.Fatal("want one ENTRYPOINT and one CMD, both in the JSON form (no shell in the image)")
		}
		if e := args(entry[0]); len(e) != 2 || !strings.HasSuffix(e[0], "/kapok") || e[1] != "serve" {
			t.Errorf("ENTRYPOINT %v, want [.../kapok serve]", e)
		}
		if c := args(cmd[0]); !slices.Equal(c, []string{"--config", "/etc/kapok/kapok.yaml"}) {
			t.Errorf("CMD %v, want [--config /etc/kapok/kapok.yaml], the file the chart mounts", c)
		}
	})

	t.Run("the build context leaves out the dev stack and the repository's history", func(t *testing.T) {
		b, err := os.ReadFile(repoFile(".dockerignore"))
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(string(b), "\n")
		for _, want := range []string{".git", ".kapok", "bin", "**/node_modules"} {
			if !slices.Contains(lines, want) {
				t.Errorf(".dockerignore lacks %s", want)
			}
		}
	})
}

func nodeTexts(ns []*parser.Node) []string {
	var s []string
	for _, n := range ns {
		s = append(s, n.Original)
	}
	return s
}
