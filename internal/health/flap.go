package health

import (
	"fmt"
	"math"
	"time"
)

// Flap detection (checkflow, beyond the reference; issue 13): Nagios' percent state change over
// the last 21 evaluated statuses of a system or a check, with hysteresis between a start and a
// stop threshold.
//
// The algorithm is the one of Nagios Core's base/flapping.c (check_for_service_flapping):
//
//   - the history holds the newest FlapHistorySize (21) statuses, so there are at most 20
//     changes between neighbours;
//   - the change between history[i-1] and history[i] (i = 1 … 20, oldest first) weighs
//     0.75 + (i−1)·0.5/19: linearly from 0.75 for the oldest possible change to 1.25 for the
//     newest (Nagios' low_curve_value and high_curve_value; the weights average 1.0). In integer
//     form the weight is (55 + 2i)/76;
//   - percent state change = Σ weights of the changed positions × 100 / 20, i.e.
//     5 × Σ(55 + 2i) / 76: 0 % for a constant history, 100 % when every neighbour differs;
//   - any difference counts (healthy → degraded, degraded → unhealthy, …), like Nagios' OK,
//     WARNING and CRITICAL;
//   - hysteresis: not flapping → flapping when the percentage is ≥ the start threshold;
//     flapping → not flapping when it is ≤ the stop threshold; strictly between them nothing
//     changes (Nagios' "undecided" band).
//
// Fewer than 21 statuses: Nagios initialises a new host's or service's state history with 21
// OK states (add_host/add_service), so the slots not filled yet count as healthy — the same
// assumption as checkflow's first view ({healthy, N, N} before any run, design.md invariant 5).
// The denominator stays 20 and the recorded statuses occupy the newest, heaviest slots: with the
// default thresholds a new object that alternates from its first evaluation turns flapping with
// its 9th status (51.5 %) when the first one failed, with its 10th when the first one was
// healthy; one whose first status is unhealthy starts at 6.25 % (one change in the newest
// slot).

// Flap detection defaults and bounds.
const (
	// FlapHistorySize is the number of evaluated statuses the percentage looks at (Nagios'
	// MAX_STATE_HISTORY_ENTRIES).
	FlapHistorySize = 21
	// DefaultFlapStartPercent is the start threshold when none is configured.
	DefaultFlapStartPercent = 50.0
	// DefaultFlapStopPercent is the stop threshold when none is configured.
	DefaultFlapStopPercent = 25.0
)

// Flapping events (design.md §3, "our events"): written to the outbox when a system (or a
// check) starts or stops flapping; automations may trigger on them.
const (
	EventFlappingStarted = "healthcheck.flapping_started"
	EventFlappingStopped = "healthcheck.flapping_stopped"
)

// FlapThresholds are the hysteresis thresholds of flap detection, in percent (configurable per
// system). A zero field means its default (start 50, stop 25), as Nagios treats a threshold ≤ 0
// as "use the global one".
type FlapThresholds struct {
	// StartPercent: a percent state change ≥ StartPercent starts flapping (0 < stop < start ≤ 100).
	StartPercent float64 `json:"startPercent,omitempty"`
	// StopPercent: a percent state change ≤ StopPercent stops flapping.
	StopPercent float64 `json:"stopPercent,omitempty"`
}

// DefaultFlapThresholds returns start 50 %, stop 25 %.
func DefaultFlapThresholds() FlapThresholds {
	return FlapThresholds{StartPercent: DefaultFlapStartPercent, StopPercent: DefaultFlapStopPercent}
}

// WithDefaults returns t with zero fields replaced by their defaults.
func (t FlapThresholds) WithDefaults() FlapThresholds {
	if t.StartPercent == 0 {
		t.StartPercent = DefaultFlapStartPercent
	}
	if t.StopPercent == 0 {
		t.StopPercent = DefaultFlapStopPercent
	}
	return t
}

// Validate checks the thresholds after defaults: both finite, 0 < stopPercent < startPercent ≤
// 100. Errors are a *ValidationError naming startPercent / stopPercent.
func (t FlapThresholds) Validate() error {
	d := t.WithDefaults()
	var errs []FieldError
	bad := func(v float64) bool { return math.IsNaN(v) || math.IsInf(v, 0) || v <= 0 || v > 100 }
	if bad(d.StartPercent) {
		errs = append(errs, FieldError{"startPercent", "must be a number greater than 0 and at most 100"})
	}
	if bad(d.StopPercent) {
		errs = append(errs, FieldError{"stopPercent", "must be a number greater than 0 and at most 100"})
	}
	if len(errs) == 0 && d.StopPercent >= d.StartPercent {
		errs = append(errs, FieldError{"stopPercent", fmt.Sprintf("must be less than startPercent (%g)", d.StartPercent)})
	}
	return newValidationError(errs)
}

// FlapChange is what recording a status did to the flapping state.
type FlapChange string

// Flap changes.
const (
	// FlapUnchanged: still flapping, or still not flapping.
	FlapUnchanged FlapChange = ""
	// FlapStarted: the percentage reached the start threshold; emit EventFlappingStarted.
	FlapStarted FlapChange = "started"
	// FlapStopped: the percentage fell to the stop threshold; emit EventFlappingStopped.
	FlapStopped FlapChange = "stopped"
)

// FlapState is the flap detection state of one system or one check. It is a small value meant
// for Temporal workflow state: JSON-serialisable, no maps, no clock, and every result depends
// only on the statuses recorded and the thresholds passed. The zero value is a new object (21
// healthy statuses, not flapping). The same type serves a system (its evaluated view status)
// and a check (its evaluated status).
type FlapState struct {
	// History holds the recorded statuses, oldest first, at most FlapHistorySize: one letter
	// per status, "h" healthy, "d" degraded, "u" unhealthy (compact in workflow histories).
	History string `json:"history,omitempty"`
	// Flapping is the current flapping state.
	Flapping bool `json:"flapping,omitempty"`
	// Percent is the percent state change after the last recorded status.
	Percent float64 `json:"percent,omitempty"`
}

// flapLetter is the History letter of a valid status.
func flapLetter(s Status) (byte, bool) {
	switch s {
	case Healthy:
		return 'h', true
	case Degraded:
		return 'd', true
	case Unhealthy:
		return 'u', true
	}
	return 0, false
}

// Statuses returns the recorded statuses, oldest first (an unknown letter reads as "").
func (f FlapState) Statuses() []Status {
	out := make([]Status, len(f.History))
	for i := 0; i < len(f.History); i++ {
		switch f.History[i] {
		case 'h':
			out[i] = Healthy
		case 'd':
			out[i] = Degraded
		case 'u':
			out[i] = Unhealthy
		}
	}
	return out
}

// Record appends the next evaluated status, recomputes Percent and applies the hysteresis with
// th (zero fields take their defaults; invalid thresholds are replaced by the defaults). It
// reports FlapStarted or FlapStopped when Flapping changed. An invalid status is ignored
// (nothing changes, FlapUnchanged). The receiver is updated in place; it shares no memory with
// earlier copies.
func (f *FlapState) Record(s Status, th FlapThresholds) FlapChange {
	letter, ok := flapLetter(s)
	if !ok {
		return FlapUnchanged
	}
	h := f.History + string(letter)
	if len(h) > FlapHistorySize {
		h = h[len(h)-FlapHistorySize:]
	}
	f.History = h
	f.Percent = flapPercent(h)
	return f.apply(th)
}

// apply runs the hysteresis on f.Percent.
func (f *FlapState) apply(th FlapThresholds) FlapChange {
	th = th.WithDefaults()
	if th.Validate() != nil {
		th = DefaultFlapThresholds()
	}
	switch {
	case !f.Flapping && f.Percent >= th.StartPercent:
		f.Flapping = true
		return FlapStarted
	case f.Flapping && f.Percent <= th.StopPercent:
		f.Flapping = false
		return FlapStopped
	}
	return FlapUnchanged
}

// PercentStateChange is Nagios' weighted percent state change of statuses (oldest first; only
// the newest FlapHistorySize count, slots not filled yet count as healthy). Invalid statuses
// compare as their own value.
func PercentStateChange(statuses []Status) float64 {
	if len(statuses) > FlapHistorySize {
		statuses = statuses[len(statuses)-FlapHistorySize:]
	}
	var h []byte
	for _, s := range statuses {
		letter, ok := flapLetter(s)
		if !ok {
			letter = '?'
		}
		h = append(h, letter)
	}
	return flapPercent(string(h))
}

// flapPercent computes the percentage of a History string (≤ FlapHistorySize letters, oldest
// first), padding the missing oldest slots with healthy. Integer arithmetic up to the one final
// division keeps the result exact where it can be (e.g. exactly 50 or 100).
func flapPercent(h string) float64 {
	var slots [FlapHistorySize]byte
	pad := FlapHistorySize - len(h)
	for i := range slots {
		if i < pad {
			slots[i] = 'h'
		} else {
			slots[i] = h[i-pad]
		}
	}
	// weight(i) = 0.75 + (i-1)·(1.25-0.75)/19 = (55 + 2i)/76; percent = Σ weight × 100/20.
	numerator := 0
	for i := 1; i < FlapHistorySize; i++ {
		if slots[i] != slots[i-1] {
			numerator += 55 + 2*i
		}
	}
	return float64(5*numerator) / 76
}

// FlapPayload is the payload of EventFlappingStarted / EventFlappingStopped: {systemId,
// configurationId (only for a check's flapping), status (the current evaluated status),
// percentStateChange (rounded to 0.01), startThreshold, stopThreshold, timestamp}.
func FlapPayload(systemID, configurationID string, status Status, percent float64, th FlapThresholds, at time.Time) map[string]any {
	th = th.WithDefaults()
	p := map[string]any{
		"systemId":           systemID,
		"status":             string(status),
		"percentStateChange": math.Round(percent*100) / 100,
		"startThreshold":     th.StartPercent,
		"stopThreshold":      th.StopPercent,
		"timestamp":          FormatTimestamp(at),
	}
	if configurationID != "" {
		p["configurationId"] = configurationID
	}
	return p
}

// FlapEvent returns the outbox event of a flap change (nil for FlapUnchanged), with
// FlapPayload. configurationID is "" for a system's flapping.
func FlapEvent(change FlapChange, systemID, configurationID string, status Status, percent float64, th FlapThresholds, at time.Time) *TriggerEvent {
	var typ string
	switch change {
	case FlapStarted:
		typ = EventFlappingStarted
	case FlapStopped:
		typ = EventFlappingStopped
	default:
		return nil
	}
	return &TriggerEvent{Type: typ, Payload: FlapPayload(systemID, configurationID, status, percent, th, at)}
}

// RebuildCheckFlap rebuilds a check's flap state from its window of run statuses (newest first,
// as loaded): the evaluated status after each of the last FlapHistorySize runs is the
// evaluation of the window from that run on, so a new lifetime of an entity goes on with the
// history it had (the flapping flag follows the hysteresis over the rebuilt history).
func RebuildCheckFlap(recentNewestFirst []Status, th *Thresholds, paused bool, fth FlapThresholds) FlapState {
	var f FlapState
	for i := min(len(recentNewestFirst), FlapHistorySize) - 1; i >= 0; i-- {
		f.Record(EvaluateCheck(recentNewestFirst[i:], th, paused), fth)
	}
	return f
}
