//go:build !linux

package chaos

import "syscall"

// childSysProcAttr has nothing to add outside Linux (no parent-death signal): children of a
// test binary that dies are left to the test's cleanup.
func childSysProcAttr() *syscall.SysProcAttr { return nil }
