package tests

import (
	"context"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/net/html"

	"github.com/checkflow/checkflow/internal/store"
	"github.com/checkflow/checkflow/internal/testutil"
	"github.com/checkflow/checkflow/server"
)

// pageNow is the uptime fixture's "now" (the server's clock): not on an hour.
var pageNow = time.Date(2026, 5, 30, 12, 34, 56, 0, time.UTC)

// seedPageUptime seeds, with SQL, a system "known-down" with two checks: runs every 10 and 30
// minutes over the last 8 days 7 hours (some unhealthy or degraded) with their hourly aggregates
// (days older than a week rolled up into daily rows), a transition history with known downtime,
// two maintenance windows and the stored view.
func seedPageUptime(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	ctx := context.Background()
	st := store.New(pool)
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := pool.Exec(ctx, sql, args...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	if _, err := st.CreateSystem(ctx, store.SystemInput{ID: "known-down", Name: "Known downtime"}); err != nil {
		t.Fatal(err)
	}
	exec(`UPDATE systems SET created_at = $1::timestamptz - interval '100 days'`, pageNow)
	var cfg []string
	for _, name := range []string{"page check 1", "page check 2"} {
		c, err := st.CreateConfiguration(ctx, store.ConfigurationInput{Name: name, StrategyID: "tcp",
			Config: []byte(`{"host": "127.0.0.1", "port": 9}`), IntervalSeconds: 600})
		if err != nil {
			t.Fatal(err)
		}
		enabled := true
		if _, _, err := st.Associate(ctx, store.AssociateInput{SystemID: "known-down", ConfigurationID: c.ID, Enabled: &enabled}); err != nil {
			t.Fatal(err)
		}
		cfg = append(cfg, c.ID)
	}
	exec(`INSERT INTO health_check_runs (id, configuration_id, system_id, status, latency_ms, "timestamp")
		SELECT 'known-down:c1-' || n, $2::uuid, 'known-down',
			(CASE WHEN n % 17 = 0 THEN 'unhealthy' WHEN n % 13 = 0 THEN 'degraded' ELSE 'healthy' END)::health_check_status,
			20 + n % 50, $1::timestamptz - interval '8 days 7 hours' + n * interval '10 minutes' + interval '7 seconds'
		FROM generate_series(0, (8 * 24 + 7) * 6 - 1) n`, pageNow, cfg[0])
	exec(`INSERT INTO health_check_runs (id, configuration_id, system_id, status, latency_ms, "timestamp")
		SELECT 'known-down:c2-' || n, $2::uuid, 'known-down', (CASE WHEN n % 5 = 0 THEN 'unhealthy' ELSE 'healthy' END)::health_check_status,
			100, $1::timestamptz - interval '8 days 7 hours' + n * interval '30 minutes' + interval '11 seconds'
		FROM generate_series(0, (8 * 24 + 7) * 2 - 1) n`, pageNow, cfg[1])
	exec(`INSERT INTO health_check_aggregates (configuration_id, system_id, bucket_start, bucket_size,
			run_count, healthy_count, degraded_count, unhealthy_count, latency_sum_ms)
		SELECT configuration_id, system_id, date_trunc('hour', "timestamp", 'UTC'), 'hourly', count(*),
			count(*) FILTER (WHERE status = 'healthy'), count(*) FILTER (WHERE status = 'degraded'),
			count(*) FILTER (WHERE status = 'unhealthy'), sum(latency_ms)
		FROM health_check_runs GROUP BY 1, 2, 3`)
	exec(`INSERT INTO health_check_aggregates (configuration_id, system_id, bucket_start, bucket_size,
			run_count, healthy_count, degraded_count, unhealthy_count, latency_sum_ms)
		SELECT configuration_id, system_id, date_trunc('day', bucket_start, 'UTC'), 'daily', sum(run_count),
			sum(healthy_count), sum(degraded_count), sum(unhealthy_count), sum(latency_sum_ms)
		FROM health_check_aggregates WHERE bucket_size = 'hourly' AND bucket_start < date_trunc('day', $1::timestamptz - interval '7 days', 'UTC')
		GROUP BY 1, 2, 3`, pageNow)
	exec(`DELETE FROM health_check_aggregates WHERE bucket_size = 'hourly' AND bucket_start < date_trunc('day', $1::timestamptz - interval '7 days', 'UTC')`, pageNow)
	for _, tr := range []struct {
		ago      time.Duration
		from, to string
	}{
		{8*24*time.Hour + 3*time.Hour, "healthy", "degraded"},
		{6*24*time.Hour + 5*time.Hour + 20*time.Minute, "degraded", "unhealthy"},
		{6*24*time.Hour + 2*time.Hour, "unhealthy", "healthy"},
		{20*time.Hour + 13*time.Minute, "healthy", "unhealthy"},
		{19*time.Hour + time.Minute, "unhealthy", "degraded"},
		{3 * time.Hour, "degraded", "healthy"},
		{10 * time.Minute, "healthy", "degraded"},
	} {
		exec(`INSERT INTO health_check_state_transitions (system_id, configuration_id, from_status, to_status, transitioned_at)
			VALUES ('known-down', $1, $2::health_check_status, $3::health_check_status, $4)`, cfg[0], tr.from, tr.to, pageNow.Add(-tr.ago))
	}
	exec(`INSERT INTO system_health_state (system_id, status, healthy_checks, total_checks, in_status_since, seq)
		VALUES ('known-down', 'degraded', 1, 2, $1::timestamptz - interval '10 minutes', 42)`, pageNow)
	for _, m := range []struct{ start, end time.Duration }{
		{-(6*24*time.Hour + 4*time.Hour), -(6*24*time.Hour + time.Hour)},
		{-30 * time.Minute, time.Hour},
	} {
		if _, err := st.CreateMaintenance(ctx, store.MaintenanceInput{Title: "m", SystemIDs: []string{"known-down"},
			StartsAt: pageNow.Add(m.start), EndsAt: pageNow.Add(m.end)}); err != nil {
			t.Fatal(err)
		}
	}
}

// uptimeSQL computes, independently of health.ComputeUptime and the store, the uptime (percent)
// and raw success rate (ratio) of known-down over a window ending at pageNow: status segments
// from the transitions with lead(), clipped to the covered window (from the oldest run) with
// range intersection, maintenance counted as up with multirange arithmetic; healthy runs / runs
// over the window.
func uptimeSQL(t *testing.T, pool *pgxpool.Pool, window time.Duration) (uptime, successRate float64) {
	t.Helper()
	secs := func(mr string) string {
		return `(SELECT coalesce(sum(extract(epoch FROM upper(x) - lower(x))), 0) FROM unnest(` + mr + `) x)`
	}
	err := pool.QueryRow(context.Background(), `WITH
		w AS (SELECT tstzrange(greatest($2::timestamptz - $3::interval,
			(SELECT min("timestamp") FROM health_check_runs WHERE system_id = $1)), $2::timestamptz) AS r),
		tr AS (
			SELECT transitioned_at AS at, to_status AS st FROM health_check_state_transitions WHERE system_id = $1
			UNION ALL
			SELECT '-infinity', coalesce((SELECT from_status FROM health_check_state_transitions WHERE system_id = $1
				ORDER BY transitioned_at LIMIT 1), 'healthy')),
		seg AS (SELECT st, tstzrange(at, lead(at, 1, 'infinity') OVER (ORDER BY at)) AS r FROM tr),
		m AS (SELECT coalesce(range_agg(tstzrange(starts_at, ends_at)), '{}'::tstzmultirange) AS mr
			FROM maintenance_windows WHERE system_ids @> ARRAY[$1]::text[]),
		parts AS (SELECT seg.st, multirange(seg.r * w.r) - m.mr AS rest, multirange(seg.r * w.r) * m.mr AS inm FROM seg, w, m),
		up AS (SELECT coalesce(sum(`+secs("rest")+`) FILTER (WHERE st = 'healthy'), 0) + coalesce(sum(`+secs("inm")+`), 0) AS up FROM parts)
		SELECT 100 * (SELECT up FROM up) / (SELECT extract(epoch FROM upper(r) - lower(r)) FROM w),
			(SELECT count(*) FILTER (WHERE status = 'healthy')::float8 / count(*) FROM health_check_runs
				WHERE system_id = $1 AND "timestamp" >= $2::timestamptz - $3::interval AND "timestamp" < $2)`,
		"known-down", pageNow, window).Scan(&uptime, &successRate)
	if err != nil {
		t.Fatalf("uptime by SQL: %v", err)
	}
	return uptime, successRate
}

// pageFigure is one uptime or raw figure read from the page.
type pageFigure struct {
	text  string // as shown: "99.12 %" or "raw 99.12 %"
	value string // data-value
}

// readUptimeFigures parses the page's uptime and raw figures of a system by window.
func readUptimeFigures(t *testing.T, body []byte, systemID string) (uptime, raw map[string]pageFigure) {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	get := func(n *html.Node, key string) string {
		for _, a := range n.Attr {
			if a.Key == key {
				return a.Val
			}
		}
		return ""
	}
	textOf := func(n *html.Node) string {
		var b strings.Builder
		var rec func(*html.Node)
		rec = func(c *html.Node) {
			if c.Type == html.TextNode {
				b.WriteString(c.Data)
			}
			for k := c.FirstChild; k != nil; k = k.NextSibling {
				rec(k)
			}
		}
		rec(n)
		return strings.TrimSpace(b.String())
	}
	uptime, raw = map[string]pageFigure{}, map[string]pageFigure{}
	var walk func(n *html.Node, inSystem bool)
	walk = func(n *html.Node, inSystem bool) {
		if n.Type == html.ElementNode {
			if get(n, "data-system") != "" {
				inSystem = get(n, "data-system") == systemID
			}
			if inSystem && get(n, "data-window") != "" {
				f := pageFigure{text: textOf(n), value: get(n, "data-value")}
				switch {
				case strings.Contains(get(n, "class"), "uptime-value"):
					uptime[get(n, "data-window")] = f
				case strings.Contains(get(n, "class"), "raw"):
					raw[get(n, "data-window")] = f
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c, inSystem)
		}
	}
	walk(doc, false)
	return uptime, raw
}

// percentOf parses "99.12 %" (after an optional prefix).
func percentOf(t *testing.T, s, prefix string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimPrefix(s, prefix), " %"), 64)
	if err != nil {
		t.Fatalf("figure %q: %v", s, err)
	}
	return v
}

// TestStatusPageUptimeEqualsSQL is issue 15's acceptance 2: for a fixture with known downtime
// (transitions, maintenance windows, runs with their hourly and daily aggregates), every uptime
// figure on the status page (24 h, 7 d, 30 d, 90 d; shown rounded down to 0.01 %, and its 4-decimal
// data-value) equals an independent SQL computation over the same runs and transitions to 0.01 %,
// and so does the raw success rate beside it.
func TestStatusPageUptimeEqualsSQL(t *testing.T) {
	t.Parallel()
	pool := testutil.NewPool(t)
	seedPageUptime(t, pool)
	ps := newPageServer(t, server.Config{Pool: pool, Logger: testutil.Logger(t)}, nil, server.WithClock(func() time.Time { return pageNow }))
	res, err := http.Get(ps.url + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(res.Body)
	_ = res.Body.Close()
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET /: %d %v", res.StatusCode, err)
	}
	uptime, raw := readUptimeFigures(t, body, "known-down")
	windows := map[string]time.Duration{"24h": 24 * time.Hour, "7d": 7 * 24 * time.Hour, "30d": 30 * 24 * time.Hour, "90d": 90 * 24 * time.Hour}
	if len(uptime) != len(windows) || len(raw) != len(windows) {
		t.Fatalf("figures on the page: uptime %v, raw %v", uptime, raw)
	}
	for name, d := range windows {
		wantUp, wantRate := uptimeSQL(t, pool, d)
		shown := percentOf(t, uptime[name].text, "")
		value, err := strconv.ParseFloat(uptime[name].value, 64)
		if err != nil {
			t.Fatalf("%s data-value %q: %v", name, uptime[name].value, err)
		}
		// Shown rounded down to 0.01 %: within 0.01 % below the exact figure, never above.
		if shown > wantUp+1e-9 || wantUp-shown >= 0.01 || math.Abs(value-wantUp) > 0.0001 {
			t.Errorf("%s: page uptime %q (%s), SQL %.6f %%", name, uptime[name].text, uptime[name].value, wantUp)
		}
		shownRate := percentOf(t, raw[name].text, "raw ")
		rate, err := strconv.ParseFloat(raw[name].value, 64)
		if err != nil {
			t.Fatalf("%s raw data-value %q: %v", name, raw[name].value, err)
		}
		if math.Abs(shownRate-100*wantRate) >= 0.01 || math.Abs(rate-wantRate) > 0.000001 {
			t.Errorf("%s: page raw %q (%s), SQL %.6f", name, raw[name].text, raw[name].value, wantRate)
		}
		t.Logf("%s: page %s / raw %s; SQL %.4f %% / %.4f %%", name, uptime[name].text, raw[name].text, wantUp, 100*wantRate)
	}
	// The fixture has downtime in every window: a page showing 100 % everywhere would not pass.
	if uptime["24h"].text == "100.00 %" || uptime["7d"].text == uptime["24h"].text {
		t.Errorf("the fixture's downtime is not visible: %v", uptime)
	}
}
