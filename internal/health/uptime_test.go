package health

import (
	"math"
	"reflect"
	"testing"
	"time"
)

func ut(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func stp(s Status) *Status { return &s }

func TestUptimeWindows(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		w    UptimeWindow
		d    time.Duration
		days int
	}{
		{"24h", 24 * time.Hour, 0},
		{"7d", 7 * 24 * time.Hour, 7},
		{"30d", 30 * 24 * time.Hour, 30},
		{"90d", 90 * 24 * time.Hour, 90},
		{"1y", 0, 0},
		{"", 0, 0},
	} {
		if got := tc.w.Duration(); got != tc.d {
			t.Errorf("%q.Duration() = %v, want %v", tc.w, got, tc.d)
		}
		if got := tc.w.Days(); got != tc.days {
			t.Errorf("%q.Days() = %d, want %d", tc.w, got, tc.days)
		}
		if tc.w.Valid() != (tc.d > 0) {
			t.Errorf("%q.Valid() = %v", tc.w, tc.w.Valid())
		}
	}
	if len(UptimeWindows()) != 4 {
		t.Fatalf("UptimeWindows() = %v", UptimeWindows())
	}
}

func TestMergeIntervals(t *testing.T) {
	t.Parallel()
	a, b, c, d, e := ut("2026-01-01T00:00:00Z"), ut("2026-01-01T01:00:00Z"), ut("2026-01-01T02:00:00Z"), ut("2026-01-01T03:00:00Z"), ut("2026-01-01T04:00:00Z")
	for _, tc := range []struct {
		name string
		in   []Interval
		want []Interval
	}{
		{"empty", nil, []Interval{}},
		{"drops empty and inverted", []Interval{{b, b}, {c, a}}, []Interval{}},
		{"disjoint are sorted", []Interval{{c, d}, {a, b}}, []Interval{{a, b}, {c, d}}},
		{"overlapping merge", []Interval{{a, c}, {b, d}}, []Interval{{a, d}}},
		{"touching merge", []Interval{{a, b}, {b, c}}, []Interval{{a, c}}},
		{"contained", []Interval{{a, e}, {b, c}, {c, d}}, []Interval{{a, e}}},
	} {
		in := append([]Interval(nil), tc.in...)
		got := MergeIntervals(tc.in)
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: MergeIntervals = %v, want %v", tc.name, got, tc.want)
		}
		if !reflect.DeepEqual(in, tc.in) {
			t.Errorf("%s: the input was modified", tc.name)
		}
	}
}

func TestInitialStatus(t *testing.T) {
	t.Parallel()
	from := ut("2026-01-02T00:00:00Z")
	for _, tc := range []struct {
		name string
		in   UptimeInput
		want Status
	}{
		{"the newest change before the window", UptimeInput{Before: &StatusChange{At: from.Add(-time.Hour), From: stp(Healthy), To: Unhealthy},
			Changes: []StatusChange{{At: from.Add(time.Hour), From: stp(Degraded), To: Healthy}}, Current: stp(Healthy)}, Unhealthy},
		{"else the first change's from", UptimeInput{Changes: []StatusChange{{At: from.Add(time.Hour), From: stp(Degraded), To: Healthy}}, Current: stp(Healthy)}, Degraded},
		{"a first change from nothing starts healthy", UptimeInput{Changes: []StatusChange{{At: from.Add(time.Hour), To: Unhealthy}}, Current: stp(Unhealthy)}, Healthy},
		{"else the current status", UptimeInput{Current: stp(Degraded)}, Degraded},
		{"else healthy", UptimeInput{}, Healthy},
	} {
		if got := tc.in.InitialStatus(); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

// TestComputeUptime covers the window's figures: status time, maintenance counted as up (and
// taken out of the status it overlaps), time before the system existed not counted.
func TestComputeUptime(t *testing.T) {
	t.Parallel()
	from, to := ut("2026-01-01T00:00:00Z"), ut("2026-01-02T00:00:00Z") // 24 h
	h := func(n float64) time.Duration { return time.Duration(n * float64(time.Hour)) }
	at := func(hours float64) time.Time { return from.Add(h(hours)) }
	type want struct {
		covered, healthy, degraded, unhealthy, maint time.Duration
		uptime, maintPct                             float64
	}
	for _, tc := range []struct {
		name string
		in   UptimeInput
		want want
	}{
		{"healthy all day", UptimeInput{From: from, To: to}, want{covered: h(24), healthy: h(24), uptime: 100}},
		{"unhealthy from the previous day", UptimeInput{From: from, To: to, Before: &StatusChange{At: from.Add(-h(1)), To: Unhealthy},
			Changes: []StatusChange{{At: at(6), From: stp(Unhealthy), To: Healthy}}},
			want{covered: h(24), healthy: h(18), unhealthy: h(6), uptime: 75}},
		{"two incidents", UptimeInput{From: from, To: to, Changes: []StatusChange{
			{At: at(2), From: stp(Healthy), To: Degraded}, {At: at(3), From: stp(Degraded), To: Unhealthy},
			{At: at(4), From: stp(Unhealthy), To: Healthy}, {At: at(12), From: stp(Healthy), To: Unhealthy}, {At: at(18), From: stp(Unhealthy), To: Healthy}}},
			want{covered: h(24), healthy: h(16), degraded: h(1), unhealthy: h(7), uptime: 100 * 16.0 / 24}},
		{"the current status when nothing changed", UptimeInput{From: from, To: to, Current: stp(Degraded)},
			want{covered: h(24), degraded: h(24), uptime: 0}},
		{"time before the system existed does not count", UptimeInput{From: from, To: to, ExistsFrom: at(12),
			Changes: []StatusChange{{At: at(18), From: stp(Healthy), To: Unhealthy}}},
			want{covered: h(12), healthy: h(6), unhealthy: h(6), uptime: 50}},
		{"changes before the system existed only set its first status", UptimeInput{From: from, To: to, ExistsFrom: at(6),
			Before: &StatusChange{At: at(-30), To: Unhealthy}, Changes: []StatusChange{{At: at(4), From: stp(Unhealthy), To: Healthy}}},
			want{covered: h(18), healthy: h(18), uptime: 100}},
		{"maintenance counts as up and is taken out of the status", UptimeInput{From: from, To: to,
			Changes:     []StatusChange{{At: at(10), From: stp(Healthy), To: Unhealthy}, {At: at(14), From: stp(Unhealthy), To: Healthy}},
			Maintenance: []Interval{{at(9), at(12)}, {at(11), at(13)}, {at(-5), at(1)}, {at(30), at(40)}}},
			want{covered: h(24), healthy: h(24 - 4 - 2), unhealthy: h(1), maint: h(4 + 1), uptime: 100 * 23.0 / 24, maintPct: 100 * 5.0 / 24}},
		{"maintenance before the system existed is not counted", UptimeInput{From: from, To: to, ExistsFrom: at(12),
			Maintenance: []Interval{{at(6), at(18)}}},
			want{covered: h(12), healthy: h(6), maint: h(6), uptime: 100, maintPct: 50}},
		{"a change to the status in force changes nothing", UptimeInput{From: from, To: to, Changes: []StatusChange{
			{At: at(1), From: stp(Healthy), To: Healthy}, {At: at(23), From: stp(Healthy), To: Degraded}}},
			want{covered: h(24), healthy: h(23), degraded: h(1), uptime: 100 * 23.0 / 24}},
		{"an invalid change is ignored", UptimeInput{From: from, To: to, Changes: []StatusChange{{At: at(1), To: "bogus"}}},
			want{covered: h(24), healthy: h(24), uptime: 100}},
	} {
		rep := ComputeUptime(tc.in)
		b := rep.UptimeBreakdown
		got := want{covered: b.Covered, healthy: b.Healthy, degraded: b.Degraded, unhealthy: b.Unhealthy, maint: b.Maintenance}
		got.uptime, _ = b.UptimePercent()
		got.maintPct, _ = b.MaintenancePercent()
		if got.covered != tc.want.covered || got.healthy != tc.want.healthy || got.degraded != tc.want.degraded ||
			got.unhealthy != tc.want.unhealthy || got.maint != tc.want.maint || !near(got.uptime, tc.want.uptime) || !near(got.maintPct, tc.want.maintPct) {
			t.Errorf("%s:\n got %+v\nwant %+v", tc.name, got, tc.want)
		}
		if sum := b.Healthy + b.Degraded + b.Unhealthy + b.Maintenance; sum != b.Covered {
			t.Errorf("%s: parts add up to %v, covered %v", tc.name, sum, b.Covered)
		}
	}
}

func TestComputeUptimeWithNothingCovered(t *testing.T) {
	t.Parallel()
	from, to := ut("2026-01-01T00:00:00Z"), ut("2026-01-02T00:00:00Z")
	rep := ComputeUptime(UptimeInput{From: from, To: to, ExistsFrom: to.Add(time.Hour), Days: 2})
	if rep.Covered.Duration() != 0 {
		t.Fatalf("covered %v", rep.Covered)
	}
	if _, ok := rep.UptimePercent(); ok {
		t.Fatal("an uptime percent without covered time")
	}
	for _, d := range rep.Days {
		if d.Worst != "" || d.Covered != 0 {
			t.Errorf("day %v: %+v, want no data", d.Day, d)
		}
	}
}

// TestComputeUptimeDays covers the per-day rows of the 90-day bar: the worst status of each
// day, its uptime, its incidents, days before the system existed and days all in maintenance.
func TestComputeUptimeDays(t *testing.T) {
	t.Parallel()
	to := ut("2026-03-10T06:00:00Z")
	day := func(n int) time.Time { return ut("2026-03-10T00:00:00Z").AddDate(0, 0, -n) } // day(0) is today
	in := UptimeInput{
		From: to.Add(-7 * 24 * time.Hour), To: to, Days: 7,
		ExistsFrom: day(5).Add(12 * time.Hour), // the system began at noon six days ago
		Changes: []StatusChange{
			{At: day(4).Add(1 * time.Hour), From: stp(Healthy), To: Degraded},
			{At: day(4).Add(2 * time.Hour), From: stp(Degraded), To: Unhealthy}, // same incident
			{At: day(4).Add(3 * time.Hour), From: stp(Unhealthy), To: Healthy},
			{At: day(4).Add(20 * time.Hour), From: stp(Healthy), To: Degraded}, // second incident
			{At: day(3).Add(6 * time.Hour), From: stp(Degraded), To: Healthy},
			{At: day(1).Add(10 * time.Hour), From: stp(Healthy), To: Unhealthy}, // during maintenance
			{At: day(1).Add(11 * time.Hour), From: stp(Unhealthy), To: Healthy},
		},
		Maintenance: []Interval{{day(2), day(2).Add(24 * time.Hour)}, {day(1).Add(9 * time.Hour), day(1).Add(12 * time.Hour)}},
	}
	rep := ComputeUptime(in)
	type row struct {
		day       time.Time
		worst     string
		uptime    float64 // -1: none
		incidents int
	}
	want := []row{
		{day(6), "", -1, 0},
		{day(5), "healthy", 100, 0},
		{day(4), "unhealthy", 100 * (24 - 2 - 4) / 24.0, 2},
		{day(3), "degraded", 100 * 18 / 24.0, 0},
		{day(2), DayWorstMaintenance, 100, 0},
		{day(1), "healthy", 100, 1},
		{day(0), "healthy", 100, 0},
	}
	if len(rep.Days) != len(want) {
		t.Fatalf("%d days, want %d: %+v", len(rep.Days), len(want), rep.Days)
	}
	for i, w := range want {
		d := rep.Days[i]
		up, ok := d.UptimePercent()
		if !ok {
			up = -1
		}
		if !d.Day.Equal(w.day) || d.Worst != w.worst || !near(up, w.uptime) || d.Incidents != w.incidents {
			t.Errorf("day %d: {%v %q %.4f %d}, want {%v %q %.4f %d}", i, d.Day, d.Worst, up, d.Incidents, w.day, w.worst, w.uptime, w.incidents)
		}
	}
	if got := rep.Days[6].Covered; got != 6*time.Hour {
		t.Errorf("today covers %v, want 6h (until now)", got)
	}
	if got := rep.Days[5].Maintenance; got != 3*time.Hour {
		t.Errorf("yesterday's maintenance %v, want 3h", got)
	}
	// The window's totals are the days' totals plus the part of the window before day(6).
	var sum time.Duration
	for _, d := range rep.Days {
		sum += d.Covered
	}
	if sum != rep.Covered.Duration() {
		t.Errorf("days cover %v, the window %v", sum, rep.Covered.Duration())
	}
}

func TestComputeUptimeDaysEndingAtMidnight(t *testing.T) {
	t.Parallel()
	to := ut("2026-03-10T00:00:00Z")
	rep := ComputeUptime(UptimeInput{From: to.Add(-7 * 24 * time.Hour), To: to, Days: 7})
	if len(rep.Days) != 7 || !rep.Days[6].Day.Equal(ut("2026-03-09T00:00:00Z")) || !rep.Days[0].Day.Equal(ut("2026-03-03T00:00:00Z")) {
		t.Fatalf("days %v … %v", rep.Days[0].Day, rep.Days[len(rep.Days)-1].Day)
	}
	for _, d := range rep.Days {
		if d.Covered != 24*time.Hour || d.Worst != "healthy" {
			t.Errorf("%v: %+v", d.Day, d)
		}
	}
}

func TestIsIncidentStart(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		c    StatusChange
		want bool
	}{
		{StatusChange{From: stp(Healthy), To: Degraded}, true},
		{StatusChange{From: stp(Healthy), To: Unhealthy}, true},
		{StatusChange{To: Unhealthy}, true},
		{StatusChange{From: stp(Degraded), To: Unhealthy}, false},
		{StatusChange{From: stp(Unhealthy), To: Degraded}, false},
		{StatusChange{From: stp(Unhealthy), To: Healthy}, false},
		{StatusChange{To: Healthy}, false},
	} {
		if got := tc.c.IsIncidentStart(); got != tc.want {
			t.Errorf("%v → %s: %v, want %v", tc.c.From, tc.c.To, got, tc.want)
		}
	}
}
