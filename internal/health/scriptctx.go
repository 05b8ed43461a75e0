package health

import "strconv"

// Collector-script test constants (§10): the timeout error and the sample
// run context the editor seeds (check test-check/"Test Check"/60 s, system
// test-system/"Test System").
const (
	ScriptTimedOutMessage = "Script execution timed out"
	TestCheckID           = "test-check"
	TestCheckName         = "Test Check"
	TestCheckInterval     = 60
	TestSystemID          = "test-system"
	TestSystemName        = "Test System"
)

// ShellExitMessage is the error of a shell script that exited non-zero:
// "Shell script exited with code <n>".
func ShellExitMessage(code int) string { return "Shell script exited with code " + strconv.Itoa(code) }

// Run-context environment variable names (§9, §10).
const (
	EnvCheckID              = "CHECKSTACK_CHECK_ID"
	EnvCheckName            = "CHECKSTACK_CHECK_NAME"
	EnvCheckIntervalSeconds = "CHECKSTACK_CHECK_INTERVAL_SECONDS"
	EnvSystemID             = "CHECKSTACK_SYSTEM_ID"
	EnvSystemName           = "CHECKSTACK_SYSTEM_NAME"
)

// CheckRef identifies the check a collector runs for.
type CheckRef struct {
	ID              string `json:"id"`
	Name            string `json:"name"`
	IntervalSeconds int    `json:"intervalSeconds"`
}

// SystemRef identifies the system a collector runs for.
type SystemRef struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// RunContext is the context handed to collectors; either part may be absent.
type RunContext struct {
	Check  *CheckRef  `json:"check,omitempty"`
	System *SystemRef `json:"system,omitempty"`
}

// NewRunContext builds the executor's run context (§15.3 step 8): the check
// name falls back to the configuration id and the system name to the system id.
func NewRunContext(configurationID, configurationName string, intervalSeconds int, systemID, systemName string) RunContext {
	if configurationName == "" {
		configurationName = configurationID
	}
	if systemName == "" {
		systemName = systemID
	}
	return RunContext{
		Check:  &CheckRef{ID: configurationID, Name: configurationName, IntervalSeconds: intervalSeconds},
		System: &SystemRef{ID: systemID, Name: systemName},
	}
}

// RunContextEnv returns the shell run-context variables for the parts that
// are present: CHECKSTACK_CHECK_ID/NAME/INTERVAL_SECONDS when Check is set,
// CHECKSTACK_SYSTEM_ID/NAME when System is set (CS-1…CS-3). It never
// returns nil.
func RunContextEnv(rc RunContext) map[string]string {
	env := map[string]string{}
	if rc.Check != nil {
		env[EnvCheckID] = rc.Check.ID
		env[EnvCheckName] = rc.Check.Name
		env[EnvCheckIntervalSeconds] = strconv.Itoa(rc.Check.IntervalSeconds)
	}
	if rc.System != nil {
		env[EnvSystemID] = rc.System.ID
		env[EnvSystemName] = rc.System.Name
	}
	return env
}

// MergeEnv layers environments, later ones winning (shell precedence:
// run-context vars < config.env < secret env). It never returns nil.
func MergeEnv(layers ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, l := range layers {
		for k, v := range l {
			out[k] = v
		}
	}
	return out
}

// ScriptContext is the TypeScript collector's globalThis.context (CS-4,
// CS-5): {"config": config or {}, "check"?: {id, name, intervalSeconds},
// "system"?: {id, name}}. config is deep-copied.
func ScriptContext(config map[string]any, rc RunContext) map[string]any {
	cfg := copyMap(config)
	if cfg == nil {
		cfg = map[string]any{}
	}
	out := map[string]any{"config": cfg}
	if rc.Check != nil {
		out["check"] = map[string]any{"id": rc.Check.ID, "name": rc.Check.Name, "intervalSeconds": rc.Check.IntervalSeconds}
	}
	if rc.System != nil {
		out["system"] = map[string]any{"id": rc.System.ID, "name": rc.System.Name}
	}
	return out
}
