package automation

import (
	"encoding/json"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/checkflow/checkflow/internal/health"
)

// engine runs events through an automation the way the wiring will: Match (filter, partition)
// → record the occurrence → Decide with the partition's prior occurrences (at most PriorLimit
// newest in the window, as the store returns them) and its last fire → remember the fire.
type engine struct {
	a         *Automation
	occ       map[string][]time.Time // partition → occurrence times
	cooldowns Cooldowns
	fires     []string // partition keys of the fires, in order
	reasons   []GateReason
}

func newEngine(t *testing.T, c *Compiler, body string) *engine {
	t.Helper()
	a, err := c.Parse([]byte(body))
	if err != nil {
		t.Fatalf("parse %s: %v", body, err)
	}
	return &engine{a: a, occ: map[string][]time.Time{}}
}

// storePrior mimics the store: the newest limit occurrence times at or after since.
func storePrior(all []time.Time, since time.Time, limit int) []time.Time {
	var in []time.Time
	for _, t := range all {
		if !t.Before(since) {
			in = append(in, t)
		}
	}
	sort.Slice(in, func(i, j int) bool { return in[i].After(in[j]) })
	if len(in) > limit {
		in = in[:limit]
	}
	return in
}

func (e *engine) send(t *testing.T, typ string, p map[string]any, at time.Time) GateDecision {
	t.Helper()
	m, err := e.a.Match(Event{Key: fmt.Sprintf("k%d", len(e.reasons)), Type: typ, Payload: p, At: at})
	if err != nil {
		t.Fatalf("match: %v", err)
	}
	if !m.Matched {
		e.reasons = append(e.reasons, "")
		return GateDecision{}
	}
	var prior []time.Time
	if e.a.HasWindow() {
		prior = storePrior(e.occ[m.PartitionKey], e.a.WindowStart(at), e.a.PriorLimit())
		e.occ[m.PartitionKey] = append(e.occ[m.PartitionKey], at)
	}
	d := e.a.Decide(at, prior, e.cooldowns.Last(m.PartitionKey))
	e.reasons = append(e.reasons, d.Reason)
	if d.Fire {
		e.fires = append(e.fires, m.PartitionKey)
		e.cooldowns.Record(m.PartitionKey, at)
	}
	return d
}

func changedTo(sys string, status health.Status) map[string]any {
	return map[string]any{"systemId": sys, "previousStatus": "healthy", "newStatus": string(status),
		"healthyChecks": 0, "totalChecks": 1, "timestamp": "2026-05-29T11:00:00Z"}
}

func minute(n int) time.Time { return t0.Add(time.Duration(n) * time.Minute) }

func automationBody(trigger string, cooldown int) string {
	return fmt.Sprintf(`{"name": "a", "trigger": %s, "cooldownSeconds": %d,
		"actions": [{"type": "run_check", "config": {"systemId": "sys-1", "configurationId": "cfg-1"}}]}`, trigger, cooldown)
}

// TestWindowGateCases: §16.14 WG-1…WG-5 through Match and Decide.
func TestWindowGateCases(t *testing.T) {
	c := newCompiler(t)
	const changed = `"event": "healthcheck.system_health_changed"`

	t.Run("WG-1 {3,60,every}: 2 → 0 runs, 3rd → 1", func(t *testing.T) {
		e := newEngine(t, c, automationBody(`{`+changed+`, "window": {"count": 3, "minutes": 60}}`, 0))
		for i := 0; i < 2; i++ {
			e.send(t, EventSystemHealthChanged, changedTo("sys-1", health.Degraded), minute(i))
		}
		if len(e.fires) != 0 {
			t.Fatalf("fired after 2: %v", e.reasons)
		}
		if d := e.send(t, EventSystemHealthChanged, changedTo("sys-1", health.Degraded), minute(2)); !d.Fire || d.Count != 3 {
			t.Fatalf("3rd: %+v", d)
		}
	})
	t.Run("WG-2 filter, {2,60,once}: 5 healthy → 0, 2 unhealthy → 1", func(t *testing.T) {
		e := newEngine(t, c, automationBody(`{`+changed+`, "filter": "trigger.payload.newStatus != \"healthy\"",
			"window": {"count": 2, "minutes": 60, "refire": "once"}}`, 0))
		for i := 0; i < 5; i++ {
			e.send(t, EventSystemHealthChanged, changedTo("sys-1", health.Healthy), minute(i))
		}
		if len(e.occ["sys-1"]) != 0 || len(e.fires) != 0 {
			t.Fatalf("filtered events counted: %v, fires %v", e.occ, e.fires)
		}
		e.send(t, EventSystemHealthChanged, changedTo("sys-1", health.Unhealthy), minute(5))
		e.send(t, EventSystemHealthChanged, changedTo("sys-1", health.Unhealthy), minute(6))
		if len(e.fires) != 1 {
			t.Fatalf("fires %v, want exactly 1", e.fires)
		}
	})
	t.Run("WG-3 {2,60}: every → 3 runs, once → 1 run", func(t *testing.T) {
		for _, tc := range []struct {
			refire string
			fires  int
			last   GateReason
		}{{"every", 3, GateFired}, {"once", 1, GateAlreadyCrossed}} {
			e := newEngine(t, c, automationBody(`{`+changed+`, "window": {"count": 2, "minutes": 60, "refire": "`+tc.refire+`"}}`, 0))
			for i := 0; i < 4; i++ {
				e.send(t, EventSystemHealthChanged, changedTo("sys-1", health.Degraded), minute(i))
			}
			if len(e.fires) != tc.fires || e.reasons[0] != GateBelowCount || e.reasons[3] != tc.last {
				t.Fatalf("%s: fires %d reasons %v", tc.refire, len(e.fires), e.reasons)
			}
		}
	})
	t.Run("WG-4 windows are per system", func(t *testing.T) {
		e := newEngine(t, c, automationBody(`{`+changed+`, "window": {"count": 2, "minutes": 60}}`, 0))
		e.send(t, EventSystemHealthChanged, changedTo("sys-1", health.Degraded), minute(0))
		e.send(t, EventSystemHealthChanged, changedTo("sys-2", health.Degraded), minute(1))
		if len(e.fires) != 0 {
			t.Fatalf("one occurrence each fired: %v", e.fires)
		}
		e.send(t, EventSystemHealthChanged, changedTo("sys-2", health.Degraded), minute(2))
		if len(e.fires) != 1 || e.fires[0] != "sys-2" {
			t.Fatalf("fires %v, want [sys-2]", e.fires)
		}
	})
	t.Run("WG-5 partitionBy", func(t *testing.T) {
		e := newEngine(t, c, automationBody(`{"event": "healthcheck.check_failed", "window": {"count": 2, "minutes": 60,
			"partitionBy": "has(trigger.payload.result) ? trigger.payload.result.severity : \"\""}}`, 0))
		failed := func(sev any) map[string]any {
			p := map[string]any{"systemId": "sys-1", "configurationId": "cfg-1", "status": "unhealthy", "timestamp": "2026-05-29T12:00:00Z"}
			if sev != nil {
				p["result"] = map[string]any{"severity": sev}
			}
			return p
		}
		e.send(t, EventCheckFailed, failed("high"), minute(0))
		e.send(t, EventCheckFailed, failed("low"), minute(1))
		if len(e.fires) != 0 {
			t.Fatalf("distinct values shared a window: %v", e.fires)
		}
		e.send(t, EventCheckFailed, failed("high"), minute(2))
		// Empty value and a failing expression (severity missing) fall back to the system.
		e.send(t, EventCheckFailed, failed(nil), minute(3))
		e.send(t, EventCheckFailed, map[string]any{"systemId": "sys-1", "configurationId": "cfg-1", "status": "unhealthy",
			"timestamp": "2026-05-29T12:00:00Z", "result": map[string]any{}}, minute(4))
		if fmt.Sprint(e.fires) != "[high sys-1]" {
			t.Fatalf("fires %v, want [high sys-1]", e.fires)
		}
		// Omitted partitionBy → per system.
		e2 := newEngine(t, c, automationBody(`{"event": "healthcheck.check_failed", "window": {"count": 2, "minutes": 60}}`, 0))
		e2.send(t, EventCheckFailed, failed("high"), minute(0))
		e2.send(t, EventCheckFailed, failed("low"), minute(1))
		if fmt.Sprint(e2.fires) != "[sys-1]" {
			t.Fatalf("fires %v, want [sys-1]", e2.fires)
		}
	})
}

// TestWindowEdgesAndRearm: occurrences older than the window do not count (the window is
// inclusive at now − minutes); "once" re-arms when old occurrences leave it.
func TestWindowEdgesAndRearm(t *testing.T) {
	c := newCompiler(t)
	e := newEngine(t, c, automationBody(`{"event": "healthcheck.system_degraded", "window": {"count": 2, "minutes": 10, "refire": "once"}}`, 0))
	p := changedTo("sys-1", health.Degraded)
	e.send(t, EventSystemDegraded, p, minute(0))
	if d := e.send(t, EventSystemDegraded, p, minute(11)); d.Fire || d.Count != 1 { // minute 0 is outside [1, 11]
		t.Fatalf("outside the window: %+v", d)
	}
	if d := e.send(t, EventSystemDegraded, p, minute(21)); !d.Fire || d.Count != 2 { // minute 11 is exactly at the edge
		t.Fatalf("at the edge: %+v", d)
	}
	// Another one at minute 21: minutes 11, 21 and this one are in [11, 21], past the count.
	if d := e.send(t, EventSystemDegraded, p, minute(21)); d.Fire || d.Reason != GateAlreadyCrossed || d.Count != 3 {
		t.Fatalf("crossed: %+v", d)
	}
	// Minutes 11 and 21 age out; two new ones cross again.
	e.send(t, EventSystemDegraded, p, minute(40))
	if d := e.send(t, EventSystemDegraded, p, minute(41)); !d.Fire {
		t.Fatalf("re-armed: %+v", d)
	}
	if len(e.fires) != 2 {
		t.Fatalf("fires %v", e.fires)
	}
}

// TestCooldown: a partition that fired is suppressed until lastFire + cooldown (inclusive end);
// suppressed occurrences still count; other partitions are not affected.
func TestCooldown(t *testing.T) {
	c := newCompiler(t)
	e := newEngine(t, c, automationBody(`{"event": "healthcheck.system_degraded"}`, 600))
	p1, p2 := changedTo("sys-1", health.Degraded), changedTo("sys-2", health.Degraded)
	if d := e.send(t, EventSystemDegraded, p1, minute(0)); !d.Fire || d.Count != 0 {
		t.Fatalf("first: %+v", d)
	}
	d := e.send(t, EventSystemDegraded, p1, minute(5))
	if d.Fire || d.Reason != GateCooldown || !d.CooldownUntil.Equal(minute(10)) {
		t.Fatalf("within cooldown: %+v", d)
	}
	if d := e.send(t, EventSystemDegraded, p2, minute(5)); !d.Fire {
		t.Fatalf("other system suppressed: %+v", d)
	}
	if d := e.send(t, EventSystemDegraded, p1, minute(10)); !d.Fire {
		t.Fatalf("at the end of the cooldown: %+v", d)
	}
	if fmt.Sprint(e.fires) != "[sys-1 sys-2 sys-1]" {
		t.Fatalf("fires %v", e.fires)
	}

	// With a window: the suppressed occurrence counts, so the next one after the cooldown fires
	// at once (every).
	w := newEngine(t, c, automationBody(`{"event": "healthcheck.system_degraded", "window": {"count": 2, "minutes": 60}}`, 300))
	for i, want := range []GateReason{GateBelowCount, GateFired, GateCooldown, GateCooldown, GateFired} {
		at := []time.Time{minute(0), minute(1), minute(2), minute(5), minute(6)}[i]
		if d := w.send(t, EventSystemDegraded, p1, at); d.Reason != want {
			t.Fatalf("occurrence %d at %v: %+v, want %s", i, at, d, want)
		}
	}
}

// TestDecideTable: the gate's pure decision over explicit inputs.
func TestDecideTable(t *testing.T) {
	w := func(n, m int, refire string) *health.WindowConfig {
		return &health.WindowConfig{Count: n, Minutes: m, Refire: refire}
	}
	times := func(mins ...int) []time.Time {
		var out []time.Time
		for _, m := range mins {
			out = append(out, minute(m))
		}
		return out
	}
	last := func(m int) *time.Time { t := minute(m); return &t }
	for _, tc := range []struct {
		name string
		in   GateInput
		want GateDecision
	}{
		{"no window fires", GateInput{Now: minute(0)}, GateDecision{Fire: true, Reason: GateFired}},
		{"below count", GateInput{Window: w(3, 60, ""), Now: minute(10), Prior: times(5)}, GateDecision{Reason: GateBelowCount, Count: 2}},
		{"reaches count (refire \"\" = every)", GateInput{Window: w(3, 60, ""), Now: minute(10), Prior: times(5, 9)}, GateDecision{Fire: true, Reason: GateFired, Count: 3}},
		{"every beyond count", GateInput{Window: w(2, 60, "every"), Now: minute(10), Prior: times(5, 9, 8)}, GateDecision{Fire: true, Reason: GateFired, Count: 4}},
		{"once beyond count", GateInput{Window: w(2, 60, "once"), Now: minute(10), Prior: times(5, 9, 8)}, GateDecision{Reason: GateAlreadyCrossed, Count: 4}},
		{"old prior ignored", GateInput{Window: w(2, 5, "once"), Now: minute(10), Prior: times(1, 2, 3, 9)}, GateDecision{Fire: true, Reason: GateFired, Count: 2}},
		{"invalid window", GateInput{Window: w(0, 60, "every"), Now: minute(10)}, GateDecision{Reason: GateInvalidWindow}},
		{"cooldown", GateInput{CooldownSeconds: 120, Now: minute(10), LastFire: last(9)}, GateDecision{Reason: GateCooldown, CooldownUntil: last(11)}},
		{"cooldown ends inclusive", GateInput{CooldownSeconds: 60, Now: minute(10), LastFire: last(9)}, GateDecision{Fire: true, Reason: GateFired}},
		{"no cooldown configured", GateInput{Now: minute(10), LastFire: last(10)}, GateDecision{Fire: true, Reason: GateFired}},
		{"window before cooldown", GateInput{Window: w(2, 60, "every"), CooldownSeconds: 60, Now: minute(10), LastFire: last(10)}, GateDecision{Reason: GateBelowCount, Count: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Decide(tc.in); mustJSON(t, got) != mustJSON(t, tc.want) {
				t.Fatalf("Decide = %s, want %s", mustJSON(t, got), mustJSON(t, tc.want))
			}
		})
	}
}

// TestPriorLimitKeepsDecisions: capping the prior occurrences at PriorLimit (window.count)
// never changes a decision.
func TestPriorLimitKeepsDecisions(t *testing.T) {
	for _, refire := range []string{"every", "once"} {
		for n := 1; n <= 4; n++ {
			win := &health.WindowConfig{Count: n, Minutes: 60, Refire: refire}
			for k := 0; k <= 7; k++ {
				var prior []time.Time
				for i := 0; i < k; i++ {
					prior = append(prior, minute(i))
				}
				full := Decide(GateInput{Window: win, Now: minute(30), Prior: prior})
				capped := Decide(GateInput{Window: win, Now: minute(30), Prior: storePrior(prior, minute(-30), n)})
				if full.Fire != capped.Fire {
					t.Fatalf("%s n=%d k=%d: full %+v capped %+v", refire, n, k, full, capped)
				}
			}
		}
	}
}

// TestCooldownsState: the cooldown state is sorted, JSON-deterministic and pruned.
func TestCooldownsState(t *testing.T) {
	var c Cooldowns
	c.Record("sys-b", minute(1))
	c.Record("sys-a", minute(2))
	c.Record("sys-c", minute(0))
	c.Record("sys-b", minute(0)) // older: ignored
	c.Record("sys-b", minute(3))
	if got := mustJSON(t, c); got != `{"entries":[{"partitionKey":"sys-a","at":"2026-05-29T12:02:00Z"},{"partitionKey":"sys-b","at":"2026-05-29T12:03:00Z"},{"partitionKey":"sys-c","at":"2026-05-29T12:00:00Z"}]}` {
		t.Fatalf("json %s", got)
	}
	var back Cooldowns
	if err := json.Unmarshal([]byte(mustJSON(t, c)), &back); err != nil || mustJSON(t, back) != mustJSON(t, c) {
		t.Fatalf("round trip %v", err)
	}
	if l := c.Last("sys-b"); l == nil || !l.Equal(minute(3)) || c.Last("sys-x") != nil {
		t.Fatalf("last %v", l)
	}
	c.Prune(minute(4), 90) // keeps fires after minute 2.5
	if got := mustJSON(t, c); got != `{"entries":[{"partitionKey":"sys-b","at":"2026-05-29T12:03:00Z"}]}` {
		t.Fatalf("pruned %s", got)
	}
	c.Prune(minute(4), 0)
	if c.Entries != nil || mustJSON(t, c) != `{}` {
		t.Fatalf("pruned without cooldown: %+v", c)
	}
}

// TestMatchIgnoresOtherEventsAndFilterErrors: another event type does not match; a filter error
// is returned (the caller does not count the event).
func TestMatchIgnoresOtherEventsAndFilterErrors(t *testing.T) {
	c := newCompiler(t)
	a, err := c.Parse([]byte(automationBody(`{"event": "healthcheck.check_failed", "filter": "trigger.payload.latencyMs > 100"}`, 0)))
	if err != nil {
		t.Fatal(err)
	}
	if m, err := a.Match(Event{Type: EventSystemDegraded, Payload: payload(t, degradedPayload)}); err != nil || m.Matched {
		t.Fatalf("other event: %+v %v", m, err)
	}
	m, err := a.Match(Event{Type: EventCheckFailed, Payload: payload(t, checkFailedPayload)})
	if err == nil || m.Matched {
		t.Fatalf("filter error: %+v %v", m, err)
	}
	if m, err := a.Match(Event{Type: EventCheckFailed, Payload: payload(t, `{"systemId": "sys-9", "configurationId": "c",
		"status": "degraded", "latencyMs": 101, "timestamp": "2026-05-29T12:00:00Z"}`)}); err != nil || !m.Matched || m.PartitionKey != "sys-9" {
		t.Fatalf("match: %+v %v", m, err)
	}
}

// TestCompileSpecErrors: Compile and Compiler.Parse report value errors and CEL errors together,
// positions included (acceptance 3).
func TestCompileSpecErrors(t *testing.T) {
	c := newCompiler(t)
	_, err := c.Parse([]byte(`{"name": "", "trigger": {"event": "healthcheck.system_health_changed",
		"filter": "trigger.payload.severity == 'high'", "window": {"count": 3, "minutes": 60, "partitionBy": "trigger.payload.systemId +"}},
		"actions": [{"type": "run_check", "config": {"systemId": "s", "configurationId": "c"}}]}`))
	errs := validationErrors(t, err)
	if fieldsOf(t, err) != "name,trigger.filter,trigger.window.partitionBy" || errs[1].Line != 1 || errs[1].Column != 16 || errs[2].Line != 1 {
		t.Fatalf("errors %+v", errs)
	}
	spec, err := Parse([]byte(validBody))
	if err != nil {
		t.Fatal(err)
	}
	a, err := c.Compile(spec)
	if err != nil || a.Event() != EventSystemHealthChanged || a.PriorLimit() != 3 || !a.HasWindow() ||
		!a.WindowStart(minute(60)).Equal(minute(0)) || mustJSON(t, a.Spec()) != mustJSON(t, spec) {
		t.Fatalf("compiled %v %v", a, err)
	}
	spec.Trigger.Filter = "trigger.payload.nope"
	if _, err := c.Compile(spec); fieldsOf(t, err) != "trigger.filter" {
		t.Fatalf("compile of a bad stored spec: %v", err)
	}
	// The flapping recipe of the reference compiles against its event.
	recipe := health.FlappingWindow()
	spec.Trigger = Trigger{Event: EventSystemHealthChanged, Filter: health.FlappingFilter, Window: &recipe}
	if _, err := c.Compile(spec); err != nil {
		t.Fatalf("flapping recipe: %v", err)
	}
}
