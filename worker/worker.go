// Package worker builds and runs checkflow's Temporal workers: one on the main task queue
// (workflows, persist and emit activities) and probe workers on the probe task queues.
package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/checkflow/checkflow/activities"
	"github.com/checkflow/checkflow/internal/automation"
	"github.com/checkflow/checkflow/internal/checks"
	"github.com/checkflow/checkflow/internal/entityclient"
	"github.com/checkflow/checkflow/internal/metrics"
	"github.com/checkflow/checkflow/internal/notify"
	"github.com/checkflow/checkflow/internal/secretbox"
	"github.com/checkflow/checkflow/internal/store"
	"github.com/checkflow/checkflow/worker/searchattrs"
	"github.com/checkflow/checkflow/workflows"
)

// Config says what a worker process serves.
type Config struct {
	Client client.Client
	Pool   *pgxpool.Pool
	// SecretStore is where a probe-only worker (no Pool) reads the secret store from, to
	// resolve collectors' secretEnv; without it (and without Pool) such runs fail naming the
	// secrets this worker cannot resolve.
	SecretStore *pgxpool.Pool
	Logger      *slog.Logger
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
	// ManageSchedules creates the platform schedules (reconcile, and the data-lifecycle jobs'
	// retention, rollup and prune) if missing and triggers a reconcile at start. Production
	// workers and dev set it; tests opt in.
	ManageSchedules bool
	// ReconcileScheduleID overrides the schedule id (tests); default workflows.ReconcileScheduleID.
	ReconcileScheduleID string
	// Hooks observe probes and persists (metrics, benchmarks).
	Hooks activities.Hooks
	// SecretBox opens the sealed secrets of stored configurations for probes; it must hold the
	// API server's key.
	SecretBox *secretbox.Box
	// Namespace is the Client's namespace, where the search attributes the entities set are
	// registered when missing; default "default".
	Namespace string
	// Notify configures notifications (delivery retries, channel options, failing threshold,
	// links).
	Notify NotifyConfig
	// Lifecycle configures the data-lifecycle jobs (retention, rollup, prune): their schedules'
	// cadences (with ManageSchedules) and how this worker runs their steps.
	Lifecycle LifecycleConfig
	// Metrics (optional) counts runs by strategy and status and times the probes.
	Metrics *metrics.Registry
}

// LifecycleConfig configures the data-lifecycle jobs. Zero values take the defaults.
type LifecycleConfig struct {
	// RollupEvery is the rollup job's cadence (default DefaultRollupEvery).
	RollupEvery time.Duration
	// RetentionEvery is the retention job's cadence (default DefaultRetentionEvery).
	RetentionEvery time.Duration
	// PruneEvery is the prune job's cadence (default DefaultPruneEvery).
	PruneEvery time.Duration
	// PruneAfter is the age after which delivered outbox events and finished notification
	// deliveries are deleted (default activities.DefaultPruneAfter).
	PruneAfter time.Duration
	// BatchSize bounds each statement of a job (default activities.DefaultJobBatchSize).
	BatchSize int
	// PauseFactor is how long a job pauses after each statement relative to the statement's
	// duration (0: activities.DefaultPauseFactor; negative: no pause).
	PauseFactor float64
	// ScheduleIDPrefix is put before the jobs' schedule ids (tests; default none:
	// workflows.RetentionScheduleID, RollupScheduleID and PruneScheduleID).
	ScheduleIDPrefix string
}

// Default cadences of the data-lifecycle jobs.
const (
	DefaultRollupEvery    = time.Hour
	DefaultRetentionEvery = 24 * time.Hour
	DefaultPruneEvery     = 24 * time.Hour
)

// LifecycleSchedule is one data-lifecycle job's schedule.
type LifecycleSchedule struct {
	ID       string
	Workflow string
	Every    time.Duration
	Note     string
}

// Schedules returns the jobs' schedules with c's cadences and ids.
func (c LifecycleConfig) Schedules() []LifecycleSchedule {
	or := func(d, def time.Duration) time.Duration {
		if d > 0 {
			return d
		}
		return def
	}
	return []LifecycleSchedule{
		{ID: c.ScheduleIDPrefix + workflows.RollupScheduleID, Workflow: workflows.RollupJobWorkflow, Every: or(c.RollupEvery, DefaultRollupEvery),
			Note: "rolls hourly aggregates into daily ones for finished UTC days older than each check's hourly retention"},
		{ID: c.ScheduleIDPrefix + workflows.RetentionScheduleID, Workflow: workflows.RetentionJobWorkflow, Every: or(c.RetentionEvery, DefaultRetentionEvery),
			Note: "applies each check's retention (default raw 7 / hourly 30 / daily 365 days): deletes old runs and aggregates, rolls hourly into daily, prunes transitions keeping the newest per system, and removes the data of checks no longer assigned"},
		{ID: c.ScheduleIDPrefix + workflows.PruneScheduleID, Workflow: workflows.PruneJobWorkflow, Every: or(c.PruneEvery, DefaultPruneEvery),
			Note: "deletes delivered outbox events and finished notification deliveries older than the prune age"},
	}
}

// NotifyConfig configures the notifiers and deliveries of a worker.
type NotifyConfig struct {
	// Notifier are the options given to the notifiers this worker starts.
	Notifier workflows.NotifierOptions
	// Channel are the channels' options (HTTP client, SMTP TLS config); tests trust their own
	// CA with it.
	Channel notify.Options
	// FailingAfter is how many failed attempts in a row mark a channel failing (default
	// activities.DefaultFailingAfter).
	FailingAfter int
	// PublicURL links notifications to <PublicURL>/status/<systemId> when set.
	PublicURL string
}

// stopGrace lets in-flight activities (a probe batch, a persist, a reconcile pass) finish when
// the worker stops instead of failing them with a cancelled context; the whole process still
// stops well within 10 s.
const stopGrace = 3 * time.Second

// mainActivitySlots bounds the activities the main worker runs at once: one probe session per
// entity it serves (a goroutine waiting for its next due check, a few KB), plus event dispatches,
// deliveries and jobs. Sessions are not limited by it in practice; CPU and memory are.
const mainActivitySlots = 100_000

// mainStopGrace is stopGrace for the main task queue's worker: its probe sessions end at once
// when it stops, and their ends are reported to their entities — about 1,000 per 3–4 s against
// the embedded Temporal server — so that every entity starts a new session from the reported end
// instead of waiting to hear that the session was lost (activities.SessionHandoverGrace).
const mainStopGrace = 6 * time.Second

// handOverWithin bounds the write that hands over the probe sessions ended by a stop
// (activities.Sessions.HandOver).
const handOverWithin = 2 * time.Second

// stickyScheduleToStart is how long a workflow task waits on this worker's sticky queue (where
// the workflow's state is cached) before the server hands it to any worker of the task queue.
// The SDK's default, 5 s, is how long every entity of a crashed worker stands still after its
// next timer fires (a gracefully stopped worker releases its sticky queue at once). A healthy
// worker picks a sticky task up within milliseconds; 1 s leaves a wide margin for a busy one,
// and a task that misses it only costs a history replay on another worker.
const stickyScheduleToStart = time.Second

// sessionWatchEvery is how often each worker looks for probe sessions whose worker died (their
// entities are told at once; otherwise they would wait for the session's timeout, minutes).
const sessionWatchEvery = 3 * time.Second

// deadlockDetection is how long workflow code may run without yielding before the SDK fails
// the workflow task as a deadlock ("Workflow panic … Potential deadlock detected"; retried
// later). The SDK's 1 s fired on a loaded 2-core machine — the embedded server, probes and
// tests competing for the CPU — where an entity's goroutine waited for a core, not for a lock:
// a false ERROR and a gap in runs. It stays well under the entities' workflow task timeout (5 s,
// internal/entityclient).
const deadlockDetection = 3 * time.Second

// searchAttributesTimeout bounds registering the search attributes at start, including the wait
// until the frontends accept them.
const searchAttributesTimeout = time.Minute

// Worker is a set of running SDK workers.
type Worker struct {
	workers []sdkworker.Worker
	queues  []string
	// stopListening ends the probe session listener (nil: none runs).
	stopListening context.CancelFunc
	listening     sync.WaitGroup
	// sessions runs the main worker's probe sessions (nil: probes only).
	sessions *activities.Sessions
	// handedOver counts the probe sessions its stop handed over to their entities.
	handedOver int64
}

// HandedOver returns how many probe sessions Stop ended and handed over to their entities: their
// entities' next workflow tasks were scheduled on this worker's sticky queue and move to the
// task queue once StickyScheduleToStart passed.
func (w *Worker) HandedOver() int64 { return w.handedOver }

// StickyScheduleToStart is how long a workflow task scheduled on this worker's sticky queue waits
// there before the Temporal server hands it to any worker of the task queue.
func StickyScheduleToStart() time.Duration { return stickyScheduleToStart }

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
		st := store.New(cfg.Pool)
		cfg.Consumers = []activities.Consumer{
			activities.LogConsumer{Logger: cfg.Logger},
			activities.NotifyConsumer{Store: st, Temporal: cfg.Client, TaskQueue: cfg.TaskQueue, Options: cfg.Notify.Notifier},
		}
		compiler, err := automation.NewCompiler()
		if err != nil {
			return nil, fmt.Errorf("automation compiler: %w", err)
		}
		ents := &entityclient.Client{Temporal: cfg.Client, TaskQueue: cfg.TaskQueue}
		cfg.Consumers = append(cfg.Consumers, &activities.AutomationConsumer{Store: st, Compiler: compiler, Signal: ents.AutomationEvent, Logger: cfg.Logger})
	}
	if cfg.Namespace == "" {
		cfg.Namespace = client.DefaultNamespace
	}
	if !cfg.ProbesOnly {
		// Entities set checkflow's search attributes when they start: without them every start
		// (and so every configuration write of the API) fails. Probe-only workers start none.
		if err := ensureSearchAttributes(cfg); err != nil {
			return nil, err
		}
	}
	w := &Worker{}
	if !cfg.ProbesOnly {
		main := sdkworker.New(cfg.Client, cfg.TaskQueue, sdkworker.Options{
			WorkerStopTimeout: mainStopGrace,
			// Every entity's probe session holds one activity slot for minutes: the SDK's
			// default of 1,000 slots was full with 1,000 systems, so the next session or
			// event dispatch waited for a session to end (measured: a first probe 1.7 s late
			// after a restart).
			MaxConcurrentActivityExecutionSize: mainActivitySlots,
			StickyScheduleToStartTimeout:       stickyScheduleToStart,
			DeadlockDetectionTimeout:           deadlockDetection,
		})
		sessions := RegisterMain(main, cfg)
		w.sessions = sessions
		// Revocations of probe sessions reach this worker's sessions through PostgreSQL.
		lctx, cancel := context.WithCancel(context.Background())
		w.stopListening = cancel
		sessions.LostSignal = func(ctx context.Context, systemID, session string) error {
			return cfg.Client.SignalWorkflow(ctx, workflows.SystemWorkflowID(systemID), "", workflows.SignalProbeSessionLost, session)
		}
		w.listening.Go(func() { sessions.Listen(lctx, nil) })
		w.listening.Go(func() { sessions.Watch(lctx, sessionWatchEvery) })
		if err := w.add(main, cfg.TaskQueue); err != nil {
			return nil, err
		}
	}
	probeQueues := []string{cfg.ProbeTaskQueue}
	if cfg.Location != "" {
		probeQueues = append(probeQueues, cfg.ProbeTaskQueue+"-"+cfg.Location)
	}
	secretsFrom := cfg.Pool
	if secretsFrom == nil {
		secretsFrom = cfg.SecretStore
	}
	prober := &activities.Prober{Checks: cfg.Checks, Hooks: cfg.Hooks, Box: cfg.SecretBox, Metrics: cfg.Metrics,
		Secrets: activities.NewStoreSecrets(secretsFrom, cfg.SecretBox)}
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
		warnWithoutAutovacuum(cfg)
	}
	cfg.Logger.Info("worker started", "taskQueues", w.queues)
	return w, nil
}

// warnWithoutAutovacuum logs a warning when the database runs without autovacuum: the
// lifecycle jobs then keep row counts flat but the outbox and deliveries grow in bytes
// (README, Data lifecycle).
func warnWithoutAutovacuum(cfg Config) {
	ctx, cancel := context.WithTimeout(context.Background(), searchAttributesTimeout)
	defer cancel()
	on, err := store.New(cfg.Pool).Autovacuum(ctx)
	if err != nil {
		cfg.Logger.Warn("could not read the database's autovacuum setting", "err", err)
		return
	}
	if !on {
		cfg.Logger.Warn("the database runs with autovacuum off: deleted outbox events and deliveries leave dead rows that only VACUUM gives back, so storage grows although the lifecycle jobs delete rows; turn autovacuum on or VACUUM health_events and notification_deliveries regularly")
	}
}

// ensureSearchAttributes registers the search attributes the namespace lacks (see
// searchattrs.Ensure; a *searchattrs.MissingError when this client may not).
func ensureSearchAttributes(cfg Config) error {
	ctx, cancel := context.WithTimeout(context.Background(), searchAttributesTimeout)
	defer cancel()
	added, err := searchattrs.Ensure(ctx, cfg.Client, cfg.Namespace, searchattrs.Options{})
	if err != nil {
		return err
	}
	if len(added) > 0 {
		cfg.Logger.Info("registered search attributes", "namespace", cfg.Namespace, "attributes", added)
	}
	return nil
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
	for _, ls := range cfg.Lifecycle.Schedules() {
		if err := ensureLifecycleSchedule(ctx, cfg, ls); err != nil {
			return err
		}
	}
	return nil
}

// ensureLifecycleSchedule creates a data-lifecycle job's schedule when it does not exist (not
// triggered: the job runs at its first interval, or at once with `checkflow maintenance
// run-now`). An existing schedule is kept as it is — paused or not — except that its interval
// follows the configured cadence.
func ensureLifecycleSchedule(ctx context.Context, cfg Config, ls LifecycleSchedule) error {
	sc := cfg.Client.ScheduleClient()
	spec := client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: ls.Every}}}
	_, err := sc.Create(ctx, client.ScheduleOptions{
		ID:   ls.ID,
		Spec: spec,
		Action: &client.ScheduleWorkflowAction{
			ID:        ls.ID,
			Workflow:  ls.Workflow,
			Args:      []any{workflows.JobInput{}},
			TaskQueue: cfg.TaskQueue,
		},
		Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
		// A run missed while Temporal was away starts once when it is back.
		CatchupWindow: max(ls.Every, time.Minute),
		Note:          ls.Note,
	})
	if err == nil {
		cfg.Logger.Info("created schedule", "scheduleId", ls.ID, "workflow", ls.Workflow, "every", ls.Every)
		return nil
	}
	if !errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
		return fmt.Errorf("create schedule %s: %w", ls.ID, err)
	}
	h := sc.GetHandle(ctx, ls.ID)
	d, err := h.Describe(ctx)
	if err != nil {
		return fmt.Errorf("describe schedule %s: %w", ls.ID, err)
	}
	if iv := d.Schedule.Spec.Intervals; len(iv) == 1 && iv[0].Every == ls.Every && iv[0].Offset == 0 {
		return nil
	}
	err = h.Update(ctx, client.ScheduleUpdateOptions{DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
		s := in.Description.Schedule
		s.Spec = &spec
		return &client.ScheduleUpdate{Schedule: &s}, nil
	}})
	if err != nil {
		return fmt.Errorf("update schedule %s: %w", ls.ID, err)
	}
	cfg.Logger.Info("updated schedule interval", "scheduleId", ls.ID, "every", ls.Every)
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

// RegisterMain registers the main task queue's workflows and activities on r. It returns the
// probe sessions' runner, whose Listen the worker runs.
func RegisterMain(r sdkworker.Registry, cfg Config) *activities.Sessions {
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
	prober := &activities.Prober{Checks: reg, Hooks: cfg.Hooks, Box: cfg.SecretBox, Metrics: cfg.Metrics,
		Secrets: activities.NewStoreSecrets(cfg.Pool, cfg.SecretBox)}
	r.RegisterActivityWithOptions(prober.Probe, activity.RegisterOptions{Name: workflows.ActivityProbe})
	// Probe sessions keep the cadence of checks without a location (changeProbeSessions).
	sessions := &activities.Sessions{Prober: prober, Entity: ent, Logger: cfg.Logger,
		Commits: ent.Store.NewGroupCommitter(store.GroupCommitOptions{})}
	r.RegisterActivityWithOptions(sessions.ProbeSession, activity.RegisterOptions{Name: workflows.ActivityProbeSession})
	r.RegisterActivityWithOptions(sessions.ProbeSession, activity.RegisterOptions{Name: workflows.ActivityResumableProbeSession})
	r.RegisterActivityWithOptions(sessions.RevokeProbeSession, activity.RegisterOptions{Name: workflows.ActivityRevokeProbeSession})

	registerNotify(r, cfg, ent.Store)

	r.RegisterWorkflowWithOptions(workflows.Reconcile, workflow.RegisterOptions{Name: workflows.ReconcileWorkflow})
	rec := &activities.Reconciler{Store: ent.Store, Entities: &entityclient.Client{Temporal: cfg.Client, TaskQueue: cfg.TaskQueue, Options: cfg.EntityOptions}}
	r.RegisterActivityWithOptions(rec.ReconcileEntities, activity.RegisterOptions{Name: workflows.ActivityReconcileEntities})

	registerLifecycle(r, cfg, ent.Store)
	return sessions
}

// registerLifecycle registers the data-lifecycle jobs' workflows and activities.
func registerLifecycle(r sdkworker.Registry, cfg Config, st *store.Store) {
	r.RegisterWorkflowWithOptions(workflows.RetentionJob, workflow.RegisterOptions{Name: workflows.RetentionJobWorkflow})
	r.RegisterWorkflowWithOptions(workflows.RollupJob, workflow.RegisterOptions{Name: workflows.RollupJobWorkflow})
	r.RegisterWorkflowWithOptions(workflows.PruneJob, workflow.RegisterOptions{Name: workflows.PruneJobWorkflow})
	lc := &activities.Lifecycle{Store: st, Logger: cfg.Logger, BatchSize: cfg.Lifecycle.BatchSize, PruneAfter: cfg.Lifecycle.PruneAfter,
		PauseFactor: cfg.Lifecycle.PauseFactor}
	r.RegisterActivityWithOptions(lc.RetentionStep, activity.RegisterOptions{Name: workflows.ActivityRetentionStep})
	r.RegisterActivityWithOptions(lc.RollupStep, activity.RegisterOptions{Name: workflows.ActivityRollupStep})
	r.RegisterActivityWithOptions(lc.PruneStep, activity.RegisterOptions{Name: workflows.ActivityPruneStep})
	r.RegisterActivityWithOptions(lc.JobSummary, activity.RegisterOptions{Name: workflows.ActivityJobSummary})
}

// registerNotify registers the notifier and maintenance window workflows and their activities.
func registerNotify(r sdkworker.Registry, cfg Config, st *store.Store) {
	r.RegisterWorkflowWithOptions(workflows.SystemNotifier, workflow.RegisterOptions{Name: workflows.NotifierWorkflow})
	r.RegisterWorkflowWithOptions(workflows.MaintenanceWindow, workflow.RegisterOptions{Name: workflows.MaintenanceWorkflow})
	n := &activities.Notifier{
		Store: st, Box: cfg.SecretBox, Temporal: cfg.Client, TaskQueue: cfg.TaskQueue,
		NotifierOptions: cfg.Notify.Notifier, Limiter: notify.NewLimiter(), Channel: cfg.Notify.Channel,
		Logger: cfg.Logger, FailingAfter: cfg.Notify.FailingAfter, BaseURL: cfg.Notify.PublicURL, Metrics: cfg.Metrics,
	}
	for name, fn := range map[string]any{
		workflows.ActivityPlanTransition:     n.PlanTransition,
		workflows.ActivityPlanCheckFailed:    n.PlanCheckFailed,
		workflows.ActivityPlanReminders:      n.PlanReminders,
		workflows.ActivityPlanMaintenanceEnd: n.PlanMaintenanceEnd,
		workflows.ActivityDeliver:            n.Deliver,
		workflows.ActivityFailDelivery:       n.FailDelivery,
		workflows.ActivityLoadMaintenance:    n.LoadMaintenance,
		workflows.ActivityMaintenanceEdge:    n.MaintenanceEdge,
		workflows.ActivityPlanFlapping:       n.PlanFlapping,
	} {
		r.RegisterActivityWithOptions(fn, activity.RegisterOptions{Name: name})
	}
	// Automations (issue 13): one workflow per automation; its actions notify through n.
	r.RegisterWorkflowWithOptions(workflows.Automation, workflow.RegisterOptions{Name: workflows.AutomationWorkflow})
	au := &activities.Automations{Store: st, Box: cfg.SecretBox, Notifier: n, Logger: cfg.Logger,
		Entities:   &entityclient.Client{Temporal: cfg.Client, TaskQueue: cfg.TaskQueue, Options: cfg.EntityOptions},
		HTTPClient: cfg.Notify.Channel.HTTPClient}
	r.RegisterActivityWithOptions(au.LoadAutomation, activity.RegisterOptions{Name: workflows.ActivityLoadAutomation})
	r.RegisterActivityWithOptions(au.RecordOccurrence, activity.RegisterOptions{Name: workflows.ActivityRecordOccurrence})
	r.RegisterActivityWithOptions(au.RunAutomationAction, activity.RegisterOptions{Name: workflows.ActivityRunAutomationAction})
}

// Stop stops every worker and waits for in-flight tasks. The workers stop together: each
// tells the server it is going and waits up to its grace (mainStopGrace, stopGrace) for its
// activities, so one after another would add up. When every activity was reported in time, the
// probe sessions the stop ended are handed over (see activities.SessionHandoverGrace); otherwise
// they are left to look like a crashed worker's, reported lost by the next Watch.
func (w *Worker) Stop() {
	started := time.Now()
	var wg sync.WaitGroup
	for _, sw := range w.workers {
		wg.Go(sw.Stop)
	}
	wg.Wait()
	if w.sessions != nil && len(w.workers) > 0 && time.Since(started) < mainStopGrace {
		// Every activity task ended and was reported (the SDK did not give up waiting): the
		// sessions that ended with the stop reached their entities.
		ctx, cancel := context.WithTimeout(context.Background(), handOverWithin)
		w.handedOver = w.sessions.HandOver(ctx)
		cancel()
	}
	w.workers = nil
	if w.stopListening != nil {
		w.stopListening()
		w.listening.Wait()
		w.stopListening = nil
	}
}
