package backup

import (
	"os"
	"os/exec"
	"sync"
	"testing"
)

var aptMu sync.Mutex

// aptTool returns the path of binary, installing Debian's package pkg with apt-get when it
// is missing and the test runs as root; otherwise the test fails with the command to run.
// (A stand-in with the signature of testenv.AptTool.)
func aptTool(t testing.TB, pkg, binary string) string {
	t.Helper()
	aptMu.Lock()
	defer aptMu.Unlock()
	if p, err := exec.LookPath(binary); err == nil {
		return p
	}
	if os.Geteuid() != 0 {
		t.Fatalf("%s is missing; install it with:\n  sudo apt-get install -y --no-install-recommends %s", binary, pkg)
	}
	install := func() ([]byte, error) {
		cmd := exec.Command("apt-get", "install", "-y", "--no-install-recommends", pkg)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		return cmd.CombinedOutput()
	}
	if out, err := install(); err != nil {
		if out, err := exec.Command("apt-get", "update").CombinedOutput(); err != nil {
			t.Fatalf("apt-get update: %v\n%s", err, out)
		}
		if out2, err := install(); err != nil {
			t.Fatalf("apt-get install %s: %v\n%s\n%s", pkg, err, out, out2)
		}
	}
	p, err := exec.LookPath(binary)
	if err != nil {
		t.Fatalf("%s still missing after apt-get install %s", binary, pkg)
	}
	return p
}
