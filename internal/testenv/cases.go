package testenv

import (
	"bufio"
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

// ClientCases runs a client suite (a script driving a real client: node, python) and makes
// each line it prints a subtest: "ok <name>" passes, "not ok <name>: <reason>" fails,
// "pending <name>: <reason>" is skipped (a case kept for a feature not served yet). "# <note>"
// lines (measured latencies and the like) are logged by the case they precede, shown with -v
// or on failure. A suite that prints no case, or exits non-zero without a failing case, fails
// the test.
func ClientCases(t *testing.T, suite string, cmd *exec.Cmd) {
	t.Helper()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, runErr := cmd.Output()
	sc := bufio.NewScanner(bytes.NewReader(out))
	n := 0
	var notes []string
	report := func(name string, outcome func(t *testing.T)) {
		n++
		logged := notes
		notes = nil
		t.Run(name, func(t *testing.T) {
			for _, note := range logged {
				t.Log(note)
			}
			outcome(t)
		})
	}
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "# "):
			notes = append(notes, line[2:])
		case strings.HasPrefix(line, "ok "):
			report(line[3:], func(t *testing.T) {})
		case strings.HasPrefix(line, "not ok "):
			name, reason, _ := strings.Cut(line[7:], ": ")
			report(name, func(t *testing.T) { t.Error(reason) })
		case strings.HasPrefix(line, "pending "):
			name, reason, _ := strings.Cut(line[8:], ": ")
			report(name, func(t *testing.T) { t.Skip("not served yet: " + reason) })
		}
	}
	if n == 0 || (runErr != nil && !t.Failed()) {
		t.Fatalf("%s suite: %v\n%s\n%s", suite, runErr, out, stderr.String())
	}
}
