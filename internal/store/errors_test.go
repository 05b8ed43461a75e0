package store

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/checkflow/checkflow/internal/health"
)

// TestTypedErrors: constraint violations and missing rows surface as the store's typed errors
// (not found → 404, conflict → 409, validation → 422) without PostgreSQL's text (acceptance 6).
func TestTypedErrors(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	s := f.s
	unknownCfg := "7f1c2f0e-5d1b-4d7e-9a39-0c3a4b5d6e7f"
	tests := []struct {
		name   string
		call   func(ctx context.Context) error
		is     error
		entity string // NotFoundError.Entity / ConflictError.Entity
		field  string // a ValidationError field
		msg    string // exact Error() when set
	}{
		{name: "system not found", call: func(ctx context.Context) error { _, err := s.GetSystem(ctx, "nope"); return err },
			is: ErrNotFound, entity: "System", msg: "System not found"},
		{name: "configuration not found", call: func(ctx context.Context) error { _, err := s.GetConfiguration(ctx, unknownCfg); return err },
			is: ErrNotFound, entity: "Configuration", msg: "Configuration not found"},
		{name: "malformed configuration id is not found", call: func(ctx context.Context) error { _, err := s.GetConfiguration(ctx, "x'; drop"); return err },
			is: ErrNotFound, entity: "Configuration"},
		{name: "run not found", call: func(ctx context.Context) error { _, err := s.GetRun(ctx, "sys-1:999"); return err },
			is: ErrNotFound, entity: "Run"},
		{name: "duplicate system is a conflict", call: func(ctx context.Context) error {
			_, err := s.CreateSystem(ctx, SystemInput{ID: "sys-1", Name: "again"})
			return err
		}, is: ErrConflict, entity: "System", msg: "System already exists"},
		{name: "duplicate configuration id is a conflict", call: func(ctx context.Context) error {
			_, err := s.CreateConfiguration(ctx, ConfigurationInput{ID: f.cfg, Name: "x", StrategyID: "http", IntervalSeconds: 1})
			return err
		}, is: ErrConflict, entity: "Configuration"},
		{name: "FK: assignment to unknown configuration", call: func(ctx context.Context) error {
			_, _, err := s.Associate(ctx, AssociateInput{SystemID: "sys-1", ConfigurationID: unknownCfg})
			return err
		}, is: ErrNotFound, entity: "Configuration", msg: "Configuration not found"},
		{name: "FK: assignment to unknown system", call: func(ctx context.Context) error {
			_, _, err := s.Associate(ctx, AssociateInput{SystemID: "ghost", ConfigurationID: f.cfg})
			return err
		}, is: ErrNotFound, entity: "System"},
		{name: "FK: run of unknown configuration", call: func(ctx context.Context) error {
			_, err := s.Persist(ctx, PersistInput{SystemID: "sys-1", Seq: 1, At: t0,
				Runs: []RunRecord{run("sys-1", unknownCfg, 1, health.Healthy, nil, t0)}, View: health.BaselineView(1)})
			return err
		}, is: ErrNotFound, entity: "Configuration"},
		{name: "FK: persist for unknown system", call: func(ctx context.Context) error {
			_, err := s.Persist(ctx, PersistInput{SystemID: "ghost", Seq: 1, At: t0, View: health.BaselineView(1)})
			return err
		}, is: ErrNotFound, entity: "System"},
		{name: "check violation: interval 0", call: func(ctx context.Context) error {
			_, err := s.CreateConfiguration(ctx, ConfigurationInput{Name: "x", StrategyID: "http", IntervalSeconds: 0})
			return err
		}, is: ErrValidation, field: "intervalSeconds"},
		{name: "check violation: empty name", call: func(ctx context.Context) error {
			_, err := s.CreateConfiguration(ctx, ConfigurationInput{Name: "", StrategyID: "http", IntervalSeconds: 5})
			return err
		}, is: ErrValidation, field: "name"},
		{name: "check violation: config not an object", call: func(ctx context.Context) error {
			_, err := s.CreateConfiguration(ctx, ConfigurationInput{Name: "x", StrategyID: "http", IntervalSeconds: 5, Config: json.RawMessage(`[1]`)})
			return err
		}, is: ErrValidation, field: "config"},
		{name: "check violation: system id format", call: func(ctx context.Context) error {
			_, err := s.CreateSystem(ctx, SystemInput{ID: "has:colon", Name: "x"})
			return err
		}, is: ErrValidation, field: "id"},
		{name: "check violation: locations", call: func(ctx context.Context) error {
			_, _, err := s.Associate(ctx, AssociateInput{SystemID: "sys-1", ConfigurationID: f.cfg, Locations: &[]string{"EU West"}})
			return err
		}, is: ErrValidation, field: "locations"},
		{name: "domain validation: thresholds", call: func(ctx context.Context) error {
			_, _, err := s.Associate(ctx, AssociateInput{SystemID: "sys-1", ConfigurationID: f.cfg,
				StateThresholds: Some(&health.Thresholds{Mode: health.ModeWindow, WindowSize: 1})})
			return err
		}, is: ErrValidation, field: "stateThresholds.windowSize"},
		{name: "malformed configuration id in input", call: func(ctx context.Context) error {
			_, _, err := s.Associate(ctx, AssociateInput{SystemID: "sys-1", ConfigurationID: "not-a-uuid"})
			return err
		}, is: ErrValidation, field: "configurationId"},
		{name: "assignment not found", call: func(ctx context.Context) error {
			_, err := s.SetAssignmentEnabled(ctx, "sys-1", unknownCfg, true)
			return err
		}, is: ErrNotFound, entity: "Assignment", msg: "Assignment not found"},
		{name: "persist input validation", call: func(ctx context.Context) error {
			_, err := s.Persist(ctx, PersistInput{SystemID: "sys-1", Seq: 0, At: t0})
			return err
		}, is: ErrValidation, field: "seq"},
		{name: "run id must carry the system prefix", call: func(ctx context.Context) error {
			r := run("sys-1", f.cfg, 1, health.Healthy, nil, t0)
			r.ID = "producer-42"
			_, err := s.Persist(ctx, PersistInput{SystemID: "sys-1", Seq: 1, At: t0, Runs: []RunRecord{r}, View: health.BaselineView(1)})
			return err
		}, is: ErrValidation, field: "runs[0].id"},
		{name: "page limit bounds", call: func(ctx context.Context) error {
			_, err := s.ListRuns(ctx, RunFilter{Limit: MaxListLimit + 1})
			return err
		}, is: ErrValidation, field: "limit"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call(ctxT(t))
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, tc.is) {
				t.Fatalf("error %v (%T) is not %v", err, err, tc.is)
			}
			for _, other := range []error{ErrNotFound, ErrConflict, ErrValidation} {
				if other != tc.is && errors.Is(err, other) {
					t.Errorf("error %v also matches %v", err, other)
				}
			}
			if tc.entity != "" {
				var nf *NotFoundError
				var cf *ConflictError
				switch {
				case errors.As(err, &nf):
					if nf.Entity != tc.entity {
						t.Errorf("entity %q, want %q", nf.Entity, tc.entity)
					}
				case errors.As(err, &cf):
					if cf.Entity != tc.entity {
						t.Errorf("entity %q, want %q", cf.Entity, tc.entity)
					}
				default:
					t.Errorf("error %T carries no entity", err)
				}
			}
			if tc.field != "" && !isValidation(err, tc.field) {
				t.Errorf("error %v has no field %q", err, tc.field)
			}
			if tc.msg != "" && err.Error() != tc.msg {
				t.Errorf("message %q, want %q", err.Error(), tc.msg)
			}
			assertNoPgText(t, err)
		})
	}
}
