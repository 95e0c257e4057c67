//go:build !linux

package bench

import (
	"errors"
	"syscall"
	"time"
)

func childProcAttr() *syscall.SysProcAttr { return nil }

var errNoProc = errors.New("reading another process's memory needs Linux's /proc")

func listenerPID(int) (int, error) { return 0, errNoProc }

func rssKB(int) (int64, error) { return 0, errNoProc }

func processCPU(int) (time.Duration, error) {
	return 0, errors.New("the CPU time of a process is read on Linux only")
}

func procStatCPU(int) (time.Duration, error) { return processCPU(0) }

func machineTicks() (cpuTicks, error) {
	return cpuTicks{}, errors.New("the machine's CPU time is read on Linux only")
}
