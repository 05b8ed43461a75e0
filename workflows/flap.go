// The SystemHealth entity's flap detection (changeFlapDetection; health.FlapState).

package workflows

import (
	"time"

	"github.com/checkflow/checkflow/internal/health"
)

// flapChange is a check's or the system's flapping starting or stopping in a step.
type flapChange struct {
	configurationID string // "" for the system
	change          health.FlapChange
	status          health.Status
	percent         float64
}

// recordCheckFlap records a check's evaluated status after a run.
func (e *entity) recordCheckFlap(c *CheckState) *flapChange {
	if !e.flaps {
		return nil
	}
	if ch := c.Flap.Record(c.Status, e.st.FlapThresholds); ch != health.FlapUnchanged {
		return &flapChange{configurationID: c.ConfigurationID, change: ch, status: c.Status, percent: c.Flap.Percent}
	}
	return nil
}

// recordSystemFlap records the system's evaluated status after a step.
func (e *entity) recordSystemFlap(next *health.View) *flapChange {
	if !e.flaps || next == nil {
		return nil
	}
	if ch := e.st.Flap.Record(next.Status, e.st.FlapThresholds); ch != health.FlapUnchanged {
		return &flapChange{change: ch, status: next.Status, percent: e.st.Flap.Percent}
	}
	return nil
}

// flapEvents are the outbox events of a step's flap changes (the system's first).
func (e *entity) flapEvents(changes []flapChange, at time.Time) []Event {
	var out []Event
	for _, c := range changes {
		if ev := health.FlapEvent(c.change, e.systemID, c.configurationID, c.status, c.percent, e.st.FlapThresholds, at); ev != nil {
			out = append(out, Event{Type: ev.Type, Discriminator: c.configurationID, Payload: ev.Payload})
			e.logger.Info("flapping "+string(c.change), "configurationId", c.configurationID, "percentStateChange", c.percent)
		}
	}
	return out
}

// flapping tells whether the system or one of its checks flaps (no probe session then).
func (e *entity) flapping() bool {
	if !e.flaps {
		return false
	}
	if e.st.Flap.Flapping {
		return true
	}
	for _, c := range e.st.Checks {
		if c.Flap.Flapping {
			return true
		}
	}
	return false
}

// flapSnapshot is the flap state a step may change (restored with the windows when a step is
// applied again: adoptStored).
type flapSnapshot struct {
	system health.FlapState
	checks map[string]health.FlapState
}

func (e *entity) saveFlaps() flapSnapshot {
	s := flapSnapshot{system: e.st.Flap, checks: make(map[string]health.FlapState, len(e.st.Checks))}
	for _, c := range e.st.Checks {
		s.checks[c.ConfigurationID] = c.Flap
	}
	return s
}

func (e *entity) restoreFlaps(s flapSnapshot) {
	e.st.Flap = s.system
	for i := range e.st.Checks {
		if f, ok := s.checks[e.st.Checks[i].ConfigurationID]; ok {
			e.st.Checks[i].Flap = f
		}
	}
}
