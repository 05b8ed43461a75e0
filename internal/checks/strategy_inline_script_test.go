package checks

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestNormalizeScriptResult(t *testing.T) {
	t.Parallel()
	str := func(s string) *string { return &s }
	tests := []struct {
		name string
		raw  string
		want ScriptOutcome
	}{
		{"undefined", ``, ScriptOutcome{Success: true}},
		{"null", `null`, ScriptOutcome{Success: true}},
		{"true", `true`, ScriptOutcome{Success: true}},
		{"false", `false`, ScriptOutcome{Success: false}},
		{"number", `0.4`, ScriptOutcome{Success: true, Value: 0.4}},
		{"zero is still a success", `0`, ScriptOutcome{Success: true, Value: 0.0}},
		{"object defaults to success", `{"value": 3}`, ScriptOutcome{Success: true, Value: 3.0}},
		{"object failure with message", `{"success": false, "message": "disk full", "value": 97}`, ScriptOutcome{Success: false, Message: str("disk full"), Value: 97.0}},
		{"object success null defaults to true", `{"success": null}`, ScriptOutcome{Success: true}},
		{"object success by truthiness", `{"success": 0}`, ScriptOutcome{Success: false}},
		{"object message not a string", `{"message": 12}`, ScriptOutcome{Success: true, Message: str("12")}},
		{"object value structured", `{"value": {"a": [1]}}`, ScriptOutcome{Success: true, Value: map[string]any{"a": []any{1.0}}}},
		{"string", `"all good"`, ScriptOutcome{Success: true, Message: str("all good")}},
		{"array", `[1, "a"]`, ScriptOutcome{Success: true, Message: str("1,a")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := NormalizeScriptResult(json.RawMessage(tc.raw))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v (message %v), want %+v (message %v)", got, deref(got.Message), tc.want, deref(tc.want.Message))
			}
		})
	}
	if _, err := NormalizeScriptResult(json.RawMessage(`{`)); err == nil {
		t.Fatal("invalid JSON accepted")
	}
}

func deref(s *string) any {
	if s == nil {
		return nil
	}
	return *s
}

// TestInlineScript runs the inline-script collector through the executor and the real engine.
func TestInlineScript(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		script  string
		timeout int
		asserts []Assertion
		wantMsg string // "" = healthy
		want    map[string]any
	}{
		{name: "healthy with a value and the run context",
			script:  `export default (ctx) => ({ value: ctx.config.timeout + ctx.check.intervalSeconds, message: ctx.check.name + "@" + ctx.system.name })`,
			asserts: []Assertion{{Field: "value", Operator: "equals", Value: 10060.0}},
			want:    map[string]any{"success": true, "value": 10060.0, "message": "Check One@web-01", "timedOut": false}},
		{name: "legacy return of a number", script: "const n: number = 7;\nreturn n;", want: map[string]any{"success": true, "value": 7.0, "timedOut": false}},
		{name: "failing with a message", script: `export default async () => ({ success: false, message: "disk full", value: 97 })`,
			wantMsg: "Check failed: disk full", want: map[string]any{"success": false, "message": "disk full", "value": 97.0, "timedOut": false}},
		{name: "failing without a message", script: `return false`, wantMsg: "Check failed: Check failed", want: map[string]any{"success": false, "timedOut": false}},
		{name: "failing assertion", script: `return 0.9`, asserts: []Assertion{{Field: "value", Operator: "lessThan", Value: 0.5}},
			wantMsg: "Assertion failed: value lessThan 0.5", want: map[string]any{"success": true, "value": 0.9}},
		{name: "thrown error", script: `throw new Error("upstream 503")`, wantMsg: "Check failed: upstream 503", want: map[string]any{"success": false, "timedOut": false}},
		{name: "timeout", script: `while (true) {}`, timeout: 1000, wantMsg: "Check failed: Script execution timed out", want: map[string]any{"success": false, "timedOut": true}},
		{name: "memory limit", script: `const a = []; while (true) a.push("x".repeat(1 << 20) + a.length)`, wantMsg: "Check failed: memory limit exceeded", want: map[string]any{"success": false, "timedOut": false}},
		{name: "no fs", script: "import fs from 'fs';\nexport default () => fs.readFileSync('/etc/hostname', 'utf8')", wantMsg: `Check failed: cannot import "fs"`, want: map[string]any{"success": false}},
		{name: "no require", script: `return require("child_process").execSync("id").toString()`, wantMsg: `Check failed: cannot import "child_process"`, want: map[string]any{"success": false}},
		{name: "no process without secrets", script: `return typeof process === "undefined"`, want: map[string]any{"success": true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := map[string]any{"script": tc.script}
			if tc.timeout > 0 {
				cfg["timeout"] = tc.timeout
			}
			res := run(t, "script", map[string]any{"timeout": 30000}, entry(t, "js", "healthcheck-script.inline-script", cfg, tc.asserts...))
			if tc.wantMsg == "" {
				requireHealthy(t, res)
			} else {
				requireUnhealthy(t, res, tc.wantMsg)
			}
			c := collector(t, res, "js")
			for k, v := range tc.want {
				if !reflect.DeepEqual(c[k], v) {
					t.Errorf("%s = %#v, want %#v (collector %v)", k, c[k], v, c)
				}
			}
			for _, k := range []string{"value", "message"} {
				if _, ok := tc.want[k]; !ok && c[k] != nil {
					t.Errorf("unexpected %s %v", k, c[k])
				}
			}
			if _, ok := c["executionTimeMs"].(int); !ok {
				t.Errorf("executionTimeMs %#v", c["executionTimeMs"])
			}
		})
	}
}

// TestInlineScriptSecrets: resolved secretEnv values reach process.env and are masked out of
// the result, the message and the error.
func TestInlineScriptSecrets(t *testing.T) {
	t.Parallel()
	const secret = "s3cr3t-token-value"
	for _, tc := range []struct {
		name, script, wantMsg string
	}{
		{"in the result", `export default () => ({ message: "token=" + process.env.TOKEN, value: { [process.env.TOKEN]: process.env.AUTH } })`, ""},
		{"in the error", `throw new Error("bad token " + process.env.TOKEN)`, "Check failed: bad token ****"},
		{"in a failure message", `return { success: false, message: process.env.AUTH }`, "Check failed: Bearer ****"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res := NewRegistry().Execute(context.Background(), Request{StrategyID: "script", Config: json.RawMessage(`{}`),
				Collectors: []CollectorEntry{entry(t, "js", "inline-script", map[string]any{"script": tc.script,
					"secretEnv": map[string]any{"TOKEN": "${{ secrets.api }}", "AUTH": "Bearer ${{ secrets.api }}"}})},
				Secrets: staticResolver{"api": secret}})
			if tc.wantMsg == "" {
				requireHealthy(t, res)
				c := collector(t, res, "js")
				if c["message"] != "token=****" || !reflect.DeepEqual(c["value"], map[string]any{"****": "Bearer ****"}) {
					t.Fatalf("collector %v", c)
				}
			} else {
				requireUnhealthy(t, res, tc.wantMsg)
			}
			if b, _ := json.Marshal(res); strings.Contains(string(b), secret) {
				t.Fatalf("secret leaked: %s", b)
			}
		})
	}
}

// TestInlineScriptValidation: an inline-script collector alone makes a valid script check; its
// timeout is bounded to 1000–60000 ms and its script is required.
func TestInlineScriptValidation(t *testing.T) {
	t.Parallel()
	r := NewRegistry()
	if err := r.Validate("script", json.RawMessage(`{}`), []CollectorEntry{entry(t, "js", "inline-script", map[string]any{"script": "return true"})}); err != nil {
		t.Fatalf("inline-script alone: %v", err)
	}
	var none *ValidationError
	if err := r.Validate("script", json.RawMessage(`{}`), nil); !errors.As(err, &none) || none.Field("collectors") == nil ||
		!strings.Contains(none.Field("collectors").Message, `or an "inline-script" collector with config.script`) {
		t.Fatalf("script check without collectors: %v", err)
	}
	for _, tc := range []struct {
		cfg   map[string]any
		field string
	}{
		{map[string]any{"script": "return 1", "timeout": 999}, "collectors[0].config.timeout"},
		{map[string]any{"script": "return 1", "timeout": 60001}, "collectors[0].config.timeout"},
		{map[string]any{}, "collectors[0].config.script"},
		{map[string]any{"script": "return 1", "secretEnv": map[string]any{"T": "plain"}}, "collectors[0].config.secretEnv.T"},
	} {
		err := r.Validate("script", json.RawMessage(`{}`), []CollectorEntry{entry(t, "js", "inline-script", tc.cfg)})
		var ve *ValidationError
		if !errors.As(err, &ve) || ve.Field(tc.field) == nil {
			t.Errorf("config %v: want an error on %s, got %v", tc.cfg, tc.field, err)
		}
	}
	var schema map[string]any
	for _, c := range r.Collectors("script") {
		if c.ID == "inline-script" {
			if err := json.Unmarshal(c.ConfigSchema, &schema); err != nil {
				t.Fatal(err)
			}
		}
	}
	props, _ := schema["properties"].(map[string]any)
	secretEnv, _ := props["secretEnv"].(map[string]any)
	timeout, _ := props["timeout"].(map[string]any)
	if secretEnv["x-secret-env"] != true || timeout["default"] != 10000.0 || timeout["minimum"] != 1000.0 || timeout["maximum"] != 60000.0 {
		t.Fatalf("inline-script config schema %v", schema)
	}
}
