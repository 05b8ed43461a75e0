// Package tests holds checkflow's end-to-end tests: real PostgreSQL, an embedded Temporal server,
// the real worker and HTTP API.
package tests

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/sdk/client"

	"github.com/checkflow/checkflow/internal/devenv"
	"github.com/checkflow/checkflow/internal/testutil/testtemporal"
	"github.com/checkflow/checkflow/worker"
	"github.com/checkflow/checkflow/workflows"
)

// env is the embedded Temporal server shared by every test in this binary.
type env struct {
	temporal *testtemporal.Temporal
}

// Environment of a worker child process (see runWorkerProcess).
const (
	envWorkerRole   = "CHECKFLOW_TEST_WORKER"
	envHostPort     = "CHECKFLOW_TEST_TEMPORAL"
	envDatabaseURL  = "CHECKFLOW_TEST_DATABASE_URL"
	envTaskQueue    = "CHECKFLOW_TEST_TASK_QUEUE"
	envProbeQueue   = "CHECKFLOW_TEST_PROBE_QUEUE"
	workerReadyLine = "worker ready"
)

// envJobBatchSize sets a worker child process's data-lifecycle batch size
// (worker.LifecycleConfig.BatchSize; unset: the default).
const envJobBatchSize = "CHECKFLOW_TEST_JOB_BATCH_SIZE"

func TestMain(m *testing.M) {
	if os.Getenv(envWorkerRole) == "1" {
		os.Exit(runWorkerProcess())
	}
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	tt, err := testtemporal.StartTemporal(nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "tests: start embedded temporal:", err)
		return 1
	}
	defer tt.Stop()
	shared = &env{temporal: tt}
	return m.Run()
}

// shared is set once in TestMain before any test runs and never written again.
var shared *env

// runWorkerProcess is the test binary acting as a checkflow worker in a child process, so that a
// test can kill it hard (SIGKILL) and start another.
func runWorkerProcess() int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	c, err := client.DialContext(ctx, client.Options{HostPort: os.Getenv(envHostPort), Logger: devenv.SDKLogger(log)})
	if err != nil {
		fmt.Fprintln(os.Stderr, "worker process:", err)
		return 1
	}
	defer c.Close()
	pool, err := pgxpool.New(ctx, os.Getenv(envDatabaseURL))
	if err != nil {
		fmt.Fprintln(os.Stderr, "worker process:", err)
		return 1
	}
	defer pool.Close()
	batch, _ := strconv.Atoi(os.Getenv(envJobBatchSize)) // unset: 0, the default
	w, err := worker.Start(worker.Config{Client: c, Pool: pool, Logger: log, TaskQueue: os.Getenv(envTaskQueue),
		ProbeTaskQueue: os.Getenv(envProbeQueue), EntityOptions: workflows.EntityOptions{ProbeTaskQueue: os.Getenv(envProbeQueue)},
		Lifecycle: worker.LifecycleConfig{BatchSize: batch}})
	if err != nil {
		fmt.Fprintln(os.Stderr, "worker process:", err)
		return 1
	}
	fmt.Println(workerReadyLine)
	<-ctx.Done()
	w.Stop()
	return 0
}
