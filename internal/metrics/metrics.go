// Package metrics is checkflow's Prometheus instrumentation (github.com/prometheus/client_golang).
//
// A process creates one Registry (New) and hands it to what it runs: the probe activities
// (activities.Prober.Metrics) count runs and time probes, the entity's persist hook
// (ObservePersisted) measures the apply lag, the Temporal client gets TemporalHandler (the SDK's
// own metrics) and Interceptor (the schedule jobs' durations), and the API serves Handler at
// /metrics and attaches the store (WatchStore) so that check and system status gauges, the
// outbox backlog and the delivery counts are read from PostgreSQL at scrape time. There is no
// package-level state: nothing is registered with prometheus.DefaultRegisterer.
//
// Every label value is an id (system id, check id) or comes from a closed set (strategy ids of
// the check registry, statuses, job names, channel types, delivery events and statuses), so the
// number of series is bounded by the number of systems and checks.
//
// Status codes of the status gauges: 0 healthy, 1 degraded, 2 unhealthy (health.Status.Severity).
package metrics

import (
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/checkflow/checkflow/internal/checks"
	"github.com/checkflow/checkflow/internal/health"
	"github.com/checkflow/checkflow/internal/notify"
	"github.com/checkflow/checkflow/workflows"
)

// Namespace prefixes every checkflow metric.
const Namespace = "checkflow"

// Metric names (full names, as scraped).
const (
	NameCheckRuns              = "checkflow_check_runs_total"
	NameProbeDuration          = "checkflow_probe_duration_seconds"
	NameApplyLag               = "checkflow_entity_apply_lag_seconds"
	NameJobDuration            = "checkflow_job_duration_seconds"
	NameCheckStatus            = "checkflow_check_status"
	NameSystemStatus           = "checkflow_system_status"
	NameSystemMaintenance      = "checkflow_system_in_maintenance"
	NameOutboxBacklog          = "checkflow_outbox_backlog_events"
	NameOutboxOldestAge        = "checkflow_outbox_oldest_event_age_seconds"
	NameNotificationDeliveries = "checkflow_notification_deliveries"
	NameDeliveryAttempts       = "checkflow_notification_delivery_attempts_total"
	NameStoreUp                = "checkflow_metrics_store_up"
	NameStoreScrapeDuration    = "checkflow_metrics_store_scrape_duration_seconds"
)

// Job label values of NameJobDuration.
const (
	JobRetention = "retention"
	JobRollup    = "rollup"
	JobPrune     = "prune"
	JobReconcile = "reconcile"
	// JobOther stands for a job name outside the closed set (never expected).
	JobOther = "other"
)

// Outcome label values of NameDeliveryAttempts.
const (
	// DeliverySent: the receiver accepted the notification.
	DeliverySent = "sent"
	// DeliveryFailed: the attempt failed and will be retried.
	DeliveryFailed = "failed"
	// DeliveryRejected: the attempt failed for good (the receiver refused it, or it cannot be
	// sent).
	DeliveryRejected = "rejected"
)

// ChannelOther is the channel_type label of a channel type outside notify.Types().
const ChannelOther = "other"

// StrategyUnknown is the strategy label of a run whose strategy the check registry does not
// know (a stored configuration of a strategy that was removed).
const StrategyUnknown = "unknown"

// Options configure a Registry. Zero values take the defaults.
type Options struct {
	// Logger logs scrape errors (default: discard).
	Logger *slog.Logger
	// Strategies are the strategy ids whose run counters start at 0 (one series per strategy
	// and status before the first run, so that increase() sees the first failure). Usually the
	// ids of the check registry's Strategies().
	Strategies []string
	// StoreCacheTTL is how long a snapshot read from PostgreSQL is reused by later scrapes
	// (default DefaultStoreCacheTTL; negative: every scrape reads). It bounds the database load
	// of a public /metrics however often it is scraped.
	StoreCacheTTL time.Duration
	// StoreTimeout bounds the scrape-time read (default DefaultStoreTimeout).
	StoreTimeout time.Duration
	// GoCollectors adds the Go runtime and process collectors (go_*, process_*).
	GoCollectors bool
}

// Defaults of Options.
const (
	DefaultStoreCacheTTL = 2 * time.Second
	DefaultStoreTimeout  = 5 * time.Second
)

// Histogram buckets (seconds).
var (
	probeBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}
	lagBuckets   = []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300}
	jobBuckets   = []float64{1, 5, 15, 30, 60, 300, 900, 1800, 3600, 7200, 14400}
)

// Registry holds one process's collectors. Its methods are safe for concurrent use and do
// nothing on a nil *Registry, so instrumented code needs no nil checks.
type Registry struct {
	reg           *prometheus.Registry
	log           *slog.Logger
	opts          Options
	runs          *prometheus.CounterVec
	probeDuration *prometheus.HistogramVec
	applyLag      prometheus.Histogram
	jobDuration   *prometheus.HistogramVec
	deliveries    *prometheus.CounterVec
	sdk           *sdkCollector

	storeMu  sync.Mutex
	storeSet bool
}

// New returns a Registry with checkflow's in-process metrics and the collector of the Temporal
// SDK's metrics (see TemporalHandler). The database-backed gauges come with WatchStore.
func New(opts Options) *Registry {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.StoreCacheTTL == 0 {
		opts.StoreCacheTTL = DefaultStoreCacheTTL
	}
	if opts.StoreTimeout <= 0 {
		opts.StoreTimeout = DefaultStoreTimeout
	}
	r := &Registry{
		reg:  prometheus.NewRegistry(),
		log:  opts.Logger,
		opts: opts,
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: NameCheckRuns,
			Help: "Check runs probed by this process, by strategy and result status (healthy, degraded, unhealthy; unhealthy = failed).",
		}, []string{"strategy", "status"}),
		probeDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    NameProbeDuration,
			Help:    "Duration of one check's probe (strategy and collectors), by strategy.",
			Buckets: probeBuckets,
		}, []string{"strategy"}),
		applyLag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    NameApplyLag,
			Help:    "Time from a probe finishing to its run and the entity state being committed to PostgreSQL.",
			Buckets: lagBuckets,
		}),
		jobDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    NameJobDuration,
			Help:    "Duration of the scheduled jobs (retention, rollup, prune: whole job; reconcile: its pass).",
			Buckets: jobBuckets,
		}, []string{"job"}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: NameDeliveryAttempts,
			Help: "Notification delivery attempts made by this process, by channel type and outcome (sent, failed: to be retried, rejected: given up).",
		}, []string{"channel_type", "outcome"}),
		sdk: newSDKCollector(),
	}
	r.reg.MustRegister(r.runs, r.probeDuration, r.applyLag, r.jobDuration, r.deliveries, r.sdk)
	for _, ct := range notify.Types() {
		for _, o := range []string{DeliverySent, DeliveryFailed, DeliveryRejected} {
			r.deliveries.WithLabelValues(ct, o)
		}
	}
	for _, s := range opts.Strategies {
		for _, st := range health.Statuses() {
			r.runs.WithLabelValues(s, string(st))
		}
		r.probeDuration.WithLabelValues(s)
	}
	for _, j := range []string{JobRetention, JobRollup, JobPrune, JobReconcile} {
		r.jobDuration.WithLabelValues(j)
	}
	if opts.GoCollectors {
		r.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	return r
}

// StrategyIDs lists the ids of a check registry's strategies, for Options.Strategies.
func StrategyIDs(reg *checks.Registry) []string {
	var ids []string
	for _, s := range reg.Strategies() {
		ids = append(ids, s.ID)
	}
	return ids
}

// Gatherer returns the registry to gather from (tests, custom handlers).
func (r *Registry) Gatherer() prometheus.Gatherer { return r.reg }

// Handler serves the metrics in the Prometheus text format (or protobuf, when the scraper asks
// for it). A failing collector is logged and left out; the others are still served.
func (r *Registry) Handler() http.Handler {
	return promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{
		ErrorLog:            slogErrorLog{r.log},
		ErrorHandling:       promhttp.ContinueOnError,
		MaxRequestsInFlight: 4,
	})
}

// slogErrorLog adapts the logger to promhttp.Logger.
type slogErrorLog struct{ log *slog.Logger }

func (l slogErrorLog) Println(v ...any) {
	l.log.Warn("serving metrics", "error", strings.TrimSpace(fmt.Sprintln(v...)))
}

// ObserveProbe records one probed run: its strategy (StrategyUnknown for one the registry does
// not know), its result status and how long the probe took.
func (r *Registry) ObserveProbe(strategy string, status health.Status, took time.Duration) {
	if r == nil {
		return
	}
	strategy = strategyOrUnknown(strategy)
	r.ObserveRun(strategy, status)
	r.probeDuration.WithLabelValues(strategy).Observe(max(took, 0).Seconds())
}

// ObserveRun counts a run that produced a result without probing (its configuration could not
// be opened: unhealthy). An invalid status counts as unhealthy, as the run is stored.
func (r *Registry) ObserveRun(strategy string, status health.Status) {
	if r == nil {
		return
	}
	if !status.Valid() {
		status = health.Unhealthy
	}
	r.runs.WithLabelValues(strategyOrUnknown(strategy), string(status)).Inc()
}

func strategyOrUnknown(s string) string {
	if s == "" {
		return StrategyUnknown
	}
	return s
}

// ObservePersisted is an activities.Hooks.Persisted hook: for a write that was applied, it
// records for every run the time from the probe's end (executedAt + latency) to at. A write
// found done before (a retry) records nothing: its runs were measured when first stored.
func (r *Registry) ObservePersisted(req workflows.PersistRequest, applied bool, at time.Time) {
	if r == nil || !applied {
		return
	}
	for _, run := range req.Runs {
		end := run.ExecutedAt
		if run.LatencyMs != nil {
			end = end.Add(time.Duration(*run.LatencyMs) * time.Millisecond)
		}
		if end.IsZero() {
			continue
		}
		r.applyLag.Observe(max(at.Sub(end), 0).Seconds())
	}
}

// ObserveDelivery counts one notification delivery attempt of a channel type (a type outside
// notify.Types() is ChannelOther) with its outcome (DeliverySent, DeliveryFailed or
// DeliveryRejected).
func (r *Registry) ObserveDelivery(channelType, outcome string) {
	if r == nil {
		return
	}
	if !slices.Contains(notify.Types(), channelType) {
		channelType = ChannelOther
	}
	r.deliveries.WithLabelValues(channelType, outcome).Inc()
}

// ObserveJob records a scheduled job's duration. job is one of the Job… constants (any other
// value is recorded as JobOther).
func (r *Registry) ObserveJob(job string, took time.Duration) {
	if r == nil {
		return
	}
	switch job {
	case JobRetention, JobRollup, JobPrune, JobReconcile:
	default:
		job = JobOther
	}
	r.jobDuration.WithLabelValues(job).Observe(max(took, 0).Seconds())
}
