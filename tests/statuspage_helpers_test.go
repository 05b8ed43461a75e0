package tests

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// Browser helpers of the status page tests: headless Chromium driven by chromedp.

// artifactsDir is where the status page tests save their screenshots (ignored by git).
const artifactsDir = "artifacts"

// inCI reports whether the tests run in CI (.ci/run exports CI=true): there, a missing Chromium
// fails the browser tests instead of skipping them.
func inCI() bool {
	v := strings.ToLower(strings.TrimSpace(os.Getenv("CI")))
	return v != "" && v != "false" && v != "0"
}

// chromiumPath finds Chromium (Debian's chromium, or Chrome).
func chromiumPath() (string, error) {
	var errs []string
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		p, err := exec.LookPath(name)
		if err == nil {
			return p, nil
		}
		errs = append(errs, err.Error())
	}
	return "", fmt.Errorf("no Chromium found: %s", strings.Join(errs, "; "))
}

// browser is one headless Chromium tab and what its pages reported on the console.
type browser struct {
	ctx    context.Context
	mu     sync.Mutex
	errors []string
}

// newBrowser starts headless Chromium for the test (closed when it ends). Without Chromium the
// test fails in CI and is skipped elsewhere.
func newBrowser(t *testing.T) *browser {
	t.Helper()
	path, err := chromiumPath()
	if err != nil {
		if inCI() {
			t.Fatalf("the status page browser tests need Chromium in CI (apt-get install chromium): %v", err)
		}
		t.Skipf("skipping the browser test outside CI: %v", err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // CI runs as root
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1280, 900),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	b := &browser{ctx: ctx}
	if err := chromedp.Listen(ctx, b.onEvent); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return b
}

// onEvent records console errors, uncaught exceptions and error log entries (failed loads,
// CSP violations).
func (b *browser) onEvent(ev any) {
	var msg string
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		if ev.Type != runtime.ConsoleAPICalledTypeError && ev.Type != runtime.ConsoleAPICalledTypeAssert {
			return
		}
		var parts []string
		for _, a := range ev.Args {
			parts = append(parts, string(a.Value))
		}
		msg = "console." + string(ev.Type) + ": " + strings.Join(parts, " ")
	case *runtime.EventExceptionThrown:
		msg = "exception: " + ev.ExceptionDetails.Text
		if ex := ev.ExceptionDetails.Exception; ex != nil {
			msg += " " + ex.Description
		}
	case *log.EventEntryAdded:
		if ev.Entry.Level != log.EntryLevelError {
			return
		}
		msg = "log " + string(ev.Entry.Source) + ": " + ev.Entry.Text + " " + ev.Entry.URL
	default:
		return
	}
	b.mu.Lock()
	b.errors = append(b.errors, msg)
	b.mu.Unlock()
}

// consoleErrors returns what was reported so far.
func (b *browser) consoleErrors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.errors...)
}

// do runs actions in the tab.
func (b *browser) do(t *testing.T, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// eval evaluates a JavaScript expression in the page into T.
func eval[T any](t *testing.T, b *browser, expr string) T {
	t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// screenshot saves a full-page PNG under tests/artifacts and returns its path.
func (b *browser) screenshot(t *testing.T, name string) string {
	t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if len(png) < 8 || string(png[1:4]) != "PNG" {
		t.Fatalf("screenshot %s is not a PNG", name)
	}
	if err := os.MkdirAll(artifactsDir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(artifactsDir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs(path)
	t.Logf("screenshot saved: %s", abs)
	return abs
}

// box is an element's bounding box.
type box struct {
	Name string  `json:"name"`
	X    float64 `json:"x"`
	Y    float64 `json:"y"`
	W    float64 `json:"w"`
	H    float64 `json:"h"`
}

// layout is what the layout sanity check reads from the page.
type layout struct {
	ViewportWidth float64 `json:"vw"`
	ScrollWidth   float64 `json:"sw"`
	Boxes         []box   `json:"boxes"`
}

// layoutJS reads the bounding boxes (document coordinates) of the page's main blocks: the
// header, the banner, each system row and the footer.
const layoutJS = `(() => {
	const els = [document.querySelector('header'), document.getElementById('banner'),
		...document.querySelectorAll('[data-system]'), document.querySelector('footer')];
	return {
		vw: document.documentElement.clientWidth,
		sw: document.documentElement.scrollWidth,
		boxes: els.filter(e => e).map(e => {
			const r = e.getBoundingClientRect();
			return {name: e.id || e.getAttribute('data-system') || e.tagName.toLowerCase(),
				x: r.left + window.scrollX, y: r.top + window.scrollY, w: r.width, h: r.height};
		}),
	};
})()`

// checkLayout: no horizontal overflow, every block visible inside the viewport's width, and no
// two blocks overlapping.
func checkLayout(t *testing.T, width int, l layout, wantBoxes int) {
	t.Helper()
	const eps = 0.5
	if l.ViewportWidth != float64(width) {
		t.Errorf("%d px: viewport is %v px wide", width, l.ViewportWidth)
	}
	if l.ScrollWidth > l.ViewportWidth+eps {
		t.Errorf("%d px: the page scrolls horizontally (%v px of content)", width, l.ScrollWidth)
	}
	if len(l.Boxes) != wantBoxes {
		t.Errorf("%d px: %d blocks, want %d", width, len(l.Boxes), wantBoxes)
	}
	for i, a := range l.Boxes {
		if a.W <= 0 || a.H <= 0 {
			t.Errorf("%d px: %s is not visible (%+v)", width, a.Name, a)
		}
		if a.X < -eps || a.X+a.W > l.ViewportWidth+eps {
			t.Errorf("%d px: %s does not fit the viewport (x %v, width %v)", width, a.Name, a.X, a.W)
		}
		for _, b := range l.Boxes[i+1:] {
			ox := min(a.X+a.W, b.X+b.W) - max(a.X, b.X)
			oy := min(a.Y+a.H, b.Y+b.H) - max(a.Y, b.Y)
			if ox > eps && oy > eps {
				t.Errorf("%d px: %s %+v overlaps %s %+v", width, a.Name, a, b.Name, b)
			}
		}
	}
}

// hexToRGB renders #rrggbb as getComputedStyle does: rgb(r, g, b).
func hexToRGB(t *testing.T, hex string) string {
	t.Helper()
	var r, g, b int
	if _, err := fmt.Sscanf(hex, "#%02x%02x%02x", &r, &g, &b); err != nil {
		t.Fatalf("colour %q: %v", hex, err)
	}
	return fmt.Sprintf("rgb(%d, %d, %d)", r, g, b)
}

// rowLayoutJS reads, for each system row, the bounding boxes (viewport coordinates) of the row
// and of its parts: name, status badge, meta line, the four uptime figures, the 90-day bar and
// its legend; and whether the name or the badge clips its text.
const rowLayoutJS = `(() => [...document.querySelectorAll('[data-system]')].map(row => {
	const box = (e, name) => { const r = e.getBoundingClientRect(); return {name, x: r.left, y: r.top, w: r.width, h: r.height}; };
	const parts = [];
	const add = (sel, name) => row.querySelectorAll(sel).forEach((e, i) => parts.push(box(e, name + (i ? '#' + i : ''))));
	add('.system-name', 'name'); add('[data-role="status"]', 'status'); add('.meta', 'meta');
	add('.uptime > div', 'uptime'); add('.bar', 'bar'); add('.bar-legend', 'bar-legend');
	const clipped = [...row.querySelectorAll('.system-name, [data-role="status"]')].filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.className);
	const days = [...row.querySelectorAll('.day')].filter(d => d.getBoundingClientRect().width <= 0).length;
	return {id: row.getAttribute('data-system'), row: box(row, 'row'), parts, clipped, hiddenDays: days};
}))()`

// rowLayout is one system row as rowLayoutJS reads it.
type rowLayout struct {
	ID         string   `json:"id"`
	Row        box      `json:"row"`
	Parts      []box    `json:"parts"`
	Clipped    []string `json:"clipped"`
	HiddenDays int      `json:"hiddenDays"`
}

// checkRowLayout: inside every system row, the parts are visible, lie within the row and the
// viewport, do not overlap one another and do not clip their text, and every day of the 90-day
// bar has a width.
func checkRowLayout(t *testing.T, b *browser, width int) {
	t.Helper()
	const eps = 0.5
	rows := eval[[]rowLayout](t, b, rowLayoutJS)
	if len(rows) == 0 {
		t.Fatalf("%d px: no system row", width)
	}
	for _, r := range rows {
		if len(r.Parts) < 7 { // name, status, meta and four uptime figures at least
			t.Errorf("%d px: %s has %d parts: %+v", width, r.ID, len(r.Parts), r.Parts)
		}
		for i, a := range r.Parts {
			if a.W <= 0 || a.H <= 0 {
				t.Errorf("%d px: %s's %s is not visible (%+v)", width, r.ID, a.Name, a)
			}
			if a.X < r.Row.X-eps || a.X+a.W > r.Row.X+r.Row.W+eps || a.Y < r.Row.Y-eps || a.Y+a.H > r.Row.Y+r.Row.H+eps {
				t.Errorf("%d px: %s's %s %+v is outside its row %+v", width, r.ID, a.Name, a, r.Row)
			}
			if a.X < -eps || a.X+a.W > float64(width)+eps {
				t.Errorf("%d px: %s's %s does not fit the viewport (%+v)", width, r.ID, a.Name, a)
			}
			for _, o := range r.Parts[i+1:] {
				ox := min(a.X+a.W, o.X+o.W) - max(a.X, o.X)
				oy := min(a.Y+a.H, o.Y+o.H) - max(a.Y, o.Y)
				if ox > eps && oy > eps {
					t.Errorf("%d px: %s's %s %+v overlaps its %s %+v", width, r.ID, a.Name, a, o.Name, o)
				}
			}
		}
		if len(r.Clipped) > 0 {
			t.Errorf("%d px: %s clips the text of %v", width, r.ID, r.Clipped)
		}
		if r.HiddenDays > 0 {
			t.Errorf("%d px: %s has %d days of its bar without width", width, r.ID, r.HiddenDays)
		}
	}
}
