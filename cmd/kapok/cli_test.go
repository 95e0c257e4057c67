package main

import (
	"bytes"
	"context"
	"flag"
	"io"
	"os"
	"os/exec"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the README's help block from the command tree")

// cli runs kapok's dispatch in-process.
func cli(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = execute(context.Background(), commandTree(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestHelpAndExitCodes(t *testing.T) {
	// The admin commands' defaults come from the environment: help must not depend on it here.
	t.Setenv("KAPOK_URL", "")
	t.Setenv("KAPOK_ADMIN_KEY", "")
	tests := []struct {
		name      string
		args      []string
		code      int
		stdout    []string // substrings
		stderr    string   // substring; the whole stderr must be one line when code is 2
		noStdout  bool
		multiline bool
	}{
		{name: "kapok --help lists the commands", args: []string{"--help"}, stdout: []string{"commands:", "serve", "version", "completion"}},
		{name: "kapok -h is the same", args: []string{"-h"}, stdout: []string{"commands:"}},
		{name: "kapok help is the same", args: []string{"help"}, stdout: []string{"commands:"}},
		{name: "kapok help tenant create shows that command's flags", args: []string{"help", "tenant", "create"}, stdout: []string{"kapok tenant create NAME", "-mode string", "-admin-key"}},
		{name: "serve --help shows serve's flags", args: []string{"serve", "--help"}, stdout: []string{"-upstream string", "-listen string"}},
		{name: "dev help shows dev's subcommands and flags", args: []string{"dev", "help"}, stdout: []string{"status", "-scale string"}},
		{name: "dev -h is the same", args: []string{"dev", "-h"}, stdout: []string{"-pg-port int"}},
		{name: "dev up --help shows the stack's flags", args: []string{"dev", "up", "--help"}, stdout: []string{"kapok dev up [flags]", "-dir string"}},
		{name: "a flag before --help does not hide it", args: []string{"migrate", "up", "--tenant", "x", "--help"}, stdout: []string{"-dry-run"}},
		{name: "bench run -h shows the load generator's flags", args: []string{"bench", "run", "-h"}, stdout: []string{"-scenario string"}},
		{name: "events list --help shows its filters", args: []string{"events", "list", "--help"}, stdout: []string{"-state string", "-tenant string"}},
		{name: "a group named alone lists its commands", args: []string{"tenant"}, stdout: []string{"create", "delete"}},
		{name: "version prints the version", args: []string{"version"}, stdout: []string{"kapok ", "go "}},
		{name: "an unknown command exits 2 with a hint", args: []string{"nope"}, code: 2, stderr: "kapok: unknown command \"nope\"; see 'kapok --help'", noStdout: true},
		{name: "a misspelt command is named", args: []string{"tenat"}, code: 2, stderr: `did you mean "tenant"?`, noStdout: true},
		{name: "an unknown subcommand exits 2 with a hint", args: []string{"tenant", "frob"}, code: 2, stderr: "kapok tenant: unknown command \"frob\"", noStdout: true},
		{name: "an unknown dev subcommand exits 2", args: []string{"dev", "upp"}, code: 2, stderr: `did you mean "up"?`, noStdout: true},
		{name: "help of an unknown command exits 2", args: []string{"help", "nope"}, code: 2, stderr: "unknown command", noStdout: true},
		{name: "an unknown serve flag exits 2 naming the help", args: []string{"serve", "--nope"}, code: 2, stderr: "see 'kapok serve --help'", multiline: true},
		{name: "an unknown flag of the default command exits 2", args: []string{"--nope"}, code: 2, stderr: "see 'kapok serve --help'", multiline: true},
		{name: "an unknown tenant flag exits 2 naming the help", args: []string{"tenant", "list", "--nope"}, code: 2, stderr: "see 'kapok tenant list --help'", multiline: true},
		{name: "a group given only flags exits 2", args: []string{"tenant", "--json"}, code: 2, stderr: "a command is required", noStdout: true},
		{name: "completion without a shell exits 2", args: []string{"completion"}, code: 2, stderr: "bash, zsh or fish", noStdout: true},
		{name: "version takes no argument", args: []string{"version", "x"}, code: 2, stderr: "unexpected argument", noStdout: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errs := cli(t, tt.args...)
			if code != tt.code {
				t.Fatalf("kapok %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(tt.args, " "), code, tt.code, out, errs)
			}
			for _, want := range tt.stdout {
				if !strings.Contains(out, want) {
					t.Errorf("stdout lacks %q:\n%s", want, out)
				}
			}
			if tt.code == 0 && errs != "" {
				t.Errorf("help wrote to stderr: %s", errs)
			}
			if tt.stderr != "" && !strings.Contains(errs, tt.stderr) {
				t.Errorf("stderr lacks %q: %s", tt.stderr, errs)
			}
			if tt.noStdout && out != "" {
				t.Errorf("an error wrote to stdout: %s", out)
			}
			if tt.code == 2 && !tt.multiline && strings.Count(errs, "\n") != 1 {
				t.Errorf("want a one-line error, got:\n%s", errs)
			}
			if tt.code == 2 && strings.Count(errs, "\n") > 2 {
				t.Errorf("a usage error printed more than the error and its hint:\n%s", errs)
			}
		})
	}
}

func TestEveryCommandHasHelpWithItsFlags(t *testing.T) {
	t.Setenv("KAPOK_URL", "")
	walk(commandTree(), func(c *command) {
		args := append(pathBetween(nil, c)[1:], "--help")
		t.Run(strings.Join(args, " ")+" exits 0 with its usage", func(t *testing.T) {
			code, out, errs := cli(t, args...)
			if code != 0 || !strings.Contains(out, "usage:\n  kapok") || errs != "" {
				t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out, errs)
			}
			if (c.helpByRun || c.flags != nil) && !strings.Contains(out, "\nflags:\n  -") {
				t.Errorf("no flags listed:\n%s", out)
			}
		})
	})
}

func TestANewLeafIsOneEntry(t *testing.T) {
	root := commandTree()
	var got []string
	leaf := func(ctx context.Context, args []string, stdout, stderr io.Writer) int { got = args; return 0 }
	root.sub = append(root.sub, &command{name: "scaffold", summary: "generate code", sub: []*command{
		{name: "models", summary: "models", run: leaf}}})
	for _, c := range root.sub {
		if c.name == "tenant" {
			c.sub = append(c.sub, &command{name: "audit", summary: "show an audit", run: leaf})
		}
	}
	link(root)
	tests := []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"a leaf under a new group gets the arguments after its name", []string{"scaffold", "models", "--lang", "go"}, 0, []string{"--lang", "go"}},
		{"a leaf with its own run under an existing group gets its arguments", []string{"tenant", "audit", "shop"}, 0, []string{"shop"}},
		{"the new group alone prints its commands", []string{"scaffold"}, 0, nil},
		{"an unknown leaf of the new group exits 2", []string{"scaffold", "nope"}, 2, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got = nil
			var out, errb bytes.Buffer
			code := execute(context.Background(), root, tt.args, &out, &errb)
			if code != tt.code || strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Errorf("exit %d, args %q; want %d, %q (%s)", code, got, tt.code, tt.want, errb.String())
			}
		})
	}
}

func TestVersionReportsTheVCSStamp(t *testing.T) {
	tests := []struct {
		name    string
		release string
		bi      *debug.BuildInfo
		ok      bool
		want    []string
	}{
		{name: "the version set at build time comes first", release: "1.4.0", ok: true, bi: &debug.BuildInfo{GoVersion: "go1.26", Main: debug.Module{Version: "(devel)"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "abc123"}}},
			want: []string{"kapok 1.4.0\n", "commit   abc123\n"}},
		{name: "a release build names its version and commit", ok: true, bi: &debug.BuildInfo{GoVersion: "go1.26", Main: debug.Module{Version: "v1.2.3"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "abc123"}, {Key: "vcs.time", Value: "2026-01-02T03:04:05Z"}, {Key: "vcs.modified", Value: "false"}}},
			want: []string{"kapok v1.2.3\n", "commit   abc123\n", "date     2026-01-02T03:04:05Z\n", "go       go1.26\n"}},
		{name: "a build from a dirty tree says so", ok: true, bi: &debug.BuildInfo{Main: debug.Module{Version: "(devel)"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "abc123"}, {Key: "vcs.modified", Value: "true"}}},
			want: []string{"kapok (devel)\n", "modified true"}},
		{name: "a build without VCS stamp says so", ok: true, bi: &debug.BuildInfo{}, want: []string{"kapok (devel)\n", "commit   unknown"}},
		{name: "no build information at all", ok: false, want: []string{"no build information"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := versionText(tt.release, tt.bi, tt.ok)
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("version lacks %q:\n%s", w, got)
				}
			}
		})
	}
}

func TestBashCompletionCompletesCommandsAndFlags(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	t.Setenv("KAPOK_URL", "")
	code, script, _ := cli(t, "completion", "bash")
	if code != 0 {
		t.Fatal("completion bash failed")
	}
	tests := []struct {
		name  string
		words string // the command line; the last word is being completed
		want  []string
		not   []string
	}{
		{name: "the first word completes to a command", words: "kapok te", want: []string{"tenant"}, not: []string{"serve"}},
		{name: "a subcommand completes under its group", words: "kapok tenant cr", want: []string{"create"}},
		{name: "a leaf's flags complete", words: "kapok tenant create --m", want: []string{"--mode"}},
		{name: "flags between words do not break the path", words: "kapok migrate --json up --dr", want: []string{"--dry-run"}},
		{name: "serve's flags complete", words: "kapok serve --ups", want: []string{"--upstream"}},
		{name: "help completes to the commands", words: "kapok help mig", want: []string{"migrate"}},
		{name: "completion offers the shells", words: "kapok completion ", want: []string{"bash", "zsh", "fish"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			words := strings.Split(tt.words, " ")
			prog := script + "\nCOMP_WORDS=(" + quoteWords(words) + ")\nCOMP_CWORD=" + strconv.Itoa(len(words)-1) + "\n_kapok\nprintf '%s\\n' \"${COMPREPLY[@]}\"\n"
			out, err := exec.Command("bash", "-c", prog).CombinedOutput()
			if err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			got := strings.Fields(string(out))
			for _, w := range tt.want {
				if !contains(got, w) {
					t.Errorf("%q completes to %q, want %q among them", tt.words, got, w)
				}
			}
			for _, w := range tt.not {
				if contains(got, w) {
					t.Errorf("%q completes to %q, not %q", tt.words, got, w)
				}
			}
		})
	}
	for _, shell := range []string{"zsh", "fish"} {
		t.Run(shell+" completion names every command", func(t *testing.T) {
			code, s, _ := cli(t, "completion", shell)
			for _, w := range []string{"tenant", "create-trigger", "upstream"} {
				if code != 0 || !strings.Contains(s, w) {
					t.Errorf("exit %d; the %s script lacks %q", code, shell, w)
				}
			}
		})
	}
}

func quoteWords(ws []string) string {
	q := make([]string, len(ws))
	for i, w := range ws {
		q[i] = "'" + w + "'"
	}
	return strings.Join(q, " ")
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

const (
	helpBegin = "<!-- kapok help: begin -->\n"
	helpEnd   = "<!-- kapok help: end -->\n"
)

// TestREADMEHelpBlock keeps the README's command reference equal to the tree's help;
// -update rewrites it.
func TestREADMEHelpBlock(t *testing.T) {
	t.Setenv("KAPOK_URL", "")
	t.Setenv("KAPOK_ADMIN_KEY", "")
	const path = "../../README.md"
	readme, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := string(readme)
	i, j := strings.Index(s, helpBegin), strings.Index(s, helpEnd)
	if i < 0 || j < i {
		t.Fatalf("README.md lacks the %q ... %q markers", helpBegin, helpEnd)
	}
	want := helpBegin + "```text\n" + reference(commandTree()) + "```\n" + helpEnd
	got := s[i : j+len(helpEnd)]
	if got == want {
		return
	}
	if *update {
		if err := os.WriteFile(path, []byte(s[:i]+want+s[j+len(helpEnd):]), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("README.md's help block differs from the command tree's help; run\n  go test ./cmd/kapok -run TestREADMEHelpBlock -update\nand review the diff")
}
