package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/tern/v2/migrate"

	"github.com/checkflow/checkflow/internal/automation"
	"github.com/checkflow/checkflow/internal/health"
	"github.com/checkflow/checkflow/schema"
)

// specFor parses an automation body for trigger event, with a window when count > 0.
func specFor(t testing.TB, name, event string, count int, enabled bool) automation.Spec {
	t.Helper()
	window := ""
	if count > 0 {
		window = fmt.Sprintf(`, "window": {"count": %d, "minutes": 60}`, count)
	}
	spec, err := automation.Parse([]byte(fmt.Sprintf(`{"name": %q, "enabled": %v, "trigger": {"event": %q%s},
		"cooldownSeconds": 30, "actions": [{"type": "webhook", "config": {"url": "https://hooks.example.com/a", "secret": "cfenc:v1:x"}},
		{"type": "run_check", "config": {"systemId": "sys-1", "configurationId": "cfg-1"}}]}`, name, enabled, event, window)))
	if err != nil {
		t.Fatalf("spec: %v", err)
	}
	return spec
}

func mustAutomation(t testing.TB, s *Store, spec automation.Spec) Automation {
	t.Helper()
	a, err := s.CreateAutomation(ctxT(t), spec)
	if err != nil {
		t.Fatalf("create automation %q: %v", spec.Name, err)
	}
	return a
}

// TestAutomationsCRUD: create, get, list (by event, enabled only), the dispatcher's lookup,
// update (revision +1) and delete; missing and malformed ids are not found.
func TestAutomationsCRUD(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := ctxT(t)
	a := mustAutomation(t, s, specFor(t, "flaps", automation.EventSystemHealthChanged, 3, true))
	mustAutomation(t, s, specFor(t, "failures", automation.EventCheckFailed, 0, true))
	c := mustAutomation(t, s, specFor(t, "off", automation.EventSystemHealthChanged, 0, false))
	if a.Revision != 1 || a.CreatedAt.IsZero() || a.CreatedAt.Location() != time.UTC || a.Name != "flaps" || !a.Enabled ||
		a.Trigger.Window == nil || a.Trigger.Window.Count != 3 || a.CooldownSeconds != 30 || len(a.Actions) != 2 {
		t.Fatalf("created %+v", a)
	}
	got, err := s.GetAutomation(ctx, strings.ToUpper(a.ID))
	if err != nil || mustJSONStore(t, got) != mustJSONStore(t, a) {
		t.Fatalf("get %v\n%s\n%s", err, mustJSONStore(t, got), mustJSONStore(t, a))
	}
	// The API shape: the spec's fields flattened next to id and revision.
	var shape map[string]any
	if err := json.Unmarshal([]byte(mustJSONStore(t, a)), &shape); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range shape {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if strings.Join(keys, ",") != "actions,cooldownSeconds,createdAt,enabled,id,name,revision,trigger,updatedAt" {
		t.Fatalf("json keys %v", keys)
	}

	ids := func(list []Automation) string {
		var out []string
		for _, x := range list {
			out = append(out, x.Name)
		}
		return strings.Join(out, ",")
	}
	for _, tc := range []struct {
		f    AutomationFilter
		p    Page
		want string
	}{
		{AutomationFilter{}, Page{}, "flaps,failures,off"},
		{AutomationFilter{Event: automation.EventSystemHealthChanged}, Page{}, "flaps,off"},
		{AutomationFilter{EnabledOnly: true}, Page{}, "flaps,failures"},
		{AutomationFilter{}, Page{Limit: 1, Offset: 1}, "failures"},
	} {
		list, err := s.ListAutomations(ctx, tc.f, tc.p)
		if err != nil || ids(list) != tc.want {
			t.Errorf("list %+v %+v: %s %v, want %s", tc.f, tc.p, ids(list), err, tc.want)
		}
	}
	if _, err := s.ListAutomations(ctx, AutomationFilter{}, Page{Limit: 501}); !errors.Is(err, ErrValidation) {
		t.Fatalf("limit 501: %v", err)
	}
	if list, err := s.EnabledAutomations(ctx, automation.EventSystemHealthChanged); err != nil || ids(list) != "flaps" {
		t.Fatalf("enabled for changed: %s %v", ids(list), err)
	}

	upd := specFor(t, "flaps v2", automation.EventSystemDegraded, 5, false)
	u, err := s.UpdateAutomation(ctx, a.ID, upd)
	if err != nil || u.Revision != 2 || u.Name != "flaps v2" || u.Enabled || u.Trigger.Event != automation.EventSystemDegraded ||
		u.Trigger.Window.Count != 5 || !u.CreatedAt.Equal(a.CreatedAt) || u.UpdatedAt.Before(a.UpdatedAt) {
		t.Fatalf("update %+v %v", u, err)
	}
	if list, _ := s.EnabledAutomations(ctx, automation.EventSystemHealthChanged); len(list) != 0 {
		t.Fatalf("disabled automation still enabled for its old event: %s", ids(list))
	}

	for _, id := range []string{"nope", "00000000-0000-0000-0000-000000000000"} {
		var nf *NotFoundError
		if _, err := s.GetAutomation(ctx, id); !errors.As(err, &nf) || nf.Entity != "Automation" {
			t.Errorf("get %s: %v", id, err)
		}
		if _, err := s.UpdateAutomation(ctx, id, upd); !errors.Is(err, ErrNotFound) {
			t.Errorf("update %s: %v", id, err)
		}
		if err := s.DeleteAutomation(ctx, id); !errors.Is(err, ErrNotFound) {
			t.Errorf("delete %s: %v", id, err)
		}
	}
	if err := s.DeleteAutomation(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetAutomation(ctx, c.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted automation: %v", err)
	}
	if list, _ := s.ListAutomations(ctx, AutomationFilter{}, Page{}); ids(list) != "flaps v2,failures" {
		t.Fatalf("after delete: %s", ids(list))
	}
}

func mustJSONStore(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestAutomationValidation: an invalid spec is a *ValidationError naming the API's fields (the
// store never writes one); database constraints map to fields too.
func TestAutomationValidation(t *testing.T) {
	t.Parallel()
	s, pool := newStore(t)
	ctx := ctxT(t)
	bad := specFor(t, "x", automation.EventCheckFailed, 2, true)
	bad.Name = ""
	bad.Trigger.Window.Count = 0
	bad.Actions = append(bad.Actions, automation.Action{Type: automation.ActionWebhook, Config: json.RawMessage(`{"url": "ftp://x"}`)})
	_, err := s.CreateAutomation(ctx, bad)
	var ve *ValidationError
	if !errors.As(err, &ve) || !errors.Is(err, ErrValidation) {
		t.Fatalf("create invalid: %v", err)
	}
	var fields []string
	for _, f := range ve.Errors {
		fields = append(fields, f.Field)
	}
	if strings.Join(fields, ",") != "actions[2].config.url,name,trigger.window.count" {
		t.Fatalf("fields %v", fields)
	}
	if list, _ := s.ListAutomations(ctx, AutomationFilter{}, Page{}); len(list) != 0 {
		t.Fatalf("an invalid automation was stored: %+v", list)
	}

	// A config whose event differs from the column violates automations_config_check.
	_, err = pool.Exec(ctx, `INSERT INTO automations (name, trigger_event, config) VALUES ('x', 'healthcheck.check_failed',
		'{"trigger": {"event": "healthcheck.system_healthy"}}')`)
	if err = wrapAutomationErr("insert", err); !errors.As(err, &ve) || ve.Errors[0].Field != "trigger.event" {
		t.Fatalf("config check: %v", err)
	}
	// An occurrence or fire of a missing automation is an "Automation not found".
	missing := "11111111-1111-1111-1111-111111111111"
	var nf *NotFoundError
	if _, err := s.InsertOccurrence(ctx, Occurrence{AutomationID: missing, PartitionKey: "sys-1", EventKey: "k", At: t0}); !errors.As(err, &nf) || nf.Entity != "Automation" {
		t.Fatalf("occurrence of a missing automation: %v", err)
	}
	if _, _, err := s.RecordFire(ctx, FireInput{AutomationID: missing, EventKey: "k", EventType: "e", ActionType: automation.ActionWebhook, FiredAt: t0}); !errors.As(err, &nf) || nf.Entity != "Automation" {
		t.Fatalf("fire of a missing automation: %v", err)
	}
}

// TestOccurrences: an occurrence is recorded once per event key; the window read returns the
// partition's other occurrences since a time, newest first, capped — the same list on a retry;
// partitions are separate (WG-4); count and list agree.
func TestOccurrences(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := ctxT(t)
	a := mustAutomation(t, s, specFor(t, "w", automation.EventSystemHealthChanged, 3, true))
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	occ := func(key, part string, m int) Occurrence {
		return Occurrence{AutomationID: a.ID, PartitionKey: part, EventKey: key, At: at(m)}
	}
	for _, o := range []Occurrence{occ("e0", "sys-1", 0), occ("e1", "sys-1", 10), occ("e2", "sys-2", 15), occ("e3", "sys-1", 20)} {
		if ins, err := s.InsertOccurrence(ctx, o); err != nil || !ins {
			t.Fatalf("insert %+v: %v %v", o, ins, err)
		}
	}
	if ins, err := s.InsertOccurrence(ctx, occ("e3", "sys-1", 25)); err != nil || ins {
		t.Fatalf("redelivered event inserted again: %v %v", ins, err)
	}

	times := func(ts []time.Time) string {
		var out []string
		for _, x := range ts {
			out = append(out, x.Format("04"))
		}
		return strings.Join(out, ",")
	}
	// e4 at minute 30, window since minute 5: prior of sys-1 = 20, 10 (0 is too old, e2 is sys-2).
	ins, prior, err := s.RecordOccurrence(ctx, occ("e4", "sys-1", 30), at(5), 10)
	if err != nil || !ins || times(prior) != "20,10" || prior[0].Location() != time.UTC {
		t.Fatalf("record: %v %s %v", ins, times(prior), err)
	}
	// A retry gives the same list and inserts nothing.
	ins, prior, err = s.RecordOccurrence(ctx, occ("e4", "sys-1", 30), at(5), 10)
	if err != nil || ins || times(prior) != "20,10" {
		t.Fatalf("retry: %v %s %v", ins, times(prior), err)
	}
	// The cap keeps the newest.
	if _, prior, _ = s.RecordOccurrence(ctx, occ("e5", "sys-1", 31), at(0), 2); times(prior) != "30,20" {
		t.Fatalf("capped: %s", times(prior))
	}
	if _, _, err := s.RecordOccurrence(ctx, occ("e6", "sys-1", 31), at(0), 0); !errors.Is(err, ErrValidation) {
		t.Fatalf("limit 0: %v", err)
	}

	for _, tc := range []struct {
		part  string
		since int
		want  int
	}{{"sys-1", 0, 5}, {"sys-1", 11, 3}, {"sys-2", 0, 1}, {"*", 0, 6}, {"sys-3", 0, 0}} {
		n, err := s.CountOccurrences(ctx, a.ID, tc.part, at(tc.since))
		list, lerr := s.ListOccurrences(ctx, a.ID, tc.part, at(tc.since), 100)
		if err != nil || lerr != nil || n != tc.want || len(list) != tc.want {
			t.Errorf("%s since %d: count %d list %d (%v %v), want %d", tc.part, tc.since, n, len(list), err, lerr, tc.want)
		}
	}
	list, _ := s.ListOccurrences(ctx, a.ID, "*", at(0), 2)
	if len(list) != 2 || list[0].EventKey != "e5" || list[1] != (Occurrence{AutomationID: a.ID, PartitionKey: "sys-1", EventKey: "e4", At: at(30)}) {
		t.Fatalf("list newest first: %+v", list)
	}
	if _, err := s.InsertOccurrence(ctx, Occurrence{AutomationID: a.ID, PartitionKey: strings.Repeat("p", 601), EventKey: "x", At: t0}); !errors.Is(err, ErrValidation) {
		t.Fatalf("long partition key: %v", err)
	}
}

// TestSweepOccurrences: the 24 h sweep deletes exactly the occurrences older than the cutoff, in
// batches of at most the batch size; deleting an automation deletes its occurrences.
func TestSweepOccurrences(t *testing.T) {
	t.Parallel()
	s, pool := newStore(t)
	ctx := ctxT(t)
	a := mustAutomation(t, s, specFor(t, "a", automation.EventCheckFailed, 2, true))
	b := mustAutomation(t, s, specFor(t, "b", automation.EventCheckFailed, 2, true))
	now := t0.Add(48 * time.Hour)
	cutoff := now.Add(-health.WindowEventRetention)
	// 23 old occurrences (25–47 h ago) across both automations, 5 recent ones (1–5 h ago), one
	// exactly at the cutoff (kept: only older ones go).
	for i := 0; i < 23; i++ {
		id := a.ID
		if i%2 == 1 {
			id = b.ID
		}
		if _, err := s.InsertOccurrence(ctx, Occurrence{AutomationID: id, PartitionKey: "sys-1", EventKey: fmt.Sprintf("old-%d", i),
			At: now.Add(-time.Duration(25+i) * time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 5; i++ {
		if _, err := s.InsertOccurrence(ctx, Occurrence{AutomationID: a.ID, PartitionKey: "sys-1", EventKey: fmt.Sprintf("new-%d", i),
			At: now.Add(-time.Duration(1+i) * time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.InsertOccurrence(ctx, Occurrence{AutomationID: b.ID, PartitionKey: "sys-1", EventKey: "edge", At: cutoff}); err != nil {
		t.Fatal(err)
	}
	if n, err := s.DeleteOccurrencesBatch(ctx, cutoff, 10); err != nil || n != 10 {
		t.Fatalf("one batch: %d %v", n, err)
	}
	if n, err := s.SweepOccurrences(ctx, cutoff, 5); err != nil || n != 13 {
		t.Fatalf("sweep: %d %v, want the 13 old ones left", n, err)
	}
	var left []string
	rows, _ := pool.Query(ctx, `SELECT event_key FROM automation_occurrences ORDER BY event_key`)
	for rows.Next() {
		var k string
		_ = rows.Scan(&k)
		left = append(left, k)
	}
	if rows.Err() != nil || strings.Join(left, ",") != "edge,new-0,new-1,new-2,new-3,new-4" {
		t.Fatalf("left %v %v", left, rows.Err())
	}
	if n, err := s.SweepOccurrences(ctx, cutoff, 5); err != nil || n != 0 {
		t.Fatalf("second sweep: %d %v", n, err)
	}
	if _, err := s.SweepOccurrences(ctx, cutoff, 0); !errors.Is(err, ErrValidation) {
		t.Fatalf("batch 0: %v", err)
	}
	if err := s.DeleteAutomation(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.CountOccurrences(ctx, a.ID, "*", time.Time{}); n != 0 {
		t.Fatalf("occurrences of a deleted automation: %d", n)
	}
	if n, _ := s.CountOccurrences(ctx, b.ID, "*", time.Time{}); n != 1 {
		t.Fatalf("other automation's occurrences: %d", n)
	}
}

// TestFires: a fire's action row is written once; its outcome is recorded once — a second
// outcome (a retried activity) changes nothing — also under concurrency; list, get and prune.
func TestFires(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := ctxT(t)
	a := mustAutomation(t, s, specFor(t, "f", automation.EventSystemDegraded, 0, true))
	in := FireInput{AutomationID: a.ID, EventKey: "sys-1:7:healthcheck.system_degraded", EventType: automation.EventSystemDegraded,
		PartitionKey: "sys-1", ActionIndex: 0, ActionType: automation.ActionWebhook, FiredAt: t0}
	key := automation.ActionKey(in.EventKey, a.ID, 0)

	f, created, err := s.RecordFire(ctx, in)
	if err != nil || !created || f.ID != key || f.Outcome != FirePending || f.FinishedAt != nil || !f.FiredAt.Equal(t0) {
		t.Fatalf("record fire: %+v %v %v", f, created, err)
	}
	again := in
	again.FiredAt = t0.Add(time.Minute)
	if f2, created, err := s.RecordFire(ctx, again); err != nil || created || !f2.FiredAt.Equal(t0) {
		t.Fatalf("second record: %+v %v %v", f2, created, err)
	}
	f, recorded, err := s.RecordFireOutcome(ctx, in, FireSucceeded, "delivered (HTTP 204)", json.RawMessage(`{"status": 204}`), t0.Add(2*time.Second))
	if err != nil || !recorded || f.Outcome != FireSucceeded || f.Detail != "delivered (HTTP 204)" || string(f.Result) != `{"status": 204}` ||
		f.FinishedAt == nil || !f.FinishedAt.Equal(t0.Add(2*time.Second)) {
		t.Fatalf("outcome: %+v %v %v", f, recorded, err)
	}
	if f, recorded, err := s.RecordFireOutcome(ctx, in, FireFailed, "timeout", nil, t0.Add(time.Hour)); err != nil || recorded ||
		f.Outcome != FireSucceeded || f.Detail != "delivered (HTTP 204)" {
		t.Fatalf("second outcome: %+v %v %v", f, recorded, err)
	}

	// An outcome without a pending row creates it; concurrent recorders: exactly one wins.
	in1 := in
	in1.ActionIndex, in1.ActionType = 1, automation.ActionRunCheck
	var wg sync.WaitGroup
	type res struct {
		outcome  FireOutcome
		recorded bool
		stored   FireOutcome
		err      error
	}
	results := make(chan res, 8)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			o := FireSucceeded
			if i%2 == 1 {
				o = FireFailed
			}
			f, rec, err := s.RecordFireOutcome(ctx, in1, o, fmt.Sprintf("attempt %d", i), nil, t0.Add(time.Second))
			results <- res{o, rec, f.Outcome, err}
		}(i)
	}
	wg.Wait()
	close(results)
	winners := 0
	var winner FireOutcome
	var stored []FireOutcome
	for r := range results {
		if r.err != nil {
			t.Fatal(r.err)
		}
		if r.recorded {
			winners++
			winner = r.outcome
		}
		stored = append(stored, r.stored)
	}
	got, err := s.GetFire(ctx, automation.ActionKey(in.EventKey, a.ID, 1))
	if err != nil || winners != 1 || got.Outcome != winner {
		t.Fatalf("concurrent outcomes: %d winners, stored %+v (%v)", winners, got, err)
	}
	for _, o := range stored {
		if o != winner {
			t.Fatalf("a caller saw outcome %s, the winner recorded %s", o, winner)
		}
	}

	// A pending fire of another event, older.
	in2 := in
	in2.EventKey, in2.FiredAt = "sys-1:3:healthcheck.system_degraded", t0.Add(-time.Hour)
	if _, _, err := s.RecordFire(ctx, in2); err != nil {
		t.Fatal(err)
	}
	list, err := s.ListFires(ctx, a.ID, Page{})
	if err != nil || len(list) != 3 || list[0].ActionIndex != 0 || list[1].ActionIndex != 1 || list[2].EventKey != in2.EventKey {
		t.Fatalf("list: %+v %v", list, err)
	}
	if page, _ := s.ListFires(ctx, a.ID, Page{Limit: 1, Offset: 2}); len(page) != 1 || page[0].Outcome != FirePending {
		t.Fatalf("page: %+v", page)
	}
	if _, err := s.GetFire(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("get missing: %v", err)
	}
	if _, _, err := s.RecordFireOutcome(ctx, in2, FirePending, "", nil, t0); !errors.Is(err, ErrValidation) {
		t.Fatalf("pending as an outcome: %v", err)
	}
	bad := in
	bad.ActionType = "email"
	bad.ActionIndex = 100
	if _, _, err := s.RecordFire(ctx, bad); !errors.Is(err, ErrValidation) {
		t.Fatalf("bad input: %v", err)
	}

	// Pruning deletes finished fires before the cutoff, never pending ones.
	if n, err := s.DeleteFinishedFiresBatch(ctx, t0.Add(time.Minute), 1); err != nil || n != 1 {
		t.Fatalf("prune batch: %d %v", n, err)
	}
	if n, err := s.DeleteFinishedFiresBatch(ctx, t0.Add(24*time.Hour), 100); err != nil || n != 1 {
		t.Fatalf("prune: %d %v", n, err)
	}
	if list, _ := s.ListFires(ctx, a.ID, Page{}); len(list) != 1 || list[0].Outcome != FirePending {
		t.Fatalf("after prune: %+v", list)
	}
	if err := s.DeleteAutomation(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if list, err := s.ListFires(ctx, a.ID, Page{}); err != nil || len(list) != 0 {
		t.Fatalf("fires of a deleted automation: %+v %v", list, err)
	}
}

// TestWindowGateWithStore: the window gate decided over stored occurrences (acceptance 1's
// pure part): {3, 60, every} fires on the 3rd occurrence of a system within the hour and not
// before, partitions keep systems apart, redelivery does not count twice, and the cooldown
// suppresses.
func TestWindowGateWithStore(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := ctxT(t)
	c, err := automation.NewCompiler()
	if err != nil {
		t.Fatal(err)
	}
	spec, err := automation.Parse([]byte(`{"name": "3 degradations in an hour", "trigger": {"event": "healthcheck.system_health_changed",
		"filter": "trigger.payload.newStatus != 'healthy'", "window": {"count": 3, "minutes": 60}}, "cooldownSeconds": 1800,
		"actions": [{"type": "run_check", "config": {"systemId": "sys-1", "configurationId": "cfg-1"}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	stored := mustAutomation(t, s, spec)
	auto, err := c.Compile(stored.Spec)
	if err != nil {
		t.Fatal(err)
	}
	var cool automation.Cooldowns
	send := func(key, sys, status string, m int) automation.GateDecision {
		t.Helper()
		at := t0.Add(time.Duration(m) * time.Minute)
		ev := automation.Event{Key: key, Type: automation.EventSystemHealthChanged, At: at, Payload: map[string]any{
			"systemId": sys, "previousStatus": "healthy", "newStatus": status, "healthyChecks": 0, "totalChecks": 1,
			"timestamp": health.FormatTimestamp(at)}}
		match, err := auto.Match(ev)
		if err != nil {
			t.Fatal(err)
		}
		if !match.Matched {
			return automation.GateDecision{}
		}
		_, prior, err := s.RecordOccurrence(ctx, Occurrence{AutomationID: stored.ID, PartitionKey: match.PartitionKey, EventKey: ev.Key, At: at},
			auto.WindowStart(at), auto.PriorLimit())
		if err != nil {
			t.Fatal(err)
		}
		d := auto.Decide(at, prior, cool.Last(match.PartitionKey))
		if d.Fire {
			cool.Record(match.PartitionKey, at)
		}
		return d
	}
	var log []string
	for _, step := range []struct {
		key, sys, status string
		m                int
	}{
		{"a1", "sys-1", "degraded", 0}, {"a2", "sys-1", "healthy", 1}, {"a3", "sys-1", "unhealthy", 2},
		{"b1", "sys-2", "degraded", 3}, {"a3", "sys-1", "unhealthy", 4}, // redelivered: not counted again
		{"a4", "sys-1", "degraded", 5},                                 // 3rd within the hour → fires
		{"a5", "sys-1", "degraded", 6},                                 // cooldown
		{"b2", "sys-2", "degraded", 7}, {"b3", "sys-2", "degraded", 8}, // sys-2's 3rd → fires
		{"a6", "sys-1", "degraded", 40}, // 4 in [-20, 40] (every), the cooldown ended at 35 → fires
	} {
		d := send(step.key, step.sys, step.status, step.m)
		log = append(log, fmt.Sprintf("%s:%s/%d", step.key, d.Reason, d.Count))
	}
	want := "a1:below_count/1,a2:/0,a3:below_count/2,b1:below_count/1,a3:below_count/2,a4:fired/3,a5:cooldown/4,b2:below_count/2,b3:fired/3,a6:fired/4"
	if strings.Join(log, ",") != want {
		t.Fatalf("decisions\n%s\nwant\n%s", strings.Join(log, ","), want)
	}
}

// TestAutomationsMigrationDownUp: migration 008 goes down (its tables are gone) and up again.
func TestAutomationsMigrationDownUp(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn := newEmptyDatabase(ctx, t)
	m, err := migrate.NewMigrator(ctx, conn, schema.VersionTable)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.LoadMigrations(schema.Migrations()); err != nil {
		t.Fatal(err)
	}
	exists := func() []bool {
		var out []bool
		for _, table := range []string{"automations", "automation_occurrences", "automation_fires"} {
			var ok bool
			if err := conn.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, "public."+table).Scan(&ok); err != nil {
				t.Fatal(err)
			}
			out = append(out, ok)
		}
		return out
	}
	if err := m.MigrateTo(ctx, 8); err != nil {
		t.Fatal(err)
	}
	if got := exists(); !slices.Equal(got, []bool{true, true, true}) {
		t.Fatalf("after 008: %v", got)
	}
	if err := m.MigrateTo(ctx, 7); err != nil {
		t.Fatal(err)
	}
	if got := exists(); !slices.Equal(got, []bool{false, false, false}) {
		t.Fatalf("after down to 007: %v", got)
	}
	if err := m.MigrateTo(ctx, 8); err != nil {
		t.Fatal(err)
	}
	if got := exists(); !slices.Equal(got, []bool{true, true, true}) {
		t.Fatalf("after up again: %v", got)
	}
}

// TestAutomationConstraintsMapped: every CHECK constraint of the automation tables maps to a
// field, so a violation the Go validation lets through still names the field.
func TestAutomationConstraintsMapped(t *testing.T) {
	t.Parallel()
	_, pool := newStore(t)
	rows, err := pool.Query(ctxT(t), `SELECT conname FROM pg_constraint
		WHERE contype = 'c' AND conrelid::regclass::text IN ('automations', 'automation_occurrences', 'automation_fires')`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		n++
		if _, ok := automationCheckField(name); !ok {
			t.Errorf("CHECK constraint %s is not mapped by automationCheckField", name)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if n < 15 {
		t.Fatalf("found %d CHECK constraints, want the automation tables' ones", n)
	}
}
