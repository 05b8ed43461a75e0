package health

import "testing"

// TestRunContext covers §16.8 CS-1…CS-5 (env and context building).
func TestRunContext(t *testing.T) {
	envs := []struct {
		name string
		rc   RunContext
		want map[string]string
	}{
		{"CS-1 check and system", RunContext{Check: &CheckRef{"c1", "CPU", 60}, System: &SystemRef{"s1", "web-1"}}, map[string]string{
			"CHECKSTACK_CHECK_ID": "c1", "CHECKSTACK_CHECK_NAME": "CPU", "CHECKSTACK_CHECK_INTERVAL_SECONDS": "60",
			"CHECKSTACK_SYSTEM_ID": "s1", "CHECKSTACK_SYSTEM_NAME": "web-1"}},
		{"CS-2 run context undefined → {}", RunContext{}, map[string]string{}},
		{"CS-3 only system", RunContext{System: &SystemRef{"s1", "web-1"}}, map[string]string{"CHECKSTACK_SYSTEM_ID": "s1", "CHECKSTACK_SYSTEM_NAME": "web-1"}},
	}
	for _, tc := range envs {
		t.Run(tc.name, func(t *testing.T) {
			got := RunContextEnv(tc.rc)
			if got == nil {
				t.Fatal("nil env")
			}
			deepEqual(t, got, tc.want)
		})
	}
	ctxs := []struct {
		name   string
		config map[string]any
		rc     RunContext
		want   string
	}{
		{"CS-4 config only", map[string]any{"threshold": 1.0}, RunContext{}, `{"config":{"threshold":1}}`},
		{"CS-4 empty config and check", map[string]any{}, RunContext{Check: &CheckRef{"c", "n", 30}}, `{"check":{"id":"c","intervalSeconds":30,"name":"n"},"config":{}}`},
		{"CS-5 nothing → {config:{}}", nil, RunContext{}, `{"config":{}}`},
		{"CS-6 context shape with check", map[string]any{"threshold": 0.6}, RunContext{Check: &CheckRef{"c", "Load", 60}}, `{"check":{"id":"c","intervalSeconds":60,"name":"Load"},"config":{"threshold":0.6}}`},
		{"system part", nil, RunContext{System: &SystemRef{"s", "S"}}, `{"config":{},"system":{"id":"s","name":"S"}}`},
	}
	for _, tc := range ctxs {
		t.Run(tc.name, func(t *testing.T) {
			if got := mustJSON(t, ScriptContext(tc.config, tc.rc)); got != tc.want {
				t.Fatalf("got %s want %s", got, tc.want)
			}
		})
	}
	t.Run("config is copied", func(t *testing.T) {
		cfg := map[string]any{"a": map[string]any{"b": 1.0}}
		ctx := ScriptContext(cfg, RunContext{})
		ctx["config"].(map[string]any)["a"].(map[string]any)["b"] = 2.0
		if cfg["a"].(map[string]any)["b"] != 1.0 {
			t.Fatal("config aliased")
		}
	})
	t.Run("QE-7 executor run context falls back to ids", func(t *testing.T) {
		jsonEqual(t, NewRunContext("config-1", "", 45, "system-1", "web-01"),
			map[string]any{"check": map[string]any{"id": "config-1", "name": "config-1", "intervalSeconds": 45}, "system": map[string]any{"id": "system-1", "name": "web-01"}})
	})
	t.Run("CS-9 env precedence: run context < env < secrets", func(t *testing.T) {
		env := MergeEnv(RunContextEnv(RunContext{Check: &CheckRef{"c", "Disk", 30}}), map[string]string{"EXTRA": "1", "CHECKSTACK_CHECK_ID": "user"}, map[string]string{"EXTRA": "secret"})
		if env["CHECKSTACK_CHECK_NAME"] != "Disk" || env["EXTRA"] != "secret" || env["CHECKSTACK_CHECK_ID"] != "user" {
			t.Fatalf("env %v", env)
		}
	})
	if ShellExitMessage(5) != "Shell script exited with code 5" || ScriptTimedOutMessage != "Script execution timed out" {
		t.Fatal("CS-7/CS-10 messages")
	}
}
