package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// aptMu orders installs within one test binary; aptLock orders them across the test
// binaries `go test ./...` runs side by side, which apt itself would refuse ("could not
// get lock") rather than wait for.
var aptMu sync.Mutex

const aptLock = "kapok-testenv-apt.lock"

// AptTool returns the path of binary, which Debian's package pkg provides. When it is not
// installed and the test runs as root, it installs pkg (apt-get install -y
// --no-install-recommends, after apt-get update when the package lists lack it); otherwise
// the test fails with the command to run. It never skips: the tools it finds are part of
// the suite.
func AptTool(t testing.TB, pkg, binary string) string {
	t.Helper()
	if p, err := exec.LookPath(binary); err == nil {
		return p
	}
	install := "apt-get install -y --no-install-recommends " + pkg
	if os.Geteuid() != 0 {
		t.Fatalf("%s is required (Debian package %s); install it with:\n  sudo apt-get update && sudo %s", binary, pkg, install)
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		t.Fatalf("%s is required and there is no apt-get: install the package that provides it (Debian: %s)", binary, pkg)
	}
	aptMu.Lock()
	defer aptMu.Unlock()
	f, err := os.OpenFile(filepath.Join(os.TempDir(), aptLock), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatalf("lock %s: %v", f.Name(), err)
	}
	defer func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN) }()
	if p, err := exec.LookPath(binary); err == nil { // another test binary installed it meanwhile
		return p
	}
	var log strings.Builder
	if err := aptGet(&log, "install", "-y", "--no-install-recommends", pkg); err != nil {
		// Fresh machines have no package lists yet.
		if err := aptGet(&log, "update"); err != nil {
			t.Fatalf("apt-get update: %v\n%s", err, log.String())
		}
		if err := aptGet(&log, "install", "-y", "--no-install-recommends", pkg); err != nil {
			t.Fatalf("%s: %v\n%s", install, err, log.String())
		}
	}
	p, err := exec.LookPath(binary)
	if err != nil {
		t.Fatalf("%s installed but %s is still not found: %v\n%s", pkg, binary, err, log.String())
	}
	return p
}

// aptGet runs apt-get with args, waiting for dpkg's lock rather than failing on it, and
// keeps the package's services from starting (RUNLEVEL=1 tells invoke-rc.d not to).
func aptGet(out *strings.Builder, args ...string) error {
	cmd := exec.Command("apt-get", append([]string{"-o", "DPkg::Lock::Timeout=300"}, args...)...)
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive", "RUNLEVEL=1")
	cmd.Stdout, cmd.Stderr = out, out
	fmt.Fprintf(out, "$ apt-get %s\n", strings.Join(args, " "))
	return cmd.Run()
}
