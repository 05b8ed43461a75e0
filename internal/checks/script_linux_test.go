//go:build linux

package checks

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// markerVar is put into a test script's environment; every process the script starts inherits it,
// so markedProcs finds them in the host's /proc whatever PID namespace they run in.
const markerVar = "CHECKFLOW_TEST_MARKER"

func newMarker(t *testing.T) string {
	t.Helper()
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// markedProcs lists the live processes whose environment holds markerVar=marker.
func markedProcs(t *testing.T, marker string) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	want := []byte("\x00" + markerVar + "=" + marker + "\x00")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		env, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err != nil { // gone, or not ours to read
			continue
		}
		if bytes.Contains(append([]byte{0}, env...), want) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// waitGone waits, event-driven through pidfds, until every pid has exited; it fails the test
// when one is still running at the deadline.
func waitGone(t *testing.T, pids []int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for _, pid := range pids {
		fd, err := unix.PidfdOpen(pid, 0)
		if errors.Is(err, unix.ESRCH) {
			continue // already exited and reaped
		}
		if err != nil {
			t.Fatalf("pidfd_open(%d): %v", pid, err)
		}
		for {
			ms := int(time.Until(deadline).Milliseconds())
			n, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, max(ms, 0))
			if errors.Is(err, unix.EINTR) {
				continue
			}
			_ = unix.Close(fd)
			if err != nil {
				t.Fatalf("poll pidfd: %v", err)
			}
			if n == 0 {
				t.Fatalf("process %d of the script is still running %s after the run ended", pid, within)
			}
			break
		}
	}
}

// requireMarkedGone fails when a process of the script (found by its marker) is still running
// after at most `within`.
func requireMarkedGone(t *testing.T, marker string, within time.Duration) {
	t.Helper()
	waitGone(t, markedProcs(t, marker), within)
	if left := markedProcs(t, marker); len(left) > 0 {
		t.Fatalf("processes %v of the script still running", left)
	}
}

// requireNamespaces skips when this process cannot isolate scripts with namespaces (not root, or
// a container without CAP_SYS_ADMIN); CI runs as root, where they are available.
func requireNamespaces(t *testing.T) {
	t.Helper()
	if err := sandboxCapabilities().nsErr; err != nil {
		t.Skipf("scripts cannot be isolated with namespaces here: %v", err)
	}
}

// scriptUser is who scripts run as in every mode: the sandbox user when the tests run as root.
func scriptUser(t *testing.T) (uid, gid int) {
	t.Helper()
	if os.Geteuid() != 0 {
		return os.Getuid(), os.Getgid()
	}
	id, err := resolveScriptUser("")
	if err != nil {
		t.Fatal(err)
	}
	return id.uid, id.gid
}

// sandboxModes are the modes a test runs in: process-group always, namespaces where available.
func sandboxModes(t *testing.T) []SandboxMode {
	t.Helper()
	modes := []SandboxMode{SandboxProcessGroup}
	if sandboxCapabilities().nsErr == nil {
		modes = append(modes, SandboxNamespaces)
	} else {
		t.Logf("namespaces mode not tested: %v", sandboxCapabilities().nsErr)
	}
	return modes
}

func TestScriptTimeoutKillsChildren(t *testing.T) {
	tests := []struct {
		name            string
		strategyTimeout int
		scriptTimeout   int
		check           func(t *testing.T, res Result)
	}{
		{"collector timeout", 30000, 500, func(t *testing.T, res Result) {
			requireUnhealthy(t, res, "Check failed: Script execution timed out")
			c := collector(t, res, "s")
			if c["timedOut"] != true || c["success"] != false || c["stdout"] != "started\n" {
				t.Fatalf("collector %v", c)
			}
		}},
		{"hard timeout", 500, 30000, func(t *testing.T, res Result) { requireTimeout(t, res, 500) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			marker := newMarker(t)
			res := run(t, "script", map[string]any{"timeout": tc.strategyTimeout}, entry(t, "s", "execute", map[string]any{
				"script": `sleep 60 & echo started; wait`, "timeout": tc.scriptTimeout, "env": map[string]any{markerVar: marker},
			}))
			tc.check(t, res)
			requireMarkedGone(t, marker, 5*time.Second)
		})
	}
}

func TestScriptBackgroundChildKilledAfterExit(t *testing.T) {
	marker := newMarker(t)
	res := run(t, "script", map[string]any{"timeout": 10000}, entry(t, "s", "execute", map[string]any{
		"script": `sleep 60 & echo done`, "env": map[string]any{markerVar: marker},
	}))
	requireHealthy(t, res)
	requireMarkedGone(t, marker, 5*time.Second)
}

// TestScriptSetsidChildrenEndWithRun: children that left the script's process group and session
// (setsid) are gone when RunShell returns, after a normal exit as after a timeout, in every mode;
// the file such a child would write 3s later never appears.
func TestScriptSetsidChildrenEndWithRun(t *testing.T) {
	// The setsid child signals through a FIFO once it is up, so "started" proves it runs.
	const prologue = `mkfifo ready
sleep 60 &
setsid sh -c 'echo up > ready; sleep 3; touch "$OUT/escaped"' &
read x < ready
echo started
`
	tests := []struct {
		name    string
		tail    string
		timeout time.Duration
		wantErr string
	}{
		{"exit 0 at once", "exit 0", 30 * time.Second, ""},
		{"timeout 1s", "sleep 30", time.Second, "Script execution timed out"},
	}
	for _, mode := range append(sandboxModes(t), SandboxAuto) {
		for _, tc := range tests {
			t.Run(string(mode)+"/"+tc.name, func(t *testing.T) {
				out, marker := sharedDir(t), newMarker(t)
				res := RunShell(context.Background(), ShellRequest{
					Script: prologue + tc.tail, Timeout: tc.timeout, Sandbox: mode,
					Env: map[string]string{"OUT": out, markerVar: marker},
				})
				if res.Stdout != "started\n" || !res.Started {
					t.Fatalf("stdout %q stderr %q err %v", res.Stdout, res.Stderr, res.Err)
				}
				if mode != SandboxAuto && res.Isolation != mode {
					t.Errorf("isolation %q, want %q", res.Isolation, mode)
				}
				if (res.Err == nil) != (tc.wantErr == "") || (res.Err != nil && !strings.Contains(res.Err.Error(), tc.wantErr)) {
					t.Errorf("err %v, want %q", res.Err, tc.wantErr)
				}
				if left := markedProcs(t, marker); len(left) > 0 {
					t.Errorf("processes %v of the script outlived the run", left)
					waitGone(t, left, 10*time.Second) // then show what they did
				}
				if _, err := os.Stat(filepath.Join(out, "escaped")); err == nil {
					t.Errorf("a setsid child of the script ran on after the run ended")
				}
			})
		}
	}
}

// TestScriptCannotReadSecretKeyFile: a 0600 root-owned file (standing in for
// <data-dir>/secret.key) is out of a script's reach.
func TestScriptCannotReadSecretKeyFile(t *testing.T) {
	requireNamespaces(t)
	dir := sharedDir(t)
	if err := os.Chmod(dir, 0o755); err != nil { // like `checkflow dev`'s data dir
		t.Fatal(err)
	}
	key := filepath.Join(dir, "secret.key")
	secret := "key-" + newMarker(t)
	if err := os.WriteFile(key, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	res := run(t, "script", map[string]any{}, entry(t, "s", "execute", map[string]any{"script": `cat ` + key + `; echo "rc=$?"`}))
	c := collector(t, res, "s")
	if out := c["stdout"].(string) + c["stderr"].(string); strings.Contains(out, secret) || !strings.Contains(out, "rc=1") || !strings.Contains(out, "Permission denied") {
		t.Fatalf("script output %q (the key is %q)", out, secret)
	}
	if c["isolation"] != string(SandboxNamespaces) {
		t.Errorf("isolation %v", c["isolation"])
	}
}

// TestScriptCannotSeeWorkerProcess: neither the worker's environment nor its command line can be
// read through /proc, and /proc shows only the script's own processes. Not parallel: t.Setenv.
func TestScriptCannotSeeWorkerProcess(t *testing.T) {
	requireNamespaces(t)
	secret := "key-" + newMarker(t)
	t.Setenv("CHECKFLOW_SECRET_KEY", secret)
	script := `cat /proc/$PPID/cmdline /proc/$PPID/environ; cat /proc/1/environ /proc/1/cmdline
for p in /proc/[0-9]*; do cat $p/environ $p/cmdline; done
echo; echo "procs=$(ls -d /proc/[0-9]* | wc -l)"`
	res := run(t, "script", map[string]any{}, entry(t, "s", "execute", map[string]any{"script": script}))
	c := collector(t, res, "s")
	out := c["stdout"].(string) + c["stderr"].(string)
	for _, leak := range []string{secret, filepath.Base(os.Args[0]), "-test."} {
		if i := strings.Index(out, leak); i >= 0 {
			t.Errorf("script output reveals %q: …%s…", leak, out[max(i-200, 0):min(i+200, len(out))])
		}
	}
	// The helper (pid 1), sh, the command substitution's subshell, ls: a handful, not the host's.
	stdout := c["stdout"].(string)
	procs := stdout[strings.LastIndex(stdout, "\nprocs=")+len("\nprocs="):]
	if n, err := strconv.Atoi(strings.TrimSpace(procs)); err != nil || n > 6 {
		t.Errorf("script sees %q processes in /proc, not just its own", procs)
	}
}

// TestScriptEnvironmentIsScrubbed: a script's environment is the safe base plus its own
// variables; HOME/TMPDIR/working directory is a private per-run directory, removed afterwards.
// Not parallel: t.Setenv.
func TestScriptEnvironmentIsScrubbed(t *testing.T) {
	t.Setenv("CHECKFLOW_SECRET_KEY", "worker-key")
	t.Setenv("DATABASE_URL", "postgres://worker")
	for _, mode := range sandboxModes(t) {
		t.Run(string(mode), func(t *testing.T) {
			res := RunShell(context.Background(), ShellRequest{
				Script: `env; echo "cwd=$(pwd)"; stat -c 'mode=%a uid=%u' .`, Sandbox: mode,
				Env: map[string]string{"EXTRA": "1"},
			})
			if res.Err != nil {
				t.Fatalf("%v: %s", res.Err, res.Stderr)
			}
			env := map[string]string{}
			var cwd, stat string
			for _, line := range strings.Split(strings.TrimSpace(res.Stdout), "\n") {
				k, v, _ := strings.Cut(line, "=")
				switch {
				case strings.HasPrefix(line, "cwd="):
					cwd = v
				case strings.HasPrefix(line, "mode="):
					stat = line
				default:
					env[k] = v
				}
			}
			keys := slices.Sorted(func(yield func(string) bool) {
				for k := range env {
					if !yield(k) {
						return
					}
				}
			})
			if want := []string{"EXTRA", "HOME", "LANG", "PATH", "PWD", "TMPDIR"}; !slices.Equal(keys, want) {
				t.Fatalf("environment %v, want only %v", env, want)
			}
			uid, _ := scriptUser(t)
			if env["HOME"] != env["TMPDIR"] || env["HOME"] != cwd || env["LANG"] != "C.UTF-8" || env["PATH"] != defaultPath ||
				stat != "mode=700 uid="+strconv.Itoa(uid) {
				t.Fatalf("environment %v cwd %q %s", env, cwd, stat)
			}
			if _, err := os.Stat(cwd); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("run directory %s left behind: %v", cwd, err)
			}
		})
	}
}

// TestScriptInheritsNoDescriptors: only stdin, stdout and stderr reach a script, even when the
// worker holds a descriptor without close-on-exec (which exec.Cmd would pass on). Not parallel:
// the leaky descriptor would reach other tests' children.
func TestScriptInheritsNoDescriptors(t *testing.T) {
	leaky, err := syscall.Open("/dev/null", syscall.O_RDONLY, 0) // no O_CLOEXEC
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(leaky)
	for _, mode := range sandboxModes(t) {
		t.Run(string(mode), func(t *testing.T) {
			res := RunShell(context.Background(), ShellRequest{Script: `ls /proc/self/fd`, Sandbox: mode})
			// 3 is the directory ls reads.
			if res.Err != nil || res.Stdout != "0\n1\n2\n3\n" {
				t.Fatalf("descriptors %q (worker's leaky fd %d), err %v %s", res.Stdout, leaky, res.Err, res.Stderr)
			}
		})
	}
}

// TestScriptSandboxPrivileges: scripts run as the unprivileged user (when the worker is root),
// without supplementary groups or capabilities and with no_new_privs; in namespaces mode the
// init of the shell's PID namespace is the sandbox helper.
func TestScriptSandboxPrivileges(t *testing.T) {
	uid, gid := scriptUser(t)
	for _, mode := range sandboxModes(t) {
		t.Run(string(mode), func(t *testing.T) {
			res := RunShell(context.Background(), ShellRequest{Sandbox: mode,
				Script: `echo "init=$(cat /proc/1/cmdline) uid=$(id -u) gid=$(id -g) groups=$(id -G)"; grep -E '^(NoNewPrivs|CapInh|CapPrm|CapEff|CapAmb):' /proc/self/status`})
			if res.Err != nil {
				t.Fatalf("%v: %s", res.Err, res.Stderr)
			}
			want := []string{"uid=" + strconv.Itoa(uid), "gid=" + strconv.Itoa(gid), "NoNewPrivs:\t1"}
			if os.Geteuid() == 0 {
				want = append(want, "groups="+strconv.Itoa(gid)+"\n", "CapInh:\t0000000000000000", "CapPrm:\t0000000000000000",
					"CapEff:\t0000000000000000", "CapAmb:\t0000000000000000")
			}
			if mode == SandboxNamespaces {
				want = append(want, "init="+sandboxArg0+" ")
			}
			for _, w := range want {
				if !strings.Contains(res.Stdout, w) {
					t.Errorf("output lacks %q:\n%s", w, res.Stdout)
				}
			}
		})
	}
}

func TestScriptNamespacesModeUnavailableIsAnError(t *testing.T) {
	if sandboxCapabilities().nsErr == nil {
		t.Skip("namespaces are available here")
	}
	res := RunShell(context.Background(), ShellRequest{Script: "true", Sandbox: SandboxNamespaces})
	if res.Started || res.Err == nil || !strings.Contains(res.Err.Error(), "unavailable") {
		t.Fatalf("result %+v", res)
	}
}

func TestResolveScriptUser(t *testing.T) {
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skipf("no user nobody: %v", err)
	}
	uid, _ := strconv.Atoi(nobody.Uid)
	gid, _ := strconv.Atoi(nobody.Gid)
	tests := []struct {
		spec     string
		uid, gid int
		wantErr  string
	}{
		{"", uid, gid, ""},
		{"nobody", uid, gid, ""},
		{nobody.Uid, uid, gid, ""},
		{"nobody:0", 0, 0, "must not be root"},
		{"nobody:" + strconv.Itoa(gid+1), uid, gid + 1, ""},
		{"root", 0, 0, "must not be root"},
		{"0", 0, 0, "must not be root"},
		{"checkflow-no-such-user", 0, 0, "checkflow-no-such-user"},
		{"nobody:checkflow-no-such-group", 0, 0, "checkflow-no-such-group"},
	}
	for _, tc := range tests {
		t.Run(tc.spec, func(t *testing.T) {
			id, err := resolveScriptUser(tc.spec)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || id.uid != -1 {
					t.Fatalf("got %+v, %v; want error %q", id, err, tc.wantErr)
				}
				return
			}
			if err != nil || id.uid != tc.uid || id.gid != tc.gid {
				t.Fatalf("got %+v, %v; want uid %d gid %d", id, err, tc.uid, tc.gid)
			}
		})
	}
}
