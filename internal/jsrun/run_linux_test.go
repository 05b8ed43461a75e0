//go:build linux

package jsrun

import (
	"context"
	"os"
	"os/user"
	"strconv"
	"testing"
	"time"
)

// TestOutOfMemory: the evaluator's deaths that mean "the data rlimit refused memory", and a Go
// panic that does not.
func TestOutOfMemory(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		diag string
		want bool
	}{
		{"heap", "fatal error: runtime: out of memory\n\ngoroutine 1 [running]:", true},
		{"mmap", "runtime: cannot allocate memory", true},
		{"thread stack", "runtime/cgo: pthread_create failed: Resource temporarily unavailable\nSIGABRT: abort", true},
		{"race detector shadow", "==1==ERROR: ThreadSanitizer failed to allocate 0x8000000 (134217728) bytes at address 218008000000 (errno: 12)", true},
		{"runtime fault", "SIGSEGV: segmentation violation\nPC=0x4399fd m=6 sigcode=1 addr=0x0\n\ngoroutine 0 gp=0x1 m=6 [idle]:\nruntime.(*spanQueue).tryDrain", true},
		{"go panic", "panic: runtime error: invalid memory address or nil pointer dereference\n[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x0]", false},
		{"nothing", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := outOfMemory(tc.diag); got != tc.want {
				t.Fatalf("outOfMemory = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestRunDropsRoot: a root caller's evaluator runs as nobody; any other caller's as itself.
func TestRunDropsRoot(t *testing.T) {
	t.Parallel()
	want := os.Getuid()
	if os.Geteuid() == 0 {
		u, err := user.Lookup("nobody")
		if err != nil {
			t.Fatalf("a root test run needs the user nobody: %v", err)
		}
		if want, err = strconv.Atoi(u.Uid); err != nil {
			t.Fatal(err)
		}
	}
	r := Run(context.Background(), Request{Kind: JavaScript, Script: `return 1`, Timeout: 10 * time.Second})
	if r.Err != nil || r.UID != want {
		t.Fatalf("evaluator uid %d, want %d (err %v)", r.UID, want, r.Err)
	}
}
