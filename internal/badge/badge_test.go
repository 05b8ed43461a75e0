package badge

import (
	"bytes"
	"encoding/xml"
	"io"
	"math"
	"strconv"
	"strings"
	"testing"
)

// parsed is what the tests read back from a rendered badge with encoding/xml.
type parsed struct {
	width, height    int
	role, ariaLabel  string
	title            string
	texts            []string
	fills            []string
	hasNamespace     bool
	ariaHiddenGroups int
}

func parse(t *testing.T, svg []byte) parsed {
	t.Helper()
	var p parsed
	dec := xml.NewDecoder(bytes.NewReader(svg))
	var stack []string
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v\n%s", err, svg)
		}
		switch el := tok.(type) {
		case xml.StartElement:
			stack = append(stack, el.Name.Local)
			attr := func(name string) string {
				for _, a := range el.Attr {
					if a.Name.Local == name {
						return a.Value
					}
				}
				return ""
			}
			switch el.Name.Local {
			case "svg":
				if len(stack) != 1 {
					t.Fatalf("nested svg")
				}
				p.hasNamespace = el.Name.Space == "http://www.w3.org/2000/svg"
				p.width, _ = strconv.Atoi(attr("width"))
				p.height, _ = strconv.Atoi(attr("height"))
				p.role, p.ariaLabel = attr("role"), attr("aria-label")
			case "path":
				p.fills = append(p.fills, attr("fill"))
			case "g":
				if attr("aria-hidden") == "true" {
					p.ariaHiddenGroups++
				}
			}
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) == 0 {
				continue
			}
			switch stack[len(stack)-1] {
			case "title":
				p.title += string(el)
			case "text":
				p.texts = append(p.texts, string(el))
			}
		}
	}
	if len(stack) != 0 {
		t.Fatalf("unclosed elements %v", stack)
	}
	return p
}

// TestBadgeSVG: every badge is well-formed SVG (parsed with encoding/xml) with its label and
// value as texts, the value's colour, a text alternative (role, aria-label, title) and a width
// that grows with its texts; special characters are escaped, long texts cut.
func TestBadgeSVG(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name         string
		b            Badge
		label, value string
		fill         Colour
	}{
		{"status", Badge{Label: "status", Value: "healthy", Colour: StatusColour("healthy")}, "status", "healthy", Green},
		{"uptime", Badge{Label: "uptime 7d", Value: "99.95%", Colour: UptimeColour(99.95)}, "uptime 7d", "99.95%", Green},
		{"escaping", Badge{Label: `a<b & "c"`, Value: "x'y>z", Colour: Red}, `a<b & "c"`, "x'y>z", Red},
		{"control characters are dropped", Badge{Label: "a\x00b\x1fc", Value: "ok\n", Colour: Blue}, "abc", "ok", Blue},
		{"invalid UTF-8 is replaced", Badge{Label: "a\xffb", Value: "v", Colour: Grey}, "a\uFFFDb", "v", Grey},
		{"a bad colour is grey", Badge{Label: "l", Value: "v", Colour: "red"}, "l", "v", Grey},
		{"long texts are cut", Badge{Label: strings.Repeat("x", 100), Value: "v", Colour: Amber}, strings.Repeat("x", 63) + "…", "v", Amber},
		{"wide characters", Badge{Label: "稼働率", Value: "100%", Colour: Green}, "稼働率", "100%", Green},
	} {
		svg := tc.b.SVG()
		p := parse(t, svg)
		text := tc.label + ": " + tc.value
		switch {
		case !p.hasNamespace:
			t.Errorf("%s: no SVG namespace", tc.name)
		case p.role != "img" || p.ariaLabel != text || p.title != text:
			t.Errorf("%s: role %q aria-label %q title %q, want img and %q", tc.name, p.role, p.ariaLabel, p.title, text)
		case len(p.texts) != 2 || p.texts[0] != tc.label || p.texts[1] != tc.value:
			t.Errorf("%s: texts %q, want %q and %q", tc.name, p.texts, tc.label, tc.value)
		case len(p.fills) != 2 || p.fills[0] != string(LabelGrey) || p.fills[1] != string(tc.fill):
			t.Errorf("%s: fills %q, want %s and %s", tc.name, p.fills, LabelGrey, tc.fill)
		case p.height != 20 || p.width != TextWidth(tc.label)+TextWidth(tc.value)+4*padding:
			t.Errorf("%s: %d×%d", tc.name, p.width, p.height)
		case p.ariaHiddenGroups != 1:
			t.Errorf("%s: the visible texts are not hidden from assistive technology (the title says it once)", tc.name)
		}
		if !bytes.Equal(svg, tc.b.SVG()) {
			t.Errorf("%s: rendering is not deterministic", tc.name)
		}
	}
}

func TestTextWidth(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		s    string
		want int
	}{
		{"", 0},
		{"i", 3},
		{"W", 11},
		{"healthy", 42}, // 7.0 + 6.6 + 6.7 + 3.0 + 4.3 + 7.0 + 6.5 = 41.1, rounded up
		{"é", 7},
		{"日本", 22},
		{"\x00", 0},
	} {
		if got := TextWidth(tc.s); got != tc.want {
			t.Errorf("TextWidth(%q) = %d, want %d", tc.s, got, tc.want)
		}
	}
	if TextWidth("mmmm") <= TextWidth("iiii") {
		t.Error("m is not wider than i")
	}
}

// TestColoursAreReadable: white text on every badge colour has a WCAG contrast ratio ≥ 4.5.
func TestColoursAreReadable(t *testing.T) {
	t.Parallel()
	lum := func(c Colour) float64 {
		var ch [3]float64
		for i := range 3 {
			v, err := strconv.ParseUint(string(c[1+2*i:3+2*i]), 16, 8)
			if err != nil {
				t.Fatalf("colour %s: %v", c, err)
			}
			x := float64(v) / 255
			if x <= 0.03928 {
				ch[i] = x / 12.92
			} else {
				ch[i] = math.Pow((x+0.055)/1.055, 2.4)
			}
		}
		return 0.2126*ch[0] + 0.7152*ch[1] + 0.0722*ch[2]
	}
	for _, c := range []Colour{Green, Lime, Amber, Orange, Red, Blue, Grey, LabelGrey} {
		if ratio := 1.05 / (lum(c) + 0.05); ratio < 4.5 {
			t.Errorf("white on %s: contrast %.2f < 4.5", c, ratio)
		}
	}
}

func TestColourThresholds(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		status string
		want   Colour
	}{
		{"healthy", Green}, {"degraded", Amber}, {"unhealthy", Red}, {StatusMaintenance, Blue}, {StatusUnknown, Grey}, {"", Grey},
	} {
		if got := StatusColour(tc.status); got != tc.want {
			t.Errorf("StatusColour(%q) = %s, want %s", tc.status, got, tc.want)
		}
	}
	for _, tc := range []struct {
		pct  float64
		want Colour
	}{
		{100, Green}, {99.9, Green}, {99.89, Lime}, {99, Lime}, {98.99, Amber}, {95, Amber}, {94.9, Orange}, {90, Orange}, {89.99, Red}, {0, Red},
	} {
		if got := UptimeColour(tc.pct); got != tc.want {
			t.Errorf("UptimeColour(%v) = %s, want %s", tc.pct, got, tc.want)
		}
	}
	for _, tc := range []struct {
		ms   int
		want Colour
	}{
		{0, Green}, {199, Green}, {200, Lime}, {499, Lime}, {500, Amber}, {999, Amber}, {1000, Orange}, {1999, Orange}, {2000, Red},
	} {
		if got := LatencyColour(tc.ms); got != tc.want {
			t.Errorf("LatencyColour(%d) = %s, want %s", tc.ms, got, tc.want)
		}
	}
}

func TestFormatPercent(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		p    float64
		want string
	}{
		{100, "100%"}, {99.996, "99.99%"}, {99.95, "99.95%"}, {97.5, "97.5%"}, {50, "50%"}, {0, "0%"}, {-1, "0%"}, {100 * 407.0 / 1440, "28.26%"},
	} {
		if got := FormatPercent(tc.p); got != tc.want {
			t.Errorf("FormatPercent(%v) = %q, want %q", tc.p, got, tc.want)
		}
	}
}
