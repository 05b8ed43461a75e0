// Package jsrun evaluates health-check scripts written in TypeScript or JavaScript (reference
// §10, §14 inline-script) in a sandbox: TypeScript is transpiled in-process with esbuild, the
// script runs in goja (a JavaScript engine in pure Go without file, network, process or module
// access) in a separate evaluator process re-executed from the current binary, so that a
// runaway script — an endless loop, a gigabyte allocation — is stopped at its limits and never
// takes the worker or the API server down with it.
//
// A script is an ES module: its default export is the result, or, when the default export is a
// function, the function is called with the context and its (awaited) return value is the
// result. The legacy form — a body that ends with a top-level return — is accepted too. The
// script sees globalThis.context = {config, check?, system?}, process.env when it is given an
// environment (no process object at all otherwise), and console.log/info/debug (stdout) and
// console.error/warn (stderr). The only importable module is HelperModule. When the calling
// process runs as root, the evaluator switches to the user "nobody" before evaluating; it
// always sets no_new_privs, has an empty environment and no descriptors besides its pipes.
package jsrun

import (
	"encoding/json"
	"time"
)

// DefaultMemoryLimit is the heap a script may use unless the request says otherwise.
const DefaultMemoryLimit = 128 << 20

// DefaultTimeout bounds a run whose request has no timeout.
const DefaultTimeout = 30 * time.Second

// MemoryExceededMessage starts the error of a script stopped at its memory limit.
const MemoryExceededMessage = "memory limit exceeded"

// Request is one script evaluation.
type Request struct {
	// Kind is TypeScript or JavaScript.
	Kind Kind
	// Script is the ES module source.
	Script string
	// Context becomes globalThis.context (nil: {"config": {}}); it must be JSON-encodable.
	Context map[string]any
	// Env becomes process.env; nil or empty means the script has no process object.
	Env map[string]string
	// Timeout stops the script (0: DefaultTimeout).
	Timeout time.Duration
	// MemoryLimit is the heap the script may use, in bytes (0: DefaultMemoryLimit).
	MemoryLimit int64
}

// Result is the outcome of Run. Script failures are reported in Err, never as a panic.
type Result struct {
	// Result is the script's result as JSON; nil when it is undefined, null or has no JSON form
	// (a function), or when the script failed.
	Result json.RawMessage
	// Stdout and Stderr hold the console output, at most MaxOutputBytes each.
	Stdout, Stderr string
	// StdoutTruncated and StderrTruncated report output beyond the cap.
	StdoutTruncated, StderrTruncated bool
	// Duration is how long the script ran.
	Duration time.Duration
	// TimedOut reports that the timeout stopped the script (Err is then "Script execution
	// timed out").
	TimedOut bool
	// MemoryExceeded reports that the memory limit stopped the script (Err then starts with
	// MemoryExceededMessage).
	MemoryExceeded bool
	// UID is the user id the evaluator ran as (nobody's when this process runs as root).
	UID int
	// Err is nil when the script ran to completion; otherwise the thrown error's message, a
	// compile error, a timeout, the memory limit or an evaluator failure.
	Err error
}
