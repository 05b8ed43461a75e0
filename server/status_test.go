package server

import (
	"context"
	"encoding/xml"
	"fmt"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/checkflow/checkflow/internal/badge"
	"github.com/checkflow/checkflow/internal/health"
)

// uptimeEnv seeds, with SQL, a system "shop" with one check: a run every 15 minutes over the
// last 3 days (one in 10 unhealthy) with its hourly aggregates, an incident 30 h ago (unhealthy
// for an hour), degraded since 2 h ago, and a maintenance window from 1 h ago to 1 h from now.
func uptimeEnv(t *testing.T, opts ...Option) (*env, string) {
	t.Helper()
	e := newEnv(t, opts...)
	e.mustSystem("shop")
	check := e.mustCheck("shop home")
	e.mustAssign("shop", check)
	ctx := context.Background()
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := e.pool.Exec(ctx, sql, args...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	exec(`INSERT INTO health_check_runs (id, configuration_id, system_id, status, latency_ms, "timestamp")
		SELECT 'shop:r' || n, $2::uuid, 'shop', (CASE WHEN n % 10 = 0 THEN 'unhealthy' ELSE 'healthy' END)::health_check_status,
			100 + n % 40, $1::timestamptz - interval '3 days' + n * interval '15 minutes'
		FROM generate_series(0, 3 * 24 * 4 - 1) n`, t0, check)
	exec(`INSERT INTO health_check_aggregates (configuration_id, system_id, bucket_start, bucket_size,
			run_count, healthy_count, degraded_count, unhealthy_count, latency_sum_ms)
		SELECT configuration_id, system_id, date_trunc('hour', "timestamp", 'UTC'), 'hourly', count(*),
			count(*) FILTER (WHERE status = 'healthy'), 0, count(*) FILTER (WHERE status = 'unhealthy'), sum(latency_ms)
		FROM health_check_runs WHERE system_id = 'shop' GROUP BY 1, 2, 3`)
	for _, tr := range []struct {
		ago      time.Duration
		from, to string
	}{{30 * time.Hour, "healthy", "unhealthy"}, {29 * time.Hour, "unhealthy", "healthy"}, {2 * time.Hour, "healthy", "degraded"}} {
		exec(`INSERT INTO health_check_state_transitions (system_id, configuration_id, from_status, to_status, transitioned_at)
			VALUES ('shop', $1, $2::health_check_status, $3::health_check_status, $4)`, check, tr.from, tr.to, t0.Add(-tr.ago))
	}
	exec(`INSERT INTO system_health_state (system_id, status, healthy_checks, total_checks, in_status_since, seq)
		VALUES ('shop', 'degraded', 0, 1, $1, 7)`, t0.Add(-2*time.Hour))
	exec(`INSERT INTO check_health_state (system_id, configuration_id, status, runs_considered, seq) VALUES ('shop', $1, 'degraded', 5, 7)`, check)
	e.mustMaintenance("shop")
	return e, check
}

// TestUptimeEndpoint: the figures of the fixture over 24 h and 7 d, worked out by hand, match the
// OpenAPI document; the success rate equals a SQL count over the raw runs; bad parameters are
// 422, unknown systems and checks 404.
func TestUptimeEndpoint(t *testing.T) {
	t.Parallel()
	e, check := uptimeEnv(t)
	spec := loadSpec(t, e)
	type day struct {
		Day           string   `json:"day"`
		Worst         *string  `json:"worst"`
		UptimePercent *float64 `json:"uptimePercent"`
		Incidents     int      `json:"incidents"`
	}
	type uptime struct {
		Window             string    `json:"window"`
		From, To           time.Time `json:"-"`
		CoveredFrom        time.Time `json:"coveredFrom"`
		CheckID            string    `json:"checkId"`
		UptimePercent      *float64  `json:"uptimePercent"`
		DegradedPercent    *float64  `json:"degradedPercent"`
		UnhealthyPercent   *float64  `json:"unhealthyPercent"`
		MaintenancePercent *float64  `json:"maintenancePercent"`
		SuccessRate        *float64  `json:"successRate"`
		Runs               int64     `json:"runs"`
		Days               []day     `json:"days"`
	}
	get := func(query string) (response, uptime) {
		t.Helper()
		path := "/api/v1/systems/shop/uptime" + query
		res := e.do("GET", path, "", nil)
		var u uptime
		if res.status == http.StatusOK {
			res.decode(t, &u)
		}
		req, _ := http.NewRequest("GET", "http://x"+path, nil)
		if err := spec.ValidateResponse(context.Background(), req, res.status, res.header, res.body); err != nil {
			t.Fatal(err)
		}
		return res, u
	}
	near := func(p *float64, want float64) bool { return p != nil && math.Abs(*p-want) < 0.0001 }
	sqlRate := func(window time.Duration) (int64, float64) {
		var n, h int64
		if err := e.pool.QueryRow(context.Background(), `SELECT count(*), count(*) FILTER (WHERE status = 'healthy') FROM health_check_runs
			WHERE system_id = 'shop' AND "timestamp" >= $1 AND "timestamp" < $2`, t0.Add(-window), t0).Scan(&n, &h); err != nil {
			t.Fatal(err)
		}
		return n, float64(h) / float64(n)
	}

	// 24 h: healthy 22 h, degraded 1 h (10:00–11:00), maintenance 1 h (the last hour, degraded).
	res, u := get("")
	n, rate := sqlRate(24 * time.Hour)
	if res.status != 200 || u.Window != "24h" || !near(u.UptimePercent, 100*23/24.0) || !near(u.DegradedPercent, 100/24.0) ||
		!near(u.UnhealthyPercent, 0) || !near(u.MaintenancePercent, 100/24.0) || u.Runs != n || !near(u.SuccessRate, rate) || u.Days != nil {
		t.Fatalf("24h: %s", res)
	}
	// 7 d: the system began 3 days ago (its first run); the 30 h-old incident and today's.
	res, u = get("?window=7d")
	n, rate = sqlRate(7 * 24 * time.Hour)
	covered := 72.0
	if res.status != 200 || !u.CoveredFrom.Equal(t0.Add(-72*time.Hour)) || !near(u.UptimePercent, 100*(covered-1-1)/covered) ||
		!near(u.UnhealthyPercent, 100/covered) || u.Runs != n || !near(u.SuccessRate, rate) || len(u.Days) != 7 {
		t.Fatalf("7d: %s", res)
	}
	wantDays := []struct {
		day    string
		worst  string // "" = null
		uptime float64
		incid  int
	}{
		{"2026-05-24", "", -1, 0}, {"2026-05-25", "", -1, 0}, {"2026-05-26", "", -1, 0},
		{"2026-05-27", "healthy", 100, 0},
		{"2026-05-28", "healthy", 100, 0},
		{"2026-05-29", "unhealthy", 100 * 23 / 24.0, 1},
		{"2026-05-30", "degraded", 100 * 11 / 12.0, 1},
	}
	for i, w := range wantDays {
		d := u.Days[i]
		ok := d.Day == w.day && d.Incidents == w.incid
		if w.worst == "" {
			ok = ok && d.Worst == nil && d.UptimePercent == nil
		} else {
			ok = ok && d.Worst != nil && *d.Worst == w.worst && near(d.UptimePercent, w.uptime)
		}
		if !ok {
			t.Errorf("day %d: %s worst %v uptime %v incidents %d, want %+v", i, d.Day, ptrString(d.Worst), ptrString(d.UptimePercent), d.Incidents, w)
		}
	}
	// Scoped to the check: the same runs (it is the only one); to another check: none.
	if res, u = get("?window=30d&checkId=" + check); res.status != 200 || u.CheckID != check || u.Runs != 3*24*4 {
		t.Fatalf("checkId: %s", res)
	}
	other := e.mustCheck("unassigned")
	if res, u = get("?window=30d&checkId=" + other); res.status != 200 || u.Runs != 0 || u.SuccessRate != nil || u.UptimePercent == nil {
		t.Fatalf("another check: %s", res)
	}

	for _, tc := range []struct {
		path  string
		code  int
		field string
	}{
		{"/api/v1/systems/shop/uptime?window=1y", 422, "window"},
		{"/api/v1/systems/shop/uptime?checkId=nope", 422, "checkId"},
		{"/api/v1/systems/shop/uptime?bogus=1", 422, "bogus"},
		{"/api/v1/systems/shop/uptime?checkId=00000000-0000-0000-0000-000000000000", 404, ""},
		{"/api/v1/systems/nope/uptime", 404, ""},
	} {
		res := e.do("GET", tc.path, "", nil)
		if res.status != tc.code {
			t.Errorf("%s: %s, want %d", tc.path, res, tc.code)
			continue
		}
		if tc.field != "" {
			if p := res.problem(t); len(p.Errors) == 0 || p.Errors[0].Field != tc.field {
				t.Errorf("%s: %+v, want an error on %s", tc.path, p, tc.field)
			}
		}
	}
}

// svgBadge is what the tests read back from a badge with encoding/xml.
type svgBadge struct {
	XMLName xml.Name `xml:"http://www.w3.org/2000/svg svg"`
	Role    string   `xml:"role,attr"`
	Label   string   `xml:"aria-label,attr"`
	Title   string   `xml:"title"`
	Paths   []struct {
		Fill string `xml:"fill,attr"`
	} `xml:"path"`
	Texts []string `xml:"g>text"`
}

func parseBadge(t *testing.T, res response) svgBadge {
	t.Helper()
	var b svgBadge
	if err := xml.Unmarshal(res.body, &b); err != nil {
		t.Fatalf("not an SVG document: %v\n%s", err, res.body)
	}
	return b
}

// TestBadges is issue 15's acceptance 3: each badge is valid SVG (parsed with encoding/xml) with
// the right text, colour and text alternative, image/svg+xml, cache headers and an ETag (304 on
// If-None-Match); badges of status behind a token are private.
func TestBadges(t *testing.T) {
	t.Parallel()
	e, check := uptimeEnv(t)
	for _, id := range []string{"ok", "deg", "down", "empty", "nodata"} {
		e.mustSystem(id)
	}
	for id, st := range map[string]health.Status{"ok": health.Healthy, "deg": health.Degraded, "down": health.Unhealthy} {
		e.mustAssign(id, check)
		e.mustRun(id, check, 1, st)
	}
	e.mustAssign("nodata", check) // enabled check, no run
	var latency float64
	if err := e.pool.QueryRow(context.Background(), `SELECT round(sum(latency_sum_ms)::numeric / sum(run_count))
		FROM health_check_aggregates WHERE system_id = 'shop' AND bucket_size = 'hourly' AND bucket_start >= $1`, t0.Add(-24*time.Hour)).Scan(&latency); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path         string
		label, value string
		colour       badge.Colour
	}{
		{"/api/v1/systems/ok/badges/status.svg", "status", "healthy", badge.Green},
		{"/api/v1/systems/deg/badges/status.svg", "status", "degraded", badge.Amber},
		{"/api/v1/systems/down/badges/status.svg", "status", "unhealthy", badge.Red},
		{"/api/v1/systems/shop/badges/status.svg", "status", "maintenance", badge.Blue},
		{"/api/v1/systems/empty/badges/status.svg", "status", "unknown", badge.Grey},
		{"/api/v1/systems/nodata/badges/status.svg", "status", "unknown", badge.Grey},
		{"/api/v1/systems/shop/badges/uptime.svg", "uptime 24h", "95.83%", badge.Amber},
		{"/api/v1/systems/shop/badges/uptime.svg?window=7d", "uptime 7d", "97.22%", badge.Amber},
		{"/api/v1/systems/shop/badges/uptime.svg?window=90d", "uptime 90d", "97.22%", badge.Amber},
		{"/api/v1/systems/ok/badges/uptime.svg?window=90d", "uptime 90d", "no data", badge.Grey}, // its first run is now
		{"/api/v1/systems/shop/badges/latency.svg", "latency 24h", fmt.Sprintf("%d ms", int(latency)), badge.Green},
		{"/api/v1/systems/empty/badges/latency.svg", "latency 24h", "no data", badge.Grey},
	} {
		res := e.do("GET", tc.path, "", nil)
		if res.status != 200 || res.header.Get("Content-Type") != "image/svg+xml" {
			t.Errorf("%s: %d %s %s", tc.path, res.status, res.header.Get("Content-Type"), res.body)
			continue
		}
		if cc := res.header.Get("Cache-Control"); cc != "public, max-age=60" {
			t.Errorf("%s: Cache-Control %q", tc.path, cc)
		}
		b := parseBadge(t, res)
		text := tc.label + ": " + tc.value
		if b.Role != "img" || b.Label != text || b.Title != text || len(b.Texts) != 2 || b.Texts[0] != tc.label || b.Texts[1] != tc.value ||
			len(b.Paths) != 2 || b.Paths[1].Fill != string(tc.colour) {
			t.Errorf("%s: %+v, want %q on %s", tc.path, b, text, tc.colour)
		}
		etag := res.header.Get("ETag")
		if !strings.HasPrefix(etag, `"`) {
			t.Errorf("%s: ETag %q", tc.path, etag)
			continue
		}
		again := e.do("GET", tc.path, "", nil, "If-None-Match", `W/"other", `+etag)
		if again.status != http.StatusNotModified || len(again.body) != 0 || again.header.Get("ETag") != etag {
			t.Errorf("%s with If-None-Match: %s", tc.path, again)
		}
		if other := e.do("GET", tc.path, "", nil, "If-None-Match", `"stale"`); other.status != 200 {
			t.Errorf("%s with a stale ETag: %d", tc.path, other.status)
		}
	}
	for _, tc := range []struct {
		path string
		code int
	}{
		{"/api/v1/systems/nope/badges/status.svg", 404},
		{"/api/v1/systems/nope/badges/uptime.svg", 404},
		{"/api/v1/systems/nope/badges/latency.svg", 404},
		{"/api/v1/systems/shop/badges/uptime.svg?window=2d", 422},
		{"/api/v1/systems/shop/badges/status.svg?style=flat", 422},
	} {
		if res := e.do("GET", tc.path, "", nil); res.status != tc.code || !strings.HasPrefix(res.header.Get("Content-Type"), problemContentType) {
			t.Errorf("%s: %d %s", tc.path, res.status, res.header.Get("Content-Type"))
		}
	}
	// Status behind a token: the badge needs one and is private.
	e.srv = New(Config{Pool: e.pool, Entities: e.entities, Version: "test"}, WithPublicStatus(false), WithClock(func() time.Time { return t0 }))
	if res := e.do("GET", "/api/v1/systems/ok/badges/status.svg", "", nil); res.status != http.StatusUnauthorized {
		t.Fatalf("without a token: %s", res)
	}
	if res := e.do("GET", "/api/v1/systems/ok/badges/status.svg", tokStatus, nil); res.status != 200 || res.header.Get("Cache-Control") != "private, max-age=60" {
		t.Fatalf("with a token: %d %v", res.status, res.header)
	}
}

func ptrString[T any](p *T) string {
	if p == nil {
		return "null"
	}
	return fmt.Sprint(*p)
}
