package store

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/checkflow/checkflow/internal/health"
)

func mustMaintenance(t testing.TB, s *Store, title string, systems []string, from, to time.Time) MaintenanceWindow {
	t.Helper()
	m, err := s.CreateMaintenance(ctxT(t), MaintenanceInput{Title: title, SystemIDs: systems, StartsAt: from, EndsAt: to})
	if err != nil {
		t.Fatalf("create maintenance %q: %v", title, err)
	}
	return m
}

// TestMaintenanceCRUD: create, get, update (edge markers untouched), delete; a malformed or
// unknown id is "Maintenance not found".
func TestMaintenanceCRUD(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := ctxT(t)
	paris := time.FixedZone("CEST", 2*3600)
	m, err := s.CreateMaintenance(ctx, MaintenanceInput{Title: "db upgrade", Description: "v16", SystemIDs: []string{"sys-1", "sys-2", "sys-1"},
		StartsAt: t0.In(paris), EndsAt: t0.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(m.SystemIDs, []string{"sys-1", "sys-2"}) || !m.StartsAt.Equal(t0) || m.StartsAt.Location() != time.UTC ||
		!m.EndsAt.Equal(t0.Add(time.Hour)) || m.StartedAt != nil || m.EndedAt != nil || m.Description != "v16" {
		t.Fatalf("created %+v", m)
	}
	got, err := s.GetMaintenance(ctx, m.ID)
	if err != nil || got.Title != "db upgrade" {
		t.Fatalf("get %+v %v", got, err)
	}
	if err := s.MarkMaintenanceEdge(ctx, m.ID, MaintenanceEdgeStarted, t0); err != nil {
		t.Fatal(err)
	}
	upd, err := s.UpdateMaintenance(ctx, m.ID, MaintenanceInput{Title: "db upgrade (longer)", SystemIDs: []string{"sys-3"},
		StartsAt: t0, EndsAt: t0.Add(2 * time.Hour)})
	if err != nil || upd.Title != "db upgrade (longer)" || upd.Description != "" || !slices.Equal(upd.SystemIDs, []string{"sys-3"}) ||
		!upd.EndsAt.Equal(t0.Add(2*time.Hour)) || upd.StartedAt == nil || !upd.StartedAt.Equal(t0) || upd.CreatedAt != m.CreatedAt {
		t.Fatalf("update %+v %v", upd, err)
	}
	if _, err := s.UpdateMaintenance(ctx, m.ID, MaintenanceInput{Title: "x", SystemIDs: []string{"a"}, StartsAt: t0, EndsAt: t0.Add(-time.Second)}); !isValidation(err, "endsAt") {
		t.Fatalf("update with endsAt before startsAt: %v", err)
	}
	if err := s.DeleteMaintenance(ctx, m.ID); err != nil {
		t.Fatal(err)
	}
	valid := MaintenanceInput{Title: "x", SystemIDs: []string{"a"}, StartsAt: t0, EndsAt: t0.Add(time.Hour)}
	for _, id := range []string{m.ID, "not-a-uuid", ""} {
		ops := map[string]error{}
		_, ops["get"] = s.GetMaintenance(ctx, id)
		_, ops["update"] = s.UpdateMaintenance(ctx, id, valid)
		ops["delete"] = s.DeleteMaintenance(ctx, id)
		ops["edge"] = s.MarkMaintenanceEdge(ctx, id, MaintenanceEdgeEnded, t0)
		for op, err := range ops {
			if !isNotFound(err, "Maintenance") {
				t.Errorf("%s %q: %v, want Maintenance not found", op, id, err)
			}
		}
	}
}

// TestMaintenanceValidation: invalid windows are *ValidationErrors naming the field; endsAt
// must be strictly after startsAt.
func TestMaintenanceValidation(t *testing.T) {
	t.Parallel()
	s, pool := newStore(t)
	ok := MaintenanceInput{Title: "ok", SystemIDs: []string{"sys-1"}, StartsAt: t0, EndsAt: t0.Add(time.Hour)}
	with := func(f func(*MaintenanceInput)) MaintenanceInput { in := ok; f(&in); return in }
	cases := []struct {
		name  string
		in    MaintenanceInput
		field string
	}{
		{"ends = starts", with(func(in *MaintenanceInput) { in.EndsAt = in.StartsAt }), "endsAt"},
		{"ends before starts", with(func(in *MaintenanceInput) { in.EndsAt = t0.Add(-time.Minute) }), "endsAt"},
		{"no end", with(func(in *MaintenanceInput) { in.EndsAt = time.Time{} }), "endsAt"},
		{"no start", with(func(in *MaintenanceInput) { in.StartsAt = time.Time{} }), "startsAt"},
		{"empty title", with(func(in *MaintenanceInput) { in.Title = "" }), "title"},
		{"no systems", with(func(in *MaintenanceInput) { in.SystemIDs = nil }), "systemIds"},
		{"empty system id", with(func(in *MaintenanceInput) { in.SystemIDs = []string{""} }), "systemIds"},
		{"long description", with(func(in *MaintenanceInput) { in.Description = strings.Repeat("d", 4001) }), "description"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := s.CreateMaintenance(ctxT(t), c.in)
			if !isValidation(err, c.field) {
				t.Fatalf("err = %v, want a validation error on %q", err, c.field)
			}
			assertNoPgText(t, err)
		})
	}
	if n := count(t, pool, "maintenance_windows"); n != 0 {
		t.Fatalf("%d windows stored by invalid input", n)
	}
}

// TestListMaintenances: filter by system and by state relative to At (scheduled: starts after
// At; active: starts_at ≤ At < ends_at; ended: ends_at ≤ At), newest start first, paged.
func TestListMaintenances(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := ctxT(t)
	ended := mustMaintenance(t, s, "ended", []string{"sys-1"}, t0.Add(-3*time.Hour), t0.Add(-time.Hour))
	active := mustMaintenance(t, s, "active", []string{"sys-1", "sys-2"}, t0.Add(-time.Hour), t0.Add(time.Hour))
	scheduled := mustMaintenance(t, s, "scheduled", []string{"sys-2"}, t0.Add(time.Hour), t0.Add(2*time.Hour))
	startsNow := mustMaintenance(t, s, "starts at t0", []string{"sys-3"}, t0, t0.Add(30*time.Minute))
	endsNow := mustMaintenance(t, s, "ends at t0", []string{"sys-3"}, t0.Add(-30*time.Minute), t0)
	titles := func(ms []MaintenanceWindow) string {
		var out []string
		for _, m := range ms {
			out = append(out, m.Title)
		}
		return fmt.Sprint(out)
	}
	names := func(ms ...MaintenanceWindow) string { return titles(ms) }
	cases := []struct {
		name string
		f    MaintenanceFilter
		want string
	}{
		{"all", MaintenanceFilter{}, names(scheduled, startsNow, endsNow, active, ended)},
		{"active", MaintenanceFilter{State: MaintenanceActive, At: t0}, names(startsNow, active)},
		{"scheduled", MaintenanceFilter{State: MaintenanceScheduled, At: t0}, names(scheduled)},
		{"ended", MaintenanceFilter{State: MaintenanceEnded, At: t0}, names(endsNow, ended)},
		{"sys-1", MaintenanceFilter{SystemID: "sys-1"}, names(active, ended)},
		{"sys-2 active", MaintenanceFilter{SystemID: "sys-2", State: MaintenanceActive, At: t0}, names(active)},
		{"sys-2 active later", MaintenanceFilter{SystemID: "sys-2", State: MaintenanceActive, At: t0.Add(90 * time.Minute)}, names(scheduled)},
		{"unknown system", MaintenanceFilter{SystemID: "sys-9"}, names()},
		{"page", MaintenanceFilter{Limit: 2, Offset: 1}, names(startsNow, endsNow)},
	}
	for _, c := range cases {
		got, err := s.ListMaintenances(ctx, c.f)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if titles(got) != c.want {
			t.Errorf("%s: %s, want %s", c.name, titles(got), c.want)
		}
	}
	if _, err := s.ListMaintenances(ctx, MaintenanceFilter{State: "soon"}); !isValidation(err, "state") {
		t.Fatalf("bad state: %v", err)
	}
	if _, err := s.ListMaintenances(ctx, MaintenanceFilter{Limit: 501}); !isValidation(err, "limit") {
		t.Fatalf("limit 501: %v", err)
	}
}

// TestMarkMaintenanceEdge: each edge marker is set once, at its first time.
func TestMarkMaintenanceEdge(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := ctxT(t)
	m := mustMaintenance(t, s, "w", []string{"sys-1"}, t0, t0.Add(time.Hour))
	tp := func(x time.Time) *time.Time { return &x }
	steps := []struct {
		edge    string
		at      time.Time
		started *time.Time
		ended   *time.Time
	}{
		{MaintenanceEdgeStarted, t0, &t0, nil},
		{MaintenanceEdgeStarted, t0.Add(time.Minute), &t0, nil},
		{MaintenanceEdgeEnded, t0.Add(time.Hour), &t0, tp(t0.Add(time.Hour))},
		{MaintenanceEdgeEnded, t0.Add(2 * time.Hour), &t0, tp(t0.Add(time.Hour))},
	}
	for i, st := range steps {
		if err := s.MarkMaintenanceEdge(ctx, m.ID, st.edge, st.at); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetMaintenance(ctx, m.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !timePtrEq(got.StartedAt, st.started) || !timePtrEq(got.EndedAt, st.ended) {
			t.Fatalf("step %d: started %s ended %s, want %s %s", i, fmtPtr(got.StartedAt), fmtPtr(got.EndedAt), fmtPtr(st.started), fmtPtr(st.ended))
		}
	}
	if err := s.MarkMaintenanceEdge(ctx, m.ID, "middle", t0); !isValidation(err, "edge") {
		t.Fatalf("bad edge: %v", err)
	}
}

func timePtrEq(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.Equal(*b)
}

// TestInMaintenanceBoundaries: a window covers [starts_at, ends_at): start inclusive, end
// exclusive, only its own systems.
func TestInMaintenanceBoundaries(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	mustMaintenance(t, s, "w", []string{"sys-1", "sys-2"}, t0, t0.Add(time.Hour))
	cases := []struct {
		system string
		at     time.Time
		want   bool
	}{
		{"sys-1", t0.Add(-time.Microsecond), false},
		{"sys-1", t0, true},
		{"sys-2", t0.Add(30 * time.Minute), true},
		{"sys-1", t0.Add(time.Hour - time.Microsecond), true},
		{"sys-1", t0.Add(time.Hour), false},
		{"sys-3", t0.Add(30 * time.Minute), false},
	}
	for _, c := range cases {
		got, err := s.InMaintenance(ctxT(t), c.system, c.at)
		if err != nil || got != c.want {
			t.Errorf("InMaintenance(%s, %v) = %v, %v; want %v", c.system, c.at, got, err, c.want)
		}
	}
}

// TestUnfinishedMaintenances: windows whose end edge was not handled, oldest start first.
func TestUnfinishedMaintenances(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := ctxT(t)
	later := mustMaintenance(t, s, "later", []string{"a"}, t0.Add(time.Hour), t0.Add(2*time.Hour))
	done := mustMaintenance(t, s, "done", []string{"a"}, t0.Add(-2*time.Hour), t0.Add(-time.Hour))
	first := mustMaintenance(t, s, "first", []string{"a"}, t0.Add(-time.Hour), t0.Add(time.Hour))
	if err := s.MarkMaintenanceEdge(ctx, done.ID, MaintenanceEdgeEnded, t0); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkMaintenanceEdge(ctx, first.ID, MaintenanceEdgeStarted, t0); err != nil {
		t.Fatal(err)
	}
	ids, err := s.UnfinishedMaintenances(ctx)
	if err != nil || !slices.Equal(ids, []string{first.ID, later.ID}) {
		t.Fatalf("unfinished %v %v, want [%s %s]", ids, err, first.ID, later.ID)
	}
}

// TestReadHealthInMaintenance: ReadHealthAt and HealthStateInputs report inMaintenance inside a
// window and not outside it, with one maintenance query for all systems.
func TestReadHealthInMaintenance(t *testing.T) {
	t.Parallel()
	s, pool, tr := newTracedStore(t)
	ctx := ctxT(t)
	const n = 50
	mustExec(t, pool, `INSERT INTO systems (id, name) SELECT 'sys-' || g, 'System ' || g FROM generate_series(1, $1) g`, n)
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("sys-%d", i+1)
	}
	mustMaintenance(t, s, "w", []string{"sys-1", "sys-7", "other"}, t0, t0.Add(time.Hour))
	inside, outside := t0.Add(30*time.Minute), t0.Add(time.Hour)

	tr.reset()
	reads, err := s.ReadHealthAt(ctx, ids, inside)
	if err != nil {
		t.Fatal(err)
	}
	if stmts := tr.statements(); len(stmts) != 3 {
		t.Fatalf("%d statements for %d systems, want 3 (views, checks, maintenance): %q", len(stmts), n, stmts)
	}
	for _, id := range ids {
		if want := id == "sys-1" || id == "sys-7"; reads[id].InMaintenance != want {
			t.Errorf("inside: %s inMaintenance %v, want %v", id, reads[id].InMaintenance, want)
		}
	}
	if reads, err = s.ReadHealthAt(ctx, ids, outside); err != nil || reads["sys-1"].InMaintenance {
		t.Fatalf("outside: sys-1 %+v %v, want not in maintenance", reads["sys-1"], err)
	}

	for _, c := range []struct {
		now  time.Time
		want bool
	}{{inside, true}, {t0, true}, {outside, false}, {t0.Add(-time.Minute), false}} {
		in, err := s.HealthStateInputs(ctx, HealthStateQuery{SystemIDs: []string{"sys-1", "sys-2"}, Now: c.now})
		if err != nil {
			t.Fatal(err)
		}
		if in["sys-1"].InMaintenance != c.want || in["sys-2"].InMaintenance {
			t.Errorf("HealthStateInputs at %v: sys-1 %v (want %v), sys-2 %v (want false)", c.now, in["sys-1"].InMaintenance, c.want, in["sys-2"].InMaintenance)
		}
		if st := health.NewHealthState(in["sys-1"]); st.InMaintenance != c.want {
			t.Errorf("health state at %v: inMaintenance %v", c.now, st.InMaintenance)
		}
	}
}

// TestMaintenanceLookupFailsOpen: when the maintenance lookup fails, the health reads still
// answer, with inMaintenance false.
func TestMaintenanceLookupFailsOpen(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := ctxT(t)
	if _, err := f.s.Persist(ctx, degradedItem(f, 1, t0)); err != nil {
		t.Fatal(err)
	}
	mustMaintenance(t, f.s, "w", []string{f.sys}, t0, t0.Add(time.Hour))
	if in, err := f.s.InMaintenance(ctx, f.sys, t0); err != nil || !in {
		t.Fatalf("before breaking the table: %v %v", in, err)
	}
	mustExec(t, f.pool, `ALTER TABLE maintenance_windows RENAME TO maintenance_windows_gone`)
	if _, err := f.s.InMaintenance(ctx, f.sys, t0); err == nil {
		t.Fatal("InMaintenance hides the failure; only the health reads fail open")
	}
	reads, err := f.s.ReadHealthAt(ctx, []string{f.sys}, t0)
	if err != nil || reads[f.sys].InMaintenance || reads[f.sys].View == nil || reads[f.sys].View.Status != health.Degraded {
		t.Fatalf("ReadHealthAt: %+v %v", reads[f.sys], err)
	}
	in, err := f.s.HealthStateInputs(ctx, HealthStateQuery{SystemIDs: []string{f.sys}, Now: t0.Add(time.Minute)})
	if err != nil || in[f.sys].InMaintenance || in[f.sys].Status != health.Degraded || in[f.sys].TransitionsInWindow != 1 {
		t.Fatalf("HealthStateInputs: %+v %v", in[f.sys], err)
	}
}
