package statuspage

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/checkflow/checkflow/internal/health"
	"github.com/checkflow/checkflow/internal/store"
)

// TestPaletteContrast: status is readable as text on its colour and the page's text on its
// background (WCAG AA, 4.5:1), in both themes.
func TestPaletteContrast(t *testing.T) {
	t.Parallel()
	light, dark := Palette()
	for name, th := range map[string]Theme{"light": light, "dark": dark} {
		pairs := map[string][2]string{"text": {th.Text, th.Background}, "muted": {th.Muted, th.Background}, "text on surface": {th.Text, th.Surface},
			"muted on surface": {th.Muted, th.Surface}, "link": {th.Link, th.Background}}
		for _, k := range []string{StatusHealthy, StatusDegraded, StatusUnhealthy, StatusMaintenance, StatusUnknown} {
			pairs["on "+k] = [2]string{th.OnStatus, th.Status[k]}
		}
		for what, p := range pairs {
			r, err := ContrastRatio(p[0], p[1])
			if err != nil {
				t.Fatal(err)
			}
			if r < 4.5 {
				t.Errorf("%s theme, %s: contrast %.2f < 4.5 (%s on %s)", name, what, r, p[0], p[1])
			}
		}
	}
	if _, err := ContrastRatio("red", "#000000"); err == nil {
		t.Error("a colour that is not #rrggbb was accepted")
	}
}

func attr(n *html.Node, key string) (string, bool) {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val, true
		}
	}
	return "", false
}

func walk(n *html.Node, fn func(*html.Node)) {
	fn(n)
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		walk(c, fn)
	}
}

func text(n *html.Node) string {
	var b strings.Builder
	walk(n, func(c *html.Node) {
		if c.Type == html.TextNode {
			b.WriteString(c.Data)
		}
	})
	return strings.TrimSpace(b.String())
}

// TestRender: the page has the landmarks, each system's status as text and as data-status, no
// inline script or style (the CSP forbids them), the script's labels as JSON, and a hostile
// system name stays text; the assets are served with their types.
func TestRender(t *testing.T) {
	t.Parallel()
	r, err := NewRenderer()
	if err != nil {
		t.Fatal(err)
	}
	since := now.Add(-time.Hour)
	in := Input{Title: "Acme <status>", LogoURL: "https://example.com/logo.png", Now: now, StreamURL: "/api/v1/stream?systemId=a%2Cb",
		Systems: []SystemData{
			{System: store.System{ID: "a", Name: `<script>alert(1)</script>`}, Status: health.Healthy, InStatusSince: &since, TotalChecks: 1, HealthyChecks: 1},
			{System: store.System{ID: "b", Name: "Beta"}, Status: health.Unhealthy, InStatusSince: &since, InMaintenance: true, TotalChecks: 1},
		}}
	for _, detail := range []bool{false, true} {
		in.Detail = detail
		var buf bytes.Buffer
		if err := r.Render(&buf, Build(in)); err != nil {
			t.Fatal(err)
		}
		doc, err := html.Parse(bytes.NewReader(buf.Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		landmarks := map[string]int{}
		statuses := map[string]string{}
		var labels map[string]string
		walk(doc, func(n *html.Node) {
			if n.Type != html.ElementNode {
				return
			}
			landmarks[n.Data]++
			if _, ok := attr(n, "style"); ok {
				t.Errorf("inline style on <%s>", n.Data)
			}
			if n.Data == "script" {
				typ, _ := attr(n, "type")
				src, _ := attr(n, "src")
				switch {
				case typ == "application/json":
					if err := json.Unmarshal([]byte(text(n)), &labels); err != nil {
						t.Errorf("labels: %v", err)
					}
				case src != AssetJS:
					t.Errorf("inline or foreign script %q %q", src, text(n))
				}
			}
			if role, _ := attr(n, "data-role"); role == "status" {
				st, _ := attr(n, "data-status")
				statuses[st] = text(n)
			}
			if n.Data == "main" {
				if s, _ := attr(n, "data-stream"); s != in.StreamURL {
					t.Errorf("data-stream %q", s)
				}
			}
		})
		for _, l := range []string{"header", "main", "footer", "h1"} {
			if landmarks[l] != 1 {
				t.Errorf("detail=%v: %d <%s>", detail, landmarks[l], l)
			}
		}
		if statuses[StatusHealthy] != "Operational" || statuses[StatusMaintenance] != "Maintenance" || len(statuses) != 2 {
			t.Errorf("statuses %v", statuses)
		}
		if labels["status.unhealthy"] != "Outage" || labels["banner.healthy"] != "All systems operational" {
			t.Errorf("labels %v", labels)
		}
		if bytes.Contains(buf.Bytes(), []byte("<script>alert")) || !bytes.Contains(buf.Bytes(), []byte("Acme &lt;status&gt;")) {
			t.Error("a system name or the title was not escaped")
		}
	}
	css, ok := r.Asset(AssetCSS)
	light, dark := Palette()
	if !ok || !strings.HasPrefix(css.ContentType, "text/css") || !bytes.Contains(css.Body, []byte("prefers-color-scheme: dark")) ||
		!bytes.Contains(css.Body, []byte("--st-healthy: "+light.Status[StatusHealthy])) || !bytes.Contains(css.Body, []byte("--st-healthy: "+dark.Status[StatusHealthy])) {
		t.Errorf("stylesheet %q:\n%s", css.ContentType, css.Body)
	}
	js, ok := r.Asset(AssetJS)
	if !ok || !strings.HasPrefix(js.ContentType, "text/javascript") || !bytes.Contains(js.Body, []byte("EventSource")) || js.ETag == "" {
		t.Errorf("script %q", js.ContentType)
	}
	if _, ok := r.Asset("/static/other"); ok {
		t.Error("unknown asset served")
	}
}
