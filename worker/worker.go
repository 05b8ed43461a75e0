// Package worker builds and runs checkflow's Temporal workers: one on the main task queue
// (workflows, persist and emit activities) and probe workers on the probe task queues.
package worker

import (
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/checkflow/checkflow/activities"
	"github.com/checkflow/checkflow/workflows"
)

// Config says what a worker process serves.
type Config struct {
	Client client.Client
	Pool   *pgxpool.Pool
	Logger *slog.Logger
	// TaskQueue overrides the main task queue (tests use a unique one); default workflows.TaskQueue.
	TaskQueue string
	// ProbesOnly serves only probe task queues (a probe worker in a remote location).
	ProbesOnly bool
	// Location adds the location's probe task queue (checkflow-probes-<location>).
	Location string
}

// Worker is a set of running SDK workers.
type Worker struct {
	workers []sdkworker.Worker
	queues  []string
}

// TaskQueues lists the task queues being polled.
func (w *Worker) TaskQueues() []string { return w.queues }

// Start registers checkflow's workflows and activities and starts polling.
func Start(cfg Config) (*Worker, error) {
	if cfg.TaskQueue == "" {
		cfg.TaskQueue = workflows.TaskQueue
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	w := &Worker{}
	if !cfg.ProbesOnly {
		main := sdkworker.New(cfg.Client, cfg.TaskQueue, sdkworker.Options{})
		RegisterMain(main, cfg)
		if err := w.add(main, cfg.TaskQueue); err != nil {
			return nil, err
		}
	}
	// Probe workers are added with the probe activity (internal/checks).
	cfg.Logger.Info("worker started", "taskQueues", w.queues)
	return w, nil
}

func (w *Worker) add(sw sdkworker.Worker, queue string) error {
	if err := sw.Start(); err != nil {
		w.Stop()
		return fmt.Errorf("start worker on %s: %w", queue, err)
	}
	w.workers = append(w.workers, sw)
	w.queues = append(w.queues, queue)
	return nil
}

// RegisterMain registers the main task queue's workflows and activities on r.
func RegisterMain(r sdkworker.Registry, cfg Config) {
	r.RegisterWorkflowWithOptions(workflows.SelfTest, workflow.RegisterOptions{Name: workflows.SelfTestWorkflow})
	diag := &activities.Diagnostics{Pool: cfg.Pool}
	r.RegisterActivityWithOptions(diag.DatabaseInfo, activity.RegisterOptions{Name: workflows.ActivityDatabaseInfo})
}

// Stop stops every worker and waits for in-flight tasks.
func (w *Worker) Stop() {
	for _, sw := range w.workers {
		sw.Stop()
	}
	w.workers = nil
}
