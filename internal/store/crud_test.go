package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/checkflow/checkflow/internal/health"
)

func TestSystemsCRUD(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := ctxT(t)
	created, err := s.CreateSystem(ctx, SystemInput{ID: "web-1", Name: "Web", Description: "front", Labels: map[string]string{"team": "a"}})
	if err != nil {
		t.Fatal(err)
	}
	if created.Labels["team"] != "a" || created.CreatedAt.IsZero() {
		t.Fatalf("created %+v", created)
	}
	mustSystem(t, s, "api-1")
	list, total, err := s.ListSystems(ctx, Page{Limit: 1})
	if err != nil || total != 2 || len(list) != 1 || list[0].ID != "api-1" {
		t.Fatalf("list %+v total %d %v", list, total, err)
	}
	name := "Web frontend"
	upd, err := s.UpdateSystem(ctx, "web-1", SystemPatch{Name: &name})
	if err != nil || upd.Name != name || upd.Description != "front" || upd.Labels["team"] != "a" {
		t.Fatalf("update %+v %v", upd, err)
	}
	if _, err := s.UpdateSystem(ctx, "nope", SystemPatch{Name: &name}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("update missing: %v", err)
	}
	empty := ""
	if _, err := s.UpdateSystem(ctx, "web-1", SystemPatch{Name: &empty}); !isValidation(err, "name") {
		t.Fatalf("empty name: %v", err)
	}
	if err := s.DeleteSystem(ctx, "web-1"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteSystem(ctx, "web-1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("delete twice: %v", err)
	}
	if _, _, err := s.ListSystems(ctx, Page{Limit: 501}); !isValidation(err, "limit") {
		t.Fatalf("limit 501: %v", err)
	}
}

func TestConfigurationsCRUD(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := ctxT(t)
	id := "11111111-2222-4333-8444-555555555555"
	c, err := f.s.CreateConfiguration(ctx, ConfigurationInput{ID: id, Name: "db", StrategyID: "healthcheck-postgres.postgres",
		Config: json.RawMessage(`{"host":"db"}`), Collectors: json.RawMessage(`[{"id":"x","collectorId":"c","config":{}}]`), IntervalSeconds: 30})
	if err != nil {
		t.Fatal(err)
	}
	if c.ID != id || c.Paused || string(c.Collectors) == "" {
		t.Fatalf("created %+v", c)
	}
	got, err := f.s.GetConfiguration(ctx, "11111111-2222-4333-8444-555555555555")
	if err != nil || got.Name != "db" || got.IntervalSeconds != 30 {
		t.Fatalf("get %+v %v", got, err)
	}
	interval := 15
	upd, err := f.s.UpdateConfiguration(ctx, id, ConfigurationPatch{IntervalSeconds: &interval, Collectors: Some[json.RawMessage](nil)})
	if err != nil || upd.IntervalSeconds != 15 || upd.Collectors != nil || upd.Name != "db" || string(upd.Config) != `{"host": "db"}` {
		t.Fatalf("update %+v %v", upd, err)
	}
	zero := 0
	if _, err := f.s.UpdateConfiguration(ctx, id, ConfigurationPatch{IntervalSeconds: &zero}); !isValidation(err, "intervalSeconds") {
		t.Fatalf("interval 0: %v", err)
	}
	if p, err := f.s.PauseConfiguration(ctx, id); err != nil || !p.Paused {
		t.Fatalf("pause %+v %v", p, err)
	}
	if p, err := f.s.ResumeConfiguration(ctx, id); err != nil || p.Paused {
		t.Fatalf("resume %+v %v", p, err)
	}
	if _, err := f.s.PauseConfiguration(ctx, "11111111-2222-4333-8444-000000000000"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("pause missing: %v", err)
	}
	list, total, err := f.s.ListConfigurations(ctx, Page{})
	if err != nil || total != 2 || len(list) != 2 || list[0].Name != "check-1" {
		t.Fatalf("list %v %d %v", list, total, err)
	}
	mustSystem(t, f.s, "sys-2")
	mustAssign(t, f.s, "sys-2", id)
	mustAssign(t, f.s, f.sys, id)
	if sys, err := f.s.ConfigurationSystems(ctx, id); err != nil || fmt.Sprint(sys) != "[sys-1 sys-2]" {
		t.Fatalf("configuration systems %v %v", sys, err)
	}
	if cs, err := f.s.SystemConfigurations(ctx, f.sys); err != nil || len(cs) != 2 || cs[1].ID != id {
		t.Fatalf("system configurations %v %v", cs, err)
	}
	// A run so that the cascade has something to delete.
	if _, err := f.s.Persist(ctx, PersistInput{SystemID: f.sys, Seq: 1, At: t0, Runs: []RunRecord{run(f.sys, id, 1, health.Healthy, intp(1), t0)}, View: health.BaselineView(2)}); err != nil {
		t.Fatal(err)
	}
	affected, err := f.s.DeleteConfiguration(ctx, id)
	if err != nil || fmt.Sprint(affected) != "[sys-1 sys-2]" {
		t.Fatalf("delete: %v %v", affected, err)
	}
	for _, table := range []string{"system_health_checks", "health_check_runs", "health_check_aggregates", "check_health_state"} {
		if n := count(t, f.pool, table+" WHERE configuration_id = $1", id); n != 0 {
			t.Errorf("%d rows of the deleted configuration left in %s", n, table)
		}
	}
	if _, err := f.s.DeleteConfiguration(ctx, id); !errors.Is(err, ErrNotFound) {
		t.Fatalf("delete twice: %v", err)
	}
}

// TestAssociateUpsert: associate inserts with defaults and, on conflict, overwrites only the
// fields given; enable/disable and disassociate.
func TestAssociateUpsert(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := ctxT(t)
	mustSystem(t, s, "sys-1")
	c := mustConfig(t, s, "c")
	a, created, err := s.Associate(ctx, AssociateInput{SystemID: "sys-1", ConfigurationID: c.ID})
	if err != nil || !created || !a.Enabled || a.StateThresholds != nil || a.NotificationPolicy != nil || len(a.Locations) != 0 || a.ConfigurationName != "c" {
		t.Fatalf("insert %+v created=%v %v", a, created, err)
	}
	th := health.Thresholds{Mode: health.ModeConsecutive, Degraded: health.FailureThreshold{MinFailureCount: 3}}
	off := false
	a, created, err = s.Associate(ctx, AssociateInput{SystemID: "sys-1", ConfigurationID: c.ID, Enabled: &off,
		StateThresholds: Some(&th), NotificationPolicy: Some(&health.NotificationPolicy{SuppressDeEscalations: true}), Locations: &[]string{"eu"}})
	if err != nil || created || a.Enabled || a.StateThresholds == nil || a.StateThresholds.Degraded.MinFailureCount != 3 ||
		a.StateThresholds.Unhealthy.MinFailureCount != 5 || !a.NotificationPolicy.SuppressDeEscalations || fmt.Sprint(a.Locations) != "[eu]" {
		t.Fatalf("update all %+v created=%v %v", a, created, err)
	}
	// Omitted fields stay untouched.
	on := true
	a, _, err = s.Associate(ctx, AssociateInput{SystemID: "sys-1", ConfigurationID: c.ID, Enabled: &on})
	if err != nil || !a.Enabled || a.StateThresholds == nil || a.NotificationPolicy == nil || fmt.Sprint(a.Locations) != "[eu]" {
		t.Fatalf("partial update touched omitted fields: %+v %v", a, err)
	}
	// Set to nil clears.
	a, _, err = s.Associate(ctx, AssociateInput{SystemID: "sys-1", ConfigurationID: c.ID,
		StateThresholds: Some[*health.Thresholds](nil), NotificationPolicy: Some[*health.NotificationPolicy](nil)})
	if err != nil || a.StateThresholds != nil || a.NotificationPolicy != nil || !a.Enabled {
		t.Fatalf("clear %+v %v", a, err)
	}
	var stored []byte
	if _, _, err := s.Associate(ctx, AssociateInput{SystemID: "sys-1", ConfigurationID: c.ID, StateThresholds: Some(&th)}); err != nil {
		t.Fatal(err)
	}
	if err := s.pool.QueryRow(ctx, `SELECT state_thresholds FROM system_health_checks`).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	var env struct {
		Version int             `json:"version"`
		Data    json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(stored, &env); err != nil || env.Version != 1 || len(env.Data) == 0 {
		t.Fatalf("stored thresholds %s: want the versioned record", stored)
	}
	if a, err := s.SetAssignmentEnabled(ctx, "sys-1", c.ID, false); err != nil || a.Enabled {
		t.Fatalf("disable %+v %v", a, err)
	}
	if sys, err := s.ListSystemsWithEnabledChecks(ctx); err != nil || len(sys) != 0 {
		t.Fatalf("systems with enabled checks after disable: %v %v", sys, err)
	}
	list, err := s.ListAssignments(ctx, "sys-1")
	if err != nil || len(list) != 1 {
		t.Fatalf("list %v %v", list, err)
	}
	if err := s.Disassociate(ctx, "sys-1", c.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.Disassociate(ctx, "sys-1", c.ID); !isNotFound(err, "Assignment") {
		t.Fatalf("disassociate twice: %v", err)
	}
}

// TestRetentionConfig: get/set with the §1.8 bounds and the reference's messages.
func TestRetentionConfig(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := ctxT(t)
	if rc, err := f.s.GetRetentionConfig(ctx, f.sys, f.cfg); err != nil || rc != nil {
		t.Fatalf("initial %v %v, want nil (defaults)", rc, err)
	}
	tests := []struct {
		name    string
		in      RetentionConfigInput
		want    *RetentionConfig
		field   string
		message string
	}{
		{"defaults fill missing fields", RetentionConfigInput{RawRetentionDays: intp(3)}, &RetentionConfig{3, 30, 365}, "", ""},
		{"bounds ok", RetentionConfigInput{intp(30), intp(90), intp(1095)}, &RetentionConfig{30, 90, 1095}, "", ""},
		{"raw below 1", RetentionConfigInput{RawRetentionDays: intp(0)}, nil, "rawRetentionDays", "must be an integer between 1 and 30"},
		{"raw above 30", RetentionConfigInput{RawRetentionDays: intp(31)}, nil, "rawRetentionDays", "must be an integer between 1 and 30"},
		{"hourly below 7", RetentionConfigInput{HourlyRetentionDays: intp(6)}, nil, "hourlyRetentionDays", "must be an integer between 7 and 90"},
		{"daily above 1095", RetentionConfigInput{DailyRetentionDays: intp(1096)}, nil, "dailyRetentionDays", "must be an integer between 30 and 1095"},
		{"raw not below hourly", RetentionConfigInput{RawRetentionDays: intp(10), HourlyRetentionDays: intp(10)}, nil, "rawRetentionDays", "Raw retention must be less than hourly retention"},
		{"hourly not below daily", RetentionConfigInput{HourlyRetentionDays: intp(60), DailyRetentionDays: intp(40)}, nil, "hourlyRetentionDays", "Hourly retention must be less than daily retention"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			rc, err := f.s.SetRetentionConfig(ctx, f.sys, f.cfg, &in)
			if tc.want != nil {
				if err != nil || rc == nil || *rc != *tc.want {
					t.Fatalf("set: %v %v, want %v", rc, err, *tc.want)
				}
				got, err := f.s.GetRetentionConfig(ctx, f.sys, f.cfg)
				if err != nil || got == nil || *got != *tc.want {
					t.Fatalf("get: %v %v", got, err)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) || len(ve.Errors) != 1 || ve.Errors[0].Field != tc.field || ve.Errors[0].Message != tc.message {
				t.Fatalf("error %v, want %s: %s", err, tc.field, tc.message)
			}
		})
	}
	if rc, err := f.s.SetRetentionConfig(ctx, f.sys, f.cfg, nil); err != nil || rc != nil {
		t.Fatalf("reset %v %v", rc, err)
	}
	if rc, err := f.s.GetRetentionConfig(ctx, f.sys, f.cfg); err != nil || rc != nil {
		t.Fatalf("after reset %v %v", rc, err)
	}
	if _, err := f.s.SetRetentionConfig(ctx, "nope", f.cfg, nil); !isNotFound(err, "Assignment") {
		t.Fatalf("missing assignment: %v", err)
	}
}

func TestSettingsAndProvenance(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := ctxT(t)
	if p, err := s.GetNotificationDefaults(ctx); err != nil || p.SuppressDeEscalations {
		t.Fatalf("default policy %+v %v", p, err)
	}
	if err := s.SetNotificationDefaults(ctx, health.NotificationPolicy{SuppressDeEscalations: true}); err != nil {
		t.Fatal(err)
	}
	if p, err := s.GetNotificationDefaults(ctx); err != nil || !p.SuppressDeEscalations {
		t.Fatalf("stored policy %+v %v", p, err)
	}
	if err := s.PutSetting(ctx, "x", json.RawMessage(`{`)); !isValidation(err, "value") {
		t.Fatalf("invalid JSON setting: %v", err)
	}

	if managed, err := s.IsManaged(ctx, ProvenanceKindSystem, "sys-1"); err != nil || managed {
		t.Fatalf("managed before set: %v %v", managed, err)
	}
	if _, err := s.SetProvenance(ctx, ProvenanceKindSystem, "sys-1", "git@example:repo//systems.yaml"); err != nil {
		t.Fatal(err)
	}
	p, err := s.SetProvenance(ctx, ProvenanceKindSystem, "sys-1", "other.yaml")
	if err != nil || p.Source != "other.yaml" {
		t.Fatalf("upsert provenance %+v %v", p, err)
	}
	if managed, err := s.IsManaged(ctx, ProvenanceKindSystem, "sys-1"); err != nil || !managed {
		t.Fatalf("managed after set: %v %v", managed, err)
	}
	if managed, _ := s.IsManaged(ctx, ProvenanceKindHealthcheck, "sys-1"); managed {
		t.Fatal("provenance leaks across kinds")
	}
	if list, err := s.ListProvenance(ctx, ""); err != nil || len(list) != 1 {
		t.Fatalf("list %v %v", list, err)
	}
	if err := s.DeleteProvenance(ctx, ProvenanceKindSystem, "sys-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetProvenance(ctx, ProvenanceKindSystem, "sys-1"); !isNotFound(err, "Provenance") {
		t.Fatalf("after delete: %v", err)
	}
	if _, err := s.SetProvenance(ctx, "", "x", "y"); !isValidation(err, "kind") {
		t.Fatalf("empty kind: %v", err)
	}
}

// TestDeleteSystemCascades: deleting a system removes everything that belongs to it.
func TestDeleteSystemCascades(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	if _, err := f.s.Persist(ctxT(t), degradedItem(f, 1, t0)); err != nil {
		t.Fatal(err)
	}
	if err := f.s.DeleteSystem(ctxT(t), f.sys); err != nil {
		t.Fatal(err)
	}
	for _, table := range []string{"system_health_checks", "health_check_runs", "health_check_aggregates", "health_check_state_transitions",
		"system_health_state", "check_health_state", "health_events"} {
		if n := count(t, f.pool, table); n != 0 {
			t.Errorf("%d rows left in %s", n, table)
		}
	}
	if n := count(t, f.pool, "health_check_configurations"); n != 1 {
		t.Error("the configuration itself must survive")
	}
}
