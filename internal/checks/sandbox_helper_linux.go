//go:build linux

package checks

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// The sandbox helper is the worker's own binary re-executed (/proc/self/exe) with argv[0]
// sandboxArg0. It sets up the sandbox, starts /bin/sh -c SCRIPT, waits for it, makes sure nothing
// the script started survives and reports how the shell ended. It reads its sandboxSpec from
// fd 3 (so neither the script nor the environment appear on a command line) and writes one
// sandboxStatus to fd 4. Its own environment is empty.
const sandboxArg0 = "checkflow-script-sandbox"

const (
	sandboxSpecFD   = 3
	sandboxStatusFD = 4
)

// init hands the process to the sandbox helper when it was started as one (argv[0] is
// sandboxArg0, which only launchScript uses); any other process is left alone. This is the
// re-exec pattern: it works in every binary that links this package (checkflow, test binaries)
// without a hook in main.
func init() {
	if len(os.Args) == 1 && os.Args[0] == sandboxArg0 {
		os.Exit(sandboxHelperMain())
	}
}

// sandboxSpec is what the worker asks the helper to run.
type sandboxSpec struct {
	// Namespaces: the helper is PID 1 of a new PID + mount namespace and mounts a private /proc.
	// Otherwise it becomes a child subreaper and kills the script's descendants itself.
	Namespaces bool     `json:"namespaces"`
	UID        int      `json:"uid"` // -1: keep the helper's
	GID        int      `json:"gid"`
	Dir        string   `json:"dir"`
	Script     string   `json:"script"`
	Env        []string `json:"env"`
}

// sandboxStatus is the helper's report. Error with Started false is a setup or start failure.
type sandboxStatus struct {
	Started  bool   `json:"started"`
	Exited   bool   `json:"exited,omitempty"`
	ExitCode int    `json:"exitCode,omitempty"`
	Signal   int    `json:"signal,omitempty"`
	Error    string `json:"error,omitempty"`
}

func sandboxHelperMain() int {
	// prctl(PR_SET_NO_NEW_PRIVS) is per thread: set it on the thread that forks the shell.
	runtime.LockOSThread()
	syscall.CloseOnExec(sandboxSpecFD)
	syscall.CloseOnExec(sandboxStatusFD)
	out := os.NewFile(sandboxStatusFD, "sandbox-status")
	report := func(st sandboxStatus) int {
		if err := json.NewEncoder(out).Encode(st); err != nil {
			return 125
		}
		return 0
	}
	fail := func(format string, args ...any) int {
		return report(sandboxStatus{Error: fmt.Sprintf(format, args...)})
	}

	var spec sandboxSpec
	b, err := io.ReadAll(os.NewFile(sandboxSpecFD, "sandbox-spec"))
	if err != nil {
		return fail("reading the sandbox spec: %v", err)
	}
	if err := json.Unmarshal(b, &spec); err != nil {
		return fail("decoding the sandbox spec: %v", err)
	}

	// Descriptors the worker leaked without close-on-exec (exec.Cmd does not close them) must
	// not reach the script: only 0, 1 and 2 are passed on.
	if err := closeOnExecFrom(sandboxSpecFD); err != nil {
		return fail("marking inherited descriptors close-on-exec: %v", err)
	}

	var terminate chan os.Signal
	if spec.Namespaces {
		if os.Getpid() != 1 {
			return fail("sandbox helper is not the init of a new PID namespace (pid %d)", os.Getpid())
		}
		// Keep the mounts below out of the worker's namespace, then replace /proc with one that
		// shows this namespace's processes only.
		if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
			return fail("making mounts private: %v", err)
		}
		if err := unix.Mount("proc", "/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
			return fail("mounting a private /proc: %v", err)
		}
	} else {
		// Orphans of the script become our children, so killDescendants finds them.
		if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
			return fail("becoming a child subreaper: %v", err)
		}
		// The worker asks for a stop (timeout, cancellation) with SIGTERM.
		terminate = make(chan os.Signal, 1)
		signal.Notify(terminate, syscall.SIGTERM)
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fail("setting no_new_privs: %v", err)
	}

	sys := &syscall.SysProcAttr{
		Setpgid:   true, // `kill 0` in the script reaches its own processes, never the helper
		Pdeathsig: syscall.SIGKILL,
	}
	if spec.UID >= 0 {
		// setgroups([]) + setregid + setreuid: no supplementary groups, and leaving uid 0 clears
		// every capability.
		sys.Credential = &syscall.Credential{Uid: uint32(spec.UID), Gid: uint32(spec.GID), Groups: []uint32{}}
	}
	self := os.Getpid()
	var (
		mu         sync.Mutex // orders the start of the shell and a stop request
		terminated bool
	)
	if terminate != nil {
		go func() {
			<-terminate
			mu.Lock()
			terminated = true
			mu.Unlock()
			killDescendants(self)
		}()
	}
	mu.Lock()
	pid, err := syscall.ForkExec("/bin/sh", []string{"sh", "-c", spec.Script}, &syscall.ProcAttr{
		Dir: spec.Dir, Env: spec.Env, Files: []uintptr{0, 1, 2}, Sys: sys,
	})
	if err == nil && terminated {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	mu.Unlock()
	if err != nil {
		as := ""
		if spec.UID >= 0 {
			as = fmt.Sprintf(" as uid %d", spec.UID)
		}
		return fail("starting /bin/sh in %s%s: %v", spec.Dir, as, err)
	}

	var ws unix.WaitStatus
	for {
		p, err := unix.Wait4(-1, &ws, 0, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return report(sandboxStatus{Started: true, Error: fmt.Sprintf("waiting for the script: %v", err)})
		}
		if p == pid {
			break
		}
	}
	st := sandboxStatus{Started: true}
	switch {
	case ws.Exited():
		st.Exited, st.ExitCode = true, ws.ExitStatus()
	case ws.Signaled():
		st.Signal = int(ws.Signal())
	}
	if !spec.Namespaces {
		reapAll(self)
	}
	// In a PID namespace the kernel kills (and waits for) every process left in it when this
	// process, its init, exits.
	return report(st)
}

// closeOnExecFrom marks every descriptor >= first close-on-exec.
func closeOnExecFrom(first int) error {
	if err := unix.CloseRange(uint(first), math.MaxUint32, unix.CLOSE_RANGE_CLOEXEC); err == nil {
		return nil
	}
	// Kernels before 5.11: walk /proc/self/fd.
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return fmt.Errorf("listing descriptors: %w", err)
	}
	for _, e := range entries {
		if fd, err := strconv.Atoi(e.Name()); err == nil && fd >= first {
			syscall.CloseOnExec(fd)
		}
	}
	return nil
}

// reapAll kills every descendant of self and reaps them until self has no children left. A
// process forked between a scan and the kills is re-parented to self (a subreaper) when its
// parent dies, which wakes Wait4 and leads to another scan.
func reapAll(self int) {
	var ws unix.WaitStatus
	for {
		killDescendants(self)
		_, err := unix.Wait4(-1, &ws, 0, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil { // ECHILD: nothing left
			return
		}
	}
}

// killDescendants sends SIGKILL to every process whose ancestry leads to root.
func killDescendants(root int) {
	for _, p := range descendants(root) {
		_ = syscall.Kill(p, syscall.SIGKILL)
	}
}

// descendants lists the processes below root, from a scan of /proc/<pid>/stat.
func descendants(root int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	children := map[int][]int{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, ok := parentOf(pid); ok {
			children[ppid] = append(children[ppid], pid)
		}
	}
	var out []int
	queue := []int{root}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range children[p] {
			out = append(out, c)
			queue = append(queue, c)
		}
	}
	return out
}

// parentOf reads the parent pid from /proc/<pid>/stat ("pid (comm) state ppid ..."; comm may
// contain spaces and parentheses, so parse after the last ')').
func parentOf(pid int) (int, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 2 {
		return 0, false
	}
	ppid, err := strconv.Atoi(f[1])
	return ppid, err == nil
}
