//go:build !linux

package checks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"sync"
	"syscall"
)

// sandboxWarning logs, once per process at the first script run, that scripts are not isolated
// on this platform (a package-level sync.Once: the platform cannot change while it runs).
var sandboxWarning sync.Once

// resolveSandbox: only SandboxProcessGroup exists outside Linux, as the worker's own user.
func resolveSandbox(want SandboxMode) (sandboxPlan, error) {
	switch want {
	case SandboxAuto, SandboxProcessGroup:
		sandboxWarning.Do(func() {
			slog.Default().Warn("script checks are not isolated from the worker: they run as the worker's user in a process group that is killed when the run ends",
				slog.String("reason", "namespaces need Linux"))
		})
		return sandboxPlan{mode: SandboxProcessGroup, id: keepIdentity}, nil
	case SandboxNamespaces:
		return sandboxPlan{}, errors.New("script isolation with namespaces is unavailable: it needs Linux")
	}
	return sandboxPlan{}, fmt.Errorf("unknown sandbox mode %q", want)
}

// launchScript runs /bin/sh -c in a new process group, killed as a group on ctx done and after
// the shell exits. Processes that leave the group (setsid) are not tracked here.
func launchScript(ctx context.Context, l scriptLaunch) scriptExit {
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", l.script)
	cmd.Dir = l.dir
	cmd.Env = l.env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		killGroup(cmd.Process.Pid)
		return nil
	}
	cmd.WaitDelay = scriptWaitDelay
	cmd.Stdout, cmd.Stderr = l.stdout, l.stderr
	if err := cmd.Start(); err != nil {
		return scriptExit{err: err}
	}
	waitErr := cmd.Wait()
	killGroup(cmd.Process.Pid)
	state := cmd.ProcessState
	switch {
	case state == nil:
		return scriptExit{started: true, err: fmt.Errorf("script did not run: %w", waitErr)}
	case state.Exited():
		return scriptExit{started: true, exited: true, code: state.ExitCode()}
	}
	if ws, ok := state.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return scriptExit{started: true, signal: ws.Signal()}
	}
	return scriptExit{started: true, err: fmt.Errorf("Shell script did not exit normally: %w", waitErr)} //nolint:staticcheck // reference style
}
