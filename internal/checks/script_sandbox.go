package checks

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/checkflow/checkflow/internal/health"
)

// SandboxMode says how a script run is isolated from the worker that starts it. The mode of a run
// is reported in ShellResult.Isolation and in the execute collector's "isolation" result field.
type SandboxMode string

const (
	// SandboxAuto picks SandboxNamespaces when the worker can isolate scripts (it runs as root and
	// the kernel lets it create PID and mount namespaces), else SandboxProcessGroup.
	SandboxAuto SandboxMode = ""
	// SandboxNamespaces runs the script as PID 2 of a new PID namespace with its own mount
	// namespace and a private /proc (the script sees only its own processes), as an unprivileged
	// user (ScriptUserEnv, default nobody) without supplementary groups or capabilities and with
	// no_new_privs. When the run ends the namespace's init exits and the kernel kills every
	// process left in it, however it detached itself (setsid, double fork).
	SandboxNamespaces SandboxMode = "namespaces"
	// SandboxProcessGroup runs the script in its own process group under a helper process that is
	// a child subreaper: when the script ends or times out the helper kills every process the
	// script started, even ones that left the group with setsid. A worker running as root still
	// runs scripts as the unprivileged user; otherwise they run as the worker's user and can read
	// what it can (its files and, through /proc, its command line and environment).
	SandboxProcessGroup SandboxMode = "process-group"
)

// ScriptUserEnv names the environment variable that sets the user scripts run as when the worker
// runs as root: a name or numeric uid, optionally followed by ":group" (default: the user's
// primary group). Unset means "nobody". It is read once, at the first script run.
const ScriptUserEnv = "CHECKFLOW_SCRIPT_USER"

const defaultScriptUser = "nobody"

// sandboxIdentity is who a script runs as; uid -1 keeps the worker's own user.
type sandboxIdentity struct {
	uid, gid int
	name     string
}

// keepIdentity runs scripts as the worker's own user.
var keepIdentity = sandboxIdentity{uid: -1, gid: -1}

func (id sandboxIdentity) String() string {
	if id.uid < 0 {
		return "the worker's user"
	}
	return fmt.Sprintf("%s (uid %d, gid %d)", id.name, id.uid, id.gid)
}

// sandboxPlan is a resolved sandbox: the mode that runs (never SandboxAuto) and the identity.
type sandboxPlan struct {
	mode SandboxMode
	id   sandboxIdentity
}

// scriptLaunch is one script for launchScript (implemented per platform).
type scriptLaunch struct {
	plan           sandboxPlan
	script         string
	dir            string
	env            []string
	stdout, stderr io.Writer
}

// scriptExit is how a launched script ended.
type scriptExit struct {
	// started is false when the shell could not be started (err says why).
	started bool
	// exited reports a normal exit with code; signal is the signal that killed the shell (0: none).
	exited bool
	code   int
	signal syscall.Signal
	// err reports a start failure (started false) or a sandbox failure after the start.
	err error
}

// resolveScriptUser parses a ScriptUserEnv value ("" means nobody): "user" or "user:group", each
// a name or a number. Root is refused: a script running as root could read the secret key.
func resolveScriptUser(spec string) (sandboxIdentity, error) {
	if spec == "" {
		spec = defaultScriptUser
	}
	name, group, hasGroup := strings.Cut(spec, ":")
	id := sandboxIdentity{name: name}
	if n, err := strconv.Atoi(name); err == nil {
		id.uid, id.gid = n, n
		if u, err := user.LookupId(name); err == nil {
			id.name = u.Username
			id.gid, _ = strconv.Atoi(u.Gid)
		}
	} else {
		u, err := user.Lookup(name)
		if err != nil {
			return keepIdentity, fmt.Errorf("script user %q (%s): %w", name, ScriptUserEnv, err)
		}
		id.uid, _ = strconv.Atoi(u.Uid)
		id.gid, _ = strconv.Atoi(u.Gid)
	}
	if hasGroup {
		if n, err := strconv.Atoi(group); err == nil {
			id.gid = n
		} else {
			g, err := user.LookupGroup(group)
			if err != nil {
				return keepIdentity, fmt.Errorf("script group %q (%s): %w", group, ScriptUserEnv, err)
			}
			id.gid, _ = strconv.Atoi(g.Gid)
		}
	}
	if id.uid <= 0 || id.gid <= 0 {
		return keepIdentity, fmt.Errorf("script user %q (%s) must not be root or have a negative id", spec, ScriptUserEnv)
	}
	return id, nil
}

// scriptEnv is a script's whole environment: a safe PATH, HOME and TMPDIR pointing at the run's
// own directory and LANG=C.UTF-8, overlaid with the layers (run context, the check's env, its
// resolved secretEnv). Nothing of the worker's environment is passed on.
func scriptEnv(runDir string, layers ...map[string]string) []string {
	base := map[string]string{"PATH": defaultPath, "HOME": runDir, "TMPDIR": runDir, "LANG": "C.UTF-8"}
	env := health.MergeEnv(append([]map[string]string{base}, layers...)...)
	out := make([]string, 0, len(env))
	for _, k := range sortedKeys(env) {
		out = append(out, k+"="+env[k])
	}
	return out
}

// newRunDir creates the run's private directory (HOME, TMPDIR and default working directory of
// the script), owned by the identity the script runs as, mode 0700.
func newRunDir(id sandboxIdentity) (string, error) {
	dir, err := os.MkdirTemp("", "checkflow-script-")
	if err != nil {
		return "", fmt.Errorf("creating the run directory: %w", err)
	}
	if id.uid >= 0 {
		if err := os.Chown(dir, id.uid, id.gid); err != nil {
			_ = os.Remove(dir)
			return "", fmt.Errorf("handing the run directory to %s: %w", id, err)
		}
	}
	return dir, nil
}

// removeRunDir deletes a run directory with whatever the script left in it. A script running as
// the worker's user may have made subdirectories unreadable; those are made accessible first.
func removeRunDir(dir string) error {
	if err := os.RemoveAll(dir); err == nil {
		return nil
	}
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if d != nil && d.IsDir() {
			_ = os.Chmod(path, 0o700)
		}
		if err != nil && errors.Is(err, fs.ErrPermission) {
			_ = os.Chmod(path, 0o700)
		}
		return nil
	})
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("removing the run directory: %w", err)
	}
	return nil
}
