package server

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
)

const scriptTestPath = "/api/v1/collector-scripts:test"

// scriptTestOut is the answer of POST /api/v1/collector-scripts:test; Result stays raw so that
// "absent" and null can be told apart.
type scriptTestOut struct {
	Result     json.RawMessage `json:"result"`
	Stdout     string          `json:"stdout"`
	Stderr     string          `json:"stderr"`
	ExitCode   *int            `json:"exitCode"`
	DurationMs int64           `json:"durationMs"`
	TimedOut   bool            `json:"timedOut"`
	Error      *string         `json:"error"`
}

// TestCollectorScriptTest runs the reference's collector-script-test cases (CS-1…CS-13) and the
// sandbox's limits end to end: HTTP, the real engines (goja in its evaluator process, the shell
// sandbox), answers validated against the OpenAPI document.
func TestCollectorScriptTest(t *testing.T) {
	t.Parallel()
	e, api := apiEnv(t)
	api = api.WithToken(e.tokens[tokManage])
	// A real secret named like the one the scripts reference: the endpoint must never use it.
	const storedSecret = "stored-secret-value-never-resolved"
	sealed, err := e.box.Seal(storedSecret)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.store.PutSecret(t.Context(), "api", sealed, ""); err != nil {
		t.Fatal(err)
	}
	check := func(id, name string, interval int) map[string]any {
		return map[string]any{"id": id, "name": name, "intervalSeconds": interval}
	}
	system := map[string]any{"id": "s1", "name": "web-1"}
	secretEnv := map[string]any{"TOKEN": "${{ secrets.api }}"}
	exit := func(n int) *int { return &n }

	tests := []struct {
		name       string
		body       map[string]any
		wantResult string // JSON, compared semantically; "" = absent
		wantStdout *string
		wantStderr *string
		wantExit   *int // nil = absent
		wantErr    string
		errPrefix  bool // wantErr is a prefix/substring rather than the whole error
		timedOut   bool
		absent     []string // must not appear anywhere in the answer
	}{
		{name: "CS-1 shell run-context env", body: map[string]any{"kind": "shell", "script": `env | grep '^CHECKSTACK_' | sort`,
			"runContext": map[string]any{"check": check("c1", "CPU", 60), "system": system}},
			wantStdout: ptrTo("CHECKSTACK_CHECK_ID=c1\nCHECKSTACK_CHECK_INTERVAL_SECONDS=60\nCHECKSTACK_CHECK_NAME=CPU\nCHECKSTACK_SYSTEM_ID=s1\nCHECKSTACK_SYSTEM_NAME=web-1\n"), wantExit: exit(0)},
		{name: "CS-2 no run context", body: map[string]any{"kind": "shell", "script": `env | grep -E '^(CHECKSTACK|CHECKFLOW)_' || true`},
			wantStdout: ptrTo(""), wantExit: exit(0)},
		{name: "CS-3 system only", body: map[string]any{"kind": "shell", "script": `env | grep '^CHECKSTACK_' | sort`, "runContext": map[string]any{"system": system}},
			wantStdout: ptrTo("CHECKSTACK_SYSTEM_ID=s1\nCHECKSTACK_SYSTEM_NAME=web-1\n"), wantExit: exit(0)},
		{name: "CS-4 context with config", body: map[string]any{"kind": "typescript", "script": `export default () => globalThis.context`, "config": map[string]any{"threshold": 1}},
			wantResult: `{"config":{"threshold":1}}`, wantStdout: ptrTo("")},
		{name: "CS-4 context with a check", body: map[string]any{"kind": "typescript", "script": `export default (ctx: unknown) => ctx`, "config": map[string]any{},
			"runContext": map[string]any{"check": check("c", "n", 30)}},
			wantResult: `{"config":{},"check":{"id":"c","name":"n","intervalSeconds":30}}`},
		{name: "CS-5 context with nothing", body: map[string]any{"kind": "typescript", "script": `return context`}, wantResult: `{"config":{}}`},
		{name: "CS-6 helper module and result", body: map[string]any{"kind": "typescript", "timeoutMs": 5000,
			"script": `import { defineHealthCheck } from "@checkstack/healthcheck";
interface Ctx { config: { threshold: number }; check: { name: string; intervalSeconds: number } }
export default defineHealthCheck(async (ctx: Ctx) => {
  console.log("checking", ctx.check.name);
  return { success: ctx.config.threshold > 0.4 && ctx.check.intervalSeconds === 60, value: 0.4 };
});`,
			"config": map[string]any{"threshold": 0.6}, "runContext": map[string]any{"check": check("c", "Load", 60)}},
			wantResult: `{"success":true,"value":0.4}`, wantStdout: ptrTo("checking Load\n"), wantStderr: ptrTo("")},
		{name: "CS-7 error", body: map[string]any{"kind": "typescript", "script": `console.error("about to fail"); throw new Error("boom")`},
			wantErr: "boom", wantStderr: ptrTo("about to fail\n")},
		{name: "CS-7 timed out", body: map[string]any{"kind": "typescript", "script": `while (true) {}`, "timeoutMs": 100},
			wantErr: "Script execution timed out", timedOut: true},
		{name: "CS-7 shell timed out", body: map[string]any{"kind": "shell", "script": `echo started; sleep 30`, "timeoutMs": 1500},
			wantErr: "Script execution timed out", timedOut: true, wantStdout: ptrTo("started\n")},
		{name: "CS-8 shell that cannot start", body: map[string]any{"kind": "shell", "script": "true", "workingDirectory": "/nonexistent/dir"},
			wantErr: "starting script", errPrefix: true},
		{name: "CS-8 script that does not compile", body: map[string]any{"kind": "typescript", "script": "export default (;"},
			wantErr: "script does not compile: 1:", errPrefix: true},
		{name: "CS-9 shell env and output", body: map[string]any{"kind": "shell", "script": `echo "$CHECKSTACK_CHECK_NAME $EXTRA"; echo ok`, "timeoutMs": 3000,
			"runContext": map[string]any{"check": check("c", "Disk", 30)}, "env": map[string]any{"EXTRA": "1"}},
			wantStdout: ptrTo("Disk 1\nok\n"), wantExit: exit(0)},
		{name: "CS-10 shell exit 5", body: map[string]any{"kind": "shell", "script": `echo bad >&2; exit 5`},
			wantStderr: ptrTo("bad\n"), wantExit: exit(5), wantErr: "Shell script exited with code 5"},
		{name: "CS-11 placeholder, never the stored secret", body: map[string]any{"kind": "typescript", "script": `export default () => process.env`, "secretEnv": secretEnv},
			wantResult: `{"TOKEN":"__SECRET_api__"}`, absent: []string{storedSecret}},
		{name: "CS-12 override masked (shell)", body: map[string]any{"kind": "shell", "script": `echo "value=$TOKEN"`, "secretEnv": secretEnv, "secretOverrides": map[string]any{"api": "override-secret"}},
			wantStdout: ptrTo("value=****\n"), wantExit: exit(0), absent: []string{"override-secret", storedSecret}},
		{name: "CS-12 override masked (typescript)", body: map[string]any{"kind": "typescript", "secretEnv": secretEnv, "secretOverrides": map[string]any{"api": "override-secret"},
			"script": `console.log(process.env.TOKEN); export default () => { throw new Error("token " + process.env.TOKEN) }`},
			wantStdout: ptrTo("****\n"), wantErr: "token ****", absent: []string{"override-secret"}},
		{name: "CS-13 no secretEnv, no process", body: map[string]any{"kind": "typescript", "script": `return typeof process`, "env": map[string]any{"IGNORED": "1"}},
			wantResult: `"undefined"`},
		{name: "javascript", body: map[string]any{"kind": "javascript", "script": `export default async () => [1, 2].map((x) => x * 2)`}, wantResult: `[2,4]`},
		{name: "no fs", body: map[string]any{"kind": "typescript", "script": "import fs from 'fs';\nexport default () => fs.readFileSync('/etc/passwd', 'utf8')"},
			wantErr: `cannot import "fs"`, errPrefix: true},
		{name: "no require", body: map[string]any{"kind": "javascript", "script": `return require("http")`}, wantErr: `cannot import "http"`, errPrefix: true},
		{name: "memory limit", body: map[string]any{"kind": "javascript", "script": `const a = []; while (true) a.push(new Array(1 << 16).fill(a.length)); return a.length`},
			wantErr: "memory limit exceeded", errPrefix: true},
		{name: "a gigabyte at once", body: map[string]any{"kind": "javascript", "script": `return "x".repeat(2 ** 30).length`},
			wantErr: "memory limit exceeded", errPrefix: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res := api.Do("POST", scriptTestPath, tc.body)
			if res.Status != 200 {
				t.Fatalf("status %d %s", res.Status, res.Body)
			}
			var out scriptTestOut
			res.Decode(t, &out)
			if tc.wantResult == "" && out.Result != nil {
				t.Errorf("result %s, want none", out.Result)
			}
			if tc.wantResult != "" && !sameJSON(t, out.Result, tc.wantResult) {
				t.Errorf("result %s, want %s", out.Result, tc.wantResult)
			}
			if tc.wantStdout != nil && out.Stdout != *tc.wantStdout {
				t.Errorf("stdout %q, want %q", out.Stdout, *tc.wantStdout)
			}
			if tc.wantStderr != nil && out.Stderr != *tc.wantStderr {
				t.Errorf("stderr %q, want %q", out.Stderr, *tc.wantStderr)
			}
			if !reflect.DeepEqual(out.ExitCode, tc.wantExit) {
				t.Errorf("exitCode %v, want %v", deref(out.ExitCode), deref(tc.wantExit))
			}
			switch {
			case tc.wantErr == "" && out.Error != nil:
				t.Errorf("error %q, want none", *out.Error)
			case tc.wantErr != "" && out.Error == nil:
				t.Errorf("no error, want %q", tc.wantErr)
			case tc.wantErr != "" && !tc.errPrefix && *out.Error != tc.wantErr:
				t.Errorf("error %q, want %q", *out.Error, tc.wantErr)
			case tc.wantErr != "" && tc.errPrefix && !strings.Contains(*out.Error, tc.wantErr):
				t.Errorf("error %q, want one containing %q", *out.Error, tc.wantErr)
			}
			if out.TimedOut != tc.timedOut {
				t.Errorf("timedOut %v, want %v", out.TimedOut, tc.timedOut)
			}
			for _, s := range tc.absent {
				if strings.Contains(string(res.Body), s) {
					t.Errorf("%q in the answer %s", s, res.Body)
				}
			}
		})
	}
}

// TestCollectorScriptTestValidation: bad input is a 422 naming the field; nothing runs.
func TestCollectorScriptTestValidation(t *testing.T) {
	t.Parallel()
	e, api := apiEnv(t)
	api = api.WithToken(e.tokens[tokManage])
	ok := func(extra map[string]any) map[string]any {
		b := map[string]any{"kind": "shell", "script": "touch /tmp/should-not-run"}
		for k, v := range extra {
			if v == nil {
				delete(b, k)
				continue
			}
			b[k] = v
		}
		return b
	}
	tests := []struct {
		name  string
		body  any
		field string
	}{
		{"kind missing", ok(map[string]any{"kind": nil}), "kind"},
		{"kind unknown", ok(map[string]any{"kind": "python"}), "kind"},
		{"kind not a string", ok(map[string]any{"kind": 1}), "kind"},
		{"script missing", ok(map[string]any{"script": nil}), "script"},
		{"script empty", ok(map[string]any{"script": ""}), "script"},
		{"timeout too small", ok(map[string]any{"timeoutMs": 99}), "timeoutMs"},
		{"timeout too large", ok(map[string]any{"timeoutMs": 300001}), "timeoutMs"},
		{"timeout not an integer", ok(map[string]any{"timeoutMs": 1.5}), "timeoutMs"},
		{"config not an object", ok(map[string]any{"config": []any{1}}), "config"},
		{"env value not a string", ok(map[string]any{"env": map[string]any{"A": 1}}), "env"},
		{"env name invalid", ok(map[string]any{"env": map[string]any{"1A": "x"}}), "env.1A"},
		{"secretEnv name invalid", ok(map[string]any{"secretEnv": map[string]any{"BAD-NAME": "${{ secrets.api }}"}}), "secretEnv.BAD-NAME"},
		{"workingDirectory relative", ok(map[string]any{"workingDirectory": "tmp"}), "workingDirectory"},
		{"workingDirectory for typescript", ok(map[string]any{"kind": "typescript", "workingDirectory": "/tmp"}), "workingDirectory"},
		{"check without id", ok(map[string]any{"runContext": map[string]any{"check": map[string]any{"name": "n", "intervalSeconds": 1}}}), "runContext.check.id"},
		{"check without interval", ok(map[string]any{"runContext": map[string]any{"check": map[string]any{"id": "c", "name": "n"}}}), "runContext.check.intervalSeconds"},
		{"system without name", ok(map[string]any{"runContext": map[string]any{"system": map[string]any{"id": "s"}}}), "runContext.system.name"},
		{"unknown field", ok(map[string]any{"language": "ts"}), "language"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res := api.Do("POST", scriptTestPath, tc.body)
			if res.Status != 422 {
				t.Fatalf("status %d %s, want 422", res.Status, res.Body)
			}
			p := res.Problem(t)
			found := false
			for _, fe := range p.Errors {
				found = found || fe.Field == tc.field
			}
			if !found || p.Type != ProblemValidation {
				t.Fatalf("problem %+v does not name %q", p, tc.field)
			}
		})
	}
	if res := api.WithToken(e.tokens[tokRead]).Do("POST", scriptTestPath, ok(nil)); res.Status != 403 {
		t.Fatalf("config:read token: %d %s", res.Status, res.Body)
	}
}

// TestCollectorScriptTestBusy: a server whose script-test slots are all taken answers a valid
// request with a 503 and Retry-After (checked with a handler that has no slot at all) and still
// rejects an invalid one with a 422.
func TestCollectorScriptTestBusy(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	h := e.srv.scriptTestHandler(0)
	call := func(body string) error {
		req := httptest.NewRequest(http.MethodPost, scriptTestPath, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		return h(e.srv.echo.NewContext(req, httptest.NewRecorder()))
	}
	var p *Problem
	if err := call(`{"kind":"shell","script":"touch /tmp/should-not-run"}`); !errors.As(err, &p) || p.Status != http.StatusServiceUnavailable || p.Type != ProblemUnavailable || p.retryAfter != scriptTestRetryAfter {
		t.Fatalf("busy answer %v", err)
	}
	if err := call(`{"kind":"shell"}`); !errors.As(err, &p) || p.Status != http.StatusUnprocessableEntity {
		t.Fatalf("invalid request on a busy server: %v", err)
	}
}

func ptrTo[T any](v T) *T { return &v }

func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

func sameJSON(t *testing.T, got json.RawMessage, want string) bool {
	t.Helper()
	if got == nil {
		return false
	}
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("result %s: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatal(err)
	}
	return reflect.DeepEqual(g, w)
}
