package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/checkflow/checkflow/internal/metrics"
)

// metricsShutdownTimeout bounds how long Close waits for scrapes in flight.
const metricsShutdownTimeout = 5 * time.Second

// MetricsServer serves a metrics registry at GET /metrics on its own listener (the worker's
// --metrics-addr). The worker's registry holds what the worker counts (runs, probe durations,
// apply lag, job durations, the Temporal SDK's metrics); the status gauges read from
// PostgreSQL are served by the API's /metrics.
type MetricsServer struct {
	srv  *http.Server
	addr net.Addr
	done chan struct{}
}

// ServeMetrics listens on addr (host:port; port 0 picks a free one) and serves reg at GET
// /metrics until Close. The listener is bound before it returns, so a bad or busy address is
// an error here.
func ServeMetrics(addr string, reg *metrics.Registry, log *slog.Logger) (*MetricsServer, error) {
	if reg == nil {
		return nil, errors.New("serve metrics: no registry")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen for metrics on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", reg.Handler())
	m := &MetricsServer{
		srv: &http.Server{
			Handler:           mux,
			ReadHeaderTimeout: 10 * time.Second,
			WriteTimeout:      30 * time.Second,
			IdleTimeout:       2 * time.Minute,
		},
		addr: l.Addr(),
		done: make(chan struct{}),
	}
	go func() {
		defer close(m.done)
		if err := m.srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server stopped", "addr", l.Addr().String(), "error", err)
		}
	}()
	log.Info("serving metrics", "url", "http://"+l.Addr().String()+"/metrics")
	return m, nil
}

// Addr is the address the server listens on.
func (m *MetricsServer) Addr() net.Addr { return m.addr }

// Close stops the server, letting scrapes in flight finish (at most metricsShutdownTimeout).
func (m *MetricsServer) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), metricsShutdownTimeout)
	defer cancel()
	if err := m.srv.Shutdown(ctx); err != nil {
		_ = m.srv.Close()
	}
	<-m.done
}
