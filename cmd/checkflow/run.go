package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/sdk/client"

	"github.com/checkflow/checkflow/internal/devenv"
	"github.com/checkflow/checkflow/schema"
)

// shutdownTimeout bounds each part's graceful stop; the whole stop stays under 10 s.
const shutdownTimeout = 5 * time.Second

// stack runs cleanups in reverse order of registration.
type stack struct {
	fns []func()
}

func (s *stack) push(fn func()) { s.fns = append(s.fns, fn) }

func (s *stack) run() {
	for i := len(s.fns) - 1; i >= 0; i-- {
		s.fns[i]()
	}
	s.fns = nil
}

func newLogger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, badFlag("log-level", "%q is not one of debug, info, warn, error", level)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})), nil
}

// migrateAndOpen applies migrations and opens the connection pool.
func migrateAndOpen(ctx context.Context, databaseURL string, log *slog.Logger) (*pgxpool.Pool, error) {
	n, err := schema.MigrateURL(ctx, databaseURL)
	if err != nil {
		return nil, fmt.Errorf("database: %w", err)
	}
	if n > 0 {
		log.Info("applied database migrations", "count", n)
	}
	pool, err := pgxpool.New(ctx, databaseURL)
	if err != nil {
		return nil, fmt.Errorf("database pool: %w", err)
	}
	return pool, nil
}

// dialTemporal connects to Temporal, failing within a few seconds when nothing answers.
func dialTemporal(ctx context.Context, opts client.Options, log *slog.Logger) (client.Client, error) {
	opts.Logger = devenv.SDKLogger(log)
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, err := client.DialContext(dctx, opts)
	if err != nil {
		return nil, badFlag("temporal-address", "cannot reach Temporal at %s: %v", opts.HostPort, err)
	}
	return c, nil
}

// listenHTTP binds the API's address.
func listenHTTP(addr string) (net.Listener, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, badFlag("http-addr", "%s is already in use", addr)
	}
	return l, nil
}

// serveHTTP serves h on l until the returned stop function shuts it down gracefully.
func serveHTTP(l net.Listener, h http.Handler, log *slog.Logger) (stop func()) {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("http server", "err", err)
		}
	}()
	return func() {
		sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		_ = srv.Shutdown(sctx)
		<-done
	}
}

func urlOf(addr string) string {
	host, port, _ := net.SplitHostPort(addr)
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return "http://" + host + ":" + port
}
