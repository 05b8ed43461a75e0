package health

import (
	"reflect"
	"slices"
	"testing"
	"time"
)

func statuses(n int, s Status) []Status {
	out := make([]Status, n)
	for i := range out {
		out[i] = s
	}
	return out
}

func TestWindowFold(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)
	later, earlier := t0.Add(time.Second), t0.Add(-time.Second)
	window := &Thresholds{Mode: ModeWindow, WindowSize: 3, Degraded: FailureThreshold{MinFailureCount: 1}, Unhealthy: FailureThreshold{MinFailureCount: 2}}
	cases := []struct {
		name   string
		w      Window
		status Status
		at     time.Time
		th     *Thresholds
		paused bool
		want   Window
	}{
		{"first run", Window{}, Healthy, t0, nil, false,
			Window{Recent: []Status{Healthy}, LastRunAt: &t0, Status: Healthy}},
		{"one failure after successes (default: degraded from 2)", Window{Recent: []Status{Healthy, Healthy}, LastRunAt: &t0}, Unhealthy, later, nil, false,
			Window{Recent: []Status{Unhealthy, Healthy, Healthy}, LastRunAt: &later, Status: Healthy}},
		{"second failure: degraded", Window{Recent: []Status{Unhealthy, Healthy}, LastRunAt: &t0}, Degraded, later, nil, false,
			Window{Recent: []Status{Degraded, Unhealthy, Healthy}, LastRunAt: &later, Status: Degraded}},
		{"fifth failure: unhealthy", Window{Recent: statuses(4, Unhealthy), LastRunAt: &t0}, Unhealthy, later, nil, false,
			Window{Recent: statuses(5, Unhealthy), LastRunAt: &later, Status: Unhealthy}},
		{"a success ends the streak", Window{Recent: statuses(7, Unhealthy), LastRunAt: &t0, Status: Unhealthy}, Healthy, later, nil, false,
			Window{Recent: append([]Status{Healthy}, statuses(7, Unhealthy)...), LastRunAt: &later, Status: Healthy}},
		{"an older run does not move the last run back", Window{Recent: []Status{Healthy}, LastRunAt: &t0}, Healthy, earlier, nil, false,
			Window{Recent: []Status{Healthy, Healthy}, LastRunAt: &t0, Status: Healthy}},
		{"paused counts as healthy", Window{Recent: statuses(9, Unhealthy), LastRunAt: &t0}, Unhealthy, later, nil, true,
			Window{Recent: statuses(10, Unhealthy), LastRunAt: &later, Status: Healthy}},
		{"window thresholds", Window{Recent: []Status{Healthy, Unhealthy, Unhealthy}, LastRunAt: &t0}, Healthy, later, window, false,
			Window{Recent: []Status{Healthy, Healthy, Unhealthy, Unhealthy}, LastRunAt: &later, Status: Degraded}},
		{"the window keeps the newest 100", Window{Recent: append(statuses(99, Healthy), Unhealthy), LastRunAt: &t0}, Degraded, later, nil, false,
			Window{Recent: append([]Status{Degraded}, statuses(99, Healthy)...), LastRunAt: &later, Status: Healthy}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := slices.Clone(c.w.Recent)
			got := c.w.Fold(c.status, c.at, c.th, c.paused)
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("Fold = %+v (last %v), want %+v (last %v)", got, *got.LastRunAt, c.want, *c.want.LastRunAt)
			}
			if !slices.Equal(c.w.Recent, before) {
				t.Errorf("Fold changed the receiver's window: %v, was %v", c.w.Recent, before)
			}
			if got.RunsConsidered() != min(len(c.want.Recent), MaxWindowRuns) {
				t.Errorf("RunsConsidered = %d", got.RunsConsidered())
			}
		})
	}
}

func TestStepDriver(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		runs []FoldedRun
		want string
	}{
		{"no runs", nil, ""},
		{"nothing changed: the first run's check", []FoldedRun{{"a", false}, {"b", false}}, "a"},
		{"the check that changed", []FoldedRun{{"a", false}, {"b", true}, {"c", false}}, "b"},
		{"the first of several that changed", []FoldedRun{{"a", false}, {"b", true}, {"c", true}}, "b"},
		{"the first run changed", []FoldedRun{{"a", true}, {"b", true}}, "a"},
	}
	for _, c := range cases {
		if got := StepDriver(c.runs); got != c.want {
			t.Errorf("%s: StepDriver = %q, want %q", c.name, got, c.want)
		}
	}
}

func TestNextStep(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)
	view := func(s Status, healthy, total int) *View {
		return &View{Status: s, HealthyChecks: healthy, TotalChecks: total}
	}
	cases := []struct {
		name       string
		prev, next *View
		transition *StatusTransition
		events     []string
	}{
		{"equal views: nothing", view(Healthy, 2, 2), view(Healthy, 2, 2), nil, nil},
		{"counts change, status does not: no transition, no event", view(Degraded, 1, 3), view(Degraded, 0, 3), nil, nil},
		{"healthy → degraded", view(Healthy, 2, 2), view(Degraded, 1, 2),
			&StatusTransition{ConfigurationID: "drv", From: Healthy, To: Degraded}, []string{EventSystemDegraded, EventSystemHealthChanged}},
		{"degraded → unhealthy", view(Degraded, 1, 2), view(Unhealthy, 0, 2),
			&StatusTransition{ConfigurationID: "drv", From: Degraded, To: Unhealthy}, []string{EventSystemHealthChanged}},
		{"unhealthy → healthy", view(Unhealthy, 0, 2), view(Healthy, 2, 2),
			&StatusTransition{ConfigurationID: "drv", From: Unhealthy, To: Healthy}, []string{EventSystemHealthy, EventSystemHealthChanged}},
		{"first view (no prev): no transition", nil, view(Unhealthy, 0, 1), nil, nil},
		{"tombstone (no next): no transition", view(Unhealthy, 0, 1), nil, nil, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := NextStep("sys", c.prev, c.next, "drv", at)
			if s.Next != c.next {
				t.Errorf("Next = %v, want the next view", s.Next)
			}
			if !reflect.DeepEqual(s.Transition, c.transition) {
				t.Errorf("Transition = %+v, want %+v", s.Transition, c.transition)
			}
			var types []string
			for _, ev := range s.Events {
				types = append(types, ev.Type)
				if ev.Payload["systemId"] != "sys" {
					t.Errorf("%s payload %v: want systemId sys", ev.Type, ev.Payload)
				}
			}
			if !slices.Equal(types, c.events) {
				t.Errorf("events %v, want %v", types, c.events)
			}
			if ViewsEqual(c.prev, c.next) != (c.transition == nil && c.events == nil && (c.prev == nil) == (c.next == nil) && (c.prev == nil || *c.prev == *c.next)) {
				t.Errorf("ViewsEqual(%v, %v) = %v", c.prev, c.next, ViewsEqual(c.prev, c.next))
			}
		})
	}
}

func TestViewsEqual(t *testing.T) {
	t.Parallel()
	a, b, c := &View{Status: Healthy, HealthyChecks: 1, TotalChecks: 1}, &View{Status: Healthy, HealthyChecks: 1, TotalChecks: 1}, &View{Status: Healthy, HealthyChecks: 1, TotalChecks: 2}
	cases := []struct {
		x, y *View
		want bool
	}{{nil, nil, true}, {a, nil, false}, {nil, a, false}, {a, b, true}, {a, c, false}}
	for _, k := range cases {
		if got := ViewsEqual(k.x, k.y); got != k.want {
			t.Errorf("ViewsEqual(%v, %v) = %v, want %v", k.x, k.y, got, k.want)
		}
	}
}

func TestStepTime(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)
	s := func(d time.Duration) time.Time { return now.Add(d) }
	cases := []struct {
		name   string
		ends   []time.Time
		redate time.Duration
		want   time.Time
	}{
		{"no runs: now", nil, time.Minute, now},
		{"runs just before now: now", []time.Time{s(-2 * time.Second), s(-time.Second)}, time.Minute, now},
		{"a run ends after now (time stood still): its end", []time.Time{s(-time.Second), s(300 * time.Millisecond)}, time.Minute, s(300 * time.Millisecond)},
		{"runs that waited longer than redateAfter: the newest end", []time.Time{s(-5 * time.Minute), s(-2 * time.Minute)}, time.Minute, s(-2 * time.Minute)},
		{"waited, but redating off: now", []time.Time{s(-5 * time.Minute)}, 0, now},
		{"waited exactly redateAfter: now", []time.Time{s(-time.Minute)}, time.Minute, now},
	}
	for _, c := range cases {
		if got := StepTime(now, c.ends, c.redate); !got.Equal(c.want) {
			t.Errorf("%s: StepTime = %v, want %v", c.name, got, c.want)
		}
	}
}
