//go:build linux

package jsrun

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/checkflow/checkflow/internal/health"
)

// killGrace is how long after its timeout the parent waits for the evaluator to report before
// killing it (the evaluator interrupts the script itself at the timeout).
const killGrace = 2 * time.Second

// maxReportBytes bounds the evaluator's report (result and both outputs, JSON-escaped).
const maxReportBytes = 2*MaxResultBytes + 12*MaxOutputBytes + 4096

// evaluatorUser is the user the evaluator switches to when this process runs as root.
const evaluatorUser = "nobody"

// maxDiagBytes bounds what is kept of the evaluator's own stderr (Go runtime failures).
const maxDiagBytes = 16 << 10

// Run transpiles and evaluates a script in an evaluator process (see the package comment) and
// reports its result, output and how it ended. ctx cancels the run.
func Run(ctx context.Context, req Request) Result {
	start := time.Now()
	code, err := Transpile(req.Kind, req.Script)
	if err != nil {
		return Result{Duration: time.Since(start), Err: err}
	}
	timeout := req.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	limit := req.MemoryLimit
	if limit <= 0 {
		limit = DefaultMemoryLimit
	}
	ctxJSON := []byte(`{"config":{}}`)
	if req.Context != nil {
		if ctxJSON, err = json.Marshal(req.Context); err != nil {
			return Result{Duration: time.Since(start), Err: fmt.Errorf("encoding the script context: %w", err)}
		}
	}
	uid, gid := evaluatorIdentity()
	specJSON, err := json.Marshal(spec{Code: code, Context: ctxJSON, Env: req.Env, TimeoutMs: timeout.Milliseconds(), MemoryLimit: limit, UID: uid, GID: gid})
	if err != nil {
		return Result{Duration: time.Since(start), Err: fmt.Errorf("encoding the evaluation: %w", err)}
	}

	deadline := errors.New("evaluator deadline")
	rctx, cancel := context.WithTimeoutCause(ctx, timeout+killGrace, deadline)
	defer cancel()
	stdout := &limitedBuffer{max: maxReportBytes}
	stderr := &limitedBuffer{max: maxDiagBytes}
	cmd := exec.CommandContext(rctx, "/proc/self/exe")
	cmd.Args = []string{helperArg0}
	cmd.Env = []string{} // not nil: nil would mean this process's environment
	cmd.Dir = "/"
	cmd.Stdin = strings.NewReader(string(specJSON))
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	runErr := cmd.Run()
	elapsed := time.Since(start)

	var out outcome
	if runErr == nil && !stdout.truncated && json.Unmarshal(stdout.bytes(), &out) == nil {
		return fromOutcome(out, limit, elapsed)
	}
	res := Result{Duration: elapsed}
	diag := stderr.String()
	var sig syscall.Signal
	if ps := cmd.ProcessState; ps != nil {
		if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			sig = ws.Signal()
		}
	}
	switch {
	case errors.Is(context.Cause(rctx), deadline) || sig == syscall.SIGXCPU:
		res.TimedOut, res.Err = true, errors.New(health.ScriptTimedOutMessage)
	case ctx.Err() != nil:
		res.Err = fmt.Errorf("script cancelled: %w", context.Cause(ctx))
	case outOfMemory(diag):
		res.MemoryExceeded, res.Err = true, memoryError(limit)
	case stdout.truncated:
		res.Err = errors.New("the script evaluator's report is too large")
	case runErr == nil:
		res.Err = fmt.Errorf("the script evaluator ended without a report%s", firstLine(diag))
	default:
		res.Err = fmt.Errorf("the script evaluator failed: %w%s", runErr, firstLine(diag))
	}
	return res
}

// evaluatorIdentity is who the evaluator runs as: in a process running as root, the
// unprivileged user "nobody" (0, 0 when it does not exist: the evaluator then stays root);
// otherwise the process's own user (0, 0).
func evaluatorIdentity() (uid, gid int) {
	if os.Geteuid() != 0 {
		return 0, 0
	}
	u, err := user.Lookup(evaluatorUser)
	if err != nil {
		return 0, 0
	}
	uid, uerr := strconv.Atoi(u.Uid)
	gid, gerr := strconv.Atoi(u.Gid)
	if uerr != nil || gerr != nil {
		return 0, 0
	}
	return uid, gid
}

func fromOutcome(out outcome, limit int64, elapsed time.Duration) Result {
	res := Result{
		Result: out.Result,
		Stdout: out.Stdout, Stderr: out.Stderr,
		StdoutTruncated: out.StdoutTruncated, StderrTruncated: out.StderrTruncated,
		Duration: elapsed,
		UID:      out.UID,
	}
	if out.DurationNs > 0 {
		res.Duration = time.Duration(out.DurationNs)
	}
	switch {
	case out.Reason == reasonTimeout:
		res.Result, res.TimedOut, res.Err = nil, true, errors.New(health.ScriptTimedOutMessage)
	case out.Reason == reasonMemory:
		res.Result, res.MemoryExceeded, res.Err = nil, true, memoryError(limit)
	case out.Error != "":
		res.Result, res.Err = nil, errors.New(out.Error)
	}
	return res
}

// outOfMemory recognises the Go runtime's failures when the evaluator's data rlimit refuses
// memory: a heap allocation ("fatal error: runtime: out of memory", "cannot allocate memory"),
// a new thread's stack ("pthread_create failed: Resource temporarily unavailable"), in a binary
// built with -race the race detector's shadow memory ("ThreadSanitizer failed to allocate"),
// and a fault of the runtime itself: when the rlimit refuses memory to the garbage collector's
// own structures while a script allocates a huge object, the runtime can crash with a raw
// SIGSEGV (seen about once in fifty runs of a 1 GiB string under parallel load). A Go panic of
// the evaluator's code is reported as "panic: …" and is not matched.
func outOfMemory(diag string) bool {
	if strings.HasPrefix(diag, "SIGSEGV: segmentation violation") || strings.Contains(diag, "unexpected signal during runtime execution") {
		return true
	}
	for _, s := range []string{"out of memory", "cannot allocate memory", "pthread_create failed", "failed to create new OS thread", "failed to allocate"} {
		if strings.Contains(diag, s) {
			return true
		}
	}
	return false
}

func memoryError(limit int64) error {
	return fmt.Errorf("%s: the script needed more than %d MiB", MemoryExceededMessage, limit>>20)
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return ""
	}
	line, _, _ := strings.Cut(s, "\n")
	return " (" + line + ")"
}

// limitedBuffer keeps the first max bytes written and discards the rest.
type limitedBuffer struct {
	mu        sync.Mutex
	max       int
	buf       []byte
	truncated bool
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := len(p)
	if room := b.max - len(b.buf); n > room {
		b.truncated = true
		p = p[:max(room, 0)]
	}
	b.buf = append(b.buf, p...)
	return n, nil
}

func (b *limitedBuffer) bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf
}

func (b *limitedBuffer) String() string { return string(b.bytes()) }
