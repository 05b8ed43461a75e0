package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/checkflow/checkflow/internal/entityclient"
	"github.com/checkflow/checkflow/internal/store"
	"github.com/checkflow/checkflow/server/apitest"
)

// closedPort returns a 127.0.0.1 address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// silentServer accepts TCP connections and never answers (a database host that hangs); it
// closes them when the test ends.
func silentServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = l.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return l.Addr().String()
}

// deadPool is a pool whose database is at addr (nothing answering there).
func deadPool(t *testing.T, addr string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), "postgres://checkflow@"+addr+"/checkflow?sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// PostgreSQL unreachable (connection refused) or hanging (accepting connections but never
// answering) makes every API call that needs it a 503 database-unavailable problem with a
// Retry-After header, within the request deadline — public reads, authenticated reads (the
// token lookup), writes and run-now alike. Every answer matches the OpenAPI document.
func TestDatabaseUnavailableIs503ProblemWithRetryAfter(t *testing.T) {
	t.Parallel()
	const check = "3f1c2a4e-0000-4000-8000-000000000000"
	for _, db := range []struct {
		name string
		addr func(*testing.T) string
	}{
		{"refused", closedPort},
		{"hanging", silentServer},
	} {
		t.Run(db.name, func(t *testing.T) {
			t.Parallel()
			srv := New(Config{Pool: deadPool(t, db.addr(t)), Entities: &fakeEntities{}}, WithTimeouts(Timeouts{Request: 500 * time.Millisecond}))
			hs := httptest.NewServer(srv.Handler())
			t.Cleanup(hs.Close)
			// The client validates every answer against the server's OpenAPI document (served
			// without the database).
			anon := apitest.New(t, hs.URL, hs.Client())
			for _, r := range []struct {
				method, path, token string
				body                any
			}{
				{"GET", "/api/v1/systems", "", nil},
				{"GET", "/api/v1/systems/s/health", "", nil},
				{"POST", "/api/v1/health:bulk", "", map[string]any{"systemIds": []string{"s"}}},
				{"GET", "/api/v1/checks", "cf_unknown-token", nil},
				{"POST", "/api/v1/systems", "cf_unknown-token", map[string]any{"id": "s", "name": "S"}},
				{"POST", "/api/v1/systems/s/checks/" + check + "/run", "cf_unknown-token", nil},
				{"GET", "/api/v1/systems/s/uptime?window=7d", "", nil},
				{"GET", "/api/v1/systems/s/badges/uptime.svg", "", nil},
				{"GET", "/api/v1/stream", "", nil},
			} {
				start := time.Now()
				res := anon.WithToken(r.token).Do(r.method, r.path, r.body)
				elapsed := time.Since(start)
				p := res.Problem(t)
				if res.Status != http.StatusServiceUnavailable || p.Type != ProblemDatabaseUnavailable || res.Header.Get("Content-Type") != problemContentType {
					t.Errorf("%s %s = %d %s", r.method, r.path, res.Status, res.Body)
				}
				if res.Header.Get("Retry-After") != "5" {
					t.Errorf("%s %s: Retry-After %q, want 5", r.method, r.path, res.Header.Get("Retry-After"))
				}
				if elapsed > 10*time.Second {
					t.Errorf("%s %s took %v", r.method, r.path, elapsed)
				}
			}
		})
	}
}

// databaseUnavailable is the one classification of connection errors: connection-level
// failures and PostgreSQL's own "cannot serve now" answers are outages; query errors and a
// client that went away are not.
func TestDatabaseUnavailableClassification(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"connection failure 08006", &pgconn.PgError{Code: "08006"}, true},
		{"too many connections 53300", fmt.Errorf("store: list: %w", &pgconn.PgError{Code: "53300"}), true},
		{"disk full 53100", &pgconn.PgError{Code: "53100"}, true},
		{"admin shutdown 57P01", &pgconn.PgError{Code: "57P01"}, true},
		{"crash shutdown 57P02", &pgconn.PgError{Code: "57P02"}, true},
		{"cannot connect now 57P03", &pgconn.PgError{Code: "57P03"}, true},
		{"connect error", fmt.Errorf("store: get: %w", &pgconn.ConnectError{}), true},
		{"refused", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, true},
		{"reset", fmt.Errorf("read: %w", syscall.ECONNRESET), true},
		{"unexpected EOF", fmt.Errorf("receive message: %w", io.ErrUnexpectedEOF), true},
		{"deadline on acquire", fmt.Errorf("store: get: %w", context.DeadlineExceeded), true},
		{"client went away", fmt.Errorf("store: get: %w", context.Canceled), false},
		{"query canceled 57014", &pgconn.PgError{Code: "57014"}, false},
		{"unique violation", &pgconn.PgError{Code: "23505"}, false},
		{"undefined table", &pgconn.PgError{Code: "42P01"}, false},
		{"not found", store.ErrNotFound, false},
		{"plain error", errors.New("boom"), false},
		{"nil", nil, false},
	} {
		if got := databaseUnavailable(tc.err); got != tc.want {
			t.Errorf("%s: databaseUnavailable(%v) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
}

// unreachableTemporal is a Temporal client for an address nothing listens on: every call is
// retried by the client until its context ends.
func unreachableTemporal(t *testing.T) client.Client {
	t.Helper()
	c, err := client.NewLazyClient(client.Options{HostPort: closedPort(t), Logger: sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// Temporal unreachable: run-now answers 503 entity-unreachable (with Retry-After) once the
// admission deadline passed instead of hanging, and a write answers 503 entity-unreachable
// "saved" within the notify deadline; both match the OpenAPI document.
func TestTemporalUnreachableAnswers503WithinTheDeadline(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ents := &entityclient.Client{Temporal: unreachableTemporal(t), AdmissionTimeout: time.Second}
	e.srv = New(Config{Pool: e.pool, Entities: ents}, WithTimeouts(Timeouts{Notify: time.Second}))
	e.mustSystem("s")
	id := e.mustCheck("c")
	e.mustAssign("s", id)
	hs := e.serve()
	api := apitest.New(t, hs.URL, &http.Client{Timeout: 30 * time.Second}).WithToken(e.tokens[tokManage])
	for _, r := range []struct {
		name, method, path string
		body               any
		detail             string
		within             time.Duration
	}{
		{"run-now", "POST", "/api/v1/systems/s/checks/" + id + "/run", nil, "did not accept the run", 10 * time.Second},
		{"write", "PATCH", "/api/v1/systems/s", map[string]any{"description": "during the outage"}, "saved", 10 * time.Second},
	} {
		start := time.Now()
		res := api.Do(r.method, r.path, r.body, "Idempotency-Key", "outage-1")
		elapsed := time.Since(start)
		p := res.Problem(t)
		if res.Status != http.StatusServiceUnavailable || p.Type != ProblemEntityUnreachable || !strings.Contains(p.Detail, r.detail) {
			t.Errorf("%s = %d %s", r.name, res.Status, res.Body)
		}
		if res.Header.Get("Retry-After") == "" {
			t.Errorf("%s: no Retry-After header", r.name)
		}
		if elapsed > r.within {
			t.Errorf("%s answered after %v, want within %v", r.name, elapsed, r.within)
		}
	}
}
