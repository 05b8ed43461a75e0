//go:build linux

package checks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// sandboxCaps is what this process can do for scripts, found once by probeSandbox.
type sandboxCaps struct {
	// id is who scripts run as: the unprivileged script user when the worker is root (and the
	// user exists), else the worker's own user.
	id sandboxIdentity
	// nsErr says why SandboxNamespaces is unavailable; nil when it is available.
	nsErr error
}

// sandboxProbeTimeout bounds the trial run of probeSandbox (generous: a loaded machine must not
// be mistaken for one without namespaces).
const sandboxProbeTimeout = 30 * time.Second

// sandboxCapabilities probes once per process, at the first script run, whether scripts can be
// isolated with namespaces (a trial run of the helper), and logs one WARN through slog.Default
// when they cannot. The answer cannot change while the process runs, so it is kept in this
// package-level sync.OnceValue — the package's only process-wide state.
var sandboxCapabilities = sync.OnceValue(func() sandboxCaps {
	caps := probeSandbox(context.Background())
	if caps.nsErr != nil {
		slog.Default().Warn("script checks are not isolated from the worker: they run in a process group that is killed when the run ends, without their own PID and mount namespaces",
			slog.String("reason", caps.nsErr.Error()),
			slog.String("runAs", caps.id.String()),
			slog.String("exposure", exposure(caps.id)))
	}
	return caps
})

func exposure(id sandboxIdentity) string {
	if id.uid < 0 {
		return "scripts can read whatever the worker's user can: the secret key file and, through /proc, the worker's command line and environment"
	}
	return "scripts can see the command lines of all processes in /proc (a --secret-key flag among them)"
}

// probeSandbox finds the script identity and tries a namespaced run of `exit 0`.
func probeSandbox(ctx context.Context) sandboxCaps {
	if os.Geteuid() != 0 {
		return sandboxCaps{id: keepIdentity, nsErr: errors.New("the worker does not run as root")}
	}
	id, err := resolveScriptUser(os.Getenv(ScriptUserEnv))
	if err != nil {
		return sandboxCaps{id: keepIdentity, nsErr: err}
	}
	ctx, cancel := context.WithTimeout(ctx, sandboxProbeTimeout)
	defer cancel()
	var stderr bytes.Buffer
	ex := launchScript(ctx, scriptLaunch{
		plan:   sandboxPlan{mode: SandboxNamespaces, id: id},
		script: "exit 0", dir: "/", env: []string{"PATH=" + defaultPath},
		stdout: io.Discard, stderr: &stderr,
	})
	switch {
	case ex.err != nil:
		err = ex.err
	case !ex.exited || ex.code != 0:
		err = fmt.Errorf("trial script did not exit 0 (signal %d, code %d): %s", ex.signal, ex.code, strings.TrimSpace(stderr.String()))
	}
	if err != nil {
		return sandboxCaps{id: id, nsErr: fmt.Errorf("trial run in new PID and mount namespaces: %w", err)}
	}
	return sandboxCaps{id: id}
}

// resolveSandbox turns the requested mode into the plan of a run.
func resolveSandbox(want SandboxMode) (sandboxPlan, error) {
	caps := sandboxCapabilities()
	switch want {
	case SandboxAuto:
		if caps.nsErr == nil {
			return sandboxPlan{mode: SandboxNamespaces, id: caps.id}, nil
		}
		return sandboxPlan{mode: SandboxProcessGroup, id: caps.id}, nil
	case SandboxNamespaces:
		if caps.nsErr != nil {
			return sandboxPlan{}, fmt.Errorf("script isolation with namespaces is unavailable: %w", caps.nsErr)
		}
		return sandboxPlan{mode: SandboxNamespaces, id: caps.id}, nil
	case SandboxProcessGroup:
		return sandboxPlan{mode: SandboxProcessGroup, id: caps.id}, nil
	}
	return sandboxPlan{}, fmt.Errorf("unknown sandbox mode %q", want)
}

// launchScript runs the script through the sandbox helper (the worker's binary re-executed, see
// sandboxHelperMain). The helper gets an empty environment, stdin /dev/null, the output writers
// and two pipes (spec in, status out); exec.Cmd passes no other descriptor.
//
// Stopping (ctx done): in SandboxNamespaces the helper — the namespace's init — is killed with
// SIGKILL and the kernel kills everything in the namespace; in SandboxProcessGroup the helper
// gets SIGTERM, kills every descendant and exits. Either way, if the helper has not exited
// within scriptWaitDelay it is killed, and its process group is killed when it has exited.
func launchScript(ctx context.Context, l scriptLaunch) scriptExit {
	spec, err := json.Marshal(sandboxSpec{
		Namespaces: l.plan.mode == SandboxNamespaces,
		UID:        l.plan.id.uid, GID: l.plan.id.gid,
		Dir: l.dir, Script: l.script, Env: l.env,
	})
	if err != nil {
		return scriptExit{err: fmt.Errorf("encoding the sandbox spec: %w", err)}
	}
	specR, specW, err := os.Pipe()
	if err != nil {
		return scriptExit{err: fmt.Errorf("sandbox pipe: %w", err)}
	}
	defer specW.Close()
	defer specR.Close()
	statusR, statusW, err := os.Pipe()
	if err != nil {
		return scriptExit{err: fmt.Errorf("sandbox pipe: %w", err)}
	}
	defer statusR.Close()
	defer statusW.Close()

	cmd := exec.CommandContext(ctx, "/proc/self/exe")
	cmd.Args = []string{sandboxArg0}
	cmd.Env = []string{} // not nil: nil would mean the worker's environment
	cmd.Dir = "/"
	cmd.Stdout, cmd.Stderr = l.stdout, l.stderr
	cmd.ExtraFiles = []*os.File{specR, statusW} // fds 3 and 4
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if l.plan.mode == SandboxNamespaces {
		cmd.SysProcAttr.Cloneflags = syscall.CLONE_NEWPID | syscall.CLONE_NEWNS
		cmd.Cancel = func() error {
			killGroup(cmd.Process.Pid)
			return nil
		}
	} else {
		cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	}
	cmd.WaitDelay = scriptWaitDelay
	if err := cmd.Start(); err != nil {
		return scriptExit{err: fmt.Errorf("starting the script sandbox: %w", err)}
	}
	_ = specR.Close()
	_ = statusW.Close()
	_, werr := specW.Write(spec)
	_ = specW.Close()
	waitErr := cmd.Wait()
	killGroup(cmd.Process.Pid)

	b, _ := io.ReadAll(io.LimitReader(statusR, 1<<16))
	var st sandboxStatus
	if json.Unmarshal(b, &st) == nil {
		switch {
		case !st.Started:
			return scriptExit{err: errors.New(st.Error)}
		case st.Error != "":
			return scriptExit{started: true, err: errors.New(st.Error)}
		}
		return scriptExit{started: true, exited: st.Exited, code: st.ExitCode, signal: syscall.Signal(st.Signal)}
	}
	// No report: the helper was killed (timeout, cancellation, OOM) or failed.
	if ps := cmd.ProcessState; ps != nil {
		if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return scriptExit{started: true, signal: ws.Signal()}
		}
	}
	if werr != nil {
		return scriptExit{err: fmt.Errorf("script sandbox: %w (sending its spec: %w)", waitErr, werr)}
	}
	return scriptExit{started: true, err: fmt.Errorf("script sandbox ended without a report: %w", waitErr)}
}
