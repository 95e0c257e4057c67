//go:build !linux

package bench

import (
	"errors"
	"syscall"
	"time"
)

func childProcAttr() *syscall.SysProcAttr { return nil }

func processCPU(int) (time.Duration, error) {
	return 0, errors.New("the CPU time of a process is read on Linux only")
}
