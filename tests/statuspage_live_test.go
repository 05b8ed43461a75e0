package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/checkflow/checkflow/internal/health"
	"github.com/checkflow/checkflow/internal/statuspage"
	"github.com/checkflow/checkflow/internal/testutil"
	"github.com/checkflow/checkflow/server"
)

// addOutboxEvent writes an outbox row as the entities and the notifier do.
func addOutboxEvent(t *testing.T, pool *pgxpool.Pool, systemID, typ string, payload map[string]any) {
	t.Helper()
	payload["systemId"] = systemID
	payload["timestamp"] = time.Now().UTC().Format(time.RFC3339Nano)
	raw, err := json.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(context.Background(), `INSERT INTO health_events (system_id, seq, type, payload, idempotency_key)
		VALUES ($1, 0, $2, $3::jsonb, gen_random_uuid()::text)`, systemID, typ, raw); err != nil {
		t.Fatal(err)
	}
}

// TestStatusPageFollowsEveryStreamEvent: the page's script follows each kind of live event
// without a reload: system.status_changed (status text,
// colour, checks line), maintenance.started (maintenance wins over the evaluated status, also
// when that changes meanwhile) and maintenance.ended (back to the evaluated status), with the
// banner recomputed every time.
func TestStatusPageFollowsEveryStreamEvent(t *testing.T) {
	t.Parallel()
	pool := testutil.NewPool(t)
	seedPageStatuses(t, pool, map[string]health.Status{"ok": health.Healthy, "down": health.Unhealthy})
	ps := newPageServer(t, server.Config{Pool: pool, Logger: testutil.Logger(t)}, []string{"ok", "down"})
	b := newBrowser(t)
	light, _ := statuspage.Palette()

	b.do(t, "open the status page", chromedp.EmulateViewport(1280, 900), chromedp.Navigate(ps.url+"/"), chromedp.WaitVisible(chromedp.CSS("#banner")))
	if _, err := chromedp.Run(b.ctx, chromedp.Poll[bool](`document.getElementById('live').textContent === 'Live'`,
		chromedp.WithPollingTimeout(10*time.Second))); err != nil {
		t.Fatalf("the page's live stream did not open: %v", err)
	}
	eval[string](t, b, `window.__noReload = 'kept'`)

	type view struct {
		OK     string `json:"ok"`
		Down   string `json:"down"`
		Banner string `json:"banner"`
		Checks string `json:"checks"`
		// OKEvaluated is ok's evaluated status, kept under maintenance for when it ends.
		OKEvaluated string `json:"okEvaluated"`
	}
	const viewJS = `(() => { const s = id => document.querySelector('[data-system="' + id + '"] [data-role="status"]');
		const show = e => e.getAttribute('data-status') + '|' + e.textContent.trim() + '|' + getComputedStyle(e).backgroundColor;
		return {ok: show(s('ok')), down: show(s('down')), banner: show(document.getElementById('banner')).split('|')[0] + '|' +
			document.getElementById('banner-text').textContent.trim(), checks: document.querySelector('[data-system="down"] [data-role="checks"]').textContent,
		okEvaluated: document.querySelector('[data-system="ok"]').getAttribute('data-evaluated')}; })()`
	shown := func(key string) string {
		return key + "|" + statuspage.StatusText(key) + "|" + hexToRGB(t, light.Status[key])
	}
	banner := func(key string) string { return key + "|" + statuspage.BannerText(key) }

	for _, step := range []struct {
		name           string
		system, typ    string
		payload        map[string]any
		ok, down, bann string
		checks, okEval string
	}{
		{"down recovers", "down", "healthcheck.system_health_changed",
			map[string]any{"previousStatus": "unhealthy", "newStatus": "healthy", "healthyChecks": 1, "totalChecks": 1},
			statuspage.StatusHealthy, statuspage.StatusHealthy, statuspage.StatusHealthy, "1 of 1 checks healthy", "healthy"},
		{"ok enters maintenance", "ok", "maintenance.started", map[string]any{"maintenanceId": "m1"},
			statuspage.StatusMaintenance, statuspage.StatusHealthy, statuspage.StatusMaintenance, "1 of 1 checks healthy", "healthy"},
		{"ok degrades in maintenance", "ok", "healthcheck.system_health_changed",
			map[string]any{"previousStatus": "healthy", "newStatus": "degraded", "healthyChecks": 0, "totalChecks": 1},
			statuspage.StatusMaintenance, statuspage.StatusHealthy, statuspage.StatusMaintenance, "1 of 1 checks healthy", "degraded"},
		{"ok leaves maintenance", "ok", "maintenance.ended", map[string]any{"maintenanceId": "m1"},
			statuspage.StatusDegraded, statuspage.StatusHealthy, statuspage.StatusDegraded, "1 of 1 checks healthy", "degraded"},
		{"down fails again", "down", "healthcheck.system_health_changed",
			map[string]any{"previousStatus": "healthy", "newStatus": "unhealthy", "healthyChecks": 0, "totalChecks": 1},
			statuspage.StatusDegraded, statuspage.StatusUnhealthy, statuspage.StatusUnhealthy, "0 of 1 checks healthy", "degraded"},
	} {
		want := view{OK: shown(step.ok), Down: shown(step.down), Banner: banner(step.bann), Checks: step.checks, OKEvaluated: step.okEval}
		written := time.Now()
		addOutboxEvent(t, pool, step.system, step.typ, step.payload)
		wantJSON, _ := json.Marshal(want)
		cond := fmt.Sprintf(`JSON.stringify(%s) === %q`, viewJS, wantJSON)
		// The acceptance's 2 s is asserted by TestStatusPageInBrowser; here what the page shows is
		// the point, so a loaded CI machine gets a wider bound (the time taken is logged).
		if _, err := chromedp.Run(b.ctx, chromedp.Poll[bool](cond, chromedp.WithPollingTimeout(10*time.Second),
			chromedp.WithPollingInterval(20*time.Millisecond))); err != nil {
			t.Fatalf("%s: the page shows %+v, want %+v (%v)", step.name, eval[view](t, b, viewJS), want, err)
		}
		t.Logf("%s: shown %v after the outbox row", step.name, time.Since(written).Round(time.Millisecond))
	}
	if marker := eval[string](t, b, `String(window.__noReload)`); marker != "kept" {
		t.Errorf("the page reloaded (marker %q)", marker)
	}
	if errs := b.consoleErrors(); len(errs) > 0 {
		t.Errorf("console errors: %q", errs)
	}
}
