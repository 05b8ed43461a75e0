package checks

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/checkflow/checkflow/internal/health"
	"github.com/checkflow/checkflow/internal/jsrun"
)

func TestScriptTrialShellEnv(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		rc      health.RunContext
		env     map[string]string
		secrets map[string]string
		want    map[string]string
	}{
		{"CS-1 check and system", health.RunContext{Check: &health.CheckRef{ID: "c1", Name: "CPU", IntervalSeconds: 60}, System: &health.SystemRef{ID: "s1", Name: "web-1"}}, nil, nil, map[string]string{
			"CHECKSTACK_CHECK_ID": "c1", "CHECKSTACK_CHECK_NAME": "CPU", "CHECKSTACK_CHECK_INTERVAL_SECONDS": "60", "CHECKSTACK_SYSTEM_ID": "s1", "CHECKSTACK_SYSTEM_NAME": "web-1",
			"CHECKFLOW_CHECK_ID": "c1", "CHECKFLOW_CHECK_NAME": "CPU", "CHECKFLOW_CHECK_INTERVAL_SECONDS": "60", "CHECKFLOW_SYSTEM_ID": "s1", "CHECKFLOW_SYSTEM_NAME": "web-1"}},
		{"CS-2 no run context", health.RunContext{}, nil, nil, map[string]string{}},
		{"CS-3 system only", health.RunContext{System: &health.SystemRef{ID: "s1", Name: "web-1"}}, nil, nil, map[string]string{
			"CHECKSTACK_SYSTEM_ID": "s1", "CHECKSTACK_SYSTEM_NAME": "web-1", "CHECKFLOW_SYSTEM_ID": "s1", "CHECKFLOW_SYSTEM_NAME": "web-1"}},
		{"precedence: run context < env < secrets", health.RunContext{Check: &health.CheckRef{ID: "c", Name: "Disk", IntervalSeconds: 30}},
			map[string]string{"CHECKSTACK_CHECK_NAME": "mine", "EXTRA": "1", "TOKEN": "env"}, map[string]string{"TOKEN": "__SECRET_api__"}, map[string]string{
				"CHECKSTACK_CHECK_ID": "c", "CHECKSTACK_CHECK_NAME": "mine", "CHECKSTACK_CHECK_INTERVAL_SECONDS": "30",
				"CHECKFLOW_CHECK_ID": "c", "CHECKFLOW_CHECK_NAME": "Disk", "CHECKFLOW_CHECK_INTERVAL_SECONDS": "30", "EXTRA": "1", "TOKEN": "__SECRET_api__"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := ScriptTrialShellEnv(tc.rc, tc.env, tc.secrets); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %v\nwant %v", got, tc.want)
			}
		})
	}
}

// TestRunScriptTrial drives RunScriptTrial with recording runners (the reference's
// collector-script-test cases CS-4…CS-13 as far as they are about what the runner is asked
// and what is returned).
func TestRunScriptTrial(t *testing.T) {
	t.Parallel()
	exit := func(n int) *int { return &n }
	load := &health.CheckRef{ID: "c", Name: "Load", IntervalSeconds: 60}
	tests := []struct {
		name    string
		in      ScriptTrialInput
		js      jsrun.Result
		shell   ShellResult
		panics  string
		wantJS  *jsrun.Request
		wantSh  *ShellRequest
		want    health.ScriptRunOutput
		absent  string // must not appear in the serialised output
		wantEnv bool   // the JS runner got an env (CS-13: it must not without secretEnv)
	}{
		{name: "CS-4 context with config only", in: ScriptTrialInput{Kind: "typescript", Config: map[string]any{"threshold": 1.0}, Timeout: time.Second},
			wantJS: &jsrun.Request{Kind: jsrun.TypeScript, Context: map[string]any{"config": map[string]any{"threshold": 1.0}}, Timeout: time.Second}},
		{name: "CS-4 context with a check", in: ScriptTrialInput{Kind: "typescript", Config: map[string]any{}, RunContext: health.RunContext{Check: &health.CheckRef{ID: "c", Name: "n", IntervalSeconds: 30}}},
			wantJS: &jsrun.Request{Kind: jsrun.TypeScript, Context: map[string]any{"config": map[string]any{}, "check": map[string]any{"id": "c", "name": "n", "intervalSeconds": 30}}}},
		{name: "CS-5 context with nothing", in: ScriptTrialInput{Kind: "javascript"},
			wantJS: &jsrun.Request{Kind: jsrun.JavaScript, Context: map[string]any{"config": map[string]any{}}}},
		{name: "CS-6 result", in: ScriptTrialInput{Kind: "typescript", Script: "s", Config: map[string]any{"threshold": 0.6}, RunContext: health.RunContext{Check: load}, Timeout: 5 * time.Second},
			js:     jsrun.Result{Result: json.RawMessage(`{"success":true,"value":0.4}`), Duration: 12 * time.Millisecond},
			wantJS: &jsrun.Request{Kind: jsrun.TypeScript, Script: "s", Context: map[string]any{"config": map[string]any{"threshold": 0.6}, "check": map[string]any{"id": "c", "name": "Load", "intervalSeconds": 60}}, Timeout: 5 * time.Second},
			want:   health.ScriptRunOutput{Result: map[string]any{"success": true, "value": 0.4}, DurationMs: 12}},
		{name: "CS-7 runner error", in: ScriptTrialInput{Kind: "typescript"}, js: jsrun.Result{Err: errors.New("boom")},
			want: health.ScriptRunOutput{Error: "boom"}},
		{name: "CS-7 timed out", in: ScriptTrialInput{Kind: "typescript", Timeout: 50 * time.Millisecond}, js: jsrun.Result{TimedOut: true, Duration: 50 * time.Millisecond},
			want: health.ScriptRunOutput{TimedOut: true, DurationMs: 50, Error: "Script execution timed out"}},
		{name: "CS-8 runner panics", in: ScriptTrialInput{Kind: "typescript"}, panics: "spawn failed",
			want: health.ScriptRunOutput{Error: "spawn failed"}},
		{name: "CS-9 shell", in: ScriptTrialInput{Kind: "shell", Script: "echo ok", RunContext: health.RunContext{Check: &health.CheckRef{ID: "c", Name: "Disk", IntervalSeconds: 30}}, Env: map[string]string{"EXTRA": "1"}, WorkingDirectory: "/tmp", Timeout: 3 * time.Second},
			shell:  ShellResult{Started: true, ExitCode: exit(0), Stdout: "ok", Duration: 5 * time.Millisecond},
			wantSh: &ShellRequest{Script: "echo ok", Dir: "/tmp", Timeout: 3 * time.Second, Env: ScriptTrialShellEnv(health.RunContext{Check: &health.CheckRef{ID: "c", Name: "Disk", IntervalSeconds: 30}}, map[string]string{"EXTRA": "1"}, nil)},
			want:   health.ScriptRunOutput{Stdout: "ok", ExitCode: exit(0), DurationMs: 5}},
		{name: "CS-10 shell exit 5", in: ScriptTrialInput{Kind: "shell", Script: "exit 5"},
			shell:  ShellResult{Started: true, ExitCode: exit(5), Stderr: "bad", Err: errors.New(health.ShellExitMessage(5))},
			wantSh: &ShellRequest{Script: "exit 5", Env: map[string]string{}},
			want:   health.ScriptRunOutput{Stderr: "bad", ExitCode: exit(5), Error: "Shell script exited with code 5"}},
		{name: "CS-11 placeholder", in: ScriptTrialInput{Kind: "typescript", SecretEnv: map[string]string{"TOKEN": "${{ secrets.api }}"}},
			wantJS: &jsrun.Request{Kind: jsrun.TypeScript, Context: map[string]any{"config": map[string]any{}}, Env: map[string]string{"TOKEN": "__SECRET_api__"}}, wantEnv: true},
		{name: "CS-12 override masked", in: ScriptTrialInput{Kind: "shell", SecretEnv: map[string]string{"TOKEN": "${{ secrets.api }}"}, SecretOverrides: map[string]string{"api": "override-secret"}},
			shell:  ShellResult{Started: true, ExitCode: exit(0), Stdout: "value=override-secret"},
			wantSh: &ShellRequest{Env: map[string]string{"TOKEN": "override-secret"}},
			want:   health.ScriptRunOutput{Stdout: "value=****", ExitCode: exit(0)}, absent: "override-secret"},
		{name: "CS-12 override masked in a JS result and error", in: ScriptTrialInput{Kind: "typescript", SecretEnv: map[string]string{"TOKEN": "${{ secrets.api }}"}, SecretOverrides: map[string]string{"api": "override-secret"}},
			js:     jsrun.Result{Result: json.RawMessage(`{"override-secret":"x override-secret"}`), Stderr: "override-secret", Err: errors.New("failed with override-secret")},
			wantJS: &jsrun.Request{Kind: jsrun.TypeScript, Context: map[string]any{"config": map[string]any{}}, Env: map[string]string{"TOKEN": "override-secret"}}, wantEnv: true,
			want: health.ScriptRunOutput{Result: map[string]any{"****": "x ****"}, Stderr: "****", Error: "failed with ****"}, absent: "override-secret"},
		{name: "CS-13 no secretEnv, no env", in: ScriptTrialInput{Kind: "typescript", Env: map[string]string{"IGNORED": "1"}},
			wantJS: &jsrun.Request{Kind: jsrun.TypeScript, Context: map[string]any{"config": map[string]any{}}}},
		{name: "unknown kind", in: ScriptTrialInput{Kind: "python"}, want: health.ScriptRunOutput{Error: `unknown script kind "python"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var gotJS *jsrun.Request
			var gotSh *ShellRequest
			rn := ScriptRunners{
				JS: func(_ context.Context, r jsrun.Request) jsrun.Result {
					gotJS = &r
					if tc.panics != "" {
						panic(tc.panics)
					}
					return tc.js
				},
				Shell: func(_ context.Context, r ShellRequest) ShellResult { gotSh = &r; return tc.shell },
			}
			out := rn.RunScriptTrial(context.Background(), tc.in)
			if tc.wantJS != nil {
				if gotJS == nil {
					t.Fatal("JS runner not called")
				}
				if !reflect.DeepEqual(*gotJS, *tc.wantJS) {
					t.Fatalf("JS request %+v\nwant %+v", *gotJS, *tc.wantJS)
				}
				if (gotJS.Env != nil) != tc.wantEnv {
					t.Fatalf("JS env %v, want present=%v", gotJS.Env, tc.wantEnv)
				}
			}
			if tc.wantSh != nil {
				if gotSh == nil {
					t.Fatal("shell runner not called")
				}
				if !reflect.DeepEqual(*gotSh, *tc.wantSh) {
					t.Fatalf("shell request %+v\nwant %+v", *gotSh, *tc.wantSh)
				}
			}
			if !reflect.DeepEqual(out, tc.want) {
				t.Fatalf("output %+v\nwant %+v", out, tc.want)
			}
			if b, _ := json.Marshal(out); tc.absent != "" && strings.Contains(string(b), tc.absent) {
				t.Fatalf("%q in %s", tc.absent, b)
			}
		})
	}
	if jsrun.HelperModule != "@checkstack/healthcheck" || jsrun.HelperFunction != "defineHealthCheck" {
		t.Fatalf("helper module %s / %s (CS-6)", jsrun.HelperModule, jsrun.HelperFunction)
	}
}
