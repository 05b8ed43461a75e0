package statuspage

import (
	"fmt"
	"math"
	"strconv"
)

// Theme is one colour scheme of the page.
type Theme struct {
	// Background, Surface, Text, Muted and Border colour the page.
	Background, Surface, Text, Muted, Border string
	// Link colours links.
	Link string
	// OnStatus is the text colour on a status colour.
	OnStatus string
	// Status colours the badges, the banner and the day bars, by display status key
	// (healthy, degraded, unhealthy, maintenance, unknown) and "none" (a day before the system
	// existed).
	Status map[string]string
	// Avg and P95 colour the latency chart's lines.
	Avg, P95 string
}

// Palette is the light and the dark theme (prefers-color-scheme). Every status colour has at
// least 4.5:1 contrast with OnStatus (WCAG AA for text), tested.
func Palette() (light, dark Theme) {
	light = Theme{
		Background: "#ffffff", Surface: "#f6f8fa", Text: "#1f2328", Muted: "#59636e", Border: "#d0d7de", Link: "#0550ae",
		OnStatus: "#ffffff",
		Status: map[string]string{
			StatusHealthy: "#1a7f37", StatusDegraded: "#9a6700", StatusUnhealthy: "#cf222e",
			StatusMaintenance: "#0969da", StatusUnknown: "#59636e", statusNone: "#d0d7de",
		},
		Avg: "#0969da", P95: "#bc4c00",
	}
	dark = Theme{
		Background: "#0d1117", Surface: "#161b22", Text: "#e6edf3", Muted: "#9198a1", Border: "#30363d", Link: "#4493f8",
		OnStatus: "#0d1117",
		Status: map[string]string{
			StatusHealthy: "#3fb950", StatusDegraded: "#d29922", StatusUnhealthy: "#f85149",
			StatusMaintenance: "#58a6ff", StatusUnknown: "#9198a1", statusNone: "#30363d",
		},
		Avg: "#58a6ff", P95: "#f0883e",
	}
	return light, dark
}

// ContrastRatio is the WCAG 2 contrast ratio of two #rrggbb colours (1 to 21).
func ContrastRatio(a, b string) (float64, error) {
	la, err := luminance(a)
	if err != nil {
		return 0, err
	}
	lb, err := luminance(b)
	if err != nil {
		return 0, err
	}
	if la < lb {
		la, lb = lb, la
	}
	return (la + 0.05) / (lb + 0.05), nil
}

// RGB parses #rrggbb into its components.
func RGB(hex string) (r, g, b int, err error) {
	if len(hex) != 7 || hex[0] != '#' {
		return 0, 0, 0, fmt.Errorf("statuspage: colour %q is not #rrggbb", hex)
	}
	v, err := strconv.ParseUint(hex[1:], 16, 32)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("statuspage: colour %q: %w", hex, err)
	}
	return int(v >> 16 & 0xff), int(v >> 8 & 0xff), int(v & 0xff), nil
}

func luminance(hex string) (float64, error) {
	r, g, b, err := RGB(hex)
	if err != nil {
		return 0, err
	}
	lin := func(c int) float64 {
		s := float64(c) / 255
		if s <= 0.03928 {
			return s / 12.92
		}
		return math.Pow((s+0.055)/1.055, 2.4)
	}
	return 0.2126*lin(r) + 0.7152*lin(g) + 0.0722*lin(b), nil
}
