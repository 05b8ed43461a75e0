package chaos

import "syscall"

// childSysProcAttr makes the kernel kill a child when the test binary dies (a test timeout, a
// panic), so that no Temporal host or worker outlives the test.
func childSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
