package health

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"time"
)

// View is the health entity of a system (§4.1): the aggregate status and
// how many of its enabled checks are healthy. A nil *View means "absent"
// (the system has no enabled checks).
type View struct {
	Status        Status `json:"status"`
	HealthyChecks int    `json:"healthyChecks"`
	TotalChecks   int    `json:"totalChecks"`
}

// Validate applies the entity state schema: a valid status and non-negative counts.
func (v View) Validate() error {
	var errs []FieldError
	if !v.Status.Valid() {
		errs = append(errs, FieldError{"status", "must be healthy, degraded or unhealthy"})
	}
	if v.HealthyChecks < 0 {
		errs = append(errs, FieldError{"healthyChecks", "must be an integer ≥ 0"})
	}
	if v.TotalChecks < 0 {
		errs = append(errs, FieldError{"totalChecks", "must be an integer ≥ 0"})
	}
	return newValidationError(errs)
}

// ParseView parses and validates a JSON view (the entity state schema, HE-15).
// null yields (nil, nil). Non-integer counts and a missing status are errors.
func ParseView(raw []byte) (*View, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, nil
	}
	var m struct {
		Status        *string      `json:"status"`
		HealthyChecks *json.Number `json:"healthyChecks"`
		TotalChecks   *json.Number `json:"totalChecks"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("health: parse view: %w", err)
	}
	var errs []FieldError
	v := &View{}
	if m.Status == nil {
		errs = append(errs, FieldError{"status", "required"})
	} else {
		v.Status = Status(*m.Status)
	}
	readCount := func(field string, n *json.Number) int {
		if n == nil {
			errs = append(errs, FieldError{field, "required"})
			return 0
		}
		f, err := n.Float64()
		if err != nil || f != math.Trunc(f) || math.Abs(f) > 1e9 {
			errs = append(errs, FieldError{field, "must be an integer"})
			return 0
		}
		return int(f)
	}
	v.HealthyChecks = readCount("healthyChecks", m.HealthyChecks)
	v.TotalChecks = readCount("totalChecks", m.TotalChecks)
	if err := v.Validate(); err != nil {
		if ve, ok := err.(*ValidationError); ok {
			errs = append(errs, ve.Errors...)
		}
	}
	if err := newValidationError(dedupeFieldErrors(errs)); err != nil {
		return nil, fmt.Errorf("health: parse view: %w", err)
	}
	return v, nil
}

// CheckStatus is the evaluated status of one enabled check of a system (§2.4).
type CheckStatus struct {
	ConfigurationID   string     `json:"configurationId"`
	ConfigurationName string     `json:"configurationName"`
	Status            Status     `json:"status"`
	RunsConsidered    int        `json:"runsConsidered"`
	LastRunAt         *time.Time `json:"lastRunAt,omitempty"`
}

// NewCheckStatus evaluates one check: runsNewestFirst is cut to the newest
// MaxWindowRuns, RunsConsidered is the number of runs used and lastRunAt is
// the newest run's time (nil when there is no run).
func NewCheckStatus(configurationID, configurationName string, runsNewestFirst []Status, lastRunAt *time.Time, th *Thresholds) CheckStatus {
	if len(runsNewestFirst) > MaxWindowRuns {
		runsNewestFirst = runsNewestFirst[:MaxWindowRuns]
	}
	cs := CheckStatus{
		ConfigurationID:   configurationID,
		ConfigurationName: configurationName,
		Status:            Evaluate(runsNewestFirst, th),
		RunsConsidered:    len(runsNewestFirst),
	}
	if lastRunAt != nil {
		t := *lastRunAt
		cs.LastRunAt = &t
	}
	return cs
}

// AggregateStatus is the worst-wins status over checks (§2.4); no checks → healthy.
func AggregateStatus(checks []CheckStatus) Status {
	worst := Healthy
	for _, c := range checks {
		worst = Worst(worst, c.Status)
	}
	return worst
}

// ComputeView builds the view from the enabled checks' statuses (§4.1):
// status = worst wins, healthyChecks = checks whose status is healthy
// (run-less checks count as healthy), totalChecks = number of checks.
// It returns nil when there are no enabled checks (existence gate).
func ComputeView(checks []CheckStatus) *View {
	if len(checks) == 0 {
		return nil
	}
	v := &View{Status: AggregateStatus(checks), TotalChecks: len(checks)}
	for _, c := range checks {
		if c.Status == Healthy {
			v.HealthyChecks++
		}
	}
	return v
}

// BaselineView is the view of a system with n enabled checks and no runs:
// {healthy, n, n}; nil for n ≤ 0 (existence gate).
func BaselineView(n int) *View {
	if n <= 0 {
		return nil
	}
	return &View{Status: Healthy, HealthyChecks: n, TotalChecks: n}
}

// SystemHealthStatus is the result of getSystemHealthStatus (§2.4).
type SystemHealthStatus struct {
	Status        Status        `json:"status"`
	EvaluatedAt   time.Time     `json:"evaluatedAt"`
	CheckStatuses []CheckStatus `json:"checkStatuses"`
}

// NewSystemHealthStatus assembles the system status from its enabled checks
// in assignment order; no checks → {healthy, now, []}.
func NewSystemHealthStatus(checks []CheckStatus, now time.Time) SystemHealthStatus {
	cs := make([]CheckStatus, len(checks))
	copy(cs, checks)
	return SystemHealthStatus{Status: AggregateStatus(checks), EvaluatedAt: now, CheckStatuses: cs}
}

// CheckScopedStatus is the status of one check of a system for a
// check-scoped health state (§2.4, §6): the check's evaluated status, or
// healthy when configurationID is not among checks.
func CheckScopedStatus(checks []CheckStatus, configurationID string) Status {
	for _, c := range checks {
		if c.ConfigurationID == configurationID {
			return c.Status
		}
	}
	return Healthy
}
