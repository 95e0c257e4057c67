package proxy

import (
	"context"
	"os"
	"os/exec"
	"testing"

	"github.com/kapok-dev/kapok/internal/testenv"
)

// runNodeCases runs a client suite (node ARGS… in dir, with env added) whose lines are
// cases, as testenv.ClientCases reads them.
func runNodeCases(t *testing.T, ctx context.Context, suite, dir string, env []string, args ...string) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is required for the %s suite: %v", suite, err)
	}
	cmd := exec.CommandContext(ctx, node, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	testenv.ClientCases(t, suite, cmd)
}
