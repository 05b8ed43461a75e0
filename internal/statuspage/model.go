// Package statuspage renders checkflow's HTML status page (issue 15): a server-rendered page
// (html/template, embedded assets, no build step, works without JavaScript) with an overall
// banner, the systems with their status and since when, uptime over 24 h / 7 d / 30 d / 90 d on
// the evaluated status beside the raw success rate, a 90-day bar per system, a latency chart per
// check, the transitions as incident history and the active and upcoming maintenance windows. A
// small script subscribes to the live stream and updates the statuses without a reload.
//
// Build turns what the store read into the page's view model (pure, no I/O); a Renderer executes
// the templates and serves the assets.
package statuspage

import (
	"fmt"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/checkflow/checkflow/internal/health"
	"github.com/checkflow/checkflow/internal/store"
)

// Display status keys: the evaluated statuses, and maintenance and unknown (no data yet) on top.
const (
	StatusHealthy     = string(health.Healthy)
	StatusDegraded    = string(health.Degraded)
	StatusUnhealthy   = string(health.Unhealthy)
	StatusMaintenance = "maintenance"
	StatusUnknown     = "unknown"
	// statusNone marks a day of the 90-day bar before the system existed.
	statusNone = "none"
)

// StatusText is the text shown for a display status key (status is never shown by colour only).
func StatusText(key string) string {
	switch key {
	case StatusHealthy:
		return "Operational"
	case StatusDegraded:
		return "Degraded"
	case StatusUnhealthy:
		return "Outage"
	case StatusMaintenance:
		return "Maintenance"
	}
	return "No data"
}

// BannerText is the overall banner's text for a display status key.
func BannerText(key string) string {
	switch key {
	case StatusHealthy:
		return "All systems operational"
	case StatusDegraded:
		return "Degraded performance"
	case StatusUnhealthy:
		return "Outage"
	case StatusMaintenance:
		return "Maintenance in progress"
	}
	return "No status data yet"
}

// Overall is the banner's status of systems with the given display statuses: an outage wins,
// then degraded, then maintenance, then operational; systems without data do not count unless
// no system has data.
func Overall(keys []string) string {
	rank := map[string]int{StatusHealthy: 1, StatusMaintenance: 2, StatusDegraded: 3, StatusUnhealthy: 4}
	best := StatusUnknown
	for _, k := range keys {
		if rank[k] > rank[best] {
			best = k
		}
	}
	return best
}

// Labels are the texts the live-update script needs (rendered as a JSON data block).
func Labels() map[string]string {
	out := map[string]string{"since": "since"}
	for _, k := range []string{StatusHealthy, StatusDegraded, StatusUnhealthy, StatusMaintenance, StatusUnknown} {
		out["status."+k] = StatusText(k)
		out["banner."+k] = BannerText(k)
	}
	return out
}

// Input is what one page is built from.
type Input struct {
	Title, LogoURL string
	Now            time.Time
	// Systems are the systems shown, in display order.
	Systems []SystemData
	// Maintenances are the maintenance windows active or scheduled at Now (any system); the
	// page shows those covering a shown system.
	Maintenances []store.MaintenanceWindow
	// StreamURL is the live stream the script subscribes to ("" = no live updates).
	StreamURL string
	// Detail builds one system's page (/status/<id>): its checks' latency charts and its whole
	// incident history instead of the overview's latest incidents.
	Detail bool
}

// SystemData is what the store read of one system.
type SystemData struct {
	System store.System
	// Status is the system's evaluated status (its stored view, else the baseline).
	Status        health.Status
	InStatusSince *time.Time
	// NoData: no enabled check, or none has a run yet.
	NoData        bool
	InMaintenance bool
	HealthyChecks int
	TotalChecks   int
	Checks        []CheckData
	// Uptime holds the store's uptime per window (store.Uptime, not recomputed here).
	Uptime map[health.UptimeWindow]store.Uptime
	// Transitions are the system's latest transitions, newest first.
	Transitions []store.Transition
	// Latency are the hourly aggregate rows of the last 24 h (detail pages).
	Latency []store.HourlyLatencyRow
}

// CheckData is one enabled check of a system.
type CheckData struct {
	ID, Name string
	Status   health.Status
	Paused   bool
	NoData   bool
}

// Page is the view model of a status page.
type Page struct {
	Title, LogoURL string
	// Heading is the page's h1 below the site title on a system's page.
	Heading     string
	Detail      bool
	StreamURL   string
	Banner      Banner
	GeneratedAt TimeView
	Systems     []SystemView
	Incidents   []IncidentView
	// Active and Upcoming are the maintenance windows covering a shown system.
	Active, Upcoming []MaintenanceView
	Labels           map[string]string
}

// Banner is the overall status.
type Banner struct {
	Status, Text string
}

// TimeView is a time as the page shows it.
type TimeView struct {
	// ISO is RFC 3339 (the datetime attribute).
	ISO string
	// Text is "2006-01-02 15:04 UTC".
	Text string
}

// SystemView is one system's row (and the body of its own page).
type SystemView struct {
	ID, Name, Description string
	// URL is the system's page.
	URL string
	// Status is the display status key, StatusText its text.
	Status, StatusText string
	// Evaluated is the evaluated status (or unknown) the live script falls back to when a
	// maintenance window ends.
	Evaluated     string
	InMaintenance bool
	Since         *TimeView
	// For is how long it has been in its status ("2 h 5 min").
	For        string
	ChecksText string
	Uptime     []UptimeView
	Days       []DayView
	DaysLabel  string
	Checks     []CheckView
}

// UptimeView is the uptime of one window beside the raw success rate.
type UptimeView struct {
	Window string
	// Text is the uptime rounded down to 0.01 % ("99.95 %"), "—" without data; Value has 4
	// decimals (the JSON API's rounding), "" without data.
	Text, Value string
	// SuccessText is the raw success rate of the runs as a percentage, SuccessValue the ratio (6
	// decimals); Runs the number of runs.
	SuccessText, SuccessValue string
	Runs                      int64
}

// DayView is one UTC day of the 90-day bar.
type DayView struct {
	Date string
	// Status is the worst evaluated status of the day (healthy, degraded, unhealthy,
	// maintenance) or none before the system existed.
	Status string
	// Title is the tooltip: date, uptime, incidents, worst status.
	Title string
}

// CheckView is one check of a system's page with its latency chart.
type CheckView struct {
	ID, Name           string
	Status, StatusText string
	Chart              Chart
}

// IncidentView is one transition of the incident history.
type IncidentView struct {
	At         TimeView
	SystemID   string
	SystemName string
	URL        string
	From, To   string
	// Kind is "incident" (into degraded or unhealthy from healthy), "recovery" (back to
	// healthy) or "change" (between degraded and unhealthy).
	Kind, Text string
}

// MaintenanceView is one maintenance window.
type MaintenanceView struct {
	Title, Description string
	Starts, Ends       TimeView
	// Systems are the names of the shown systems it covers.
	Systems string
}

// The latency chart's geometry (SVG user units).
const (
	chartWidth  = 600
	chartHeight = 120
	chartHours  = 24
)

// Chart is a check's latency over the last 24 hours, hour by hour: average and p95 from the
// hourly aggregates.
type Chart struct {
	Width, Height int
	// AvgPath and P95Path are SVG path data ("" when there is no point).
	AvgPath, P95Path string
	// MaxLabel is the top of the y axis ("250 ms").
	MaxLabel string
	// From and To label the x axis.
	From, To string
	// Summary is the chart's text alternative.
	Summary string
	// Points are the hours with runs (the table fallback).
	Points  []ChartPoint
	HasData bool
}

// ChartPoint is one hour of the chart.
type ChartPoint struct {
	Hour     string
	Avg, P95 string
}

// incidentLimit bounds the overview's incident history.
const incidentLimit = 20

// Build turns the store's reads into a page. It does no I/O.
func Build(in Input) Page {
	now := in.Now.UTC()
	p := Page{Title: in.Title, LogoURL: in.LogoURL, Detail: in.Detail, StreamURL: in.StreamURL,
		GeneratedAt: timeView(now), Labels: Labels()}
	if p.Title == "" {
		p.Title = "Status"
	}
	names := map[string]string{}
	keys := make([]string, 0, len(in.Systems))
	for _, sd := range in.Systems {
		sv := buildSystem(sd, now, in.Detail)
		names[sv.ID] = sv.Name
		keys = append(keys, sv.Status)
		p.Systems = append(p.Systems, sv)
	}
	if in.Detail && len(p.Systems) == 1 {
		p.Heading = p.Systems[0].Name
	}
	overall := Overall(keys)
	p.Banner = Banner{Status: overall, Text: BannerText(overall)}
	p.Incidents = buildIncidents(in.Systems, names, in.Detail)
	p.Active, p.Upcoming = buildMaintenances(in.Maintenances, names, in.Systems, now)
	return p
}

// systemURL is a system's page.
func systemURL(id string) string { return "/status/" + url.PathEscape(id) }

func buildSystem(sd SystemData, now time.Time, detail bool) SystemView {
	sv := SystemView{ID: sd.System.ID, Name: sd.System.Name, Description: sd.System.Description, URL: systemURL(sd.System.ID),
		InMaintenance: sd.InMaintenance}
	if sv.Name == "" {
		sv.Name = sv.ID
	}
	sv.Evaluated = string(sd.Status)
	if sd.NoData || !sd.Status.Valid() {
		sv.Evaluated = StatusUnknown
	}
	sv.Status = sv.Evaluated
	if sd.InMaintenance {
		sv.Status = StatusMaintenance
	}
	sv.StatusText = StatusText(sv.Status)
	if sd.InStatusSince != nil && sv.Evaluated != StatusUnknown {
		t := timeView(*sd.InStatusSince)
		sv.Since = &t
		sv.For = FormatDuration(now.Sub(sd.InStatusSince.UTC()))
	}
	switch {
	case sd.TotalChecks == 0:
		sv.ChecksText = "no enabled check"
	default:
		sv.ChecksText = fmt.Sprintf("%d of %d checks healthy", sd.HealthyChecks, sd.TotalChecks)
	}
	for _, w := range health.UptimeWindows() {
		u, ok := sd.Uptime[w]
		uv := UptimeView{Window: string(w), Text: "—", SuccessText: "—"}
		if ok {
			if pct, has := u.UptimePercent(); has {
				uv.Text, uv.Value = FormatPercent(pct), strconv.FormatFloat(roundTo(pct, 4), 'f', 4, 64)
			}
			if r, has := u.SuccessRate(); has {
				uv.SuccessText, uv.SuccessValue = FormatPercent(100*r), strconv.FormatFloat(roundTo(r, 6), 'f', 6, 64)
			}
			uv.Runs = u.Runs
		}
		sv.Uptime = append(sv.Uptime, uv)
	}
	if u, ok := sd.Uptime[health.UptimeWindow90d]; ok {
		sv.Days, sv.DaysLabel = buildDays(u.Days)
	}
	if detail {
		for _, c := range sd.Checks {
			cv := CheckView{ID: c.ID, Name: c.Name, Status: string(c.Status)}
			if c.NoData || !c.Status.Valid() {
				cv.Status = StatusUnknown
			}
			cv.StatusText = StatusText(cv.Status)
			if c.Paused {
				cv.StatusText += " (paused)"
			}
			cv.Chart = buildChart(c, sd.Latency, now)
			sv.Checks = append(sv.Checks, cv)
		}
	}
	return sv
}

// buildDays renders the per-day rows of the 90-day uptime as bars.
func buildDays(days []health.DayUptime) ([]DayView, string) {
	out := make([]DayView, 0, len(days))
	var incidents, bad int
	for _, d := range days {
		dv := DayView{Date: d.Day.Format(time.DateOnly), Status: d.Worst}
		if dv.Status == "" {
			dv.Status = statusNone
			dv.Title = dv.Date + ": no data"
			out = append(out, dv)
			continue
		}
		up := "—"
		if pct, ok := d.UptimePercent(); ok {
			up = FormatPercent(pct)
		}
		dv.Title = fmt.Sprintf("%s: %s uptime, %s, worst %s", dv.Date, up, plural(d.Incidents, "incident"), strings.ToLower(StatusText(dv.Status)))
		incidents += d.Incidents
		if dv.Status == StatusDegraded || dv.Status == StatusUnhealthy {
			bad++
		}
		out = append(out, dv)
	}
	label := fmt.Sprintf("Last %d days: %s not fully operational, %s", len(days), plural(bad, "day"), plural(incidents, "incident"))
	return out, label
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.Itoa(n) + " " + word + "s"
}

// buildChart renders a check's hourly average and p95 over the 24 hours ending with now's hour,
// combining the hour's rows (one per source) like the health state's windowed metrics.
func buildChart(c CheckData, rows []store.HourlyLatencyRow, now time.Time) Chart {
	last := now.Truncate(time.Hour)
	first := last.Add(-(chartHours - 1) * time.Hour)
	byHour := make([][]health.HourlyMetricsRow, chartHours)
	for _, r := range rows {
		if r.ConfigurationID != c.ID {
			continue
		}
		i := int(r.BucketStart.UTC().Sub(first) / time.Hour)
		if r.BucketStart.Before(first) || i >= chartHours {
			continue
		}
		byHour[i] = append(byHour[i], r.HourlyMetricsRow)
	}
	ch := Chart{Width: chartWidth, Height: chartHeight, From: first.Format("15:04") + " UTC", To: "now"}
	avg := make([]*int, chartHours)
	p95 := make([]*int, chartHours)
	top := 0
	var sumAvg, nAvg int
	for i, hr := range byHour {
		if len(hr) == 0 {
			continue
		}
		m := health.AggregateWindowedMetrics(hr)
		avg[i], p95[i] = m.AvgLatencyMs, m.P95LatencyMs
		pt := ChartPoint{Hour: first.Add(time.Duration(i) * time.Hour).Format("Jan 2 15:04"), Avg: "—", P95: "—"}
		if m.AvgLatencyMs != nil {
			top = max(top, *m.AvgLatencyMs)
			pt.Avg = strconv.Itoa(*m.AvgLatencyMs) + " ms"
			sumAvg += *m.AvgLatencyMs
			nAvg++
		}
		if m.P95LatencyMs != nil {
			top = max(top, *m.P95LatencyMs)
			pt.P95 = strconv.Itoa(*m.P95LatencyMs) + " ms"
		}
		if m.AvgLatencyMs != nil || m.P95LatencyMs != nil {
			ch.Points = append(ch.Points, pt)
		}
	}
	if len(ch.Points) == 0 {
		ch.Summary = c.Name + ": no latency data in the last 24 hours"
		return ch
	}
	ch.HasData = true
	yMax := niceCeil(top)
	ch.MaxLabel = strconv.Itoa(yMax) + " ms"
	ch.AvgPath, ch.P95Path = svgPath(avg, yMax), svgPath(p95, yMax)
	maxP95 := 0
	for _, v := range p95 {
		if v != nil {
			maxP95 = max(maxP95, *v)
		}
	}
	ch.Summary = fmt.Sprintf("%s, last 24 hours by hour: average latency %d ms (mean of the hours), p95 up to %d ms", c.Name, sumAvg/max(nAvg, 1), maxP95)
	return ch
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten (at least 10).
func niceCeil(v int) int {
	if v <= 10 {
		return 10
	}
	p := int(math.Pow(10, math.Floor(math.Log10(float64(v)))))
	for _, m := range []int{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

// svgPath draws the values (nil = no point: the line breaks) across the chart.
func svgPath(vals []*int, yMax int) string {
	var b strings.Builder
	step := float64(chartWidth) / float64(len(vals)-1)
	pen := false
	for i, v := range vals {
		if v == nil {
			pen = false
			continue
		}
		x := float64(i) * step
		y := float64(chartHeight) - float64(*v)/float64(yMax)*float64(chartHeight)
		cmd := "L"
		if !pen {
			cmd = "M"
			// A lone point is drawn as a short dash.
			if i+1 >= len(vals) || vals[i+1] == nil {
				fmt.Fprintf(&b, "M%.1f %.1fh2 ", x-1, y)
				continue
			}
		}
		fmt.Fprintf(&b, "%s%.1f %.1f ", cmd, x, y)
		pen = true
	}
	return strings.TrimSpace(b.String())
}

// buildIncidents lists the transitions newest first: every one of a system's page, the latest
// incidentLimit over every system on the overview.
func buildIncidents(systems []SystemData, names map[string]string, detail bool) []IncidentView {
	var all []store.Transition
	for _, sd := range systems {
		all = append(all, sd.Transitions...)
	}
	slices.SortStableFunc(all, func(a, b store.Transition) int { return b.TransitionedAt.Compare(a.TransitionedAt) })
	if !detail && len(all) > incidentLimit {
		all = all[:incidentLimit]
	}
	out := make([]IncidentView, 0, len(all))
	for _, tr := range all {
		iv := IncidentView{At: timeView(tr.TransitionedAt), SystemID: tr.SystemID, SystemName: names[tr.SystemID], URL: systemURL(tr.SystemID),
			To: string(tr.ToStatus)}
		if iv.SystemName == "" {
			iv.SystemName = tr.SystemID
		}
		from := health.Healthy
		if tr.FromStatus != nil {
			from = *tr.FromStatus
			iv.From = string(from)
		}
		c := health.StatusChange{At: tr.TransitionedAt, From: tr.FromStatus, To: tr.ToStatus}
		switch {
		case c.IsIncidentStart():
			iv.Kind = "incident"
		case tr.ToStatus == health.Healthy:
			iv.Kind = "recovery"
		default:
			iv.Kind = "change"
		}
		if tr.FromStatus == nil {
			iv.Text = StatusText(string(tr.ToStatus))
		} else {
			iv.Text = StatusText(string(from)) + " → " + StatusText(string(tr.ToStatus))
		}
		out = append(out, iv)
	}
	return out
}

// buildMaintenances splits the windows covering a shown system into active (soonest end first)
// and upcoming (soonest start first).
func buildMaintenances(ws []store.MaintenanceWindow, names map[string]string, systems []SystemData, now time.Time) (active, upcoming []MaintenanceView) {
	type item struct {
		w  store.MaintenanceWindow
		mv MaintenanceView
	}
	var act, up []item
	for _, w := range ws {
		var covered []string
		for _, sd := range systems {
			if slices.Contains(w.SystemIDs, sd.System.ID) {
				covered = append(covered, names[sd.System.ID])
			}
		}
		if len(covered) == 0 || !w.EndsAt.After(now) {
			continue
		}
		mv := MaintenanceView{Title: w.Title, Description: w.Description, Starts: timeView(w.StartsAt), Ends: timeView(w.EndsAt),
			Systems: strings.Join(covered, ", ")}
		if w.StartsAt.After(now) {
			up = append(up, item{w, mv})
		} else {
			act = append(act, item{w, mv})
		}
	}
	slices.SortStableFunc(act, func(a, b item) int { return a.w.EndsAt.Compare(b.w.EndsAt) })
	slices.SortStableFunc(up, func(a, b item) int { return a.w.StartsAt.Compare(b.w.StartsAt) })
	for _, a := range act {
		active = append(active, a.mv)
	}
	for _, u := range up {
		upcoming = append(upcoming, u.mv)
	}
	return active, upcoming
}

func timeView(t time.Time) TimeView {
	t = t.UTC()
	return TimeView{ISO: t.Format(time.RFC3339), Text: t.Format("2006-01-02 15:04") + " UTC"}
}

// FormatPercent shows a percentage rounded down to 0.01 % with two decimals ("99.95 %"), like
// the uptime badge (a figure shown as 100.00 % is 100 %).
func FormatPercent(p float64) string {
	if math.IsNaN(p) || p < 0 {
		p = 0
	}
	if p > 100 {
		p = 100
	}
	// The epsilon keeps 99.95 (stored as 99.9499999…) from becoming 99.94.
	v := math.Floor(p*100+1e-6) / 100
	return strconv.FormatFloat(v, 'f', 2, 64) + " %"
}

// FormatDuration shows a duration coarsely: "45 s", "12 min", "2 h 5 min", "3 d 4 h".
func FormatDuration(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%d s", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%d min", int(d/time.Minute))
	case d < 24*time.Hour:
		h := int(d / time.Hour)
		if m := int(d%time.Hour) / int(time.Minute); m > 0 {
			return fmt.Sprintf("%d h %d min", h, m)
		}
		return fmt.Sprintf("%d h", h)
	}
	days := int(d / (24 * time.Hour))
	if h := int(d%(24*time.Hour)) / int(time.Hour); h > 0 {
		return fmt.Sprintf("%d d %d h", days, h)
	}
	return fmt.Sprintf("%d d", days)
}

func roundTo(v float64, n int) float64 {
	p := math.Pow(10, float64(n))
	return math.Round(v*p) / p
}
