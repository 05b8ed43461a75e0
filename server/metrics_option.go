package server

import (
	"github.com/checkflow/checkflow/internal/metrics"
)

// WithMetrics serves reg at GET /metrics (Prometheus text format) and attaches the server's
// store to it, so that the check and system status gauges, the outbox backlog and the delivery
// counts are read from PostgreSQL at scrape time (metrics.Registry.WatchStore: the first store
// attached wins). Like the status:read endpoints, /metrics is public unless the server runs
// with WithPublicStatus(false); then any valid token may read it. Without this option there is
// no /metrics route; without a database pool (Config.Pool) only the in-process metrics are
// served.
func WithMetrics(reg *metrics.Registry) Option {
	return func(s *Server) {
		if reg == nil {
			return
		}
		if s.cfg.Pool != nil {
			reg.WatchStore(s.store)
		}
		s.metrics = reg.Handler()
	}
}
