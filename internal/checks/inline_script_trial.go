package checks

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/checkflow/checkflow/internal/health"
	"github.com/checkflow/checkflow/internal/jsrun"
)

// Script kinds of a collector-script trial (reference §10; "javascript" is checkflow's
// addition: the same engine without the TypeScript syntax).
const (
	ScriptKindTypeScript = "typescript"
	ScriptKindJavaScript = "javascript"
	ScriptKindShell      = "shell"
)

// ScriptTrialInput is one collector-script test run (reference §10 CollectorScriptTestInput).
type ScriptTrialInput struct {
	// Kind is ScriptKindTypeScript, ScriptKindJavaScript or ScriptKindShell.
	Kind   string
	Script string
	// Config becomes context.config of a TypeScript/JavaScript script (nil: {}).
	Config map[string]any
	// Env is the shell script's own environment (ignored for TypeScript/JavaScript).
	Env map[string]string
	// SecretEnv maps variables to "${{ secrets.NAME }}" templates; a trial never resolves
	// real secrets (see health.TestSecretEnv).
	SecretEnv map[string]string
	// SecretOverrides are stand-in secret values by secret name; they are masked out of the
	// output.
	SecretOverrides map[string]string
	// WorkingDirectory is the shell script's working directory ("" = a fresh one).
	WorkingDirectory string
	// RunContext is the sample check and system (either may be absent).
	RunContext health.RunContext
	// Timeout stops the script.
	Timeout time.Duration
}

// ScriptRunners are the engines a trial uses; a nil field means the real one (jsrun.Run,
// RunShell). Tests replace them to observe what a trial asks of them.
type ScriptRunners struct {
	JS    func(context.Context, jsrun.Request) jsrun.Result
	Shell func(context.Context, ShellRequest) ShellResult
}

// ScriptTrialShellEnv is a trial shell script's environment over the sandbox's base (reference
// §10 step 2): the run-context variables of the parts present (also under the CHECKFLOW_
// prefix, as in real runs), then env, then the trial's secret environment.
func ScriptTrialShellEnv(rc health.RunContext, env, secrets map[string]string) map[string]string {
	rcEnv := health.RunContextEnv(rc)
	for _, k := range sortedKeys(rcEnv) {
		rcEnv["CHECKFLOW_"+strings.TrimPrefix(k, "CHECKSTACK_")] = rcEnv[k]
	}
	return health.MergeEnv(rcEnv, env, secrets)
}

// RunScriptTrial runs a collector script once, as the script test endpoint does (reference
// §10): it never resolves real secrets (placeholders __SECRET_<NAME>__ or the overrides), never
// fails — script and runner failures are reported in Error — and masks the overrides out of
// everything it returns.
func (rn ScriptRunners) RunScriptTrial(ctx context.Context, in ScriptTrialInput) (out health.ScriptRunOutput) {
	secretEnv, mask := health.TestSecretEnv(in.SecretEnv, in.SecretOverrides)
	start := time.Now()
	defer func() {
		if p := recover(); p != nil {
			out = health.ScriptRunOutput{DurationMs: time.Since(start).Milliseconds(), Error: fmt.Sprint(p)}
		}
		out = health.MaskScriptRunOutput(out, mask)
	}()
	switch in.Kind {
	case ScriptKindShell:
		return rn.shellTrial(ctx, in, secretEnv)
	case ScriptKindTypeScript, ScriptKindJavaScript:
		return rn.jsTrial(ctx, in, secretEnv)
	}
	return health.ScriptRunOutput{Error: fmt.Sprintf("unknown script kind %q", in.Kind)}
}

func (rn ScriptRunners) shellTrial(ctx context.Context, in ScriptTrialInput, secretEnv map[string]string) health.ScriptRunOutput {
	runShell := rn.Shell
	if runShell == nil {
		runShell = RunShell
	}
	r := runShell(ctx, ShellRequest{
		Script:  in.Script,
		Dir:     in.WorkingDirectory,
		Env:     ScriptTrialShellEnv(in.RunContext, in.Env, secretEnv),
		Timeout: in.Timeout,
	})
	out := health.ScriptRunOutput{
		Stdout: r.Stdout, Stderr: r.Stderr, ExitCode: r.ExitCode,
		DurationMs: r.Duration.Milliseconds(), TimedOut: r.TimedOut,
	}
	switch {
	case r.TimedOut:
		out.Error = health.ScriptTimedOutMessage
	case r.Err != nil:
		out.Error = r.Err.Error()
	}
	return out
}

func (rn ScriptRunners) jsTrial(ctx context.Context, in ScriptTrialInput, secretEnv map[string]string) health.ScriptRunOutput {
	runJS := rn.JS
	if runJS == nil {
		runJS = jsrun.Run
	}
	kind := jsrun.TypeScript
	if in.Kind == ScriptKindJavaScript {
		kind = jsrun.JavaScript
	}
	r := runJS(ctx, jsrun.Request{
		Kind:    kind,
		Script:  in.Script,
		Context: health.ScriptContext(in.Config, in.RunContext),
		Env:     secretEnv, // nil without secretEnv: the script gets no process object
		Timeout: in.Timeout,
	})
	out := health.ScriptRunOutput{
		Stdout: r.Stdout, Stderr: r.Stderr,
		DurationMs: r.Duration.Milliseconds(), TimedOut: r.TimedOut,
	}
	if len(r.Result) > 0 {
		var v any
		if err := json.Unmarshal(r.Result, &v); err != nil {
			out.Error = fmt.Sprintf("decoding the script's result: %v", err)
			return out
		}
		out.Result = v
	}
	switch {
	case r.TimedOut:
		out.Error = health.ScriptTimedOutMessage
	case r.Err != nil:
		out.Error = r.Err.Error()
	}
	return out
}
