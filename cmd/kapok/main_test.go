package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// testBuildVersion is the release version the tests' kapok binary is built as.
const testBuildVersion = "1.0.0"

// built is the kapok binary the tests that run real processes share: one build per run.
var built struct {
	once sync.Once
	dir  string
	path string
	err  error
	out  []byte
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// kapokBinary builds this tree's kapok once, as the Makefile does (the version set with
// -ldflags), and returns its path.
func kapokBinary(t *testing.T) string {
	t.Helper()
	built.once.Do(func() {
		if built.dir, built.err = os.MkdirTemp("", "kapok-test-bin-"); built.err != nil {
			return
		}
		built.path = filepath.Join(built.dir, "kapok")
		built.out, built.err = exec.Command("go", "build", "-ldflags", "-X main.version="+testBuildVersion,
			"-o", built.path, "github.com/kapok-dev/kapok/cmd/kapok").CombinedOutput()
	})
	if built.err != nil {
		t.Fatalf("go build: %v\n%s", built.err, built.out)
	}
	return built.path
}
