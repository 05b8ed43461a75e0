package tests

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/sdk/client"

	"github.com/checkflow/checkflow/internal/testutil"
	"github.com/checkflow/checkflow/worker"
	"github.com/checkflow/checkflow/workflows"
)

// TestSelfTestWorkflowReachesPerTestDatabase runs a real workflow whose activity queries the
// test's own database, on the embedded Temporal server, through checkflow's worker package.
func TestSelfTestWorkflowReachesPerTestDatabase(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dbURL := testutil.NewDatabase(t)
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	queue := testutil.UniqueName(t)
	w, err := worker.Start(worker.Config{Client: shared.temporal.Client, Pool: pool, TaskQueue: queue, Logger: testutil.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	run, err := shared.temporal.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "selftest-" + queue, TaskQueue: queue}, workflows.SelfTestWorkflow)
	if err != nil {
		t.Fatal(err)
	}
	var res workflows.SelfTestResult
	if err := run.Get(ctx, &res); err != nil {
		t.Fatalf("workflow: %v", err)
	}
	u, _ := url.Parse(dbURL)
	if want := strings.TrimPrefix(u.Path, "/"); res.Database.Database != want {
		t.Errorf("activity reached database %q, want the test's own %q", res.Database.Database, want)
	}
	if res.Database.SchemaVersion < 1 {
		t.Errorf("schema version = %d, want migrations applied (≥1)", res.Database.SchemaVersion)
	}
	if !strings.HasPrefix(res.Database.ServerVersion, "1") {
		t.Errorf("server version %q does not look like a PostgreSQL version", res.Database.ServerVersion)
	}
	if res.StartedAt.IsZero() || res.Database.DatabaseTimeUT.IsZero() {
		t.Errorf("times not filled: %+v", res)
	}
}
