package health

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

var occurred = time.Date(2026, 5, 29, 12, 0, 0, 0, time.UTC)

func types(evs []TriggerEvent) []string {
	out := []string{}
	for _, e := range evs {
		out = append(out, e.Type)
	}
	return out
}

// triggerSchema mimics the zod payload schemas of the three system triggers:
// required fields with their JSON types; unknown fields are allowed (stripped).
func triggerSchema(t *testing.T, trigger string, payload map[string]any) map[string]any {
	t.Helper()
	b, err := json.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	required := map[string]string{"systemId": "string", "previousStatus": "status", "healthyChecks": "number", "totalChecks": "number", "timestamp": "string"}
	if trigger != EventSystemHealthy {
		required["newStatus"] = "status"
	}
	for k, kind := range required {
		v, ok := m[k]
		if !ok {
			t.Fatalf("%s payload misses %s: %s", trigger, k, b)
		}
		switch kind {
		case "string":
			if _, ok := v.(string); !ok {
				t.Fatalf("%s.%s not a string: %v", trigger, k, v)
			}
		case "status":
			s, _ := v.(string)
			if !Status(s).Valid() {
				t.Fatalf("%s.%s not a status: %v", trigger, k, v)
			}
		case "number":
			if _, ok := v.(float64); !ok {
				t.Fatalf("%s.%s not a number: %v", trigger, k, v)
			}
		}
	}
	if ts, _ := m["timestamp"].(string); ts != "" {
		if _, err := time.Parse(time.RFC3339Nano, ts); err != nil {
			t.Fatalf("timestamp %q: %v", ts, err)
		}
	}
	return m
}

func eventOf(evs []TriggerEvent, typ string) map[string]any {
	for _, e := range evs {
		if e.Type == typ {
			return e.Payload
		}
	}
	return nil
}

// TestHealthEntity covers §16.2 HE-1…HE-15 (deriver, payload, classify, state schema).
func TestHealthEntity(t *testing.T) {
	fixturePrev := &View{Healthy, 2, 2}
	fixtureNext := &View{Unhealthy, 0, 2}

	t.Run("HE-1 trigger ids are healthcheck.<registered id>", func(t *testing.T) {
		defs := TriggerDefinitions()
		want := map[string]string{"system_degraded": EventSystemDegraded, "system_healthy": EventSystemHealthy, "system_health_changed": EventSystemHealthChanged, "check_failed": EventCheckFailed}
		if len(defs) != 4 {
			t.Fatalf("want 4 triggers, got %d", len(defs))
		}
		for _, d := range defs {
			if d.QualifiedID != TriggerPluginID+"."+d.ID || want[d.ID] != d.QualifiedID {
				t.Fatalf("trigger %+v", d)
			}
		}
		if EventSystemDegraded != "healthcheck.system_degraded" || EventSystemHealthy != "healthcheck.system_healthy" || EventSystemHealthChanged != "healthcheck.system_health_changed" {
			t.Fatal("trigger id strings changed")
		}
	})

	deriver := []struct {
		name       string
		prev, next *View
		want       []string
	}{
		{"HE-2 healthy→unhealthy", fixturePrev, fixtureNext, []string{EventSystemDegraded, EventSystemHealthChanged}},
		{"HE-3 degraded→healthy", &View{Degraded, 1, 2}, &View{Healthy, 2, 2}, []string{EventSystemHealthy, EventSystemHealthChanged}},
		{"HE-4 degraded→unhealthy", &View{Degraded, 1, 2}, &View{Unhealthy, 0, 2}, []string{EventSystemHealthChanged}},
		{"HE-4 unhealthy→degraded", &View{Unhealthy, 0, 2}, &View{Degraded, 1, 2}, []string{EventSystemHealthChanged}},
		{"HE-5 prev null (create)", nil, fixtureNext, []string{}},
		{"HE-6 next null (tombstone)", fixturePrev, nil, []string{}},
		{"HE-7 only healthyChecks changed", &View{Healthy, 2, 2}, &View{Healthy, 1, 2}, []string{}},
		{"healthy→degraded", &View{Healthy, 2, 2}, &View{Degraded, 1, 2}, []string{EventSystemDegraded, EventSystemHealthChanged}},
	}
	for _, tc := range deriver {
		t.Run(tc.name, func(t *testing.T) {
			got := types(DeriveEvents(tc.prev, tc.next, "sys-1", occurred))
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("got %v want %v", got, tc.want)
			}
		})
	}

	t.Run("HE-8 fixture payload parses against the degraded schema", func(t *testing.T) {
		m := triggerSchema(t, EventSystemDegraded, eventOf(DeriveEvents(fixturePrev, fixtureNext, "sys-1", occurred), EventSystemDegraded))
		if m["systemId"] != "sys-1" || m["previousStatus"] != "healthy" || m["newStatus"] != "unhealthy" || m["healthyChecks"] != 0.0 || m["totalChecks"] != 2.0 {
			t.Fatalf("payload %v", m)
		}
		if m["timestamp"] != "2026-05-29T12:00:00Z" {
			t.Fatalf("timestamp %v", m["timestamp"])
		}
	})
	t.Run("HE-9 unhealthy→healthy payload parses against the healthy schema", func(t *testing.T) {
		evs := DeriveEvents(&View{Unhealthy, 0, 2}, &View{Healthy, 2, 2}, "sys-1", occurred)
		m := triggerSchema(t, EventSystemHealthy, eventOf(evs, EventSystemHealthy))
		if m["systemId"] != "sys-1" || m["previousStatus"] != "unhealthy" || m["healthyChecks"] != 2.0 || m["totalChecks"] != 2.0 {
			t.Fatalf("payload %v", m)
		}
	})
	t.Run("HE-10 fixture payload parses against the health_changed schema", func(t *testing.T) {
		m := triggerSchema(t, EventSystemHealthChanged, eventOf(DeriveEvents(fixturePrev, fixtureNext, "sys-1", occurred), EventSystemHealthChanged))
		if m["previousStatus"] != "healthy" || m["newStatus"] != "unhealthy" {
			t.Fatalf("payload %v", m)
		}
	})

	classify := []struct {
		name       string
		prev, next *View
		want       string
	}{
		{"HE-11 classify fixture", fixturePrev, fixtureNext, `{"systemId":"sys-1","previousStatus":"healthy","newStatus":"unhealthy","degraded":true,"recovered":false}`},
		{"HE-12 classify degraded→healthy", &View{Degraded, 1, 2}, &View{Healthy, 2, 2}, `{"systemId":"sys-1","previousStatus":"degraded","newStatus":"healthy","degraded":false,"recovered":true}`},
		{"HE-13 classify degraded→unhealthy", &View{Degraded, 1, 2}, &View{Unhealthy, 0, 2}, `{"systemId":"sys-1","previousStatus":"degraded","newStatus":"unhealthy","degraded":false,"recovered":false}`},
		{"HE-14 classify prev null", nil, &View{Unhealthy, 0, 1}, `{"systemId":"sys-1","previousStatus":null,"newStatus":"unhealthy","degraded":false,"recovered":false}`},
		{"HE-14 classify next null", &View{Unhealthy, 0, 1}, nil, `{"systemId":"sys-1","previousStatus":"unhealthy","newStatus":null,"degraded":false,"recovered":false}`},
	}
	for _, tc := range classify {
		t.Run(tc.name, func(t *testing.T) {
			if got := mustJSON(t, ClassifyHealthChange("sys-1", tc.prev, tc.next)); got != tc.want {
				t.Fatalf("got %s\nwant %s", got, tc.want)
			}
		})
	}

	schema := []struct {
		name string
		raw  string
		ok   bool
	}{
		{"HE-15 state schema accepts {degraded,1,3}", `{"status":"degraded","healthyChecks":1,"totalChecks":3}`, true},
		{"HE-15 rejects unknown status", `{"status":"unknown","healthyChecks":1,"totalChecks":3}`, false},
		{"HE-15 rejects negative count", `{"status":"healthy","healthyChecks":-1,"totalChecks":3}`, false},
		{"HE-15 rejects fractional count", `{"status":"healthy","healthyChecks":1.5,"totalChecks":3}`, false},
		{"HE-15 rejects missing totalChecks", `{"status":"healthy","healthyChecks":1}`, false},
	}
	for _, tc := range schema {
		t.Run(tc.name, func(t *testing.T) {
			v, err := ParseView([]byte(tc.raw))
			if (err == nil) != tc.ok {
				t.Fatalf("err=%v", err)
			}
			if tc.ok && *v != (View{Degraded, 1, 3}) {
				t.Fatalf("view %+v", v)
			}
		})
	}
	if v, err := ParseView([]byte("null")); v != nil || err != nil {
		t.Fatalf("null view: %v %v", v, err)
	}
}

// TestComputeView covers the pure part of §16.2 HE-16…HE-19 and HE-25.
func TestComputeView(t *testing.T) {
	cs := func(ss ...Status) []CheckStatus {
		out := []CheckStatus{}
		for i, s := range ss {
			out = append(out, CheckStatus{ConfigurationID: fmt.Sprintf("cfg-%d", i), Status: s})
		}
		return out
	}
	tests := []struct {
		name   string
		checks []CheckStatus
		want   *View
	}{
		{"HE-16 no enabled checks → no entity", cs(), nil},
		{"HE-17 two run-less healthy checks", cs(H, H), &View{Healthy, 2, 2}},
		{"HE-18 [H,D,H]", cs(H, D, H), &View{Degraded, 2, 3}},
		{"HE-19 sys-a [H]", cs(H), &View{Healthy, 1, 1}},
		{"HE-19 sys-c [H,U]", cs(H, U), &View{Unhealthy, 1, 2}},
		{"worst wins over degraded", cs(D, U, H), &View{Unhealthy, 1, 3}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := ComputeView(tc.checks)
			if (got == nil) != (tc.want == nil) || (got != nil && *got != *tc.want) {
				t.Fatalf("got %+v want %+v", got, tc.want)
			}
		})
	}
	t.Run("HE-25 first-run degradation is a transition", func(t *testing.T) {
		prev := BaselineView(1)
		if *prev != (View{Healthy, 1, 1}) {
			t.Fatalf("baseline %+v", prev)
		}
		check := NewCheckStatus("cfg-1", "api", []Status{U}, &occurred, &Thresholds{Mode: ModeConsecutive, Degraded: FailureThreshold{1}, Unhealthy: FailureThreshold{1}})
		next := ComputeView([]CheckStatus{check})
		if next.Status != Unhealthy {
			t.Fatalf("next %+v", next)
		}
		c, changed := DiffViews(prev, next, occurred)
		if !changed || fmt.Sprint(c.ChangedFields) != "[healthyChecks status]" {
			t.Fatalf("diff %+v %v", c, changed)
		}
		if got := types(DeriveEvents(prev, next, "sys-1", occurred)); fmt.Sprint(got) != fmt.Sprint([]string{EventSystemDegraded, EventSystemHealthChanged}) {
			t.Fatalf("events %v", got)
		}
		cl := ClassifyHealthChange("sys-1", prev, next)
		if !cl.Degraded || cl.Recovered {
			t.Fatalf("classify %+v", cl)
		}
	})
	if BaselineView(0) != nil || BaselineView(-1) != nil {
		t.Fatal("baseline of no checks must be nil")
	}
}

func TestDiffViews(t *testing.T) {
	tests := []struct {
		name       string
		prev, next *View
		changed    bool
		fields     string
		delta      string
	}{
		{"both nil", nil, nil, false, "[]", "null"},
		{"equal", &View{Healthy, 1, 1}, &View{Healthy, 1, 1}, false, "[]", "null"},
		{"fixture", &View{Healthy, 2, 2}, &View{Unhealthy, 0, 2}, true, "[healthyChecks status]", `{"healthyChecks":0,"status":"unhealthy"}`},
		{"QE-14 second write only touches healthyChecks", &View{Degraded, 1, 2}, &View{Degraded, 0, 2}, true, "[healthyChecks]", `{"healthyChecks":0}`},
		{"totalChecks only", &View{Healthy, 1, 1}, &View{Healthy, 1, 2}, true, "[totalChecks]", `{"totalChecks":2}`},
		{"create", nil, &View{Healthy, 1, 1}, true, "[healthyChecks status totalChecks]", `{"healthyChecks":1,"status":"healthy","totalChecks":1}`},
		{"tombstone", &View{Healthy, 1, 1}, nil, true, "[healthyChecks status totalChecks]", "null"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, changed := DiffViews(tc.prev, tc.next, occurred)
			if changed != tc.changed {
				t.Fatalf("changed=%v", changed)
			}
			fields := c.ChangedFields
			if fields == nil {
				fields = []string{}
			}
			if fmt.Sprint(fields) != tc.fields {
				t.Fatalf("fields %v", fields)
			}
			if got := mustJSON(t, c.Delta); got != tc.delta {
				t.Fatalf("delta %s", got)
			}
			if changed && (!c.OccurredAt.Equal(occurred) || (tc.prev != nil && c.Prev == tc.prev)) {
				t.Fatalf("occurredAt/prev aliasing: %+v", c)
			}
		})
	}
	t.Run("QE-14 healthyChecks-only change derives no trigger events", func(t *testing.T) {
		if evs := DeriveEvents(&View{Degraded, 1, 2}, &View{Degraded, 0, 2}, "sys-1", occurred); len(evs) != 0 {
			t.Fatalf("events %v", evs)
		}
	})
}

func TestCheckRunEvents(t *testing.T) {
	at := time.Date(2026, 5, 29, 12, 0, 0, 500, time.FixedZone("x", 3600))
	tests := []struct {
		name         string
		run          CheckRun
		wantHooks    string
		wantTriggers string
		payload      string
	}{
		{"healthy run emits check.completed only",
			CheckRun{SystemID: "sys-1", ConfigurationID: "cfg-1", Status: Healthy, LatencyMs: intp(12), Result: map[string]any{"c1": map[string]any{"_collectorId": "x.y"}}, At: at},
			"[healthcheck.check.completed]", "[]",
			`{"configurationId":"cfg-1","latencyMs":12,"result":{"c1":{"_collectorId":"x.y"}},"status":"healthy","systemId":"sys-1","timestamp":"2026-05-29T11:00:00.0000005Z"}`},
		{"the results as JSON make the same payload",
			CheckRun{SystemID: "sys-1", ConfigurationID: "cfg-1", Status: Healthy, LatencyMs: intp(12), RawResult: json.RawMessage(`{ "c1": {"_collectorId": "x.y"} }`), At: at},
			"[healthcheck.check.completed]", "[]",
			`{"configurationId":"cfg-1","latencyMs":12,"result":{"c1":{"_collectorId":"x.y"}},"status":"healthy","systemId":"sys-1","timestamp":"2026-05-29T11:00:00.0000005Z"}`},
		{"JSON null results are no result",
			CheckRun{SystemID: "sys-1", ConfigurationID: "cfg-1", Status: Healthy, LatencyMs: intp(12), RawResult: json.RawMessage(`null`), At: at},
			"[healthcheck.check.completed]", "[]",
			`{"configurationId":"cfg-1","latencyMs":12,"status":"healthy","systemId":"sys-1","timestamp":"2026-05-29T11:00:00.0000005Z"}`},
		{"AU-2 catastrophic failure: completed+failed, check_failed trigger, no latency/result",
			CheckRun{SystemID: "sys-1", ConfigurationID: "cfg-1", Status: Unhealthy, At: at},
			"[healthcheck.check.completed healthcheck.check.failed]", "[healthcheck.check_failed]",
			`{"configurationId":"cfg-1","status":"unhealthy","systemId":"sys-1","timestamp":"2026-05-29T11:00:00.0000005Z"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hooks, triggers := CheckRunEvents(tc.run)
			if fmt.Sprint(types(hooks)) != tc.wantHooks || fmt.Sprint(types(triggers)) != tc.wantTriggers {
				t.Fatalf("hooks %v triggers %v", types(hooks), types(triggers))
			}
			for _, e := range append(hooks, triggers...) {
				if got := mustJSON(t, e.Payload); got != tc.payload {
					t.Fatalf("payload %s", got)
				}
				if TriggerContextKey(e.Payload) != "sys-1" {
					t.Fatal("context key")
				}
			}
		})
	}
	if HookCheckCompleted != "healthcheck.check.completed" || HookCheckFailed != "healthcheck.check.failed" || HookAssignmentChanged != "healthcheck.assignment.changed" {
		t.Fatal("HK-1/HK-2 hook ids changed")
	}
	jsonEqual(t, AssignmentChangedPayload("sys-1", "cfg-1"), map[string]any{"systemId": "sys-1", "configurationId": "cfg-1"})
	if TriggerContextKey(SystemHealthPayload("sys-1", &View{Degraded, 1, 2}, &View{Healthy, 2, 2}, occurred)) != "sys-1" {
		t.Fatal("AU-3 context key")
	}
}
