package store

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/checkflow/checkflow/internal/health"
)

// TestListRuns: the reference's history filters, pagination, sort, total, and public vs detailed
// fields, through real SQL.
func TestListRuns(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c2 := mustConfig(t, f.s, "check-2")
	mustAssign(t, f.s, f.sys, c2.ID)
	mustSystem(t, f.s, "sys-2")
	mustAssign(t, f.s, "sys-2", f.cfg)
	ctx := ctxT(t)
	// sys-1/check-1: 10 runs one minute apart, every third unhealthy, runs 9 and 10 from "eu".
	for i := int64(1); i <= 10; i++ {
		st := health.Healthy
		if i%3 == 0 {
			st = health.Unhealthy
		}
		r := run(f.sys, f.cfg, i, st, intp(int(i)), t0.Add(time.Duration(i)*time.Minute))
		if i >= 9 {
			r.SourceID, r.SourceLabel = strp("eu"), strp("EU")
		}
		if i == 5 {
			r.Result = json.RawMessage(`{"message":"Completed in 5ms"}`)
		}
		if _, err := f.s.Persist(ctx, PersistInput{SystemID: f.sys, Seq: i, At: r.Timestamp, Runs: []RunRecord{r}, View: health.BaselineView(2)}); err != nil {
			t.Fatal(err)
		}
	}
	seq := int64(11)
	for _, p := range []struct {
		sys, cfg string
	}{{f.sys, c2.ID}, {"sys-2", f.cfg}} {
		if _, err := f.s.Persist(ctx, PersistInput{SystemID: p.sys, Seq: seq, At: t0, Runs: []RunRecord{run(p.sys, p.cfg, seq, health.Degraded, nil, t0)}, View: health.BaselineView(1)}); err != nil {
			t.Fatal(err)
		}
		seq++
	}
	start, end := t0.Add(3*time.Minute), t0.Add(7*time.Minute)
	ids := func(p RunPage) string {
		s := ""
		for _, r := range p.Runs {
			s += r.ID[len(r.SystemID)+1:] + ","
		}
		return fmt.Sprintf("%s total=%d", s, p.Total)
	}
	tests := []struct {
		name string
		f    RunFilter
		want string
	}{
		{"default: newest 10 of everything", RunFilter{}, "10,9,8,7,6,5,4,3,2,1, total=12"},
		{"system and check, limit 3", RunFilter{SystemID: f.sys, ConfigurationID: f.cfg, Limit: 3}, "10,9,8, total=10"},
		{"offset", RunFilter{SystemID: f.sys, ConfigurationID: f.cfg, Limit: 3, Offset: 3}, "7,6,5, total=10"},
		{"ascending", RunFilter{SystemID: f.sys, ConfigurationID: f.cfg, Limit: 2, SortOrder: SortAsc}, "1,2, total=10"},
		{"date range inclusive", RunFilter{SystemID: f.sys, StartDate: &start, EndDate: &end}, "7,6,5,4,3, total=5"},
		{"status filter", RunFilter{SystemID: f.sys, Statuses: []health.Status{health.Unhealthy, health.Degraded}}, "9,6,3,11, total=4"},
		{"source local", RunFilter{ConfigurationID: f.cfg, SystemID: f.sys, SourceFilter: SourceLocal, Limit: 1}, "8, total=8"},
		{"source eu", RunFilter{SourceFilter: "eu"}, "10,9, total=2"},
		{"configuration across systems", RunFilter{ConfigurationID: f.cfg, Statuses: []health.Status{health.Degraded}}, "12, total=1"},
		{"nothing matches", RunFilter{SystemID: "nobody"}, " total=0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := f.s.ListRuns(ctx, tc.f)
			if err != nil {
				t.Fatal(err)
			}
			if got := ids(p); got != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
			for _, r := range p.Runs {
				if r.Result != nil {
					t.Fatalf("public history returned a result for %s", r.ID)
				}
			}
		})
	}
	det, err := f.s.ListRuns(ctx, RunFilter{SystemID: f.sys, ConfigurationID: f.cfg, Detailed: true, Limit: 6})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range det.Runs {
		want := "{}"
		if r.ID == ProbeRunID(f.sys, 5) {
			want = `{"message": "Completed in 5ms"}`
		}
		if string(r.Result) != want {
			t.Fatalf("detailed result of %s = %s, want %s", r.ID, r.Result, want)
		}
	}
	if r := det.Runs[0]; r.SourceID == nil || *r.SourceID != "eu" || r.LatencyMs == nil || *r.LatencyMs != 10 || r.Status != health.Healthy {
		t.Fatalf("run fields %+v", r)
	}
	got, err := f.s.GetRun(ctx, ProbeRunID(f.sys, 5))
	if err != nil || string(got.Result) != `{"message": "Completed in 5ms"}` || got.ConfigurationID != f.cfg {
		t.Fatalf("GetRun %+v %v", got, err)
	}
	if _, err := f.s.ListRuns(ctx, RunFilter{SortOrder: "sideways"}); !isValidation(err, "sortOrder") {
		t.Fatalf("bad sort order: %v", err)
	}
	if _, err := f.s.ListRuns(ctx, RunFilter{Statuses: []health.Status{"unknown"}}); !isValidation(err, "statusFilter") {
		t.Fatalf("bad status: %v", err)
	}
}

// TestLoad: the entity's start state — enabled assignments only, in assignment order, with their
// configuration, effective thresholds and resolved policy, at most the newest 100 statuses
// newest first, the view and the seq.
func TestLoad(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := ctxT(t)
	if err := f.s.SetNotificationDefaults(ctx, health.NotificationPolicy{SuppressDeEscalations: true}); err != nil {
		t.Fatal(err)
	}
	c2 := mustConfig(t, f.s, "check-2")
	th := &health.Thresholds{Mode: health.ModeWindow, WindowSize: 20}
	if _, _, err := f.s.Associate(ctx, AssociateInput{SystemID: f.sys, ConfigurationID: c2.ID, StateThresholds: Some(th),
		NotificationPolicy: Some(&health.NotificationPolicy{}), Locations: &[]string{"eu", "us", "eu"}}); err != nil {
		t.Fatal(err)
	}
	c3 := mustConfig(t, f.s, "disabled")
	if _, _, err := f.s.Associate(ctx, AssociateInput{SystemID: f.sys, ConfigurationID: c3.ID, Enabled: new(bool)}); err != nil {
		t.Fatal(err)
	}
	// 105 runs of check-1: statuses alternate in blocks so the order is checkable.
	var runs []RunRecord
	for i := int64(1); i <= 105; i++ {
		st := health.Healthy
		if i > 100 {
			st = health.Unhealthy
		}
		runs = append(runs, run(f.sys, f.cfg, i, st, nil, t0.Add(time.Duration(i)*time.Second)))
	}
	if _, err := f.s.Persist(ctx, PersistInput{SystemID: f.sys, Seq: 105, At: t0, Runs: runs,
		View: &health.View{Status: health.Degraded, HealthyChecks: 1, TotalChecks: 2}}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.PauseConfiguration(ctx, c2.ID); err != nil {
		t.Fatal(err)
	}
	st, err := f.s.Load(ctx, f.sys)
	if err != nil {
		t.Fatal(err)
	}
	if st.Seq != 105 || st.View == nil || *st.View != (health.View{Status: health.Degraded, HealthyChecks: 1, TotalChecks: 2}) || st.InStatusSince == nil {
		t.Fatalf("view %+v seq %d", st.View, st.Seq)
	}
	if len(st.Checks) != 2 || st.Checks[0].ConfigurationID != f.cfg || st.Checks[1].ConfigurationID != c2.ID {
		t.Fatalf("checks %+v: want the two enabled ones in assignment order", st.Checks)
	}
	one, two := st.Checks[0], st.Checks[1]
	if len(one.RecentStatuses) != health.MaxWindowRuns {
		t.Fatalf("%d statuses, want %d", len(one.RecentStatuses), health.MaxWindowRuns)
	}
	for i, s := range one.RecentStatuses {
		want := health.Healthy
		if i < 5 {
			want = health.Unhealthy
		}
		if s != want {
			t.Fatalf("status[%d] = %s, want %s (newest first)", i, s, want)
		}
	}
	if one.LastRunAt == nil || !one.LastRunAt.Equal(t0.Add(105*time.Second)) {
		t.Fatalf("last run at %v", one.LastRunAt)
	}
	if one.Thresholds != health.DefaultThresholds() || !one.Policy.SuppressDeEscalations {
		t.Fatalf("check 1 thresholds %+v policy %+v: want defaults and the platform default policy", one.Thresholds, one.Policy)
	}
	if two.Thresholds.Mode != health.ModeWindow || two.Thresholds.WindowSize != 20 || two.Thresholds.Degraded.MinFailureCount != 3 ||
		two.Policy.SuppressDeEscalations || !two.Configuration.Paused || two.Configuration.StrategyID != "healthcheck-http.http" ||
		fmt.Sprint(two.Locations) != "[eu us]" || len(two.RecentStatuses) != 0 || two.LastRunAt != nil {
		t.Fatalf("check 2 %+v", two)
	}
	if _, err := f.s.Load(ctx, "ghost"); err == nil || !isNotFound(err, "System") {
		t.Fatalf("load unknown system: %v", err)
	}
	systems, err := f.s.ListSystemsWithEnabledChecks(ctx)
	if err != nil || fmt.Sprint(systems) != "[sys-1]" {
		t.Fatalf("systems with enabled checks %v %v", systems, err)
	}
	ov, err := f.s.Overview(ctx, f.sys, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(ov) != 3 || len(ov[0].RecentRuns) != health.OverviewRuns || ov[0].RecentRuns[24].ID != ProbeRunID(f.sys, 105) || ov[0].RecentRuns[0].ID != ProbeRunID(f.sys, 81) || ov[2].Enabled {
		t.Fatalf("overview: %d checks, first has %d runs", len(ov), len(ov[0].RecentRuns))
	}
}

// TestEventsAndOutbox: events list by system/type/time with a cursor; the outbox lists
// undelivered events in write order and marks them delivered once.
func TestEventsAndOutbox(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := ctxT(t)
	// The fixture's assignment wrote a healthcheck.assignment.changed hook; this test is about
	// Persist's events only.
	mustExec(t, f.pool, `DELETE FROM health_events WHERE type = $1`, health.HookAssignmentChanged)
	for seq := int64(1); seq <= 4; seq++ {
		in := degradedItem(f, seq, t0.Add(time.Duration(seq)*time.Minute))
		in.Transition = nil
		if _, err := f.s.Persist(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	all, err := f.s.ListEvents(ctx, EventFilter{SystemID: f.sys})
	if err != nil || len(all) != 12 {
		t.Fatalf("%d events (%v), want 12", len(all), err)
	}
	for i := 1; i < len(all); i++ {
		if all[i].ID <= all[i-1].ID {
			t.Fatal("events not in id order")
		}
	}
	if all[0].IdempotencyKey != EventKey(f.sys, 1, all[0].Type, "") && all[0].IdempotencyKey != EventKey(f.sys, 1, all[0].Type, f.cfg) {
		t.Fatalf("key %q", all[0].IdempotencyKey)
	}
	var payload map[string]any
	if err := json.Unmarshal(all[0].Payload, &payload); err != nil || payload["systemId"] != f.sys {
		t.Fatalf("payload %s", all[0].Payload)
	}
	typed, err := f.s.ListEvents(ctx, EventFilter{Type: health.EventSystemDegraded, Limit: 2})
	if err != nil || len(typed) != 2 || typed[0].Seq != 1 || typed[1].Seq != 2 {
		t.Fatalf("typed page 1 %+v %v", typed, err)
	}
	next, err := f.s.ListEvents(ctx, EventFilter{Type: health.EventSystemDegraded, Limit: 2, Cursor: typed[1].ID})
	if err != nil || len(next) != 2 || next[0].Seq != 3 || next[1].Seq != 4 {
		t.Fatalf("typed page 2 %+v %v", next, err)
	}
	since := t0.Add(3 * time.Minute)
	desc, err := f.s.ListEvents(ctx, EventFilter{Since: &since, Descending: true, Type: health.EventSystemDegraded})
	if err != nil || len(desc) != 2 || desc[0].Seq != 4 {
		t.Fatalf("since/desc %+v %v", desc, err)
	}

	pending, err := f.s.ListUndelivered(ctx, f.sys, 5)
	if err != nil || len(pending) != 5 {
		t.Fatalf("undelivered %d %v", len(pending), err)
	}
	ids := []int64{pending[0].ID, pending[1].ID}
	if n, err := f.s.MarkDelivered(ctx, ids, t0); err != nil || n != 2 {
		t.Fatalf("mark %d %v", n, err)
	}
	if n, err := f.s.MarkDelivered(ctx, ids, t0.Add(time.Hour)); err != nil || n != 0 {
		t.Fatalf("re-mark %d %v, want 0", n, err)
	}
	rest, err := f.s.ListUndelivered(ctx, "", 100)
	if err != nil || len(rest) != 10 || rest[0].ID != pending[2].ID {
		t.Fatalf("after marking: %d undelivered", len(rest))
	}
	if n, err := f.s.DeleteDeliveredEventsBefore(ctx, t0.Add(time.Hour)); err != nil || n != 2 {
		t.Fatalf("delete delivered %d %v", n, err)
	}
}

// TestListTransitions pages a system's transitions newest first within a time range.
func TestListTransitions(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for i := 0; i < 5; i++ {
		insertTransition(t, f.pool, "", f.sys, &f.cfg, statusp(health.Healthy), health.Degraded, t0.Add(time.Duration(i)*time.Hour))
	}
	since, until := t0.Add(time.Hour), t0.Add(3*time.Hour)
	tr, err := f.s.ListTransitions(ctxT(t), TransitionFilter{SystemID: f.sys, Since: &since, Until: &until, Page: Page{Limit: 2}})
	if err != nil {
		t.Fatal(err)
	}
	if len(tr) != 2 || !tr[0].TransitionedAt.Equal(until) || !tr[1].TransitionedAt.Equal(t0.Add(2*time.Hour)) || *tr[0].ConfigurationID != f.cfg {
		t.Fatalf("transitions %+v", tr)
	}
}
