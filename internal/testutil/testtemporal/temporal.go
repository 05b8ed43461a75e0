// Package testtemporal runs one embedded Temporal server per test binary (start it in TestMain)
// and starts workers on per-test task queues.
package testtemporal

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/checkflow/checkflow/internal/devenv"
	"github.com/checkflow/checkflow/internal/devenv/temporalserver"
)

// Temporal is one embedded Temporal server shared by all tests of a test binary. Start it in
// TestMain with StartTemporal and give every test its own task queue (UniqueName).
type Temporal struct {
	Server *temporalserver.Temporal
	Client client.Client
}

// StartTemporal starts an in-memory embedded Temporal server with extra dynamic config (may be
// nil) and a client for its default namespace.
func StartTemporal(dynamicConfig map[string]any) (*Temporal, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv, err := temporalserver.StartTemporal(ctx, temporalserver.TemporalConfig{DynamicConfig: dynamicConfig})
	if err != nil {
		return nil, err
	}
	c, err := client.DialContext(ctx, client.Options{
		HostPort:  srv.HostPort(),
		Namespace: srv.Namespace(),
		Logger:    devenv.SDKLogger(slog.New(slog.NewTextHandler(os.Stderr, nil))),
	})
	if err != nil {
		_ = srv.Stop()
		return nil, err
	}
	return &Temporal{Server: srv, Client: c}, nil
}

// Stop closes the client and stops the server.
func (tt *Temporal) Stop() {
	tt.Client.Close()
	_ = tt.Server.Stop()
}

// NewWorker starts a worker on taskQueue with what register adds, stopped at test cleanup.
// Workflow panics fail the workflow so that tests see them.
func (tt *Temporal) NewWorker(t testing.TB, taskQueue string, register func(worker.Registry)) worker.Worker {
	t.Helper()
	w := worker.New(tt.Client, taskQueue, worker.Options{WorkflowPanicPolicy: worker.FailWorkflow})
	register(w)
	if err := w.Start(); err != nil {
		t.Fatalf("testutil: start worker: %v", err)
	}
	t.Cleanup(w.Stop)
	return w
}
