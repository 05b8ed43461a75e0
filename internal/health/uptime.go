package health

import (
	"slices"
	"time"
)

// Uptime on the evaluated status (issue 15): how much of a window a system's evaluated status
// (the entity's view, recorded as transitions) was healthy, degraded or unhealthy, with the time
// covered by maintenance windows counted as up and reported on its own. The store reads the
// transitions, maintenance windows and bounds; this file is the interval math.

// UptimeWindow is a named uptime window ending now.
type UptimeWindow string

// The uptime windows of the API, the status page and the badges.
const (
	UptimeWindow24h UptimeWindow = "24h"
	UptimeWindow7d  UptimeWindow = "7d"
	UptimeWindow30d UptimeWindow = "30d"
	UptimeWindow90d UptimeWindow = "90d"
)

// UptimeWindows lists the windows, shortest first.
func UptimeWindows() []UptimeWindow {
	return []UptimeWindow{UptimeWindow24h, UptimeWindow7d, UptimeWindow30d, UptimeWindow90d}
}

// Duration is the length of the window (0 for an unknown one).
func (w UptimeWindow) Duration() time.Duration {
	switch w {
	case UptimeWindow24h:
		return 24 * time.Hour
	case UptimeWindow7d:
		return 7 * 24 * time.Hour
	case UptimeWindow30d:
		return 30 * 24 * time.Hour
	case UptimeWindow90d:
		return 90 * 24 * time.Hour
	}
	return 0
}

// Valid reports whether w is one of UptimeWindows.
func (w UptimeWindow) Valid() bool { return w.Duration() > 0 }

// Days is the number of per-day rows reported for the window: one per UTC day for windows of a
// week or more, none for 24 h.
func (w UptimeWindow) Days() int {
	if d := w.Duration(); d >= 7*24*time.Hour {
		return int(d / (24 * time.Hour))
	}
	return 0
}

// Interval is the half-open time range [Start, End).
type Interval struct {
	Start, End time.Time
}

// Duration is End − Start, or 0 when the interval is empty.
func (i Interval) Duration() time.Duration {
	if !i.End.After(i.Start) {
		return 0
	}
	return i.End.Sub(i.Start)
}

// Clip returns the part of i inside [lo, hi) (possibly empty).
func (i Interval) Clip(lo, hi time.Time) Interval {
	if i.Start.Before(lo) {
		i.Start = lo
	}
	if i.End.After(hi) {
		i.End = hi
	}
	return i
}

// MergeIntervals returns the union of the non-empty intervals as disjoint intervals in time
// order (touching intervals are merged). The input is not modified.
func MergeIntervals(in []Interval) []Interval {
	out := make([]Interval, 0, len(in))
	for _, iv := range in {
		if iv.Duration() > 0 {
			out = append(out, iv)
		}
	}
	slices.SortFunc(out, func(a, b Interval) int { return a.Start.Compare(b.Start) })
	merged := out[:0]
	for _, iv := range out {
		if n := len(merged); n > 0 && !iv.Start.After(merged[n-1].End) {
			if iv.End.After(merged[n-1].End) {
				merged[n-1].End = iv.End
			}
			continue
		}
		merged = append(merged, iv)
	}
	return merged
}

// overlap is the total time of the disjoint, ordered intervals ms inside iv.
func overlap(iv Interval, ms []Interval) time.Duration {
	var d time.Duration
	for _, m := range ms {
		if !m.Start.Before(iv.End) {
			break
		}
		d += m.Clip(iv.Start, iv.End).Duration()
	}
	return d
}

// StatusChange is one change of a system's evaluated status (a stored transition).
type StatusChange struct {
	At   time.Time
	From *Status
	To   Status
}

// StatusSpan is a stretch of time with one evaluated status.
type StatusSpan struct {
	Interval
	Status Status
}

// UptimeInput is what the uptime of one window is computed from.
type UptimeInput struct {
	// From and To bound the window [From, To).
	From, To time.Time
	// ExistsFrom is when the system came into being for uptime purposes (its first run, else
	// its creation); time before it is not counted. Zero: the whole window counts.
	ExistsFrom time.Time
	// Before is the newest change before From (nil when none).
	Before *StatusChange
	// Changes are the changes with From ≤ At < To, in order.
	Changes []StatusChange
	// Current is the system's stored status (nil when it has no view).
	Current *Status
	// Maintenance lists the maintenance windows covering the system (any order, overlaps
	// allowed); their time counts as up and is reported separately.
	Maintenance []Interval
	// Days asks for that many per-day rows: the UTC day of To and the Days−1 days before it.
	Days int
}

// UptimeBreakdown splits covered time by what the system was: maintenance first (whatever its
// status), then its evaluated status. Healthy+Degraded+Unhealthy+Maintenance = Covered.
type UptimeBreakdown struct {
	Covered, Healthy, Degraded, Unhealthy, Maintenance time.Duration
}

// percent of d in the covered time (false when nothing is covered).
func (b UptimeBreakdown) percent(d time.Duration) (float64, bool) {
	if b.Covered <= 0 {
		return 0, false
	}
	return 100 * float64(d) / float64(b.Covered), true
}

// UptimePercent is the share of covered time that was up: healthy or in maintenance.
func (b UptimeBreakdown) UptimePercent() (float64, bool) { return b.percent(b.Healthy + b.Maintenance) }

// DegradedPercent is the share of covered time degraded (outside maintenance).
func (b UptimeBreakdown) DegradedPercent() (float64, bool) { return b.percent(b.Degraded) }

// UnhealthyPercent is the share of covered time unhealthy (outside maintenance).
func (b UptimeBreakdown) UnhealthyPercent() (float64, bool) { return b.percent(b.Unhealthy) }

// MaintenancePercent is the share of covered time in maintenance.
func (b UptimeBreakdown) MaintenancePercent() (float64, bool) { return b.percent(b.Maintenance) }

// DayWorstMaintenance is DayUptime.Worst for a day whose covered time was all maintenance.
const DayWorstMaintenance = "maintenance"

// DayUptime is one UTC day of the per-day bar.
type DayUptime struct {
	// Day is the day's start (00:00 UTC).
	Day time.Time
	UptimeBreakdown
	// Worst is the most severe evaluated status in force during the day's covered time outside
	// maintenance; DayWorstMaintenance when all of it was maintenance; "" when nothing of the
	// day is covered (before the system existed, or after To).
	Worst string
	// Incidents counts the day's changes into a non-healthy status from healthy (or from no
	// status): the starts of incidents. Degraded → unhealthy is the same incident.
	Incidents int
}

// UptimeReport is the uptime of a window and, when asked, of its days.
type UptimeReport struct {
	// Covered is the counted part of the window: [max(From, ExistsFrom), To).
	Covered Interval
	UptimeBreakdown
	Days []DayUptime
}

// InitialStatus is the evaluated status in force at the start of the window: the status the
// newest change before it went to; else the status the window's first change came from; else
// the current stored status (nothing changed since); else healthy (the baseline view of a
// system that has checks but no runs, design.md invariant 5).
func (in UptimeInput) InitialStatus() Status {
	if in.Before != nil && in.Before.To.Valid() {
		return in.Before.To
	}
	if len(in.Changes) > 0 {
		if f := in.Changes[0].From; f != nil && f.Valid() {
			return *f
		}
		return Healthy
	}
	if in.Current != nil && in.Current.Valid() {
		return *in.Current
	}
	return Healthy
}

// Timeline returns the evaluated status over the covered part of the window as ordered,
// non-empty spans. Changes before the covered part only set the status it starts with; changes
// with an invalid status are ignored.
func (in UptimeInput) Timeline() []StatusSpan {
	cov := in.covered()
	if cov.Duration() == 0 {
		return nil
	}
	cur := in.InitialStatus()
	start := cov.Start
	var out []StatusSpan
	emit := func(end time.Time, st Status) {
		if iv := (Interval{start, end}).Clip(cov.Start, cov.End); iv.Duration() > 0 {
			out = append(out, StatusSpan{Interval: iv, Status: st})
		}
	}
	for _, c := range in.Changes {
		if !c.To.Valid() {
			continue
		}
		if c.At.After(start) {
			emit(c.At, cur)
			start = c.At
		}
		cur = c.To
	}
	emit(cov.End, cur)
	// Neighbouring spans with one status (a change to the status already in force) are one.
	merged := out[:0]
	for _, s := range out {
		if n := len(merged); n > 0 && merged[n-1].Status == s.Status && merged[n-1].End.Equal(s.Start) {
			merged[n-1].End = s.End
			continue
		}
		merged = append(merged, s)
	}
	return merged
}

func (in UptimeInput) covered() Interval {
	iv := Interval{in.From.UTC(), in.To.UTC()}
	if !in.ExistsFrom.IsZero() && in.ExistsFrom.After(iv.Start) {
		iv.Start = in.ExistsFrom.UTC()
	}
	return iv
}

// breakdown splits [lo, hi) by maintenance and status.
func breakdown(spans []StatusSpan, maint []Interval, lo, hi time.Time) (UptimeBreakdown, Status, bool) {
	var b UptimeBreakdown
	worst, anyStatus := Healthy, false
	for _, s := range spans {
		iv := s.Clip(lo, hi)
		d := iv.Duration()
		if d == 0 {
			continue
		}
		b.Covered += d
		m := overlap(iv, maint)
		b.Maintenance += m
		rest := d - m
		if rest <= 0 {
			continue
		}
		switch s.Status {
		case Healthy:
			b.Healthy += rest
		case Degraded:
			b.Degraded += rest
		case Unhealthy:
			b.Unhealthy += rest
		}
		if !anyStatus || s.Status.Severity() > worst.Severity() {
			worst = s.Status
		}
		anyStatus = true
	}
	return b, worst, anyStatus
}

// IsIncidentStart reports whether a change opens an incident: into degraded or unhealthy from
// healthy or from no status.
func (c StatusChange) IsIncidentStart() bool {
	return c.To.Valid() && c.To != Healthy && (c.From == nil || *c.From == Healthy)
}

// ComputeUptime computes the uptime of the window and of its last Days UTC days.
func ComputeUptime(in UptimeInput) UptimeReport {
	cov := in.covered()
	rep := UptimeReport{Covered: cov}
	if cov.Duration() == 0 {
		rep.Covered = Interval{cov.End, cov.End}
	}
	spans := in.Timeline()
	maint := make([]Interval, len(in.Maintenance))
	for i, m := range in.Maintenance {
		maint[i] = m.Clip(cov.Start, cov.End)
	}
	maint = MergeIntervals(maint)
	rep.UptimeBreakdown, _, _ = breakdown(spans, maint, cov.Start, cov.End)
	if in.Days <= 0 {
		return rep
	}
	last := FloorDay(in.To.UTC())
	if !last.Before(in.To.UTC()) { // To at midnight: the day before is the last with time in it
		last = last.AddDate(0, 0, -1)
	}
	first := last.AddDate(0, 0, -(in.Days - 1))
	rep.Days = make([]DayUptime, 0, in.Days)
	for day := first; !day.After(last); day = day.AddDate(0, 0, 1) {
		next := day.AddDate(0, 0, 1)
		du := DayUptime{Day: day}
		b, worst, anyStatus := breakdown(spans, maint, day, next)
		du.UptimeBreakdown = b
		switch {
		case anyStatus:
			du.Worst = string(worst)
		case b.Covered > 0:
			du.Worst = DayWorstMaintenance
		}
		lo, hi := maxTime(day, cov.Start), minTime(next, cov.End)
		for _, c := range in.Changes {
			if !c.At.Before(lo) && c.At.Before(hi) && c.IsIncidentStart() {
				du.Incidents++
			}
		}
		rep.Days = append(rep.Days, du)
	}
	return rep
}

// FloorDay is the start (00:00 UTC) of t's UTC day.
func FloorDay(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
