package jsrun

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/dop251/goja"
)

// MaxOutputBytes caps what console.log / console.error write to stdout / stderr, each; the rest
// is discarded and the result flagged StdoutTruncated / StderrTruncated.
const MaxOutputBytes = 64 << 10

// MaxResultBytes caps the JSON of a script's result.
const MaxResultBytes = 256 << 10

// maxCallStackSize bounds JavaScript recursion (a runaway recursion is a RangeError, not a
// Go stack overflow).
const maxCallStackSize = 10000

// spec is one evaluation, sent by the parent to the evaluator process.
type spec struct {
	// Code is the transpiled CommonJS body.
	Code string `json:"code"`
	// Context is globalThis.context as JSON.
	Context json.RawMessage `json:"context"`
	// Env becomes process.env; nil or empty: no process global at all.
	Env map[string]string `json:"env,omitempty"`
	// TimeoutMs interrupts the evaluation after this long (0: never).
	TimeoutMs int64 `json:"timeoutMs"`
	// MemoryLimit is the heap the evaluation may use, in bytes.
	MemoryLimit int64 `json:"memoryLimit"`
	// UID and GID, when positive, are the unprivileged identity the evaluator switches to
	// before it evaluates anything (a worker running as root).
	UID int `json:"uid,omitempty"`
	GID int `json:"gid,omitempty"`
}

// Why an evaluation was stopped from outside the script.
const (
	reasonTimeout = "timeout"
	reasonMemory  = "memory"
)

// outcome is the evaluator's report.
type outcome struct {
	Result          json.RawMessage `json:"result,omitempty"`
	Stdout          string          `json:"stdout"`
	Stderr          string          `json:"stderr"`
	StdoutTruncated bool            `json:"stdoutTruncated,omitempty"`
	StderrTruncated bool            `json:"stderrTruncated,omitempty"`
	Error           string          `json:"error,omitempty"`
	// Reason is reasonTimeout or reasonMemory when the evaluation was interrupted.
	Reason string `json:"reason,omitempty"`
	// DurationNs is how long the evaluation itself took (without the process start).
	DurationNs int64 `json:"durationNs"`
	// UID is the user id the evaluation ran as.
	UID int `json:"uid"`
}

// stop is the value an evaluation is interrupted with.
type stop struct{ reason string }

func (s stop) Error() string { return "interrupted: " + s.reason }

// evaluator holds one goja runtime set up for a script: globalThis.context, process.env (only
// when the env is not empty), console and a require that knows only HelperModule. goja itself
// has no file, network or process access; nothing here adds any.
type evaluator struct {
	vm             *goja.Runtime
	stdout, stderr capped
}

func newEvaluator(s spec) (*evaluator, error) {
	ev := &evaluator{vm: goja.New(), stdout: capped{max: MaxOutputBytes}, stderr: capped{max: MaxOutputBytes}}
	vm := ev.vm
	vm.SetMaxCallStackSize(maxCallStackSize)
	ctxJSON := string(s.Context)
	if ctxJSON == "" {
		ctxJSON = `{"config":{}}`
	}
	ctxVal, err := ev.parseJSON(ctxJSON)
	if err != nil {
		return nil, fmt.Errorf("decoding the script context: %w", err)
	}
	global := vm.GlobalObject()
	if err := global.Set("context", ctxVal); err != nil {
		return nil, fmt.Errorf("setting the script context: %w", err)
	}
	if len(s.Env) > 0 {
		envJSON, err := json.Marshal(s.Env)
		if err != nil {
			return nil, fmt.Errorf("encoding the script environment: %w", err)
		}
		envVal, err := ev.parseJSON(string(envJSON))
		if err != nil {
			return nil, fmt.Errorf("decoding the script environment: %w", err)
		}
		process := vm.NewObject()
		if err := process.Set("env", envVal); err != nil {
			return nil, fmt.Errorf("setting process.env: %w", err)
		}
		if err := global.Set("process", process); err != nil {
			return nil, fmt.Errorf("setting process: %w", err)
		}
	}
	console := vm.NewObject()
	for name, out := range map[string]*capped{"log": &ev.stdout, "info": &ev.stdout, "debug": &ev.stdout, "error": &ev.stderr, "warn": &ev.stderr} {
		if err := console.Set(name, func(call goja.FunctionCall) goja.Value {
			out.writeLine(ev.format(call.Arguments))
			return goja.Undefined()
		}); err != nil {
			return nil, fmt.Errorf("setting console.%s: %w", name, err)
		}
	}
	if err := global.Set("console", console); err != nil {
		return nil, fmt.Errorf("setting console: %w", err)
	}
	return ev, nil
}

func (ev *evaluator) parseJSON(s string) (goja.Value, error) {
	parse, ok := goja.AssertFunction(ev.vm.Get("JSON").ToObject(ev.vm).Get("parse"))
	if !ok {
		return nil, errors.New("JSON.parse is missing")
	}
	return parse(goja.Undefined(), ev.vm.ToValue(s))
}

// stringify is JSON.stringify(v); ok is false when the value has no JSON form (undefined, a
// function) or stringify threw (a cycle, a BigInt).
func (ev *evaluator) stringify(v goja.Value) (string, bool, error) {
	fn, ok := goja.AssertFunction(ev.vm.Get("JSON").ToObject(ev.vm).Get("stringify"))
	if !ok {
		return "", false, errors.New("JSON.stringify is missing")
	}
	out, err := fn(goja.Undefined(), v)
	if err != nil {
		return "", false, err
	}
	if out == nil || goja.IsUndefined(out) {
		return "", false, nil
	}
	return out.String(), true, nil
}

// format renders console arguments like Node does for the common cases: strings as they are,
// other values as JSON when they have a JSON form, else their String().
func (ev *evaluator) format(args []goja.Value) string {
	parts := make([]string, 0, len(args))
	for _, a := range args {
		switch {
		case a == nil || goja.IsUndefined(a):
			parts = append(parts, "undefined")
		case goja.IsNull(a):
			parts = append(parts, "null")
		default:
			if _, isStr := a.Export().(string); isStr {
				parts = append(parts, a.String())
				continue
			}
			if obj, ok := a.(*goja.Object); ok && obj.ClassName() == "Error" {
				parts = append(parts, a.String())
				continue
			}
			if s, ok, err := ev.stringify(a); err == nil && ok {
				parts = append(parts, s)
				continue
			}
			parts = append(parts, a.String())
		}
	}
	return strings.Join(parts, " ")
}

// require serves HelperModule and refuses everything else with a clear error.
func (ev *evaluator) require(call goja.FunctionCall) goja.Value {
	name := call.Argument(0).String()
	if name != HelperModule {
		panic(ev.vm.NewGoError(fmt.Errorf("cannot import %q: scripts have no module loader, no file, network or process access (the only importable module is %q)", name, HelperModule)))
	}
	mod := ev.vm.NewObject()
	_ = mod.Set(HelperFunction, func(call goja.FunctionCall) goja.Value { return call.Argument(0) })
	_ = mod.Set("__esModule", true)
	return mod
}

// run evaluates the CommonJS body: the default export (called with the context when it is a
// function) or, without one, the body's return value is the result; a promise is awaited (its
// jobs run when the outermost call returns). Interrupts are reported in outcome.Reason.
func (ev *evaluator) run(code string) outcome {
	out := ev.exec(code)
	out.Stdout, out.StdoutTruncated = ev.stdout.String(), ev.stdout.truncated
	out.Stderr, out.StderrTruncated = ev.stderr.String(), ev.stderr.truncated
	return out
}

func (ev *evaluator) exec(code string) outcome {
	vm := ev.vm
	prog, err := goja.Compile(sourceFile, "(function (module, exports, require) {\n"+code+"\n})", true)
	if err != nil {
		return outcome{Error: "script does not compile: " + err.Error()}
	}
	wrapper, err := vm.RunProgram(prog)
	if err != nil {
		return ev.failure(err)
	}
	fn, ok := goja.AssertFunction(wrapper)
	if !ok {
		return outcome{Error: "internal error: the script wrapper is not a function"}
	}
	module := vm.NewObject()
	exports := vm.NewObject()
	_ = module.Set("exports", exports)
	ret, err := fn(goja.Undefined(), module, exports, vm.ToValue(ev.require))
	if err != nil {
		return ev.failure(err)
	}
	value := ret
	if exp := module.Get("exports"); exp != nil {
		if obj, ok := exp.(*goja.Object); ok {
			if def := obj.Get("default"); def != nil && !goja.IsUndefined(def) {
				value = def
				if f, ok := goja.AssertFunction(def); ok {
					if value, err = f(goja.Undefined(), vm.GlobalObject().Get("context")); err != nil {
						return ev.failure(err)
					}
				}
			}
		}
	}
	if p, ok := value.Export().(*goja.Promise); ok {
		switch p.State() {
		case goja.PromiseStateFulfilled:
			value = p.Result()
		case goja.PromiseStateRejected:
			return outcome{Error: ev.message(p.Result())}
		default:
			return outcome{Error: "the script's promise never settled (there are no timers or I/O to wait for)"}
		}
	}
	if value == nil || goja.IsUndefined(value) || goja.IsNull(value) {
		return outcome{}
	}
	s, ok, err := ev.stringify(value)
	if err != nil {
		out := ev.failure(err)
		if out.Reason == "" {
			out.Error = "the script's result cannot be converted to JSON: " + out.Error
		}
		return out
	}
	if !ok {
		return outcome{}
	}
	if len(s) > MaxResultBytes {
		return outcome{Error: fmt.Sprintf("the script's result is larger than %d bytes as JSON", MaxResultBytes)}
	}
	return outcome{Result: json.RawMessage(s)}
}

// failure turns an evaluation error into an outcome: an interrupt keeps its reason, a thrown
// value its message.
func (ev *evaluator) failure(err error) outcome {
	var ie *goja.InterruptedError
	if errors.As(err, &ie) {
		if st, ok := ie.Value().(stop); ok {
			return outcome{Reason: st.reason}
		}
		return outcome{Error: fmt.Sprint(ie.Value())}
	}
	var ex *goja.Exception
	if errors.As(err, &ex) {
		return outcome{Error: ev.message(ex.Value())}
	}
	var so *goja.StackOverflowError
	if errors.As(err, &so) {
		return outcome{Error: "RangeError: Maximum call stack size exceeded"}
	}
	return outcome{Error: err.Error()}
}

// message is what a thrown (or rejected) value says: an Error's message (a Go error raised by
// require included), else its String().
func (ev *evaluator) message(v goja.Value) string {
	if v == nil || goja.IsUndefined(v) {
		return "undefined"
	}
	if obj, ok := v.(*goja.Object); ok {
		if ge, ok := obj.Export().(error); ok && obj.ClassName() == "GoError" {
			return ge.Error()
		}
		if m := obj.Get("message"); m != nil && !goja.IsUndefined(m) {
			if s := m.String(); s != "" {
				return s
			}
		}
		if obj.ClassName() == "Object" || obj.ClassName() == "Array" {
			if s, ok, err := ev.stringify(obj); err == nil && ok {
				return s
			}
		}
	}
	return v.String()
}

// capped keeps the first max bytes written as lines.
type capped struct {
	max       int
	b         strings.Builder
	truncated bool
}

func (c *capped) writeLine(s string) {
	s += "\n"
	room := c.max - c.b.Len()
	if len(s) > room {
		c.truncated = true
		if room <= 0 {
			return
		}
		s = s[:room]
		for len(s) > 0 && !utf8.ValidString(s) { // do not cut a rune in half
			s = s[:len(s)-1]
		}
	}
	c.b.WriteString(s)
}

func (c *capped) String() string { return strings.ToValidUTF8(c.b.String(), "\uFFFD") }
