// Package worker builds and runs checkflow's Temporal workers: one on the main task queue
// (workflows, persist and emit activities) and probe workers on the probe task queues.
package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/checkflow/checkflow/activities"
	"github.com/checkflow/checkflow/internal/checks"
	"github.com/checkflow/checkflow/internal/entityclient"
	"github.com/checkflow/checkflow/internal/secretbox"
	"github.com/checkflow/checkflow/internal/store"
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
	// ProbeTaskQueue overrides the probe task queue (tests); default workflows.ProbeTaskQueue.
	ProbeTaskQueue string
	// Checks is the strategy registry; default checks.NewRegistry().
	Checks *checks.Registry
	// Consumers receive dispatched outbox events; default: a log consumer.
	Consumers []activities.Consumer
	// EntityOptions are given to entities this worker starts (reconcile).
	EntityOptions workflows.EntityOptions
	// ManageSchedules creates the platform schedules (reconcile) if missing and triggers a
	// reconcile at start. Production workers and dev set it; tests opt in.
	ManageSchedules bool
	// ReconcileScheduleID overrides the schedule id (tests); default workflows.ReconcileScheduleID.
	ReconcileScheduleID string
	// Hooks observe probes and persists (metrics, benchmarks).
	Hooks activities.Hooks
	// SecretBox opens the sealed secrets of stored configurations for probes; it must hold the
	// API server's key.
	SecretBox *secretbox.Box
}

// stopGrace lets in-flight activities (a probe batch, a persist, a reconcile pass) finish when
// the worker stops instead of failing them with a cancelled context; the whole process still
// stops well within 10 s.
const stopGrace = 3 * time.Second

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
	if cfg.ProbeTaskQueue == "" {
		cfg.ProbeTaskQueue = workflows.ProbeTaskQueue
	}
	if cfg.Checks == nil {
		cfg.Checks = checks.NewRegistry()
	}
	if cfg.Consumers == nil {
		cfg.Consumers = []activities.Consumer{activities.LogConsumer{Logger: cfg.Logger}}
	}
	w := &Worker{}
	if !cfg.ProbesOnly {
		main := sdkworker.New(cfg.Client, cfg.TaskQueue, sdkworker.Options{WorkerStopTimeout: stopGrace})
		RegisterMain(main, cfg)
		if err := w.add(main, cfg.TaskQueue); err != nil {
			return nil, err
		}
	}
	probeQueues := []string{cfg.ProbeTaskQueue}
	if cfg.Location != "" {
		probeQueues = append(probeQueues, cfg.ProbeTaskQueue+"-"+cfg.Location)
	}
	prober := &activities.Prober{Checks: cfg.Checks, Hooks: cfg.Hooks, Box: cfg.SecretBox}
	for _, q := range probeQueues {
		pw := sdkworker.New(cfg.Client, q, sdkworker.Options{WorkerStopTimeout: stopGrace})
		pw.RegisterActivityWithOptions(prober.Probe, activity.RegisterOptions{Name: workflows.ActivityProbe})
		if err := w.add(pw, q); err != nil {
			return nil, err
		}
	}
	if cfg.ManageSchedules && !cfg.ProbesOnly {
		if err := ensureSchedules(context.Background(), cfg); err != nil {
			w.Stop()
			return nil, err
		}
	}
	cfg.Logger.Info("worker started", "taskQueues", w.queues)
	return w, nil
}

// ensureSchedules creates the reconcile schedule when it does not exist and triggers one pass
// now, so entities run right after a (re)start without waiting for the interval.
func ensureSchedules(ctx context.Context, cfg Config) error {
	id := cfg.ReconcileScheduleID
	if id == "" {
		id = workflows.ReconcileScheduleID
	}
	sc := cfg.Client.ScheduleClient()
	h, err := sc.Create(ctx, client.ScheduleOptions{
		ID:   id,
		Spec: client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: workflows.ReconcileInterval}}},
		Action: &client.ScheduleWorkflowAction{
			ID:        id,
			Workflow:  workflows.ReconcileWorkflow,
			TaskQueue: cfg.TaskQueue,
		},
		Overlap:       enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
		CatchupWindow: time.Minute,
		Note:          "starts the SystemHealth entity of every system with enabled checks",
	})
	if errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
		h = sc.GetHandle(ctx, id)
	} else if err != nil {
		return fmt.Errorf("create schedule %s: %w", id, err)
	}
	if err := h.Trigger(ctx, client.ScheduleTriggerOptions{Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_ALLOW_ALL}); err != nil {
		return fmt.Errorf("trigger schedule %s: %w", id, err)
	}
	return nil
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

	r.RegisterWorkflowWithOptions(workflows.SystemHealth, workflow.RegisterOptions{Name: workflows.SystemHealthWorkflow})
	reg := cfg.Checks
	if reg == nil {
		reg = checks.NewRegistry()
	}
	ent := &activities.Entity{
		Store:     store.New(cfg.Pool, store.WithCollectorMerger(reg.MergeCollector)),
		Consumers: cfg.Consumers,
		Logger:    cfg.Logger,
		Hooks:     cfg.Hooks,
	}
	r.RegisterActivityWithOptions(ent.LoadSystem, activity.RegisterOptions{Name: workflows.ActivityLoadSystem})
	r.RegisterActivityWithOptions(ent.PersistSystem, activity.RegisterOptions{Name: workflows.ActivityPersistSystem})
	r.RegisterActivityWithOptions(ent.DispatchEvents, activity.RegisterOptions{Name: workflows.ActivityDispatchEvents})
	// Checks without a location are probed as local activities of the entity's worker.
	prober := &activities.Prober{Checks: reg, Hooks: cfg.Hooks, Box: cfg.SecretBox}
	r.RegisterActivityWithOptions(prober.Probe, activity.RegisterOptions{Name: workflows.ActivityProbe})

	r.RegisterWorkflowWithOptions(workflows.Reconcile, workflow.RegisterOptions{Name: workflows.ReconcileWorkflow})
	rec := &activities.Reconciler{Store: ent.Store, Entities: &entityclient.Client{Temporal: cfg.Client, TaskQueue: cfg.TaskQueue, Options: cfg.EntityOptions}}
	r.RegisterActivityWithOptions(rec.ReconcileEntities, activity.RegisterOptions{Name: workflows.ActivityReconcileEntities})
}

// Stop stops every worker and waits for in-flight tasks.
func (w *Worker) Stop() {
	for _, sw := range w.workers {
		sw.Stop()
	}
	w.workers = nil
}
