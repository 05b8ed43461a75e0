package tests

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/checkflow/checkflow/internal/health"
	"github.com/checkflow/checkflow/internal/statuspage"
	"github.com/checkflow/checkflow/internal/store"
	"github.com/checkflow/checkflow/internal/testutil"
	"github.com/checkflow/checkflow/server"
)

// seedPageStatuses creates the systems with one check each and stores their evaluated status
// (as the entity would persist it); inMaintenance get an active maintenance window.
func seedPageStatuses(t *testing.T, pool *pgxpool.Pool, statuses map[string]health.Status, inMaintenance ...string) {
	t.Helper()
	ctx := context.Background()
	st := store.New(pool)
	c, err := st.CreateConfiguration(ctx, store.ConfigurationInput{Name: "home page", StrategyID: "tcp",
		Config: []byte(`{"host": "127.0.0.1", "port": 9}`), IntervalSeconds: 600})
	if err != nil {
		t.Fatal(err)
	}
	on := true
	for id, status := range statuses {
		if _, err := st.CreateSystem(ctx, store.SystemInput{ID: id, Name: "System " + id}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := st.Associate(ctx, store.AssociateInput{SystemID: id, ConfigurationID: c.ID, Enabled: &on}); err != nil {
			t.Fatal(err)
		}
		healthy := 0
		if status == health.Healthy {
			healthy = 1
		}
		if _, err := st.Persist(ctx, store.PersistInput{SystemID: id, Seq: 1, At: time.Now().UTC(),
			View:   &health.View{Status: status, HealthyChecks: healthy, TotalChecks: 1},
			Checks: []store.CheckState{{ConfigurationID: c.ID, Status: status, RunsConsidered: 1}}}); err != nil {
			t.Fatal(err)
		}
	}
	if len(inMaintenance) > 0 {
		if _, err := st.CreateMaintenance(ctx, store.MaintenanceInput{Title: "Upgrade", SystemIDs: inMaintenance,
			StartsAt: time.Now().Add(-time.Minute), EndsAt: time.Now().Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
}

// getPage GETs a page as a browser would and returns its status, content type and body.
func getPage(t *testing.T, url string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/html")
	res, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, res.Header.Get("Content-Type"), string(body)
}

var (
	titleRe     = regexp.MustCompile(`<title>([^<]*)</title>`)
	siteTitleRe = regexp.MustCompile(`<p class="site-title"><a href="/">([^<]*)</a></p>`)
	logoRe      = regexp.MustCompile(`<img class="logo" src="([^"]*)" alt="([^"]*)"`)
	systemRowRe = regexp.MustCompile(`data-system="([^"]*)"`)
)

// TestStatusPageConfiguration: the page's title, logo and shown systems follow the
// configuration: the title (or the default), the logo beside it (none unless configured), the
// configured systems in the configured order (unknown ids skipped; every system by id when none
// is configured), and a 404 HTML page for a system that is not shown.
func TestStatusPageConfiguration(t *testing.T) {
	t.Parallel()
	pool := testutil.NewPool(t)
	seedPageStatuses(t, pool, map[string]health.Status{"a": health.Healthy, "b": health.Degraded, "c": health.Unhealthy})
	for _, tc := range []struct {
		name          string
		cfg           server.StatusPageConfig
		title, logo   string
		shown, hidden []string
	}{
		{"defaults", server.StatusPageConfig{}, server.DefaultStatusPageTitle, "", []string{"a", "b", "c"}, nil},
		{"configured", server.StatusPageConfig{Title: "Acme Cloud", LogoURL: "https://cdn.example.com/acme.png", Systems: []string{"c", "nope", "a"}},
			"Acme Cloud", "https://cdn.example.com/acme.png", []string{"c", "a"}, []string{"b", "nope"}},
		{"relative logo", server.StatusPageConfig{Title: "Ops", LogoURL: "/static/logo.svg", Systems: []string{"b"}},
			"Ops", "/static/logo.svg", []string{"b"}, []string{"a", "c"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			api := server.New(server.Config{Pool: pool, Logger: testutil.Logger(t), Version: "e2e"}, server.WithStatusPage(tc.cfg))
			hs := httptest.NewServer(api.Handler())
			t.Cleanup(hs.Close)
			t.Cleanup(api.Close)

			code, ctype, body := getPage(t, hs.URL+"/")
			if code != http.StatusOK || !strings.HasPrefix(ctype, "text/html") {
				t.Fatalf("GET /: %d %s", code, ctype)
			}
			if m := titleRe.FindStringSubmatch(body); m == nil || m[1] != tc.title {
				t.Errorf("<title> %v, want %q", m, tc.title)
			}
			if m := siteTitleRe.FindStringSubmatch(body); m == nil || m[1] != tc.title {
				t.Errorf("site title %v, want %q", m, tc.title)
			}
			switch m := logoRe.FindStringSubmatch(body); {
			case tc.logo == "" && m != nil:
				t.Errorf("a logo without one configured: %v", m)
			case tc.logo != "" && (m == nil || m[1] != tc.logo || m[2] != tc.title+" logo"):
				t.Errorf("logo %v, want %q with the alt text %q", m, tc.logo, tc.title+" logo")
			}
			var shown []string
			for _, m := range systemRowRe.FindAllStringSubmatch(body, -1) {
				shown = append(shown, m[1])
			}
			if strings.Join(shown, ",") != strings.Join(tc.shown, ",") {
				t.Errorf("systems shown %v, want %v", shown, tc.shown)
			}
			for _, id := range tc.shown {
				if code, _, body := getPage(t, hs.URL+"/status/"+id); code != http.StatusOK || !strings.Contains(body, `data-system="`+id+`"`) {
					t.Errorf("/status/%s: %d", id, code)
				}
			}
			for _, id := range tc.hidden {
				code, ctype, body := getPage(t, hs.URL+"/status/"+id)
				if code != http.StatusNotFound || !strings.HasPrefix(ctype, "text/html") || strings.Contains(body, `data-system="`+id+`"`) {
					t.Errorf("/status/%s of a system not shown: %d %s", id, code, ctype)
				}
			}
		})
	}
}

// TestStatusPageDarkThemeAndBadgesInBrowser: with prefers-color-scheme: dark, Chromium shows
// every status (healthy, degraded, unhealthy, in maintenance) and the banner in the dark
// palette's colours with its text colour, on the dark background; the configured logo loads;
// at 360 px and 1280 px the system rows' parts fit and do not overlap; and every badge of every
// shown system decodes as an image in the browser (a valid SVG, not just well-formed XML) with
// the size its svg element declares. No console error.
func TestStatusPageDarkThemeAndBadgesInBrowser(t *testing.T) {
	t.Parallel()
	pool := testutil.NewPool(t)
	fixtures := []struct {
		id     string
		status health.Status
		key    string
	}{
		{"ok", health.Healthy, statuspage.StatusHealthy},
		{"slow", health.Degraded, statuspage.StatusDegraded},
		{"down", health.Unhealthy, statuspage.StatusUnhealthy},
		{"upgrading", health.Healthy, statuspage.StatusMaintenance},
	}
	statuses := map[string]health.Status{}
	var ids []string
	for _, f := range fixtures {
		statuses[f.id] = f.status
		ids = append(ids, f.id)
	}
	seedPageStatuses(t, pool, statuses, "upgrading")

	logo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "image/svg+xml")
		_, _ = io.WriteString(w, `<svg xmlns="http://www.w3.org/2000/svg" width="32" height="32"><rect width="32" height="32" fill="#0969da"/></svg>`)
	}))
	t.Cleanup(logo.Close)
	ps := newPageServer(t, server.Config{Pool: pool, Logger: testutil.Logger(t)}, nil,
		server.WithStatusPage(server.StatusPageConfig{Title: "Acme Cloud", LogoURL: logo.URL + "/logo.svg", Systems: ids}))
	b := newBrowser(t)
	_, dark := statuspage.Palette()

	darkMode := chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}}})
		return err
	})
	b.do(t, "open the page in the dark theme", darkMode, chromedp.EmulateViewport(360, 800), chromedp.Navigate(ps.url+"/"),
		chromedp.WaitVisible(chromedp.CSS("#banner")))
	if !eval[bool](t, b, `matchMedia('(prefers-color-scheme: dark)').matches`) {
		t.Fatal("the dark colour scheme is not emulated")
	}
	if bg := eval[string](t, b, `getComputedStyle(document.body).backgroundColor`); bg != hexToRGB(t, dark.Background) {
		t.Errorf("body background %s, want the dark %s", bg, dark.Background)
	}
	type colours struct {
		Status, Text, BG, FG string
	}
	shown := eval[map[string]colours](t, b, `(() => { const out = {};
		document.querySelectorAll('[data-system]').forEach(r => { const s = r.querySelector('[data-role="status"]'); const cs = getComputedStyle(s);
			out[r.getAttribute('data-system')] = {status: s.getAttribute('data-status'), text: s.textContent.trim(), bg: cs.backgroundColor, fg: cs.color}; });
		return out; })()`)
	if len(shown) != len(fixtures) {
		t.Fatalf("%d systems shown, want %d: %+v", len(shown), len(fixtures), shown)
	}
	for _, f := range fixtures {
		want := colours{Status: f.key, Text: statuspage.StatusText(f.key), BG: hexToRGB(t, dark.Status[f.key]), FG: hexToRGB(t, dark.OnStatus)}
		if got := shown[f.id]; got != want {
			t.Errorf("%s: %+v, want %+v", f.id, got, want)
		}
	}
	banner := eval[colours](t, b, `(() => { const b = document.getElementById('banner'); const cs = getComputedStyle(b);
		return {status: b.getAttribute('data-status'), text: document.getElementById('banner-text').textContent.trim(), bg: cs.backgroundColor, fg: cs.color}; })()`)
	if want := (colours{Status: statuspage.StatusUnhealthy, Text: statuspage.BannerText(statuspage.StatusUnhealthy),
		BG: hexToRGB(t, dark.Status[statuspage.StatusUnhealthy]), FG: hexToRGB(t, dark.OnStatus)}); banner != want {
		t.Errorf("banner %+v, want %+v", banner, want)
	}
	if w := eval[int](t, b, `(() => { const l = document.querySelector('img.logo'); return l && l.complete ? l.naturalWidth : -1; })()`); w != 32 {
		t.Errorf("the logo did not load (natural width %d)", w)
	}

	for _, width := range []int{360, 1280} {
		b.do(t, "resize", chromedp.EmulateViewport(int64(width), 800))
		b.screenshot(t, "statuspage-dark-"+strconv.Itoa(width)+".png")
		checkLayout(t, width, eval[layout](t, b, layoutJS), 2+len(fixtures)+1)
		checkRowLayout(t, b, width)
	}

	// Every badge as the browser decodes it in an <img>: natural size = the svg's width/height.
	var badges []string
	for _, id := range ids {
		for _, p := range []string{"status.svg", "uptime.svg", "uptime.svg?window=7d", "uptime.svg?window=90d", "latency.svg"} {
			badges = append(badges, "/api/v1/systems/"+id+"/badges/"+p)
		}
	}
	list, _ := json.Marshal(badges)
	type decoded struct {
		URL               string
		OK                bool
		Natural, Declared [2]int
	}
	got, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]decoded](`Promise.all(`+string(list)+`.map(async url => {
		const svg = new DOMParser().parseFromString(await (await fetch(url)).text(), 'image/svg+xml').documentElement;
		const img = new Image();
		const ok = await new Promise(res => { img.onload = () => res(true); img.onerror = () => res(false); img.src = url; });
		return {url, ok, natural: [img.naturalWidth, img.naturalHeight],
			declared: [parseInt(svg.getAttribute('width')), parseInt(svg.getAttribute('height'))]};
	}))`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("load the badges: %v", err)
	}
	if len(got) != len(badges) {
		t.Fatalf("%d badges decoded, want %d", len(got), len(badges))
	}
	for _, d := range got {
		if !d.OK || d.Natural[0] <= 0 || d.Natural != d.Declared {
			t.Errorf("badge %s: decoded %v, natural size %v, declared %v", d.URL, d.OK, d.Natural, d.Declared)
		}
	}
	if errs := b.consoleErrors(); len(errs) > 0 {
		t.Errorf("console errors: %q", errs)
	}
}
