package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/checkflow/checkflow/activities"
	"github.com/checkflow/checkflow/worker"
	"github.com/checkflow/checkflow/workflows"
)

// usageError is a command line that names no valid subcommand or argument (exit 2 like a
// flagError, without a flag name).
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// lifecycleFlags are the data-lifecycle jobs' cadences, age and batch size (dev and worker).
// They are read as text so that a bad value — from a flag or its environment variable — is a
// one-line error instead of a silent default.
type lifecycleFlags struct {
	rollupEvery, retentionEvery, pruneEvery, pruneAfter, batchSize string
}

func (l *lifecycleFlags) register(f *flags) {
	f.str(&l.rollupEvery, "rollup-every", "CHECKFLOW_ROLLUP_EVERY", durationText(worker.DefaultRollupEvery),
		"how often the rollup job (schedule checkflow-rollup) rolls hourly aggregates of finished days into daily ones; a Go duration ≥ 1m")
	f.str(&l.retentionEvery, "retention-every", "CHECKFLOW_RETENTION_EVERY", durationText(worker.DefaultRetentionEvery),
		"how often the retention job (schedule checkflow-retention) deletes runs, aggregates and transitions past each check's retention; a Go duration ≥ 1m")
	f.str(&l.pruneEvery, "prune-every", "CHECKFLOW_PRUNE_EVERY", durationText(worker.DefaultPruneEvery),
		"how often the prune job (schedule checkflow-prune) deletes delivered events and finished notification deliveries; a Go duration ≥ 1m")
	f.str(&l.pruneAfter, "prune-after", "CHECKFLOW_PRUNE_AFTER", durationText(activities.DefaultPruneAfter),
		"age after which the prune job deletes delivered outbox events and sent or failed notification deliveries; a Go duration ≥ 1m")
	f.str(&l.batchSize, "job-batch-size", "CHECKFLOW_JOB_BATCH_SIZE", strconv.Itoa(activities.DefaultJobBatchSize),
		"most rows one statement of a data-lifecycle job deletes or rolls up (1–1000000)")
}

// durationText prints d without zero minutes and seconds (1h, 168h).
func durationText(d time.Duration) string {
	return strings.TrimSuffix(strings.TrimSuffix(d.String(), "0s"), "0m")
}

// config validates the flags.
func (l *lifecycleFlags) config() (worker.LifecycleConfig, error) {
	var c worker.LifecycleConfig
	for _, d := range []struct {
		flag, value string
		dst         *time.Duration
	}{
		{"rollup-every", l.rollupEvery, &c.RollupEvery},
		{"retention-every", l.retentionEvery, &c.RetentionEvery},
		{"prune-every", l.pruneEvery, &c.PruneEvery},
		{"prune-after", l.pruneAfter, &c.PruneAfter},
	} {
		v, err := time.ParseDuration(strings.TrimSpace(d.value))
		if err != nil {
			return c, badFlag(d.flag, "%q is not a duration such as 1h or 30m", d.value)
		}
		if v < time.Minute {
			return c, badFlag(d.flag, "%s is shorter than 1m", v)
		}
		*d.dst = v
	}
	n, err := strconv.Atoi(strings.TrimSpace(l.batchSize))
	if err != nil || n < 1 || n > 1_000_000 {
		return c, badFlag("job-batch-size", "%q is not a number between 1 and 1000000", l.batchSize)
	}
	c.BatchSize = n
	return c, nil
}

const maintenanceUsage = `Usage: checkflow maintenance run-now <rollup|retention|prune|reconcile> [flags]

Starts a platform job now by triggering its Temporal Schedule (created by the workers):
  rollup     checkflow-rollup: hourly → daily aggregates for finished days
  retention  checkflow-retention: runs, aggregates and transitions past each check's retention
  prune      checkflow-prune: delivered outbox events and finished notification deliveries
  reconcile  checkflow-reconcile: start the entity of every system with enabled checks
The job runs on the workers; follow it in the Temporal UI. Flags: the Temporal connection, as for
'checkflow worker' (run 'checkflow maintenance run-now --help').
`

// maintenanceJobs maps run-now's job names to their schedules.
var maintenanceJobs = map[string]string{
	"rollup":    workflows.RollupScheduleID,
	"retention": workflows.RetentionScheduleID,
	"prune":     workflows.PruneScheduleID,
	"reconcile": workflows.ReconcileScheduleID,
}

// runMaintenance dispatches `checkflow maintenance <subcommand>`.
func runMaintenance(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
		fmt.Fprint(stdout, maintenanceUsage)
		return errHelp
	}
	if len(args) == 0 || args[0] != "run-now" {
		return &usageError{msg: "expected: checkflow maintenance run-now <rollup|retention|prune|reconcile> (see checkflow maintenance --help)"}
	}
	args = args[1:]
	job := ""
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		job, args = args[0], args[1:]
	}
	var tf temporalFlags
	var logLevel string
	f := newFlags("maintenance run-now", stderr)
	f.str(&logLevel, "log-level", "CHECKFLOW_LOG_LEVEL", "warn", "debug, info, warn or error")
	tf.register(f)
	if err := f.fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errHelp
		}
		return &flagError{flag: "flags", err: err}
	}
	rest := f.fs.Args()
	if job == "" && len(rest) > 0 {
		job, rest = rest[0], rest[1:]
	}
	if len(rest) > 0 {
		return &usageError{msg: fmt.Sprintf("unexpected argument %q", rest[0])}
	}
	id, ok := maintenanceJobs[job]
	if !ok {
		if job == "" {
			return &usageError{msg: "which job? checkflow maintenance run-now <rollup|retention|prune|reconcile>"}
		}
		return &usageError{msg: fmt.Sprintf("unknown job %q: want rollup, retention, prune or reconcile", job)}
	}
	log, err := newLogger(stderr, logLevel)
	if err != nil {
		return err
	}
	opts, err := tf.clientOptions()
	if err != nil {
		return err
	}
	tc, err := dialTemporal(ctx, opts, log)
	if err != nil {
		return err
	}
	defer tc.Close()
	line, err := triggerSchedule(ctx, tc, id)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, line)
	return nil
}

// triggerSchedule starts the schedule's action now unless a run of it is still going (the
// schedules skip overlapping runs) and says which.
func triggerSchedule(ctx context.Context, tc client.Client, id string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	h := tc.ScheduleClient().GetHandle(ctx, id)
	d, err := h.Describe(ctx)
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return "", fmt.Errorf("schedule %s does not exist: start a worker (checkflow worker or dev), which creates it", id)
	}
	if err != nil {
		return "", fmt.Errorf("describe schedule %s: %w", id, err)
	}
	if running := d.Info.RunningWorkflows; len(running) > 0 {
		return fmt.Sprintf("%s is already running (workflow %s); not started again", id, running[0].WorkflowID), nil
	}
	if err := h.Trigger(ctx, client.ScheduleTriggerOptions{}); err != nil {
		return "", fmt.Errorf("trigger schedule %s: %w", id, err)
	}
	wf := ""
	if a, ok := d.Schedule.Action.(*client.ScheduleWorkflowAction); ok {
		if s, ok := a.Workflow.(string); ok {
			wf = " (" + s + ")"
		}
	}
	return fmt.Sprintf("triggered schedule %s%s; it runs on the workers (see the Temporal UI)", id, wf), nil
}
