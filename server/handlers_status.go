package server

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/checkflow/checkflow/internal/badge"
	"github.com/checkflow/checkflow/internal/health"
	"github.com/checkflow/checkflow/internal/store"
)

// Uptime and badges (issue 15): the status page's figures as JSON and as SVG badges. Reads
// come from PostgreSQL only.

// uptimeDayDTO is one UTC day of the 90-day bar.
type uptimeDayDTO struct {
	// Day is the UTC date, YYYY-MM-DD.
	Day string `json:"day"`
	// Worst is healthy, degraded, unhealthy, maintenance (all of the day's covered time was in
	// maintenance), or null (nothing of the day is covered: the system did not exist yet).
	Worst         *string  `json:"worst"`
	UptimePercent *float64 `json:"uptimePercent"`
	Incidents     int      `json:"incidents"`
}

// uptimeDTO answers GET /systems/{systemId}/uptime.
type uptimeDTO struct {
	Window  string    `json:"window"`
	From    time.Time `json:"from"`
	To      time.Time `json:"to"`
	CheckID string    `json:"checkId,omitempty"`
	// CoveredFrom is where the counted part of the window starts: From, or the system's
	// beginning when it is younger than the window.
	CoveredFrom        time.Time      `json:"coveredFrom"`
	UptimePercent      *float64       `json:"uptimePercent"`
	DegradedPercent    *float64       `json:"degradedPercent"`
	UnhealthyPercent   *float64       `json:"unhealthyPercent"`
	MaintenancePercent *float64       `json:"maintenancePercent"`
	SuccessRate        *float64       `json:"successRate"`
	Runs               int64          `json:"runs"`
	Days               []uptimeDayDTO `json:"days,omitempty"`
}

// roundTo rounds v to n decimals.
func roundTo(v float64, n int) float64 {
	p := math.Pow(10, float64(n))
	return math.Round(v*p) / p
}

// pctPtr rounds a percentage to 4 decimals (null when nothing was covered).
func pctPtr(v float64, ok bool) *float64 {
	if !ok {
		return nil
	}
	r := roundTo(v, 4)
	return &r
}

// uptimeWindowParam reads ?window= (default 24h).
func uptimeWindowParam(q *query) health.UptimeWindow {
	names := make([]string, 0, 4)
	for _, w := range health.UptimeWindows() {
		names = append(names, string(w))
	}
	if w := q.oneOf("window", names...); w != "" {
		return health.UptimeWindow(w)
	}
	return health.UptimeWindow24h
}

func (s *Server) getUptime(c echo.Context) error {
	systemID, err := pathParam(c, "systemId")
	if err != nil {
		return err
	}
	q := newQuery(c)
	window := uptimeWindowParam(q)
	checkID := q.str("checkId")
	if checkID != "" && !isUUID(checkID) {
		q.fail("checkId", "must be a UUID")
	}
	if err := q.finish(); err != nil {
		return err
	}
	ctx := c.Request().Context()
	if checkID != "" {
		if _, err := s.store.GetConfiguration(ctx, checkID); err != nil {
			return err
		}
	}
	u, err := s.store.Uptime(ctx, store.UptimeQuery{SystemID: systemID, ConfigurationID: checkID, Window: window, Now: s.now()})
	if err != nil {
		return err
	}
	out := uptimeDTO{Window: string(window), From: u.From, To: u.To, CheckID: checkID, CoveredFrom: u.Covered.Start, Runs: u.Runs}
	out.UptimePercent = pctPtr(u.UptimePercent())
	out.DegradedPercent = pctPtr(u.DegradedPercent())
	out.UnhealthyPercent = pctPtr(u.UnhealthyPercent())
	out.MaintenancePercent = pctPtr(u.MaintenancePercent())
	if r, ok := u.SuccessRate(); ok {
		r = roundTo(r, 6)
		out.SuccessRate = &r
	}
	for _, d := range u.Days {
		dd := uptimeDayDTO{Day: d.Day.Format(time.DateOnly), Incidents: d.Incidents, UptimePercent: pctPtr(d.UptimePercent())}
		if d.Worst != "" {
			w := d.Worst
			dd.Worst = &w
		}
		out.Days = append(out.Days, dd)
	}
	return c.JSON(http.StatusOK, out)
}

// ---- badges ------------------------------------------------------------------------------------

// badgeMaxAge is how long caches may keep a badge.
const badgeMaxAge = 60 * time.Second

// sendBadge answers an SVG badge with cache headers and an ETag (304 when If-None-Match has it).
// Badges are cacheable by shared caches only when status is public: with --public-status=false
// the request carried a token, so the answer is private.
func (s *Server) sendBadge(c echo.Context, b badge.Badge) error {
	svg := b.SVG()
	sum := sha256.Sum256(svg)
	etag := `"` + hex.EncodeToString(sum[:12]) + `"`
	h := c.Response().Header()
	visibility := "public"
	if !s.publicStatus {
		visibility = "private"
	}
	h.Set(echo.HeaderCacheControl, fmt.Sprintf("%s, max-age=%d", visibility, int(badgeMaxAge.Seconds())))
	h.Set("ETag", etag)
	h.Set(echo.HeaderXContentTypeOptions, "nosniff")
	h.Set(echo.HeaderContentSecurityPolicy, "default-src 'none'; style-src 'unsafe-inline'")
	if etagMatches(c.Request().Header.Get("If-None-Match"), etag) {
		return c.NoContent(http.StatusNotModified)
	}
	return c.Blob(http.StatusOK, "image/svg+xml", svg)
}

// etagMatches implements If-None-Match's weak comparison: "*" or any listed tag (W/ ignored).
func etagMatches(header, etag string) bool {
	for _, part := range strings.Split(header, ",") {
		part = strings.TrimPrefix(strings.TrimSpace(part), "W/")
		if part == "*" || part == etag {
			return true
		}
	}
	return false
}

// statusBadge: the system's evaluated status now — maintenance while a maintenance window covers
// it, unknown while it has no enabled check or none has a run yet.
func (s *Server) statusBadge(c echo.Context) error {
	systemID, err := pathParam(c, "systemId")
	if err != nil {
		return err
	}
	if err := newQuery(c).finish(); err != nil {
		return err
	}
	ctx := c.Request().Context()
	if err := s.systemExists(ctx, systemID); err != nil {
		return err
	}
	healths, err := s.systemHealth(c, []string{systemID})
	if err != nil {
		return err
	}
	inMaint, err := s.store.InMaintenance(ctx, systemID, s.now())
	if err != nil {
		return err
	}
	h := healths[systemID]
	value := string(h.Status)
	switch {
	case inMaint:
		value = badge.StatusMaintenance
	case h.TotalChecks == 0 || h.NoDataYet:
		value = badge.StatusUnknown
	}
	return s.sendBadge(c, badge.Badge{Label: "status", Value: value, Colour: badge.StatusColour(value)})
}

// uptimeBadge: the uptime on the evaluated status over ?window= (default 24h).
func (s *Server) uptimeBadge(c echo.Context) error {
	systemID, err := pathParam(c, "systemId")
	if err != nil {
		return err
	}
	q := newQuery(c)
	window := uptimeWindowParam(q)
	if err := q.finish(); err != nil {
		return err
	}
	u, err := s.store.Uptime(c.Request().Context(), store.UptimeQuery{SystemID: systemID, Window: window, Now: s.now()})
	if err != nil {
		return err
	}
	b := badge.Badge{Label: "uptime " + string(window), Value: "no data", Colour: badge.Grey}
	if p, ok := u.UptimePercent(); ok {
		b.Value, b.Colour = badge.FormatPercent(p), badge.UptimeColour(p)
	}
	return s.sendBadge(c, b)
}

// latencyBadge: the average latency of the system's runs over the last 24 h (hourly aggregates,
// like health-state's avgLatencyMs).
func (s *Server) latencyBadge(c echo.Context) error {
	systemID, err := pathParam(c, "systemId")
	if err != nil {
		return err
	}
	if err := newQuery(c).finish(); err != nil {
		return err
	}
	ctx := c.Request().Context()
	if err := s.systemExists(ctx, systemID); err != nil {
		return err
	}
	m, err := s.store.WindowedMetrics(ctx, systemID, "", s.now())
	if err != nil {
		return err
	}
	b := badge.Badge{Label: "latency 24h", Value: "no data", Colour: badge.Grey}
	if m.AvgLatencyMs != nil {
		b.Value, b.Colour = fmt.Sprintf("%d ms", *m.AvgLatencyMs), badge.LatencyColour(*m.AvgLatencyMs)
	}
	return s.sendBadge(c, b)
}
