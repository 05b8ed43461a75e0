package metrics

import (
	"context"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/interceptor"

	"github.com/checkflow/checkflow/workflows"
)

// Interceptor returns a Temporal interceptor that records the scheduled jobs' durations
// (NameJobDuration) from the activities the worker runs:
//
//   - retention, rollup and prune: the whole job (workflow time from its start to its end,
//     across continue-as-new), read from the JobResult its summary activity receives;
//   - reconcile: the duration of its ReconcileEntities activity (the whole of its work).
//
// It is both a client and a worker interceptor: put it in client.Options.Interceptors and
// every worker built on that client uses it (or put it in worker.Options.Interceptors).
// Workflow code is not intercepted, so replays record nothing.
func (r *Registry) Interceptor() interceptor.Interceptor {
	return &jobInterceptor{r: r}
}

type jobInterceptor struct {
	interceptor.InterceptorBase
	r *Registry
}

// InterceptActivity implements interceptor.WorkerInterceptor.
func (j *jobInterceptor) InterceptActivity(ctx context.Context, next interceptor.ActivityInboundInterceptor) interceptor.ActivityInboundInterceptor {
	return &jobActivityInterceptor{ActivityInboundInterceptorBase: interceptor.ActivityInboundInterceptorBase{Next: next}, r: j.r}
}

type jobActivityInterceptor struct {
	interceptor.ActivityInboundInterceptorBase
	r *Registry
}

// jobNames maps the lifecycle jobs' workflow names (JobResult.Job) to the job label.
var jobNames = map[string]string{
	workflows.RetentionJobWorkflow: JobRetention,
	workflows.RollupJobWorkflow:    JobRollup,
	workflows.PruneJobWorkflow:     JobPrune,
}

// ExecuteActivity implements interceptor.ActivityInboundInterceptor.
func (a *jobActivityInterceptor) ExecuteActivity(ctx context.Context, in *interceptor.ExecuteActivityInput) (any, error) {
	if a.r == nil {
		return a.Next.ExecuteActivity(ctx, in)
	}
	switch activity.GetInfo(ctx).ActivityType.Name {
	case workflows.ActivityJobSummary:
		res, err := a.Next.ExecuteActivity(ctx, in)
		if err == nil && len(in.Args) == 1 {
			if jr, ok := in.Args[0].(workflows.JobResult); ok {
				job, known := jobNames[jr.Job]
				if !known {
					job = JobOther
				}
				a.r.ObserveJob(job, time.Duration(jr.DurationMs)*time.Millisecond)
			}
		}
		return res, err
	case workflows.ActivityReconcileEntities:
		start := time.Now()
		res, err := a.Next.ExecuteActivity(ctx, in)
		if err == nil {
			a.r.ObserveJob(JobReconcile, time.Since(start))
		}
		return res, err
	}
	return a.Next.ExecuteActivity(ctx, in)
}
