package chaos

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// child is this test binary running in a role (see TestMain) in its own process.
type child struct {
	name string
	cmd  *exec.Cmd
	// exited is closed once the process has ended and its output is drained; waitErr is then
	// its exit error.
	exited  chan struct{}
	waitErr error
}

// startChild starts the test binary with env added to the environment, its stdout and stderr
// appended to logPath, and returns once it printed readyLine. A child that does not get ready
// within timeout is killed.
func startChild(name, logPath string, timeout time.Duration, env ...string) (*child, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open log of %s: %w", name, err)
	}
	fmt.Fprintf(logFile, "==== %s starting at %s\n", name, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = logFile
	cmd.SysProcAttr = childSysProcAttr()
	out, err := cmd.StdoutPipe()
	if err != nil {
		logFile.Close()
		return nil, fmt.Errorf("stdout of %s: %w", name, err)
	}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	c := &child{name: name, cmd: cmd, exited: make(chan struct{})}
	ready := make(chan struct{})
	go func() {
		defer close(c.exited)
		defer logFile.Close()
		r := bufio.NewReader(out)
		for {
			line, err := r.ReadString('\n')
			_, _ = logFile.WriteString(line)
			if strings.TrimSpace(line) == readyLine {
				close(ready)
				break
			}
			if err != nil {
				break
			}
		}
		// Drain the rest before Wait (which closes the pipe).
		_, _ = io.Copy(logFile, r)
		c.waitErr = cmd.Wait()
		fmt.Fprintf(logFile, "==== %s ended at %s: %v\n", name, time.Now().Format(time.RFC3339Nano), c.waitErr)
	}()
	select {
	case <-ready:
		return c, nil
	case <-c.exited:
		return nil, fmt.Errorf("%s exited before it was ready (%v); see %s:\n%s", name, c.waitErr, logPath, tail(logPath, 20))
	case <-time.After(timeout):
		_ = c.kill()
		return nil, fmt.Errorf("%s was not ready after %v; see %s:\n%s", name, timeout, logPath, tail(logPath, 20))
	}
}

// kill ends the child with SIGKILL (no chance to clean up) and waits until it is gone.
func (c *child) kill() error {
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("kill %s: %w", c.name, err)
	}
	select {
	case <-c.exited:
		return nil
	case <-time.After(30 * time.Second):
		return fmt.Errorf("%s still running 30 s after SIGKILL", c.name)
	}
}

// stop asks the child to stop (SIGTERM), waits up to grace, then kills it. It reports an
// unclean exit.
func (c *child) stop(grace time.Duration) error {
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("stop %s: %w", c.name, err)
	}
	select {
	case <-c.exited:
		if c.waitErr != nil {
			return fmt.Errorf("%s: %w", c.name, c.waitErr)
		}
		return nil
	case <-time.After(grace):
		if err := c.kill(); err != nil {
			return err
		}
		return fmt.Errorf("%s did not stop within %v of SIGTERM; killed", c.name, grace)
	}
}

// tail returns the last n lines of a file (for error messages).
func tail(path string, n int) string {
	b, err := os.ReadFile(filepath.Clean(path))
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
