// Package chaos is checkflow's chaos test (issue 17, acceptance point 2): systems whose checks
// fail and recover on a schedule while the test SIGKILLs the worker, the Temporal host or both,
// at seeded pseudo-random moments; afterwards it checks that nothing was lost or done twice and
// that the recorded transitions are exactly what internal/health makes of the stored runs.
//
// The test binary re-executes itself in two roles (TestMain): an embedded Temporal server on a
// SQLite file and a fixed port (killed and restarted on the same file and port), and a checkflow
// worker. PostgreSQL is real (testutil.NewDatabase); the probe targets are httptest servers of
// the test.
//
// The default run is short (~1 min, 3 kills: one of each kind) and is part of `go test ./...`.
// The long run:
//
//	go test ./tests/chaos -run TestChaos -count=1 -timeout 60m -v \
//	    -args -chaos.duration=10m -chaos.kills=30 [-chaos.seed=N] [-chaos.keep-logs]
//
// Every run logs its seed; -chaos.seed=N repeats the kill plan and target schedules (not the
// machine's timing).
package chaos

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/sdk/client"

	"github.com/checkflow/checkflow/internal/devenv"
	"github.com/checkflow/checkflow/internal/devenv/temporalserver"
	"github.com/checkflow/checkflow/worker"
	"github.com/checkflow/checkflow/workflows"
)

// Flags of the test (the long version sets them).
var (
	flagDuration = flag.Duration("chaos.duration", 30*time.Second, "length of the phase in which processes are killed")
	flagKills    = flag.Int("chaos.kills", 3, "number of kills (cycling through worker, Temporal host, both)")
	flagSeed     = flag.Uint64("chaos.seed", 0, "seed of the kill plan and target schedules (0: from the clock)")
	flagSystems  = flag.Int("chaos.systems", 4, "number of systems (3 checks each, every 1 s)")
	flagCANAfter = flag.Int("chaos.continue-as-new-after", 250, "EntityOptions.ContinueAsNewAfterEvents of the entities (0: when Temporal suggests)")
	flagKeepLogs = flag.Bool("chaos.keep-logs", false, "keep the child processes' logs and the Temporal data even when the test passes")
)

// Environment of the child processes: the role, and what the role needs.
const (
	envRole         = "CHECKFLOW_CHAOS_ROLE"
	roleTemporal    = "temporal"
	roleWorker      = "worker"
	envTemporalPort = "CHECKFLOW_CHAOS_TEMPORAL_PORT"
	envTemporalDB   = "CHECKFLOW_CHAOS_TEMPORAL_DB"
	envTemporalAddr = "CHECKFLOW_CHAOS_TEMPORAL_ADDR"
	envDatabaseURL  = "CHECKFLOW_CHAOS_DATABASE_URL"
	envTaskQueue    = "CHECKFLOW_CHAOS_TASK_QUEUE"
	envProbeQueue   = "CHECKFLOW_CHAOS_PROBE_QUEUE"
	// readyLine is what a child prints on stdout once it serves.
	readyLine = "chaos child ready"
)

func TestMain(m *testing.M) {
	switch os.Getenv(envRole) {
	case roleTemporal:
		os.Exit(runTemporalHost())
	case roleWorker:
		os.Exit(runWorker())
	}
	os.Exit(m.Run())
}

// childLogger writes a child's log lines to its stderr (a file of the test's log directory).
func childLogger(level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// runTemporalHost is the test binary acting as the Temporal host: an embedded server on the
// SQLite file and frontend port the test chose, so that after a SIGKILL it restarts on the same
// file and port with everything it had committed. StartTemporal registers the namespace and
// checkflow's search attributes when they are missing, also on an existing file.
func runTemporalHost() int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	port, err := strconv.Atoi(os.Getenv(envTemporalPort))
	if err != nil {
		fmt.Fprintln(os.Stderr, "temporal host: bad port:", err)
		return 2
	}
	startCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	srv, err := temporalserver.StartTemporal(startCtx, temporalserver.TemporalConfig{
		Port: port, DBFile: os.Getenv(envTemporalDB), Logger: childLogger(slog.LevelError),
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "temporal host:", err)
		return 1
	}
	fmt.Println(readyLine)
	<-ctx.Done()
	if err := srv.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "temporal host:", err)
		return 1
	}
	return 0
}

// runWorker is the test binary acting as a checkflow worker (like `checkflow worker`) against the
// Temporal host and the test's database.
func runWorker() int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	log := childLogger(slog.LevelWarn)
	c, err := client.DialContext(ctx, client.Options{HostPort: os.Getenv(envTemporalAddr), Logger: devenv.SDKLogger(log)})
	if err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		return 1
	}
	defer c.Close()
	pool, err := pgxpool.New(ctx, os.Getenv(envDatabaseURL))
	if err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		return 1
	}
	defer pool.Close()
	probes := os.Getenv(envProbeQueue)
	w, err := worker.Start(worker.Config{Client: c, Pool: pool, Logger: log, TaskQueue: os.Getenv(envTaskQueue),
		ProbeTaskQueue: probes, EntityOptions: workflows.EntityOptions{ProbeTaskQueue: probes}})
	if err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		return 1
	}
	fmt.Println(readyLine)
	<-ctx.Done()
	w.Stop()
	return 0
}
