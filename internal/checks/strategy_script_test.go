package checks

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// sharedDir returns a fresh directory that every user may use: a sandboxed script runs as an
// unprivileged user, which cannot enter the 0700 directories of t.TempDir.
func sharedDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "checkflow-script-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestScriptHealthy(t *testing.T) {
	dir := sharedDir(t)
	res := run(t, "healthcheck-script.script", map[string]any{}, entry(t, "s", "healthcheck-script.execute", map[string]any{
		"script": `echo "ok from $(pwd)"; echo warn >&2`, "cwd": dir,
	}, Assertion{Field: "stdout", Operator: "contains", Value: "ok from"}, Assertion{Field: "exitCode", Operator: "equals", Value: 0.0}))
	requireHealthy(t, res)
	c := collector(t, res, "s")
	if c["stdout"] != "ok from "+dir+"\n" || c["stderr"] != "warn\n" || c["exitCode"] != 0 || c["success"] != true || c["timedOut"] != false || c["stdoutTruncated"] != false {
		t.Fatalf("collector %v", c)
	}
}

func TestScriptEnvironmentPrecedence(t *testing.T) {
	t.Setenv("CHECKFLOW_WORKER_SECRET", "worker-only") // must not leak into scripts
	const secret = "topsecret-42"
	script := `echo "check=$CHECKFLOW_CHECK_ID name=$CHECKFLOW_CHECK_NAME interval=$CHECKFLOW_CHECK_INTERVAL_SECONDS"
echo "cs=$CHECKSTACK_CHECK_ID/$CHECKSTACK_CHECK_NAME/$CHECKSTACK_CHECK_INTERVAL_SECONDS/$CHECKSTACK_SYSTEM_ID/$CHECKSTACK_SYSTEM_NAME"
echo "system=$CHECKFLOW_SYSTEM_ID/$CHECKFLOW_SYSTEM_NAME"
echo "extra=$EXTRA token=$TOKEN leak=${CHECKFLOW_WORKER_SECRET:-none} path=${PATH:+set}"`
	cfg := map[string]any{
		"script": script,
		// user env overrides a run-context variable; the secret overrides user env
		"env":       map[string]any{"CHECKFLOW_CHECK_NAME": "user-name", "EXTRA": "1", "TOKEN": "from-user-env"},
		"secretEnv": map[string]any{"TOKEN": "${{ secrets.api }}"},
	}
	res := NewRegistry().Execute(context.Background(), Request{StrategyID: "script", Config: json.RawMessage(`{}`),
		Collectors: []CollectorEntry{entry(t, "s", "execute", cfg)},
		RunContext: RunContext{CheckID: "c1", CheckName: "CPU", IntervalSeconds: 60, SystemID: "s1", SystemName: "web-1"},
		Secrets:    staticResolver{"api": secret}})
	requireHealthy(t, res)
	want := "check=c1 name=user-name interval=60\ncs=c1/CPU/60/s1/web-1\nsystem=s1/web-1\nextra=1 token=**** leak=none path=set\n"
	if got := collector(t, res, "s")["stdout"]; got != want {
		t.Fatalf("stdout\n%q\nwant\n%q", got, want)
	}
	if b, _ := json.Marshal(res); strings.Contains(string(b), secret) {
		t.Fatalf("secret leaked: %s", b)
	}
}

func TestRunContextEnv(t *testing.T) {
	tests := []struct {
		name string
		rc   RunContext
		want map[string]string
	}{
		{"full (CS-1)", RunContext{CheckID: "c1", CheckName: "CPU", IntervalSeconds: 60, SystemID: "s1", SystemName: "web-1"}, map[string]string{
			"CHECKSTACK_CHECK_ID": "c1", "CHECKSTACK_CHECK_NAME": "CPU", "CHECKSTACK_CHECK_INTERVAL_SECONDS": "60", "CHECKSTACK_SYSTEM_ID": "s1", "CHECKSTACK_SYSTEM_NAME": "web-1",
			"CHECKFLOW_CHECK_ID": "c1", "CHECKFLOW_CHECK_NAME": "CPU", "CHECKFLOW_CHECK_INTERVAL_SECONDS": "60", "CHECKFLOW_SYSTEM_ID": "s1", "CHECKFLOW_SYSTEM_NAME": "web-1"}},
		{"empty (CS-2)", RunContext{}, map[string]string{}},
		{"system only (CS-3)", RunContext{SystemID: "s1", SystemName: "web-1"}, map[string]string{
			"CHECKSTACK_SYSTEM_ID": "s1", "CHECKSTACK_SYSTEM_NAME": "web-1", "CHECKFLOW_SYSTEM_ID": "s1", "CHECKFLOW_SYSTEM_NAME": "web-1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := RunContextEnv(tc.rc)
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Fatalf("%s = %q, want %q (all: %v)", k, got[k], v, got)
				}
			}
		})
	}
}

func TestScriptFailing(t *testing.T) {
	tests := []struct {
		name    string
		cfg     map[string]any
		wantMsg string
		check   func(t *testing.T, c map[string]any)
	}{
		{"non-zero exit (CS-10)", map[string]any{"script": "echo partial; echo bad >&2; exit 5"}, "Check failed: Shell script exited with code 5", func(t *testing.T, c map[string]any) {
			if c["exitCode"] != 5 || c["stdout"] != "partial\n" || c["stderr"] != "bad\n" || c["success"] != false || c["_collectorError"] != "Shell script exited with code 5" {
				t.Fatalf("collector %v", c)
			}
		}},
		{"killed by signal", map[string]any{"script": "kill -TERM $$"}, "Shell script terminated by signal terminated", func(t *testing.T, c map[string]any) {
			if _, ok := c["exitCode"]; ok {
				t.Fatalf("exitCode set for a signalled shell: %v", c)
			}
		}},
		{"missing working directory", map[string]any{"script": "true", "cwd": "/nonexistent/checkflow"}, "starting script", nil},
		{"command not found", map[string]any{"script": "checkflow-no-such-command"}, "exited with code 127", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := run(t, "script", map[string]any{}, entry(t, "s", "execute", tc.cfg))
			requireUnhealthy(t, res, tc.wantMsg)
			if tc.check != nil {
				tc.check(t, collector(t, res, "s"))
			}
		})
	}
}

func TestScriptOutputCapped(t *testing.T) {
	script := `head -c 200000 /dev/zero | tr '\0' a; head -c 70000 /dev/zero | tr '\0' b >&2; printf 'small'`
	res := run(t, "script", map[string]any{}, entry(t, "s", "execute", map[string]any{"script": script}))
	requireHealthy(t, res)
	c := collector(t, res, "s")
	out, errOut := c["stdout"].(string), c["stderr"].(string)
	if len(out) != MaxScriptOutputBytes || strings.Trim(out, "a") != "" || c["stdoutTruncated"] != true {
		t.Fatalf("stdout len %d truncated %v", len(out), c["stdoutTruncated"])
	}
	if len(errOut) != MaxScriptOutputBytes || c["stderrTruncated"] != true {
		t.Fatalf("stderr len %d truncated %v", len(errOut), c["stderrTruncated"])
	}
	// Under the cap nothing is flagged.
	res = run(t, "script", map[string]any{}, entry(t, "s", "execute", map[string]any{"script": `head -c 65536 /dev/zero | tr '\0' a`}))
	if c := collector(t, res, "s"); len(c["stdout"].(string)) != MaxScriptOutputBytes || c["stdoutTruncated"] != false {
		t.Fatalf("exactly-cap output flagged: %v", c["stdoutTruncated"])
	}
}

func TestCappedBufferKeepsValidUTF8(t *testing.T) {
	b := &cappedBuffer{max: 5}
	_, _ = b.Write([]byte("abcd€")) // € is 3 bytes: only one fits
	if got := b.String(); got != "abcd" || !b.isTruncated() {
		t.Fatalf("got %q truncated %v", got, b.isTruncated())
	}
}
