package server

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

// metricsRoutes lists this file's endpoints (appended to routeTable): GET /metrics when the
// server has a metrics registry (WithMetrics).
func (s *Server) metricsRoutes() []route {
	if s.metrics == nil {
		return nil
	}
	return []route{
		{method: http.MethodGet, path: "/metrics", auth: true, scope: ScopeStatusRead, handler: s.getMetrics, doc: opDoc{id: "getMetrics", tag: "Platform",
			summary: "Prometheus metrics",
			desc: "The Prometheus text exposition format (`text/plain; version=0.0.4`; the protobuf format when the scraper asks for it with `Accept`). " +
				"Public like the other status:read operations unless the server requires tokens for status; then any valid token may scrape it (`authorization: {credentials: <token>}` in the scrape config). " +
				"Labels are ids and closed sets only (system_id, check_id, strategy, status, job, channel_type, event): no names or messages. " +
				"`checkflow_check_status{system_id,check_id}` and `checkflow_system_status{system_id}` are 0 healthy, 1 degraded, 2 unhealthy, read from PostgreSQL at scrape time (at most every 2 s), " +
				"as are `checkflow_system_in_maintenance`, `checkflow_outbox_backlog_events`, `checkflow_outbox_oldest_event_age_seconds` and `checkflow_notification_deliveries`; " +
				"`checkflow_check_runs_total{strategy,status}`, `checkflow_probe_duration_seconds`, `checkflow_entity_apply_lag_seconds`, `checkflow_job_duration_seconds{job}` and the Temporal SDK's `temporal_*` metrics " +
				"are counted by the process that probes and persists (the worker; in `checkflow dev` the same process).",
			status: http.StatusOK, media: "text/plain",
			respHeaders: schema{
				"Content-Type": schema{"description": "text/plain; version=0.0.4; charset=utf-8 (the Prometheus text format), or the protobuf format when asked for.", "schema": str()},
			},
		}},
	}
}

// getMetrics serves the registry given to WithMetrics.
func (s *Server) getMetrics(c echo.Context) error {
	s.metrics.ServeHTTP(c.Response(), c.Request())
	return nil
}
