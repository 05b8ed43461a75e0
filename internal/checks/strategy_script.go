package checks

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/checkflow/checkflow/internal/health"
)

// MaxScriptOutputBytes caps stdout and stderr of a script, each; the rest is discarded and the
// result flagged stdoutTruncated / stderrTruncated.
const MaxScriptOutputBytes = 64 << 10

// scriptWaitDelay bounds how long a run waits, after a stop was requested or the sandbox exited,
// for the sandbox to exit and the output pipes to close before it is killed outright.
const scriptWaitDelay = time.Second

// defaultPath is the PATH of scripts unless their env sets one.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

func scriptStrategy() *strategyDef {
	return &strategyDef{
		id: "script", plugin: "healthcheck-script", displayName: "Script",
		description: "Runs shell scripts (exit code 0 is healthy) or inline TypeScript/JavaScript.",
		connect:     connectNothing,
		collectors: []*collectorDef{{
			id: "execute", displayName: "Shell Script", allowMultiple: true,
			description: "Runs the script with sh -c in a sandbox (its own PID and mount namespaces as an unprivileged user when the worker runs as root, else its own process group) with a scrubbed environment. A non-zero exit or a timeout fails the collector; when the run ends, by exit or timeout, every process the script started is killed.",
			config: objectSchema{Props: []prop{
				{Name: "script", Type: "string", Title: "Script", Required: true, MinLength: 1},
				{Name: "cwd", Type: "string", Title: "Working directory"},
				{Name: "env", Type: "object", Title: "Environment", Values: &prop{Type: "string"}, Check: checkEnvNames},
				secretEnvProp(),
				timeoutProp(30000, 100, 300000, "Kill the script (and its children) after this long."),
			}},
			result: objectSchema{Props: []prop{
				{Name: "exitCode", Type: "integer"},
				{Name: "stdout", Type: "string"},
				{Name: "stderr", Type: "string"},
				{Name: "stdoutTruncated", Type: "boolean"},
				{Name: "stderrTruncated", Type: "boolean"},
				{Name: "executionTimeMs", Type: "integer"},
				{Name: "success", Type: "boolean"},
				{Name: "timedOut", Type: "boolean"},
				{Name: "isolation", Type: "string", Title: "Sandbox mode: namespaces or process-group"},
			}},
			aggregates: []aggSpec{
				{Name: "avgExecutionTimeMs", Type: "average", Source: "executionTimeMs"},
				{Name: "successRate", Type: "rate", Source: "success"},
				{Name: "timeoutCount", Type: "counter", Source: "timedOut"},
			},
			collect: collectScript,
		}, inlineScriptCollector()},
	}
}

// RunContextEnv returns the run-context variables a script sees: health.RunContextEnv's
// CHECKSTACK_CHECK_ID, CHECKSTACK_CHECK_NAME, CHECKSTACK_CHECK_INTERVAL_SECONDS (when a check is
// set) and CHECKSTACK_SYSTEM_ID, CHECKSTACK_SYSTEM_NAME (when a system is set), each also under
// the CHECKFLOW_ prefix.
func RunContextEnv(rc RunContext) map[string]string {
	var hrc health.RunContext
	if rc.CheckID != "" {
		hrc.Check = &health.CheckRef{ID: rc.CheckID, Name: rc.CheckName, IntervalSeconds: rc.IntervalSeconds}
	}
	if rc.SystemID != "" {
		hrc.System = &health.SystemRef{ID: rc.SystemID, Name: rc.SystemName}
	}
	env := health.RunContextEnv(hrc)
	for _, k := range sortedKeys(env) {
		env["CHECKFLOW_"+strings.TrimPrefix(k, "CHECKSTACK_")] = env[k]
	}
	return env
}

// ShellRequest is one shell script run.
type ShellRequest struct {
	// Script is run as /bin/sh -c Script in the sandbox.
	Script string
	// Dir is the working directory ("" = the run's own fresh directory, which is also HOME and
	// TMPDIR and is removed when the run ends). A directory given here must be usable by the user
	// the script runs as.
	Dir string
	// Env is layered over a minimal base (a safe PATH, HOME and TMPDIR set to the run's directory,
	// LANG=C.UTF-8); nothing of the worker's environment is passed on.
	Env map[string]string
	// Timeout kills the script and everything it started when reached (0: only ctx bounds the run).
	Timeout time.Duration
	// Sandbox selects the isolation (SandboxAuto: the strongest available).
	Sandbox SandboxMode
}

// ShellResult is the outcome of RunShell.
type ShellResult struct {
	// Started is false when the shell could not be started (bad working directory, ...).
	Started bool
	// Isolation is the sandbox mode the script ran in ("" when none could be chosen).
	Isolation SandboxMode
	// ExitCode is nil when the shell did not exit by itself (killed by a signal, not started).
	ExitCode *int
	// Stdout and Stderr hold at most MaxScriptOutputBytes each.
	Stdout, Stderr string
	// StdoutTruncated and StderrTruncated report output beyond the cap.
	StdoutTruncated, StderrTruncated bool
	// Duration is the wall time from start to exit.
	Duration time.Duration
	// TimedOut reports that Timeout killed the script.
	TimedOut bool
	// Err is nil on exit code 0; otherwise "Shell script exited with code N",
	// "Script execution timed out", a signal, a cancellation or a start failure.
	Err error
}

// RunShell runs a shell script in a sandbox (see SandboxMode) with output capped at
// MaxScriptOutputBytes per stream, stdin from /dev/null and no other inherited descriptor. When
// the shell exits, times out or ctx is cancelled, every process the script started is killed
// before RunShell returns.
func RunShell(ctx context.Context, req ShellRequest) ShellResult {
	// The sandbox is resolved before the timeout starts: the first run of a process also probes
	// what the machine allows, which must not eat into that script's time.
	plan, err := resolveSandbox(req.Sandbox)
	if err != nil {
		return ShellResult{Err: fmt.Errorf("starting script: %w", err)}
	}
	runDir, err := newRunDir(plan.id)
	if err != nil {
		return ShellResult{Isolation: plan.mode, Err: fmt.Errorf("starting script: %w", err)}
	}
	defer func() { _ = removeRunDir(runDir) }()
	sctx, cancel := context.WithCancel(ctx)
	if req.Timeout > 0 {
		cancel()
		sctx, cancel = context.WithTimeoutCause(ctx, req.Timeout, errScriptTimeout)
	}
	defer cancel()
	start := time.Now()
	dir := req.Dir
	if dir == "" {
		dir = runDir
	}
	stdout := &cappedBuffer{max: MaxScriptOutputBytes}
	stderr := &cappedBuffer{max: MaxScriptOutputBytes}
	ex := launchScript(sctx, scriptLaunch{
		plan: plan, script: req.Script, dir: dir, env: scriptEnv(runDir, req.Env),
		stdout: stdout, stderr: stderr,
	})
	if !ex.started {
		return ShellResult{Isolation: plan.mode, Duration: time.Since(start), Err: fmt.Errorf("starting script: %w", ex.err)}
	}
	res := ShellResult{
		Started:   true,
		Isolation: plan.mode,
		Stdout:    stdout.String(), Stderr: stderr.String(),
		StdoutTruncated: stdout.isTruncated(), StderrTruncated: stderr.isTruncated(),
		Duration: time.Since(start),
		TimedOut: errors.Is(context.Cause(sctx), errScriptTimeout),
	}
	if ex.exited {
		code := ex.code
		res.ExitCode = &code
	}
	switch {
	case res.TimedOut:
		res.Err = errors.New(health.ScriptTimedOutMessage)
	case ctx.Err() != nil:
		res.Err = fmt.Errorf("script cancelled: %w", context.Cause(ctx))
	case ex.err != nil:
		res.Err = fmt.Errorf("Shell script did not exit normally: %w", ex.err) //nolint:staticcheck // reference style
	case ex.signal != 0:
		res.Err = fmt.Errorf("Shell script terminated by signal %s", ex.signal) //nolint:staticcheck // reference style
	case !ex.exited:
		res.Err = errors.New("Shell script did not exit normally") //nolint:staticcheck // reference style
	case ex.code != 0:
		res.Err = errors.New(health.ShellExitMessage(ex.code))
	}
	return res
}

// cappedBuffer keeps the first max bytes written and discards (but accepts) the rest, so a
// chatty script never blocks on a full pipe.
type cappedBuffer struct {
	mu        sync.Mutex
	max       int
	buf       []byte
	truncated bool
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	room := b.max - len(b.buf)
	if len(p) > room {
		b.truncated = true
		if room > 0 {
			b.buf = append(b.buf, p[:room]...)
		}
		return len(p), nil
	}
	b.buf = append(b.buf, p...)
	return len(p), nil
}

func (b *cappedBuffer) isTruncated() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.truncated
}

// String returns the kept output as valid UTF-8 (a rune cut by the cap is dropped, other invalid
// bytes become U+FFFD).
func (b *cappedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	data := b.buf
	if b.truncated {
		for i := len(data) - 1; i >= 0 && i >= len(data)-utf8.UTFMax; i-- {
			if utf8.RuneStart(data[i]) {
				if !utf8.FullRune(data[i:]) {
					data = data[:i]
				}
				break
			}
		}
	}
	return strings.ToValidUTF8(string(data), "\uFFFD")
}

func killGroup(pid int) {
	if pid > 0 {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
	}
}

var errScriptTimeout = errors.New("script timeout")

func collectScript(ctx context.Context, _ client, raw map[string]any, in collectInput) (map[string]any, error) {
	userEnv := map[string]string{}
	if m, ok := raw["env"].(map[string]any); ok {
		for k, v := range m {
			userEnv[k] = jsString(v)
		}
	}
	r := RunShell(ctx, ShellRequest{
		Script:  stringField(raw, "script"),
		Dir:     stringField(raw, "cwd"),
		Env:     health.MergeEnv(RunContextEnv(in.Run), userEnv, in.SecretEnv),
		Timeout: time.Duration(intField(raw, "timeout", 30000)) * time.Millisecond,
	})
	if !r.Started || (ctx.Err() != nil && !r.TimedOut) {
		return nil, r.Err
	}
	res := map[string]any{
		"stdout":          r.Stdout,
		"stderr":          r.Stderr,
		"stdoutTruncated": r.StdoutTruncated,
		"stderrTruncated": r.StderrTruncated,
		"executionTimeMs": int(r.Duration.Milliseconds()),
		"timedOut":        r.TimedOut,
		"success":         r.Err == nil,
		"isolation":       string(r.Isolation),
	}
	if r.ExitCode != nil {
		res["exitCode"] = *r.ExitCode
	}
	return res, r.Err
}
