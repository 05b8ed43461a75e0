package jsrun

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestRun evaluates scripts in the real evaluator process.
func TestRun(t *testing.T) {
	t.Parallel()
	ctx := map[string]any{"config": map[string]any{"threshold": 0.6}, "check": map[string]any{"id": "c", "name": "Load", "intervalSeconds": 60}}
	tests := []struct {
		name       string
		kind       Kind
		script     string
		env        map[string]string
		wantResult string // JSON; "" = no result
		wantErr    string // substring; "" = no error
		wantStdout string
		wantStderr string
	}{
		{name: "default export function gets the context", kind: TypeScript,
			script:     `import { defineHealthCheck } from "@checkstack/healthcheck"; export default defineHealthCheck(async (ctx: any) => ({ success: ctx.config.threshold > 0.5, value: ctx.check.intervalSeconds }))`,
			wantResult: `{"success":true,"value":60}`},
		{name: "default export value", kind: JavaScript, script: `export default { success: false, message: "down" }`, wantResult: `{"success":false,"message":"down"}`},
		{name: "legacy top-level return with types", kind: TypeScript, script: "const t: number = context.config.threshold;\nreturn { success: t < 1, value: t };", wantResult: `{"success":true,"value":0.6}`},
		{name: "legacy top-level await", kind: TypeScript, script: "const v = await Promise.resolve(41);\nreturn v + 1;", wantResult: `42`},
		{name: "no return is no result", kind: JavaScript, script: `const x = 1;`},
		{name: "null result", kind: JavaScript, script: `return null`},
		{name: "thrown error's message", kind: TypeScript, script: `throw new Error("boom")`, wantErr: "boom"},
		{name: "rejected promise", kind: TypeScript, script: `export default async () => { throw new TypeError("nope") }`, wantErr: "nope"},
		{name: "console output", kind: JavaScript, script: `console.log("a", 1, {b: true}); console.error("oops"); console.warn(null); return true`,
			wantResult: `true`, wantStdout: "a 1 {\"b\":true}\n", wantStderr: "oops\nnull\n"},
		{name: "require fs", kind: JavaScript, script: `const fs = require("fs"); return fs.readFileSync("/etc/passwd", "utf8")`, wantErr: `cannot import "fs"`},
		{name: "import fs unused", kind: TypeScript, script: "import fs from 'fs';\nexport default () => true", wantErr: `cannot import "fs"`},
		{name: "import child_process", kind: TypeScript, script: "import { execSync } from 'node:child_process';\nexport default () => execSync('id').toString()", wantErr: `cannot import "node:child_process"`},
		{name: "dynamic import", kind: JavaScript, script: "export default async () => { const m = await import('net'); return 1 }", wantErr: `cannot import "net"`},
		{name: "no fetch, no timers", kind: JavaScript, script: `return [typeof fetch, typeof setTimeout, typeof XMLHttpRequest, typeof Deno, typeof Bun].join(",")`, wantResult: `"undefined,undefined,undefined,undefined,undefined"`},
		{name: "no process without env", kind: JavaScript, script: `return typeof process`, wantResult: `"undefined"`},
		{name: "process.env with env", kind: JavaScript, script: `return process.env.TOKEN`, env: map[string]string{"TOKEN": "t-1"}, wantResult: `"t-1"`},
		{name: "compile error with position", kind: TypeScript, script: "const x = ;", wantErr: "script does not compile: 1:11"},
		{name: "promise that never settles", kind: JavaScript, script: `export default () => new Promise(() => {})`, wantErr: "never settled"},
		{name: "function result has no JSON form", kind: JavaScript, script: `export default { default: 1 }; `, wantResult: `{"default":1}`},
		{name: "thrown object", kind: JavaScript, script: `throw { code: 503 }`, wantErr: `{"code":503}`},
		{name: "thrown string", kind: JavaScript, script: `throw "plain"`, wantErr: "plain"},
		{name: "BigInt result", kind: JavaScript, script: `return BigInt(1)`, wantErr: "the script's result cannot be converted to JSON: Do not know how to serialize a BigInt"},
		{name: "require error is an Error", kind: JavaScript, script: `try { require("fs") } catch (e) { return e instanceof Error && e.message.startsWith('cannot import "fs"') }`, wantResult: `true`},
		{name: "modern syntax", kind: TypeScript, script: "class A { #x = 2 ** 10; get x(): number { return this.#x } }\nreturn [new A().x, [1, [2, [3]]].flat(2), \"a\".padStart(3, \"-\"), null ?? 1, ({} as any)?.a?.b]", wantResult: `[1024,[1,2,3],"--a",1,null]`},
		{name: "deep recursion", kind: JavaScript, script: `function f(n) { return f(n + 1) } return f(0)`, wantErr: "call stack"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := Run(context.Background(), Request{Kind: tc.kind, Script: tc.script, Context: ctx, Env: tc.env, Timeout: 10 * time.Second})
			if tc.wantErr == "" && r.Err != nil {
				t.Fatalf("unexpected error %v (stderr %q)", r.Err, r.Stderr)
			}
			if tc.wantErr != "" && (r.Err == nil || !strings.Contains(r.Err.Error(), tc.wantErr)) {
				t.Fatalf("error %v, want one containing %q", r.Err, tc.wantErr)
			}
			if !jsonEqual(t, string(r.Result), tc.wantResult) {
				t.Fatalf("result %s, want %s", r.Result, tc.wantResult)
			}
			if r.Stdout != tc.wantStdout || r.Stderr != tc.wantStderr {
				t.Fatalf("stdout %q stderr %q, want %q %q", r.Stdout, r.Stderr, tc.wantStdout, tc.wantStderr)
			}
			if r.TimedOut || r.MemoryExceeded {
				t.Fatalf("timedOut %v memoryExceeded %v", r.TimedOut, r.MemoryExceeded)
			}
		})
	}
}

func jsonEqual(t *testing.T, got, want string) bool {
	t.Helper()
	if got == "" || want == "" {
		return got == want
	}
	var g, w any
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		t.Fatalf("result %q: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatal(err)
	}
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	return string(gb) == string(wb)
}

// TestRunTimeout: an endless loop is stopped at the timeout; output written before is kept.
func TestRunTimeout(t *testing.T) {
	t.Parallel()
	r := Run(context.Background(), Request{Kind: JavaScript, Script: `console.log("started"); while (true) {}`, Timeout: 300 * time.Millisecond})
	if !r.TimedOut || r.Err == nil || r.Err.Error() != "Script execution timed out" || r.MemoryExceeded {
		t.Fatalf("timedOut %v err %v", r.TimedOut, r.Err)
	}
	if r.Stdout != "started\n" {
		t.Fatalf("stdout %q", r.Stdout)
	}
	if r.Duration < 300*time.Millisecond || r.Duration > 5*time.Second {
		t.Fatalf("duration %v", r.Duration)
	}
}

// TestRunMemoryLimit: scripts that try to allocate about 1 GB — in small steps, in one string,
// in one buffer, in one native call — stop with a memory-limit error; this process survives
// (it runs the next case) and its heap never holds the script's memory.
func TestRunMemoryLimit(t *testing.T) {
	t.Parallel()
	for _, script := range []string{
		`const a = []; while (true) a.push({ x: Math.random(), y: [1, 2, 3] });`,
		`let s = "xxxxxxxx"; while (s.length < 2 ** 30) s += s; return s.length`,
		`return "x".repeat(2 ** 30).length`,
		`return new ArrayBuffer(2 ** 30).byteLength`,
		`return new Array(2 ** 27).fill(1).length`,
	} {
		t.Run(script, func(t *testing.T) {
			t.Parallel()
			r := Run(context.Background(), Request{Kind: JavaScript, Script: script, Timeout: 20 * time.Second, MemoryLimit: 64 << 20})
			if !r.MemoryExceeded || r.TimedOut || r.Err == nil || !strings.HasPrefix(r.Err.Error(), "memory limit exceeded") || r.Result != nil {
				t.Fatalf("memoryExceeded %v timedOut %v err %v result %s", r.MemoryExceeded, r.TimedOut, r.Err, r.Result)
			}
		})
	}
}

// TestRunOutputCapped: console output beyond MaxOutputBytes is dropped and flagged.
func TestRunOutputCapped(t *testing.T) {
	t.Parallel()
	r := Run(context.Background(), Request{Kind: JavaScript, Script: `for (let i = 0; i < 10000; i++) console.log("0123456789"); return 1`, Timeout: 10 * time.Second})
	if r.Err != nil || !r.StdoutTruncated || len(r.Stdout) != MaxOutputBytes || r.StderrTruncated {
		t.Fatalf("err %v truncated %v len %d", r.Err, r.StdoutTruncated, len(r.Stdout))
	}
}

// TestRunCancelled: cancelling the context ends the run early.
func TestRunCancelled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := Run(ctx, Request{Kind: JavaScript, Script: `while (true) {}`, Timeout: 10 * time.Second})
	if r.Err == nil || r.TimedOut || !strings.Contains(r.Err.Error(), "cancelled") {
		t.Fatalf("err %v timedOut %v", r.Err, r.TimedOut)
	}
}

func TestTranspile(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		kind    Kind
		src     string
		want    string // substring of the output
		wantErr string
	}{
		{"types stripped", TypeScript, "const x: number = 1; export default x", "var script_default = x", ""},
		{"legacy return kept", TypeScript, "return 1", "return 1;", ""},
		{"legacy return with await wrapped", TypeScript, "return await 1", "async function", ""},
		{"javascript rejects types", JavaScript, "const x: number = 1", "", "script does not compile"},
		{"unknown kind", Kind("python"), "print(1)", "", `unknown script kind "python"`},
		{"error line of a wrapped script", TypeScript, "return 1\nconst = 2", "", "script does not compile: 2:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Transpile(tc.kind, tc.src)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || !strings.Contains(got, tc.want) {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}
