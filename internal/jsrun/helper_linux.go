//go:build linux

package jsrun

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The evaluator process is the current binary re-executed (/proc/self/exe) with argv[0]
// helperArg0, like the shell sandbox helper of internal/checks. It reads one spec from stdin,
// limits its own memory and CPU, evaluates the script and writes one outcome to stdout. Its
// environment is empty. A script that exhausts the process's memory kills only this process.
const helperArg0 = "checkflow-jsrun-evaluator"

// maxSpecBytes bounds the spec read from stdin (the script and its context).
const maxSpecBytes = 16 << 20

// runtimeReserve is address space the Go runtime and goja need besides the script's heap
// (binary, stacks, GC metadata); the data rlimit is MemoryLimit*2 + runtimeReserve.
const runtimeReserve = 256 << 20

// forceGrace is how long an interrupted evaluation may take to end before the evaluator
// reports the interrupt itself and exits.
const forceGrace = 250 * time.Millisecond

// watchdogInterval is how often the evaluator compares the heap with the limit.
const watchdogInterval = 2 * time.Millisecond

// init hands the process to the evaluator when it was started as one (argv[0] is helperArg0,
// which only Run uses); any other process is left alone. This works in every binary that links
// the package (checkflow, test binaries) without a hook in main or TestMain.
func init() {
	if len(os.Args) == 1 && os.Args[0] == helperArg0 {
		os.Exit(helperMain())
	}
}

func helperMain() int {
	var (
		mu       sync.Mutex
		reported bool
	)
	// report writes the one outcome; a later call (the main evaluation finishing after a forced
	// report) writes nothing.
	report := func(o outcome) int {
		mu.Lock()
		defer mu.Unlock()
		if reported {
			return 0
		}
		reported = true
		if err := json.NewEncoder(os.Stdout).Encode(o); err != nil {
			return 125
		}
		return 0
	}
	b, err := io.ReadAll(io.LimitReader(os.Stdin, maxSpecBytes))
	if err != nil {
		return report(outcome{Error: fmt.Sprintf("evaluator: reading the spec: %v", err)})
	}
	var s spec
	if err := json.Unmarshal(b, &s); err != nil {
		return report(outcome{Error: fmt.Sprintf("evaluator: decoding the spec: %v", err)})
	}
	if s.MemoryLimit <= 0 {
		s.MemoryLimit = DefaultMemoryLimit
	}
	if err := limitSelf(s); err != nil {
		return report(outcome{Error: fmt.Sprintf("evaluator: %v", err)})
	}
	if err := dropPrivileges(s.UID, s.GID); err != nil {
		return report(outcome{Error: fmt.Sprintf("evaluator: %v", err)})
	}
	uid := os.Getuid()
	start := time.Now()
	ev, err := newEvaluator(s)
	if err != nil {
		return report(outcome{Error: fmt.Sprintf("evaluator: %v", err)})
	}
	// stopScript interrupts the script; goja serves an interrupt between instructions, so a
	// long native call (Array.prototype.fill on a huge array) does not see it: if the
	// evaluation has not ended forceGrace later, the outcome is reported without the console
	// output and the process exits.
	stopScript := func(reason string) {
		ev.vm.Interrupt(stop{reason: reason})
		time.AfterFunc(forceGrace, func() {
			if report(outcome{Reason: reason, DurationNs: int64(time.Since(start)), UID: uid}) == 0 {
				os.Exit(0)
			}
		})
	}
	if s.TimeoutMs > 0 {
		t := time.AfterFunc(time.Duration(s.TimeoutMs)*time.Millisecond, func() { stopScript(reasonTimeout) })
		defer t.Stop()
	}
	done := make(chan struct{})
	go watchdog(done, s.MemoryLimit, func() { stopScript(reasonMemory) })
	out := ev.run(s.Code)
	close(done)
	out.DurationNs, out.UID = int64(time.Since(start)), uid
	return report(out)
}

// limitSelf applies the evaluator's limits to its own process:
//   - a soft Go memory limit at the script's limit, so garbage is collected before the
//     watchdog counts it;
//   - RLIMIT_DATA (private writable memory; the Go heap's address-space reservations are
//     PROT_NONE and not counted, which is why RLIMIT_AS is not used: a Go process reserves
//     far more address space than it uses) at twice the limit plus runtimeReserve: a single
//     huge allocation the watchdog cannot interrupt (one goja string or array of a gigabyte)
//     makes the Go runtime fail with "out of memory", which ends only this process;
//   - RLIMIT_CPU at twice the timeout plus 2 s, a backstop should the timeout interrupt not be
//     served (the parent also kills the process at its deadline);
//   - at most two threads running Go code and a 64 MiB Go stack.
func limitSelf(s spec) error {
	debug.SetMemoryLimit(s.MemoryLimit)
	debug.SetMaxStack(64 << 20)
	runtime.GOMAXPROCS(2)
	data := uint64(s.MemoryLimit)*2 + runtimeReserve
	if err := unix.Setrlimit(unix.RLIMIT_DATA, &unix.Rlimit{Cur: data, Max: data}); err != nil {
		return fmt.Errorf("limiting memory: %w", err)
	}
	if s.TimeoutMs > 0 {
		cpu := uint64(2*s.TimeoutMs/1000 + 2)
		if err := unix.Setrlimit(unix.RLIMIT_CPU, &unix.Rlimit{Cur: cpu, Max: cpu + 1}); err != nil {
			return fmt.Errorf("limiting CPU time: %w", err)
		}
	}
	return nil
}

// dropPrivileges switches the process (every thread) to uid/gid without supplementary groups
// when uid is positive, and sets no_new_privs. goja gives scripts no system access at all; this
// is defence in depth should that ever fail, like the shell sandbox's script user.
func dropPrivileges(uid, gid int) error {
	if uid > 0 {
		if err := syscall.Setgroups([]int{}); err != nil {
			return fmt.Errorf("dropping supplementary groups: %w", err)
		}
		if err := syscall.Setgid(gid); err != nil {
			return fmt.Errorf("switching to gid %d: %w", gid, err)
		}
		if err := syscall.Setuid(uid); err != nil {
			return fmt.Errorf("switching to uid %d: %w", uid, err)
		}
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("setting no_new_privs: %w", err)
	}
	return nil
}

// watchdog calls exceeded once when the heap's objects (live and not yet swept) exceed limit.
// With the soft memory limit in place the collector keeps garbage below the limit, so only a
// script that keeps that much alive trips it.
func watchdog(done <-chan struct{}, limit int64, exceeded func()) {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	t := time.NewTicker(watchdogInterval)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			metrics.Read(sample)
			if sample[0].Value.Kind() == metrics.KindUint64 && int64(sample[0].Value.Uint64()) > limit {
				exceeded()
				return
			}
		}
	}
}
