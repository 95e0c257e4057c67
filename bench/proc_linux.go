package bench

import "syscall"

// childProcAttr makes a started server die with the suite, even when the suite is killed.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
