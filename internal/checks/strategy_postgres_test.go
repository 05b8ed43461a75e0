package checks

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// postgresConfig returns the local PostgreSQL (trust auth) config, failing clearly when it is down.
func postgresTarget(t *testing.T) map[string]any {
	t.Helper()
	c, err := net.DialTimeout("tcp", "127.0.0.1:5432", 2*time.Second)
	if err != nil {
		t.Fatalf("PostgreSQL is not listening on 127.0.0.1:5432 (start it; tests expect postgres://postgres@127.0.0.1:5432/postgres with trust auth): %v", err)
	}
	_ = c.Close()
	return map[string]any{"host": "127.0.0.1", "port": 5432, "database": "postgres", "user": "postgres"}
}

func withCfg(base map[string]any, kv ...any) map[string]any {
	out := copyMap(base)
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i].(string)] = kv[i+1]
	}
	return out
}

func TestPostgresHealthy(t *testing.T) {
	pg := postgresTarget(t)
	res := run(t, "healthcheck-postgres.postgres", pg,
		entry(t, "one", "query", nil),
		entry(t, "three", "query", map[string]any{"query": "SELECT g FROM generate_series(1,3) g"}, Assertion{Field: "rowCount", Operator: "equals", Value: 3.0}),
		entry(t, "four", "query", map[string]any{"query": "SELECT 1 WHERE false"}))
	requireHealthy(t, res)
	if c := collector(t, res, "one"); c["rowCount"] != 1 || c["success"] != true {
		t.Fatalf("collector %v", c)
	}
	if c := collector(t, res, "four"); c["rowCount"] != 0 {
		t.Fatalf("collector %v", c)
	}
}

func TestPostgresFailing(t *testing.T) {
	pg := postgresTarget(t)
	tests := []struct {
		name    string
		cfg     map[string]any
		query   string
		wantMsg string
		conn    bool
	}{
		{"query error", pg, "SELEC 1", "Check failed: query failed: ERROR: syntax error", true},
		{"missing database", withCfg(pg, "database", "checkflow_no_such_db"), "SELECT 1", "PostgreSQL connect failed", false},
		{"nothing listening", withCfg(pg, "port", closedPort(t)), "SELECT 1", "connection refused", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := run(t, "postgres", tc.cfg, entry(t, "q", "query", map[string]any{"query": tc.query}))
			requireUnhealthy(t, res, tc.wantMsg)
			if res.Metadata["connected"] != tc.conn {
				t.Fatalf("connected %v", res.Metadata)
			}
		})
	}
}

func TestPostgresTimeout(t *testing.T) {
	pg := postgresTarget(t)
	// A marker unique to this run: other test processes may be sleeping on the same server.
	sleep := fmt.Sprintf("SELECT pg_sleep(30) -- %s-%d", t.Name(), time.Now().UnixNano())
	start := time.Now()
	res := run(t, "postgres", withCfg(pg, "timeout", 300), entry(t, "q", "query", map[string]any{"query": sleep}))
	requireTimeout(t, res, 300)
	if time.Since(start) > 5*time.Second {
		t.Fatalf("Execute took %v; the query was not cancelled", time.Since(start))
	}
	// The server-side statement is cancelled too (asynchronously): a fresh probe soon sees no
	// sleeping backend of ours.
	deadline := time.Now().Add(5 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		res = NewRegistry().Execute(ctx, Request{StrategyID: "postgres", Config: mustJSON(t, pg), Collectors: []CollectorEntry{entry(t, "q", "query", map[string]any{
			"query": "SELECT 1 FROM pg_stat_activity WHERE state = 'active' AND query = " + quoteLiteral(sleep)},
			Assertion{Field: "rowCount", Operator: "equals", Value: 0.0})}})
		cancel()
		if res.Status == StatusHealthy || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond) // poll the server's view of its backends
	}
	requireHealthy(t, res)
}

func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
