package tests

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserReportsConsoleErrors: the status page tests' "no console errors" can fail — the
// browser helper records a console.error call, an uncaught exception, a rejected promise and a
// failed load, and nothing for console.log or a clean page.
func TestBrowserReportsConsoleErrors(t *testing.T) {
	t.Parallel()
	// Both pages declare their icon, as the status page does: otherwise Chromium asks for
	// /favicon.ico on its own, and that request's 404 arrives at a random moment.
	pages := map[string]string{
		"/clean": `<!DOCTYPE html><link rel="icon" href="data:,"><title>clean</title><script>console.log('fine'); document.title = 'ready'</script>`,
		"/noisy": `<!DOCTYPE html><link rel="icon" href="data:,"><title>noisy</title><img src="/missing.png" alt="">` +
			`<script>console.error('boom from console'); Promise.reject(new Error('boom from a promise'));` +
			`setTimeout(() => { document.title = 'ready'; throw new Error('boom from a timer'); }, 0)</script>`,
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, ok := pages[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html")
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	b := newBrowser(t)

	ready := chromedp.Poll[bool](`document.title === 'ready' && document.readyState === 'complete'`, chromedp.WithPollingTimeout(10*time.Second))
	b.do(t, "open the clean page", chromedp.Navigate(srv.URL+"/clean"))
	if _, err := chromedp.Run(b.ctx, ready); err != nil {
		t.Fatal(err)
	}
	if errs := b.consoleErrors(); len(errs) != 0 {
		t.Fatalf("a clean page reported %q", errs)
	}
	b.do(t, "open the noisy page", chromedp.Navigate(srv.URL+"/noisy"))
	if _, err := chromedp.Run(b.ctx, ready); err != nil {
		t.Fatal(err)
	}
	// The events reach the listener before the reply of a later command (chromedp.Listen).
	eval[bool](t, b, `true`)
	errs := strings.Join(b.consoleErrors(), "\n")
	for _, want := range []string{"boom from console", "boom from a promise", "boom from a timer", "missing.png"} {
		if !strings.Contains(errs, want) {
			t.Errorf("%q not reported: %s", want, errs)
		}
	}
}
