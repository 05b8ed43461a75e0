package checks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/checkflow/checkflow/internal/health"
	"github.com/checkflow/checkflow/internal/jsrun"
)

// inlineScriptID is the id of the script strategy's TypeScript/JavaScript collector.
const inlineScriptID = "inline-script"

// scriptCheckFailed is the collector error of a script that reported failure without a message.
const scriptCheckFailed = "Check failed"

// inlineScriptCollector is the script strategy's "inline-script" collector (reference §14):
// a TypeScript or JavaScript ES module evaluated by internal/jsrun.
func inlineScriptCollector() *collectorDef {
	return &collectorDef{
		id: inlineScriptID, displayName: "Inline Script", allowMultiple: true,
		description: "Evaluates a TypeScript or JavaScript ES module in a sandboxed engine without file, network, process or module access, in its own process with a " +
			fmt.Sprintf("%d MiB memory limit. ", jsrun.DefaultMemoryLimit>>20) +
			"The default export (called with the context when it is a function, and awaited) or a legacy top-level return is the result: " +
			"null/undefined succeeds; a boolean is success; a number succeeds with that value; an object gives success (default true), message and value; anything else succeeds with its text as message. " +
			`A failure fails the collector with its message (else "Check failed"). globalThis.context is {config, check, system}; resolved secretEnv variables are in process.env (no process object without them).`,
		config: objectSchema{Props: []prop{
			{Name: "script", Type: "string", Title: "Script", Required: true, MinLength: 1, Description: "TypeScript or JavaScript ES module, e.g. export default () => ({ success: true, value: 42 })."},
			secretEnvProp(),
			timeoutProp(10000, 1000, 60000, "Stop the script after this long."),
		}},
		result: objectSchema{Props: []prop{
			{Name: "success", Type: "boolean"},
			{Name: "message", Type: "string"},
			{Name: "value", Type: "any", Title: "The value the script returned"},
			{Name: "executionTimeMs", Type: "integer"},
			{Name: "timedOut", Type: "boolean"},
		}},
		aggregates: []aggSpec{
			{Name: "avgExecutionTimeMs", Type: "average", Source: "executionTimeMs"},
			{Name: "successRate", Type: "rate", Source: "success"},
			{Name: "timeoutCount", Type: "counter", Source: "timedOut"},
		},
		collect: collectInlineScript,
	}
}

// satisfiesRequiredCollector reports whether collector c does the probing that strategy's
// required collector rc stands for: rc itself, or, for the script strategy, either script
// collector (execute or inline-script).
func satisfiesRequiredCollector(rc, c *collectorDef) bool {
	return c == rc || (rc.strategy == c.strategy && rc.id == "execute" && c.id == inlineScriptID)
}

// requiredCollectorAlternative completes the missing-collector message of a strategy whose
// required collector rc has an alternative (the script strategy's inline-script).
func requiredCollectorAlternative(rc *collectorDef) string {
	if rc.id != "execute" {
		return ""
	}
	return fmt.Sprintf(`, or an %q collector with config.script (TypeScript/JavaScript)`, inlineScriptID)
}

// healthRunContext converts the executor's run context into the parts health.ScriptContext
// and health.RunContextEnv take (a part is present when its id is set).
func healthRunContext(rc RunContext) health.RunContext {
	var out health.RunContext
	if rc.CheckID != "" {
		out.Check = &health.CheckRef{ID: rc.CheckID, Name: rc.CheckName, IntervalSeconds: rc.IntervalSeconds}
	}
	if rc.SystemID != "" {
		out.System = &health.SystemRef{ID: rc.SystemID, Name: rc.SystemName}
	}
	return out
}

func collectInlineScript(ctx context.Context, _ client, raw map[string]any, in collectInput) (map[string]any, error) {
	var env map[string]string
	if len(in.SecretEnv) > 0 {
		env = in.SecretEnv
	}
	r := jsrun.Run(ctx, jsrun.Request{
		Kind:    jsrun.TypeScript,
		Script:  stringField(raw, "script"),
		Context: health.ScriptContext(raw, healthRunContext(in.Run)),
		Env:     env,
		Timeout: time.Duration(intField(raw, "timeout", 10000)) * time.Millisecond,
	})
	if ctx.Err() != nil && !r.TimedOut {
		return nil, r.Err
	}
	res := map[string]any{
		"executionTimeMs": int(r.Duration.Milliseconds()),
		"timedOut":        r.TimedOut,
		"success":         false,
	}
	if r.Err != nil {
		return res, r.Err
	}
	out, err := NormalizeScriptResult(r.Result)
	if err != nil {
		return res, err
	}
	res["success"] = out.Success
	if out.Message != nil {
		res["message"] = *out.Message
	}
	if out.Value != nil {
		res["value"] = out.Value
	}
	if !out.Success {
		if out.Message != nil {
			return res, errors.New(*out.Message)
		}
		return res, errors.New(scriptCheckFailed)
	}
	return res, nil
}

// ScriptOutcome is an inline script's result, normalised (reference §14).
type ScriptOutcome struct {
	Success bool
	// Message is set when the script gave one.
	Message *string
	// Value is set when the script gave one (a JSON value).
	Value any
}

// NormalizeScriptResult normalises a script's JSON result (nil: undefined) like the reference:
// null/undefined → success; boolean → success = the boolean; number → success with that value;
// object → success (default true; a non-boolean is taken by its JavaScript truthiness), message
// and value; anything else (a string, an array) → success with the value's text as message.
func NormalizeScriptResult(raw json.RawMessage) (ScriptOutcome, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return ScriptOutcome{Success: true}, nil
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return ScriptOutcome{}, fmt.Errorf("decoding the script's result: %w", err)
	}
	switch x := v.(type) {
	case nil:
		return ScriptOutcome{Success: true}, nil
	case bool:
		return ScriptOutcome{Success: x}, nil
	case float64:
		return ScriptOutcome{Success: true, Value: x}, nil
	case map[string]any:
		out := ScriptOutcome{Success: true, Value: x["value"]}
		if s, ok := x["success"]; ok && s != nil {
			out.Success = jsTruthy(s)
		}
		if m, ok := x["message"]; ok && m != nil {
			msg := jsString(m)
			out.Message = &msg
		}
		return out, nil
	case string:
		return ScriptOutcome{Success: true, Message: &x}, nil
	default:
		msg := jsString(x)
		return ScriptOutcome{Success: true, Message: &msg}, nil
	}
}
