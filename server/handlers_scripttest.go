package server

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/checkflow/checkflow/internal/checks"
	"github.com/checkflow/checkflow/internal/health"
	"github.com/checkflow/checkflow/internal/jsrun"
)

// Script test limits (reference §10).
const (
	scriptTestDefaultTimeoutMs = 30000
	scriptTestMinTimeoutMs     = 100
	scriptTestMaxTimeoutMs     = 300000
	// scriptTestMargin is how long the request may outlive the script's timeout (process start,
	// kill and cleanup).
	scriptTestMargin = 10 * time.Second
	// maxConcurrentScriptTests bounds the script tests one server runs at once: each may hold
	// an evaluator process (up to twice its memory limit plus runtime) or a shell for minutes.
	maxConcurrentScriptTests = 4
	// scriptTestRetryAfter is the Retry-After of the busy answer.
	scriptTestRetryAfter = 2 * time.Second
)

// scriptTestRoutes are the routes of the script test endpoint (reference §10).
func (s *Server) scriptTestRoutes() []route {
	return []route{
		{method: http.MethodPost, path: v1 + "/collector-scripts:test", auth: true, scope: ScopeConfigManage, handler: s.scriptTestHandler(maxConcurrentScriptTests), ownDeadline: true,
			doc: opDoc{id: "testCollectorScript", tag: "Checks", summary: "Run a collector script once, without saving it",
				desc: "Runs a `typescript` or `javascript` script (the inline-script collector's engine: an ES module whose default export — called with the context when it is a function — or legacy top-level return is the `result`; " +
					"no file, network, process or module access; " + fmt.Sprintf("%d MiB", jsrun.DefaultMemoryLimit>>20) + " memory limit) or a `shell` script (the execute collector's sandbox, `sh -c`) on this server and returns what it did. " +
					"A TypeScript/JavaScript script sees `globalThis.context = {config, check?, system?}` built from `config` and `runContext`; a shell script sees the run-context variables (`CHECKSTACK_CHECK_ID`, `CHECKSTACK_CHECK_NAME`, `CHECKSTACK_CHECK_INTERVAL_SECONDS`, `CHECKSTACK_SYSTEM_ID`, `CHECKSTACK_SYSTEM_NAME` and their `CHECKFLOW_` twins) of the parts sent, then `env`, then the secret environment. " +
					"Real secrets are never resolved: each `secretEnv` variable gets the value of `secretOverrides[NAME]` for its first referenced secret NAME, else the placeholder `__SECRET_<NAME>__`; override values are masked (`****`) out of everything returned. " +
					"Without `secretEnv` a TypeScript/JavaScript script has no `process` object. Script failures (a throw, a non-zero exit, the timeout, the memory limit) are a 200 with `error`; bad input is a 422 naming the field. " +
					fmt.Sprintf("A server runs at most %d script tests at once; beyond, the answer is a 503 with Retry-After.", maxConcurrentScriptTests),
				body: "CollectorScriptTestRequest", status: 200, response: "CollectorScriptTestResult", errors: []int{503}}},
	}
}

// scriptTestBody is the request body of POST /api/v1/collector-scripts:test.
type scriptTestBody struct {
	Kind             *string               `json:"kind"`
	Script           *string               `json:"script"`
	Config           map[string]any        `json:"config"`
	Env              map[string]string     `json:"env"`
	SecretEnv        map[string]string     `json:"secretEnv"`
	SecretOverrides  map[string]string     `json:"secretOverrides"`
	WorkingDirectory *string               `json:"workingDirectory"`
	RunContext       *scriptTestRunContext `json:"runContext"`
	TimeoutMs        *int                  `json:"timeoutMs"`
}

type scriptTestRunContext struct {
	Check *struct {
		ID              *string `json:"id"`
		Name            *string `json:"name"`
		IntervalSeconds *int    `json:"intervalSeconds"`
	} `json:"check"`
	System *struct {
		ID   *string `json:"id"`
		Name *string `json:"name"`
	} `json:"system"`
}

// scriptTestHandler serves the script test endpoint with at most limit runs at once (a busy
// server answers 503 with Retry-After after validating the request).
func (s *Server) scriptTestHandler(limit int) echo.HandlerFunc {
	slots := make(chan struct{}, limit)
	return func(c echo.Context) error {
		var b scriptTestBody
		if _, err := decodeJSON(c, &b, false); err != nil {
			return err
		}
		in, fe := b.trialInput()
		if len(fe) > 0 {
			return invalidFields(fe...)
		}
		select {
		case slots <- struct{}{}:
			defer func() { <-slots }()
		default:
			return unavailable(ProblemUnavailable, fmt.Sprintf("this server is already running %d script tests; repeat the request later", limit), scriptTestRetryAfter)
		}
		ctx, cancel := context.WithTimeout(c.Request().Context(), in.Timeout+scriptTestMargin)
		defer cancel()
		out := checks.ScriptRunners{}.RunScriptTrial(ctx, in)
		s.log.InfoContext(ctx, "collector script tested", "kind", in.Kind, "durationMs", out.DurationMs, "timedOut", out.TimedOut, "failed", out.Error != "")
		return c.JSON(http.StatusOK, out)
	}
}

// trialInput validates the body and builds the trial; field errors name the body field.
func (b scriptTestBody) trialInput() (checks.ScriptTrialInput, []FieldError) {
	var fe []FieldError
	bad := func(field, format string, args ...any) {
		fe = append(fe, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	in := checks.ScriptTrialInput{Config: b.Config, Env: b.Env, SecretEnv: b.SecretEnv, SecretOverrides: b.SecretOverrides}
	switch {
	case b.Kind == nil:
		bad("kind", "is required")
	case *b.Kind != checks.ScriptKindTypeScript && *b.Kind != checks.ScriptKindJavaScript && *b.Kind != checks.ScriptKindShell:
		bad("kind", "must be one of %s, %s, %s", checks.ScriptKindTypeScript, checks.ScriptKindJavaScript, checks.ScriptKindShell)
	default:
		in.Kind = *b.Kind
	}
	switch {
	case b.Script == nil:
		bad("script", "is required")
	case *b.Script == "":
		bad("script", "must not be empty")
	default:
		in.Script = *b.Script
	}
	for _, m := range []struct {
		field string
		env   map[string]string
	}{{"env", b.Env}, {"secretEnv", b.SecretEnv}} {
		for _, name := range sortedKeys(m.env) {
			if !health.ValidEnvName(name) {
				bad(m.field+"."+name, "invalid environment variable name (1–%d characters, ^[a-zA-Z_][a-zA-Z0-9_]*$)", health.MaxEnvNameLength)
			}
		}
	}
	if b.WorkingDirectory != nil {
		switch {
		case in.Kind != "" && in.Kind != checks.ScriptKindShell:
			bad("workingDirectory", "applies to shell scripts only")
		case !filepath.IsAbs(*b.WorkingDirectory):
			bad("workingDirectory", "must be an absolute path")
		default:
			in.WorkingDirectory = *b.WorkingDirectory
		}
	}
	if rc := b.RunContext; rc != nil {
		if ch := rc.Check; ch != nil {
			ref := &health.CheckRef{}
			switch {
			case ch.ID == nil || *ch.ID == "":
				bad("runContext.check.id", "is required")
			default:
				ref.ID = *ch.ID
			}
			switch {
			case ch.Name == nil:
				bad("runContext.check.name", "is required")
			default:
				ref.Name = *ch.Name
			}
			switch {
			case ch.IntervalSeconds == nil:
				bad("runContext.check.intervalSeconds", "is required")
			case *ch.IntervalSeconds < 0:
				bad("runContext.check.intervalSeconds", "must be at least 0")
			default:
				ref.IntervalSeconds = *ch.IntervalSeconds
			}
			in.RunContext.Check = ref
		}
		if sys := rc.System; sys != nil {
			ref := &health.SystemRef{}
			if sys.ID == nil || *sys.ID == "" {
				bad("runContext.system.id", "is required")
			} else {
				ref.ID = *sys.ID
			}
			if sys.Name == nil {
				bad("runContext.system.name", "is required")
			} else {
				ref.Name = *sys.Name
			}
			in.RunContext.System = ref
		}
	}
	timeoutMs := scriptTestDefaultTimeoutMs
	if b.TimeoutMs != nil {
		timeoutMs = *b.TimeoutMs
		if timeoutMs < scriptTestMinTimeoutMs || timeoutMs > scriptTestMaxTimeoutMs {
			bad("timeoutMs", "must be an integer between %d and %d", scriptTestMinTimeoutMs, scriptTestMaxTimeoutMs)
		}
	}
	in.Timeout = time.Duration(timeoutMs) * time.Millisecond
	return in, fe
}

// scriptTestSchemas are the OpenAPI schemas of the script test endpoint.
func scriptTestSchemas() schema {
	strMap := func(d string) schema { return describe(mapOf(str()), d) }
	return schema{
		"CollectorScriptTestRequest": object([]string{"kind", "script"}, schema{
			"kind":             schema{"type": "string", "enum": []string{checks.ScriptKindTypeScript, checks.ScriptKindJavaScript, checks.ScriptKindShell}},
			"script":           schema{"type": "string", "minLength": 1, "description": "An ES module (typescript, javascript) or a sh -c script (shell)."},
			"config":           anyObject("context.config of a TypeScript/JavaScript script (default {})."),
			"env":              strMap("Environment of a shell script (ignored for TypeScript/JavaScript)."),
			"secretEnv":        strMap(`Variables whose values reference secrets, e.g. {"TOKEN": "${{ secrets.api }}"}; never resolved here (see secretOverrides).`),
			"secretOverrides":  strMap("Stand-in values by secret name; masked out of the answer."),
			"workingDirectory": describe(str(), "Absolute working directory of a shell script (default: a fresh directory)."),
			"runContext": object(nil, schema{
				"check": object([]string{"id", "name", "intervalSeconds"}, schema{
					"id": str(), "name": str(), "intervalSeconds": intMin(0),
				}),
				"system": object([]string{"id", "name"}, schema{"id": str(), "name": str()}),
			}),
			"timeoutMs": schema{"type": "integer", "minimum": scriptTestMinTimeoutMs, "maximum": scriptTestMaxTimeoutMs, "default": scriptTestDefaultTimeoutMs},
		}),
		"CollectorScriptTestResult": object([]string{"stdout", "stderr", "durationMs", "timedOut"}, schema{
			"result":     schema{"description": "The TypeScript/JavaScript script's result (absent when undefined or null)."},
			"stdout":     describe(str(), "console.log output or the shell's stdout (at most 64 KiB)."),
			"stderr":     describe(str(), "console.error output or the shell's stderr (at most 64 KiB)."),
			"exitCode":   describe(integer(), "The shell's exit code (absent when it did not exit by itself)."),
			"durationMs": intMin(0),
			"timedOut":   boolean(),
			"error":      strDesc(`Why the script failed: its error, "Shell script exited with code N", "Script execution timed out", "memory limit exceeded: …".`),
		}),
	}
}
