// Package badge renders small status badges as SVG (like Gatus's and shields.io's flat style):
// a grey label on the left, a coloured value on the right. Rendering is pure and deterministic:
// text widths are estimated from a table of Verdana 11 px advance widths, not measured with a
// font, so the same input always gives the same bytes (and the same ETag).
//
// Badges are accessible: the root element has role="img" and an aria-label, and a <title>
// carries the same text; every colour keeps white text at a contrast ratio of at least 4.5:1.
package badge

import (
	"bytes"
	"fmt"
	"math"
	"strings"
	"unicode/utf8"
)

// Colour is a badge background, "#rrggbb".
type Colour string

// The colours badges use. Each keeps white 11 px text at a contrast of at least 4.5:1
// (WCAG AA); the test checks it.
const (
	// Green: healthy, uptime ≥ 99.9 %, latency < 200 ms.
	Green Colour = "#2e7d32"
	// Lime: uptime ≥ 99 %, latency < 500 ms.
	Lime Colour = "#4d7318"
	// Amber: degraded, uptime ≥ 95 %, latency < 1 s.
	Amber Colour = "#a15c00"
	// Orange: uptime ≥ 90 %.
	Orange Colour = "#c2410c"
	// Red: unhealthy, lower uptime, slower latency.
	Red Colour = "#c62828"
	// Blue: in maintenance.
	Blue Colour = "#1f5fbf"
	// Grey: unknown, no data.
	Grey Colour = "#6b6b6b"
	// LabelGrey is the label's background.
	LabelGrey Colour = "#555555"
)

// Badge is one badge: Label on the left, Value on the right on Colour.
type Badge struct {
	Label, Value string
	Colour       Colour
}

// Text is the badge's text alternative, "label: value".
func (b Badge) Text() string { return b.Label + ": " + b.Value }

// Layout constants (px).
const (
	height    = 20
	padding   = 6 // on each side of a text
	radius    = 3
	fontSize  = 11
	baselineY = 14
)

// SVG renders the badge. Texts longer than 64 characters are cut with "…".
func (b Badge) SVG() []byte {
	label, value := clip(b.Label), clip(b.Value)
	colour := b.Colour
	if !validColour(colour) {
		colour = Grey
	}
	lw := TextWidth(label) + 2*padding
	vw := TextWidth(value) + 2*padding
	w := lw + vw
	text := escape(label + ": " + value)
	var buf bytes.Buffer
	fmt.Fprintf(&buf, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" role="img" aria-label="%s">`, w, height, w, height, text)
	fmt.Fprintf(&buf, `<title>%s</title>`, text)
	// Left part with rounded left corners, right part with rounded right corners.
	fmt.Fprintf(&buf, `<path fill="%s" d="M%d 0h%dv%dH%dA%d %d 0 0 1 0 %dV%dA%d %d 0 0 1 %d 0z"/>`,
		LabelGrey, radius, lw-radius, height, radius, radius, radius, height-radius, radius, radius, radius, radius)
	fmt.Fprintf(&buf, `<path fill="%s" d="M%d 0h%dA%d %d 0 0 1 %d %dV%dA%d %d 0 0 1 %d %dH%dz"/>`,
		colour, lw, vw-radius, radius, radius, w, radius, height-radius, radius, radius, w-radius, height, lw)
	fmt.Fprintf(&buf, `<g fill="#ffffff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" font-size="%d" aria-hidden="true">`, fontSize)
	fmt.Fprintf(&buf, `<text x="%s" y="%d">%s</text>`, half(lw), baselineY, escape(label))
	fmt.Fprintf(&buf, `<text x="%s" y="%d">%s</text>`, half(2*lw+vw), baselineY, escape(value))
	buf.WriteString(`</g></svg>`)
	return buf.Bytes()
}

// half formats n/2 with one decimal when n is odd.
func half(n int) string {
	if n%2 == 0 {
		return fmt.Sprint(n / 2)
	}
	return fmt.Sprintf("%d.5", n/2)
}

const maxRunes = 64

func clip(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1 // control characters are not allowed in XML 1.0 text
		}
		return r
	}, s)
	if utf8.RuneCountInString(s) <= maxRunes {
		return s
	}
	return string([]rune(s)[:maxRunes-1]) + "…"
}

func escape(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '&':
			b.WriteString("&amp;")
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '"':
			b.WriteString("&quot;")
		case '\'':
			b.WriteString("&#39;")
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func validColour(c Colour) bool {
	if len(c) != 7 || c[0] != '#' {
		return false
	}
	for _, r := range c[1:] {
		if !('0' <= r && r <= '9' || 'a' <= r && r <= 'f' || 'A' <= r && r <= 'F') {
			return false
		}
	}
	return true
}

// TextWidth estimates the width in pixels of s in Verdana 11 px: the table for ASCII, 7 px for
// other characters of the Latin, Greek and Cyrillic ranges, 11 px for wide (East Asian)
// characters and emoji. Rounded up.
func TextWidth(s string) int {
	// Verdana's advance widths at 11 px for the printable ASCII characters (0x20–0x7e), in
	// tenths of a pixel.
	asciiWidths := [95]uint8{
		38, 43, 50, 90, 70, 119, 80, 30, 50, 50, 70, 90, 40, 50, 40, 50, // space ! " # $ % & ' ( ) * + , - . /
		70, 70, 70, 70, 70, 70, 70, 70, 70, 70, 50, 50, 90, 90, 90, 60, // 0–9 : ; < = > ?
		110, 75, 75, 77, 85, 70, 63, 85, 83, 47, 50, 76, 61, 94, 82, 87, // @ A–O
		66, 87, 77, 75, 68, 81, 75, 109, 75, 68, 75, 50, 50, 50, 90, 70, // P–Z [ \ ] ^ _
		70, 67, 69, 58, 69, 66, 39, 69, 70, 30, 38, 65, 30, 107, 70, 66, // ` a–o
		69, 69, 47, 57, 43, 70, 65, 90, 65, 65, 58, 70, 50, 70, 90, // p–z { | } ~
	}
	tenths := 0
	for _, r := range s {
		switch {
		case r >= 0x20 && r <= 0x7e:
			tenths += int(asciiWidths[r-0x20])
		case r < 0x20 || r == 0x7f:
		case r < 0x1100:
			tenths += 70
		default:
			tenths += 110
		}
	}
	return int(math.Ceil(float64(tenths) / 10))
}

// Status values of a status badge besides the three health statuses.
const (
	StatusMaintenance = "maintenance"
	StatusUnknown     = "unknown"
)

// StatusColour colours a status badge: healthy green, degraded amber, unhealthy red,
// maintenance blue, anything else (unknown, no data) grey.
func StatusColour(status string) Colour {
	switch status {
	case "healthy":
		return Green
	case "degraded":
		return Amber
	case "unhealthy":
		return Red
	case StatusMaintenance:
		return Blue
	}
	return Grey
}

// UptimeColour colours an uptime percentage: ≥ 99.9 green, ≥ 99 lime, ≥ 95 amber, ≥ 90 orange,
// below red.
func UptimeColour(percent float64) Colour {
	switch {
	case percent >= 99.9:
		return Green
	case percent >= 99:
		return Lime
	case percent >= 95:
		return Amber
	case percent >= 90:
		return Orange
	}
	return Red
}

// LatencyColour colours an average latency: < 200 ms green, < 500 ms lime, < 1 s amber,
// < 2 s orange, slower red.
func LatencyColour(ms int) Colour {
	switch {
	case ms < 200:
		return Green
	case ms < 500:
		return Lime
	case ms < 1000:
		return Amber
	case ms < 2000:
		return Orange
	}
	return Red
}

// FormatPercent formats a percentage with at most two decimals, rounded down so that "100%"
// means no downtime at all: 99.996 → "99.99%", 100 → "100%", 97.5 → "97.5%".
func FormatPercent(p float64) string {
	if p >= 100 {
		return "100%"
	}
	if p < 0 || math.IsNaN(p) {
		p = 0
	}
	// The epsilon keeps 99.95 (stored as 99.9499999…) from becoming 99.94.
	v := math.Floor(p*100+1e-6) / 100
	s := strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.2f", v), "0"), ".")
	return s + "%"
}
