package server

import (
	"fmt"
	"net/http"

	"github.com/checkflow/checkflow/internal/eventstream"
	"github.com/checkflow/checkflow/internal/health"
)

// statusPageSchemas are the component schemas of the uptime, badge and stream operations.
func statusPageSchemas() schema {
	pct := func(d string) schema {
		return describe(orNull(schema{"type": "number", "minimum": 0, "maximum": 100}), d)
	}
	return schema{
		"UptimeDay": object([]string{"day", "worst", "uptimePercent", "incidents"}, schema{
			"day": schema{"type": "string", "format": "date", "description": "The UTC day."},
			"worst": describe(orNull(schema{"type": "string", "enum": []string{"healthy", "degraded", "unhealthy", health.DayWorstMaintenance}}),
				"The most severe evaluated status in force that day outside maintenance; maintenance when all of the day's covered time was in maintenance; null when nothing of the day is covered (the system did not exist yet)."),
			"uptimePercent": pct("Share of the day's covered time healthy or in maintenance."),
			"incidents":     describe(intMin(0), "Changes that day from healthy into degraded or unhealthy."),
		}),
		"Uptime": object([]string{"window", "from", "to", "coveredFrom", "uptimePercent", "degradedPercent", "unhealthyPercent", "maintenancePercent", "successRate", "runs"}, schema{
			"window":             schema{"type": "string", "enum": uptimeWindowNames()},
			"from":               dateTime(),
			"to":                 describe(dateTime(), "Now."),
			"checkId":            strDesc("The check the success rate and runs are scoped to."),
			"coveredFrom":        describe(dateTime(), "Where the counted part of the window starts: from, or the system's first run (its creation when it never ran) when that is later."),
			"uptimePercent":      pct("Share of the covered time the system's evaluated status was healthy, or a maintenance window covered it (null: nothing covered)."),
			"degradedPercent":    pct("Share of the covered time degraded, outside maintenance."),
			"unhealthyPercent":   pct("Share of the covered time unhealthy, outside maintenance."),
			"maintenancePercent": pct("Share of the covered time in maintenance (counted as up)."),
			"successRate":        describe(orNull(schema{"type": "number", "minimum": 0, "maximum": 1}), "Healthy runs / runs of the window (of the check with checkId), from the hourly and daily aggregates and the raw runs of the partial hours at both ends; null without runs."),
			"runs":               describe(intMin(0), "Runs counted in successRate."),
			"days":               describe(arrayOf(ref("UptimeDay")), "One row per UTC day, the oldest first, ending today (windows of 7 days or more)."),
		}),
		"SVGBadge": schema{"type": "string", "description": "An SVG image (role=img, with a title and aria-label): a label on grey and a value on its colour."},
		"EventStream": schema{"type": "string", "description": "A text/event-stream (Server-Sent Events) of `" + eventstream.EventRunCompleted + "`, `" +
			eventstream.EventStatusChanged + "`, `" + eventstream.EventMaintenanceStarted + "`, `" + eventstream.EventMaintenanceEnded + "` and `" + eventstream.EventReset + "` events."},
	}
}

func uptimeWindowNames() []string {
	var out []string
	for _, w := range health.UptimeWindows() {
		out = append(out, string(w))
	}
	return out
}

func windowQueryParam(def string) param {
	return param{name: "window", desc: "The window ending now.", schema: schema{"type": "string", "enum": uptimeWindowNames(), "default": def}}
}

// badgeDoc documents a badge operation.
func badgeDoc(id, summary, desc string, query ...param) opDoc {
	return opDoc{id: id, tag: "Status page", summary: summary,
		desc:  desc + " `Cache-Control: public, max-age=60` (`private` when status needs a token) and an `ETag`; a matching `If-None-Match` is a 304.",
		query: query, media: "image/svg+xml", response: "SVGBadge", status: http.StatusOK, errors: []int{http.StatusNotModified},
		respHeaders: schema{
			"Cache-Control": schema{"description": "public, max-age=60 (private when status needs a token).", "schema": str()},
			"ETag":          schema{"description": "The badge's entity tag.", "schema": str()},
		},
		headers: []param{{name: "If-None-Match", desc: "ETags of a cached badge: 304 when it is still current.", schema: str()}},
	}
}

// statusPageRoutes are the uptime, badge and stream endpoints.
func (s *Server) statusPageRoutes() []route {
	const status = ScopeStatusRead
	return []route{
		{method: http.MethodGet, path: v1 + "/systems/{systemId}/uptime", auth: true, scope: status, handler: s.getUptime, doc: opDoc{id: "getSystemUptime", tag: "Status page",
			summary: "Uptime on the evaluated status over a window, with the raw success rate beside it",
			desc: "uptimePercent is the share of the window the system's evaluated status (its transitions) was healthy; time in a maintenance window counts as up and is also reported as maintenancePercent; " +
				"time before the system existed (its first run, else its creation) is not counted. The status at the window start is the newest transition before it, else the first transition's fromStatus, else the current status. " +
				"successRate is healthy runs / runs over the same window (a check's with checkId). Days (one per UTC day: the worst status, the uptime, the incidents) come with windows of 7 days or more.",
			query: []param{windowQueryParam("24h"),
				{name: "checkId", desc: "Scope successRate and runs to one check (the uptime stays the system's: only the system's evaluated status has a history).", schema: schema{"type": "string", "format": "uuid"}}},
			status: http.StatusOK, response: "Uptime"}},
		{method: http.MethodGet, path: v1 + "/systems/{systemId}/badges/status.svg", auth: true, scope: status, handler: s.statusBadge,
			doc: badgeDoc("getStatusBadge", "A badge of the system's status",
				"healthy (green), degraded (amber), unhealthy (red), maintenance (blue) while a maintenance window covers the system, unknown (grey) while it has no enabled check or none has run.")},
		{method: http.MethodGet, path: v1 + "/systems/{systemId}/badges/uptime.svg", auth: true, scope: status, handler: s.uptimeBadge,
			doc: badgeDoc("getUptimeBadge", "A badge of the system's uptime",
				"The uptimePercent of GET …/uptime, rounded down to 0.01 %: green from 99.9 %, lime from 99 %, amber from 95 %, orange from 90 %, red below.", windowQueryParam("24h"))},
		{method: http.MethodGet, path: v1 + "/systems/{systemId}/badges/latency.svg", auth: true, scope: status, handler: s.latencyBadge,
			doc: badgeDoc("getLatencyBadge", "A badge of the system's average latency over 24 h",
				"From the hourly aggregates of the last 24 h (health-state's avgLatencyMs): green below 200 ms, lime below 500 ms, amber below 1 s, orange below 2 s, red above; no data (grey) without runs.")},
		{method: http.MethodGet, path: v1 + "/stream", auth: true, scope: status, handler: s.stream, ownDeadline: true, doc: opDoc{id: "streamEvents", tag: "Status page",
			summary: "Live events (Server-Sent Events)",
			desc: "Events from the outbox, each with the outbox id as its SSE `id`: `run.completed` {systemId, configurationId, status, latencyMs, timestamp}, " +
				"`system.status_changed` {systemId, previousStatus, newStatus, healthyChecks, totalChecks, timestamp}, `maintenance.started` / `maintenance.ended` {systemId, maintenanceId, timestamp}. " +
				"Reconnecting with `Last-Event-ID` (or `?lastEventId=`; the header wins) first sends every later event, then the live ones: no gap, no duplicate. " +
				"When events after that id were pruned from the outbox (or the id is unknown), an `event: reset` comes first and the stream goes on from the oldest event kept. " +
				fmt.Sprintf("A comment every %v keeps the connection open. A client more than %d events behind is disconnected (reconnect with Last-Event-ID). ", DefaultStreamHeartbeat, eventstream.DefaultBuffer) +
				"Events reach the stream within about half a second of being committed.",
			query: []param{
				{name: "systemId", desc: "Only events of these systems (repeat the parameter or separate with commas).", schema: schema{"type": "array", "items": str(), "maxItems": maxStreamSystems}, explode: true},
				{name: "lastEventId", desc: "Resume after this event id (for clients that cannot send Last-Event-ID).", schema: schema{"type": "integer", "minimum": 0}},
			},
			headers: []param{{name: "Last-Event-ID", desc: "Resume after this event id (EventSource sends it when it reconnects).", schema: schema{"type": "string", "pattern": "^[0-9]+$"}}},
			media:   "text/event-stream", response: "EventStream", status: http.StatusOK,
			respHeaders: schema{"Cache-Control": schema{"description": "no-cache", "schema": str()}}}},
	}
}
