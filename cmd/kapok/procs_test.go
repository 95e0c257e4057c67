package main

import (
	"runtime"
	"strconv"
	"testing"

	"github.com/kapok-dev/kapok/control"
)

func TestProcsSetsGOMAXPROCSUnlessTheEnvironmentDid(t *testing.T) {
	was := runtime.GOMAXPROCS(0)
	t.Cleanup(func() { runtime.GOMAXPROCS(was) })
	other := was + 1
	t.Setenv("GOMAXPROCS", "")
	if got := applyProcs(&control.Config{Procs: other}); got != other || runtime.GOMAXPROCS(0) != other {
		t.Errorf("procs %d: applyProcs says %d, GOMAXPROCS is %d", other, got, runtime.GOMAXPROCS(0))
	}
	runtime.GOMAXPROCS(was)
	if got := applyProcs(&control.Config{}); got != was {
		t.Errorf("procs 0 changed GOMAXPROCS from %d to %d", was, got)
	}
	t.Setenv("GOMAXPROCS", strconv.Itoa(was))
	if got := applyProcs(&control.Config{Procs: other}); got != was {
		t.Errorf("with GOMAXPROCS=%d in the environment, procs %d set %d", was, other, got)
	}
}
