package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/checkflow/checkflow/internal/store"
	"github.com/checkflow/checkflow/internal/testutil"
)

// Issue 11, acceptance 5: `checkflow dev` at INFO with 100 checks every 10 s writes fewer than
// 10 log lines a minute while nothing changes (per-run hooks and events are DEBUG lines).
func TestDevIsQuietWhileNothingChanges(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dbURL := testutil.NewDatabase(t)
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }))
	defer target.Close()
	// 10 systems × 10 checks, written before dev starts: the reconcile pass at start runs them.
	st := store.New(pool)
	cfg, _ := json.Marshal(map[string]any{"timeout": 2000})
	collectors, _ := json.Marshal([]map[string]any{{"id": "req", "collectorId": "request", "config": map[string]any{"url": target.URL}}})
	for i := range 10 {
		sys := fmt.Sprintf("quiet-%d", i)
		if _, err := st.CreateSystem(ctx, store.SystemInput{ID: sys, Name: sys}); err != nil {
			t.Fatal(err)
		}
		for j := range 10 {
			c, err := st.CreateConfiguration(ctx, store.ConfigurationInput{Name: fmt.Sprintf("check %d", j), StrategyID: "http",
				Config: cfg, Collectors: collectors, IntervalSeconds: 10})
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := st.Associate(ctx, store.AssociateInput{SystemID: sys, ConfigurationID: c.ID}); err != nil {
				t.Fatal(err)
			}
		}
	}
	d := startDev(t, t.TempDir(), "--database-url", dbURL, "--no-ui")
	countRuns := func() int {
		var n int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM health_check_runs`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	// Every check ran once: start-up is over.
	deadline := time.Now().Add(90 * time.Second)
	for {
		var n int
		if err := pool.QueryRow(ctx, `SELECT count(DISTINCT configuration_id) FROM health_check_runs`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 100 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d of 100 checks ran within 90 s; stderr:\n%s", n, d.stderr.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	before, runs0 := len(d.stderr.String()), countRuns()
	time.Sleep(time.Minute) // the observation window itself
	window := d.stderr.String()[before:]
	runs := countRuns() - runs0
	if runs < 500 {
		t.Fatalf("only %d runs in the minute: the system was not busy, the test proves nothing", runs)
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(window), "\n") {
		if l != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) >= 10 {
		t.Fatalf("%d log lines in a quiet minute (%d runs), want < 10:\n%s", len(lines), runs, window)
	}
	t.Logf("%d log lines during a minute of %d healthy runs", len(lines), runs)
}
