package statuspage

import (
	"strings"
	"testing"
	"time"

	"github.com/checkflow/checkflow/internal/health"
	"github.com/checkflow/checkflow/internal/store"
)

var now = time.Date(2026, 5, 30, 12, 34, 56, 0, time.UTC)

func ptr[T any](v T) *T { return &v }

func TestOverall(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		keys []string
		want string
	}{
		{nil, StatusUnknown},
		{[]string{StatusUnknown}, StatusUnknown},
		{[]string{StatusHealthy, StatusUnknown}, StatusHealthy},
		{[]string{StatusHealthy, StatusMaintenance}, StatusMaintenance},
		{[]string{StatusMaintenance, StatusDegraded, StatusHealthy}, StatusDegraded},
		{[]string{StatusDegraded, StatusUnhealthy, StatusMaintenance}, StatusUnhealthy},
	} {
		if got := Overall(tc.keys); got != tc.want {
			t.Errorf("Overall(%v) = %q, want %q", tc.keys, got, tc.want)
		}
	}
}

func TestFormatPercentAndDuration(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   float64
		want string
	}{
		{100, "100.00 %"}, {99.999, "99.99 %"}, {99.95, "99.95 %"}, {95.833333, "95.83 %"}, {0, "0.00 %"}, {-1, "0.00 %"}, {150, "100.00 %"},
	} {
		if got := FormatPercent(tc.in); got != tc.want {
			t.Errorf("FormatPercent(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
	for _, tc := range []struct {
		in   time.Duration
		want string
	}{
		{-time.Second, "0 s"}, {45 * time.Second, "45 s"}, {12 * time.Minute, "12 min"}, {2*time.Hour + 5*time.Minute, "2 h 5 min"},
		{3 * time.Hour, "3 h"}, {76 * time.Hour, "3 d 4 h"}, {48 * time.Hour, "2 d"},
	} {
		if got := FormatDuration(tc.in); got != tc.want {
			t.Errorf("FormatDuration(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// uptimeOf is a store.Uptime whose covered time splits as given (hours).
func uptimeOf(healthy, degraded, unhealthy, maint float64, runs, healthyRuns int64) store.Uptime {
	h := func(v float64) time.Duration { return time.Duration(v * float64(time.Hour)) }
	u := store.Uptime{Runs: runs, HealthyRuns: healthyRuns}
	u.UptimeBreakdown = health.UptimeBreakdown{Covered: h(healthy + degraded + unhealthy + maint), Healthy: h(healthy), Degraded: h(degraded),
		Unhealthy: h(unhealthy), Maintenance: h(maint)}
	return u
}

// TestBuildSystemStatus: the display status, its text, since and the banner for each kind of
// system, and the uptime figures are the store's, formatted.
func TestBuildSystemStatus(t *testing.T) {
	t.Parallel()
	since := now.Add(-2*time.Hour - 5*time.Minute)
	for _, tc := range []struct {
		name       string
		sd         SystemData
		status     string
		text       string
		evaluated  string
		wantSince  bool
		checksText string
	}{
		{"healthy", SystemData{Status: health.Healthy, InStatusSince: &since, HealthyChecks: 2, TotalChecks: 2}, StatusHealthy, "Operational", StatusHealthy, true, "2 of 2 checks healthy"},
		{"degraded", SystemData{Status: health.Degraded, InStatusSince: &since, HealthyChecks: 1, TotalChecks: 2}, StatusDegraded, "Degraded", StatusDegraded, true, "1 of 2 checks healthy"},
		{"unhealthy", SystemData{Status: health.Unhealthy, InStatusSince: &since, TotalChecks: 1}, StatusUnhealthy, "Outage", StatusUnhealthy, true, "0 of 1 checks healthy"},
		{"maintenance", SystemData{Status: health.Unhealthy, InStatusSince: &since, InMaintenance: true, TotalChecks: 1}, StatusMaintenance, "Maintenance", StatusUnhealthy, true, "0 of 1 checks healthy"},
		{"no-data", SystemData{Status: health.Healthy, NoData: true}, StatusUnknown, "No data", StatusUnknown, false, "no enabled check"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.sd.System = store.System{ID: "sys-" + tc.name, Name: "System " + tc.name}
			tc.sd.Uptime = map[health.UptimeWindow]store.Uptime{health.UptimeWindow24h: uptimeOf(22, 1, 0, 1, 96, 90)}
			p := Build(Input{Title: "T", Now: now, Systems: []SystemData{tc.sd}})
			if len(p.Systems) != 1 {
				t.Fatalf("%d systems", len(p.Systems))
			}
			sv := p.Systems[0]
			if sv.Status != tc.status || sv.StatusText != tc.text || sv.Evaluated != tc.evaluated || sv.ChecksText != tc.checksText {
				t.Errorf("got %q %q evaluated %q checks %q", sv.Status, sv.StatusText, sv.Evaluated, sv.ChecksText)
			}
			if (sv.Since != nil) != tc.wantSince || (tc.wantSince && (sv.Since.Text != "2026-05-30 10:29 UTC" || sv.For != "2 h 5 min")) {
				t.Errorf("since %+v for %q", sv.Since, sv.For)
			}
			if sv.URL != "/status/sys-"+tc.name {
				t.Errorf("url %q", sv.URL)
			}
			if p.Banner.Status != tc.status || p.Banner.Text != BannerText(tc.status) {
				t.Errorf("banner %+v", p.Banner)
			}
			// 24 h: (22 + 1) / 24 up, 90 of 96 runs healthy; the other windows have no data.
			if len(sv.Uptime) != 4 || sv.Uptime[0].Window != "24h" || sv.Uptime[0].Text != "95.83 %" || sv.Uptime[0].Value != "95.8333" ||
				sv.Uptime[0].SuccessText != "93.75 %" || sv.Uptime[0].SuccessValue != "0.937500" || sv.Uptime[0].Runs != 96 {
				t.Errorf("24h uptime %+v", sv.Uptime[0])
			}
			if u := sv.Uptime[3]; u.Window != "90d" || u.Text != "—" || u.Value != "" || u.SuccessText != "—" {
				t.Errorf("90d uptime without data %+v", u)
			}
		})
	}
}

// TestBuildDays: the 90-day bar takes the store's per-day rows: worst status as the colour key,
// a tooltip with uptime and incidents, and a text summary.
func TestBuildDays(t *testing.T) {
	t.Parallel()
	day := func(d int, worst string, incidents int, up, down float64) health.DayUptime {
		h := func(v float64) time.Duration { return time.Duration(v * float64(time.Hour)) }
		return health.DayUptime{Day: time.Date(2026, 5, d, 0, 0, 0, 0, time.UTC), Worst: worst, Incidents: incidents,
			UptimeBreakdown: health.UptimeBreakdown{Covered: h(up + down), Healthy: h(up), Unhealthy: h(down)}}
	}
	u := store.Uptime{}
	u.Days = []health.DayUptime{day(27, "", 0, 0, 0), day(28, "healthy", 0, 24, 0), day(29, "unhealthy", 2, 23, 1), day(30, "maintenance", 0, 0, 0)}
	u.Days[3].Maintenance, u.Days[3].Covered = 12*time.Hour, 12*time.Hour
	p := Build(Input{Now: now, Systems: []SystemData{{System: store.System{ID: "a"}, Status: health.Healthy,
		Uptime: map[health.UptimeWindow]store.Uptime{health.UptimeWindow90d: u}}}})
	sv := p.Systems[0]
	want := []DayView{
		{"2026-05-27", "none", "2026-05-27: no data"},
		{"2026-05-28", "healthy", "2026-05-28: 100.00 % uptime, 0 incidents, worst operational"},
		{"2026-05-29", "unhealthy", "2026-05-29: 95.83 % uptime, 2 incidents, worst outage"},
		{"2026-05-30", "maintenance", "2026-05-30: 100.00 % uptime, 0 incidents, worst maintenance"},
	}
	if len(sv.Days) != len(want) {
		t.Fatalf("%d days", len(sv.Days))
	}
	for i, w := range want {
		if sv.Days[i] != w {
			t.Errorf("day %d = %+v, want %+v", i, sv.Days[i], w)
		}
	}
	if sv.DaysLabel != "Last 4 days: 1 day not fully operational, 2 incidents" {
		t.Errorf("label %q", sv.DaysLabel)
	}
	if p.Title != "Status" || sv.Name != "a" {
		t.Errorf("defaults: title %q name %q", p.Title, sv.Name)
	}
}

// TestBuildChart: the rows of one hour (several sources) combine like the health state's
// windowed metrics (average = Σ latency / Σ runs, p95 = the highest), other checks' rows and
// rows outside the 24 hours are ignored, and a missing hour breaks the line.
func TestBuildChart(t *testing.T) {
	t.Parallel()
	last := now.Truncate(time.Hour)
	row := func(cfg string, hoursAgo, runs, sum, p95 int) store.HourlyLatencyRow {
		return store.HourlyLatencyRow{ConfigurationID: cfg, BucketStart: last.Add(-time.Duration(hoursAgo) * time.Hour),
			HourlyMetricsRow: health.HourlyMetricsRow{RunCount: runs, LatencySumMs: ptr(sum), P95LatencyMs: ptr(p95)}}
	}
	rows := []store.HourlyLatencyRow{
		row("c1", 24, 10, 100000, 9000), // before the chart
		row("c1", 23, 4, 400, 150),
		row("c1", 22, 2, 200, 120), row("c1", 22, 2, 600, 380), // two sources: avg 200, p95 380
		row("c2", 20, 5, 50000, 20000),
		row("c1", 0, 1, 90, 90),
	}
	sd := SystemData{System: store.System{ID: "s", Name: "S"}, Status: health.Healthy, Latency: rows,
		Checks: []CheckData{{ID: "c1", Name: "home", Status: health.Healthy}, {ID: "c3", Name: "empty", Status: health.Degraded, Paused: true}}}
	p := Build(Input{Now: now, Systems: []SystemData{sd}, Detail: true})
	if p.Heading != "S" || len(p.Systems[0].Checks) != 2 {
		t.Fatalf("heading %q, checks %+v", p.Heading, p.Systems[0].Checks)
	}
	ch := p.Systems[0].Checks[0].Chart
	if !ch.HasData || ch.MaxLabel != "500 ms" || len(ch.Points) != 3 {
		t.Fatalf("chart %+v", ch)
	}
	if pt := ch.Points[1]; pt.Avg != "200 ms" || pt.P95 != "380 ms" {
		t.Errorf("combined hour %+v", pt)
	}
	// Hours 0 and 1 are joined; the last hour is a lone point (a dash).
	if !strings.HasPrefix(ch.AvgPath, "M0.0 ") || strings.Count(ch.AvgPath, "M") != 2 || !strings.HasSuffix(ch.AvgPath, "h2") {
		t.Errorf("avg path %q", ch.AvgPath)
	}
	if !strings.Contains(ch.Summary, "p95 up to 380 ms") {
		t.Errorf("summary %q", ch.Summary)
	}
	empty := p.Systems[0].Checks[1]
	if empty.Chart.HasData || empty.StatusText != "Degraded (paused)" || !strings.Contains(empty.Chart.Summary, "no latency data") {
		t.Errorf("check without data %+v", empty)
	}
	// The overview has no charts.
	if p := Build(Input{Now: now, Systems: []SystemData{sd}}); p.Systems[0].Checks != nil || p.Heading != "" {
		t.Errorf("overview checks %+v", p.Systems[0].Checks)
	}
}

// TestBuildIncidentsAndMaintenance: transitions newest first with their kind; maintenance
// windows of shown systems split into active and upcoming.
func TestBuildIncidentsAndMaintenance(t *testing.T) {
	t.Parallel()
	tr := func(sys string, ago time.Duration, from *health.Status, to health.Status) store.Transition {
		return store.Transition{SystemID: sys, FromStatus: from, ToStatus: to, TransitionedAt: now.Add(-ago)}
	}
	a := SystemData{System: store.System{ID: "a", Name: "Alpha"}, Status: health.Healthy, Transitions: []store.Transition{
		tr("a", time.Hour, ptr(health.Unhealthy), health.Healthy), tr("a", 3*time.Hour, ptr(health.Healthy), health.Unhealthy)}}
	b := SystemData{System: store.System{ID: "b", Name: "Beta"}, Status: health.Degraded, Transitions: []store.Transition{
		tr("b", 2*time.Hour, ptr(health.Degraded), health.Unhealthy), tr("b", 4*time.Hour, nil, health.Degraded)}}
	ws := []store.MaintenanceWindow{
		{Title: "later", SystemIDs: []string{"a"}, StartsAt: now.Add(5 * time.Hour), EndsAt: now.Add(6 * time.Hour)},
		{Title: "soon", SystemIDs: []string{"b", "a"}, StartsAt: now.Add(time.Hour), EndsAt: now.Add(2 * time.Hour)},
		{Title: "now", SystemIDs: []string{"b"}, StartsAt: now.Add(-time.Hour), EndsAt: now.Add(time.Hour)},
		{Title: "hidden", SystemIDs: []string{"zzz"}, StartsAt: now.Add(-time.Hour), EndsAt: now.Add(time.Hour)},
		{Title: "over", SystemIDs: []string{"a"}, StartsAt: now.Add(-3 * time.Hour), EndsAt: now},
	}
	p := Build(Input{Now: now, Systems: []SystemData{a, b}, Maintenances: ws})
	var got []string
	for _, iv := range p.Incidents {
		got = append(got, iv.SystemName+":"+iv.Kind+":"+iv.Text)
	}
	want := "Alpha:recovery:Outage → Operational|Beta:change:Degraded → Outage|Alpha:incident:Operational → Outage|Beta:incident:Degraded"
	if strings.Join(got, "|") != want {
		t.Errorf("incidents %q, want %q", strings.Join(got, "|"), want)
	}
	if len(p.Active) != 1 || p.Active[0].Title != "now" || p.Active[0].Systems != "Beta" {
		t.Errorf("active %+v", p.Active)
	}
	if len(p.Upcoming) != 2 || p.Upcoming[0].Title != "soon" || p.Upcoming[0].Systems != "Alpha, Beta" || p.Upcoming[1].Title != "later" {
		t.Errorf("upcoming %+v", p.Upcoming)
	}
	if p.Banner.Status != StatusDegraded {
		t.Errorf("banner %+v", p.Banner)
	}
}
