package notify

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Statuses as rendered (health.Healthy … as strings; notify does not depend on their type).
const (
	statusHealthy   = "healthy"
	statusDegraded  = "degraded"
	statusUnhealthy = "unhealthy"
)

// maxListedChecks is how many failing checks a summary names.
const maxListedChecks = 5

// systemName is the system's name, its id when unnamed.
func systemName(m Message) string {
	switch {
	case m.System.Name != "":
		return m.System.Name
	case m.System.ID != "":
		return m.System.ID
	}
	return "unknown system"
}

// displayTitle is the headline of m: its Title, except that a reminder reads
// "Still <status> for <duration>: <system>".
func displayTitle(m Message) string {
	if m.Event == EventReminder {
		status := m.Status
		if status == "" {
			status = "not healthy"
		}
		if m.DownForSeconds > 0 {
			return fmt.Sprintf("Still %s for %s: %s", status, humanDuration(m.DownForSeconds), systemName(m))
		}
		if m.Title == "" {
			return fmt.Sprintf("Still %s: %s", status, systemName(m))
		}
	}
	if m.Title != "" {
		return m.Title
	}
	if m.Status != "" {
		return fmt.Sprintf("%s is %s", systemName(m), m.Status)
	}
	return "Notification for " + systemName(m)
}

// humanDuration renders seconds as the two most significant units: "45s", "1h5m", "2d3h".
func humanDuration(secs int64) string {
	if secs <= 0 {
		return "0s"
	}
	units := []struct {
		size int64
		name string
	}{{86400, "d"}, {3600, "h"}, {60, "m"}, {1, "s"}}
	for i, u := range units {
		if secs < u.size {
			continue
		}
		out := strconv.FormatInt(secs/u.size, 10) + u.name
		if i+1 < len(units) {
			next := units[i+1]
			if n := secs % u.size / next.size; n > 0 {
				out += strconv.FormatInt(n, 10) + next.name
			}
		}
		return out
	}
	return "0s"
}

// statusLine is "unhealthy (was degraded)".
func statusLine(m Message) string {
	s := m.Status
	if s == "" {
		s = "unknown"
	}
	if m.PreviousStatus != "" && m.PreviousStatus != m.Status {
		s += " (was " + m.PreviousStatus + ")"
	}
	return s
}

// checkName is a check's name, its id when unnamed.
func checkName(c CheckRef) string {
	switch {
	case c.Name != "":
		return c.Name
	case c.ID != "":
		return c.ID
	}
	return "check"
}

// checksSummary is "2 of 5 failing: api (unhealthy), db (degraded)" or "all 3 passing"; "" when
// m lists no checks.
func checksSummary(checks []CheckRef) string {
	if len(checks) == 0 {
		return ""
	}
	var failing []string
	for _, c := range checks {
		if c.Status != statusHealthy {
			failing = append(failing, fmt.Sprintf("%s (%s)", checkName(c), orUnknown(c.Status)))
		}
	}
	if len(failing) == 0 {
		return fmt.Sprintf("all %d passing", len(checks))
	}
	listed := failing
	more := ""
	if len(listed) > maxListedChecks {
		more = fmt.Sprintf(", +%d more", len(listed)-maxListedChecks)
		listed = listed[:maxListedChecks]
	}
	return fmt.Sprintf("%d of %d failing: %s%s", len(failing), len(checks), strings.Join(listed, ", "), more)
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// fact is one labelled value of a message (status, system, down time …).
type fact struct {
	label, value string
}

// facts lists the labelled values every channel type renders.
func facts(m Message) []fact {
	out := []fact{{"Status", statusLine(m)}, {"System", systemName(m)}}
	if m.DownForSeconds > 0 {
		out = append(out, fact{"Down for", humanDuration(m.DownForSeconds)})
	}
	if s := checksSummary(m.Checks); s != "" {
		out = append(out, fact{"Checks", s})
	}
	if m.InMaintenance {
		out = append(out, fact{"Maintenance", "a maintenance window covers this system"})
	}
	if m.Event == EventTest {
		out = append(out, fact{"Test", "this is a test notification"})
	}
	return out
}

// convertBold rewrites **bold** spans with open/close markers ("" strips them). An unpaired
// trailing "**" is kept as is.
func convertBold(s, open, close string) string {
	parts := strings.Split(s, "**")
	if len(parts) < 3 {
		return s
	}
	var b strings.Builder
	for i, p := range parts {
		switch {
		case i == 0:
		case i == len(parts)-1 && i%2 == 1: // unpaired opener
			b.WriteString("**")
		case i%2 == 1:
			b.WriteString(open)
		default:
			b.WriteString(close)
		}
		b.WriteString(p)
	}
	return b.String()
}

// severityKind classifies m for colours: "test", healthy, degraded, unhealthy or "".
func severityKind(m Message) string {
	if m.Event == EventTest {
		return "test"
	}
	switch m.Status {
	case statusHealthy, statusDegraded, statusUnhealthy:
		return m.Status
	}
	return ""
}

// linkURL is m.URL when it is an http(s) URL (never a javascript: or other scheme), else "".
func linkURL(m Message) string {
	if _, ok := parseHTTPURL(m.URL); ok {
		return m.URL
	}
	return ""
}

// timestamp is when m happened, now when unset.
func timestamp(m Message) time.Time {
	if m.OccurredAt.IsZero() {
		return time.Now().UTC()
	}
	return m.OccurredAt.UTC()
}
