package metrics

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/checkflow/checkflow/internal/store"
)

// StoreReader is what the scrape-time gauges read; *store.Store implements it.
type StoreReader interface {
	MetricsSnapshot(ctx context.Context, now time.Time) (store.MetricsSnapshot, error)
}

// WatchStore registers the gauges read from st when the registry is scraped: check and system
// statuses, systems in maintenance, the outbox backlog and the delivery counts. Only the first
// store is attached (a process serves one database); later calls return false and change
// nothing. The API process attaches its store (server.WithMetrics); a worker serving its own
// /metrics does not, so that the gauges are exported once per deployment.
func (r *Registry) WatchStore(st StoreReader) bool {
	if r == nil || st == nil {
		return false
	}
	r.storeMu.Lock()
	defer r.storeMu.Unlock()
	if r.storeSet {
		return false
	}
	r.reg.MustRegister(newStoreCollector(st, r.log, r.opts.StoreCacheTTL, r.opts.StoreTimeout, time.Now))
	r.storeSet = true
	return true
}

// storeCollector reads a store.MetricsSnapshot at scrape time (reused for ttl) and exports it
// as const metrics: a deleted system or assignment simply has no series at the next scrape.
type storeCollector struct {
	st      StoreReader
	log     *slog.Logger
	ttl     time.Duration
	timeout time.Duration
	now     func() time.Time

	// mu serialises reads: concurrent scrapes wait for one read instead of each querying.
	mu       sync.Mutex
	snap     store.MetricsSnapshot
	snapAt   time.Time
	snapTook time.Duration

	checkStatus, systemStatus, systemMaintenance *prometheus.Desc
	outboxBacklog, outboxOldestAge               *prometheus.Desc
	deliveries                                   *prometheus.Desc
	up, scrapeDuration                           *prometheus.Desc
}

func newStoreCollector(st StoreReader, log *slog.Logger, ttl, timeout time.Duration, now func() time.Time) *storeCollector {
	return &storeCollector{
		st: st, log: log, ttl: ttl, timeout: timeout, now: now,
		checkStatus: prometheus.NewDesc(NameCheckStatus,
			"Evaluated status of an enabled, unpaused check of a system: 0 healthy, 1 degraded, 2 unhealthy (no series before its first evaluation).",
			[]string{"system_id", "check_id"}, nil),
		systemStatus: prometheus.NewDesc(NameSystemStatus,
			"Status of a system: 0 healthy, 1 degraded, 2 unhealthy (no series while it has no evaluated check).",
			[]string{"system_id"}, nil),
		systemMaintenance: prometheus.NewDesc(NameSystemMaintenance,
			"1 while a maintenance window covers the system, else 0 (systems with a status only).",
			[]string{"system_id"}, nil),
		outboxBacklog: prometheus.NewDesc(NameOutboxBacklog,
			"Outbox events (trigger events and hooks) not yet dispatched to the consumers.", nil, nil),
		outboxOldestAge: prometheus.NewDesc(NameOutboxOldestAge,
			"Age of the oldest undispatched outbox event (0 when none).", nil, nil),
		deliveries: prometheus.NewDesc(NameNotificationDeliveries,
			"Rows of the notification delivery log by channel type, event and outcome (pending, sent, failed); finished rows leave it when the prune job deletes them.",
			[]string{"channel_type", "event", "status"}, nil),
		up: prometheus.NewDesc(NameStoreUp,
			"1 when the scrape-time read of PostgreSQL succeeded (the status, outbox and delivery metrics are then present), else 0.", nil, nil),
		scrapeDuration: prometheus.NewDesc(NameStoreScrapeDuration,
			"Duration of the last scrape-time read of PostgreSQL.", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.checkStatus, c.systemStatus, c.systemMaintenance, c.outboxBacklog,
		c.outboxOldestAge, c.deliveries, c.up, c.scrapeDuration} {
		ch <- d
	}
}

// snapshot returns a snapshot no older than ttl, reading one when needed.
func (c *storeCollector) snapshot() (store.MetricsSnapshot, time.Time, time.Duration, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if !c.snapAt.IsZero() && c.ttl > 0 && now.Sub(c.snapAt) < c.ttl {
		return c.snap, c.snapAt, c.snapTook, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	start := time.Now()
	snap, err := c.st.MetricsSnapshot(ctx, now)
	took := time.Since(start)
	if err != nil {
		c.snapAt = time.Time{}
		return store.MetricsSnapshot{}, now, took, err
	}
	c.snap, c.snapAt, c.snapTook = snap, now, took
	return snap, now, took, nil
}

// Collect implements prometheus.Collector.
func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	snap, at, took, err := c.snapshot()
	ch <- prometheus.MustNewConstMetric(c.scrapeDuration, prometheus.GaugeValue, took.Seconds())
	if err != nil {
		c.log.Warn("metrics: reading the database failed; status, outbox and delivery metrics are left out of this scrape", "error", err)
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 1)
	for _, s := range snap.Checks {
		if !s.Status.Valid() {
			continue
		}
		ch <- prometheus.MustNewConstMetric(c.checkStatus, prometheus.GaugeValue, float64(s.Status.Severity()), s.SystemID, s.ConfigurationID)
	}
	for _, s := range snap.Systems {
		if !s.Status.Valid() {
			continue
		}
		ch <- prometheus.MustNewConstMetric(c.systemStatus, prometheus.GaugeValue, float64(s.Status.Severity()), s.SystemID)
		ch <- prometheus.MustNewConstMetric(c.systemMaintenance, prometheus.GaugeValue, boolValue(s.InMaintenance), s.SystemID)
	}
	ch <- prometheus.MustNewConstMetric(c.outboxBacklog, prometheus.GaugeValue, float64(snap.OutboxBacklog))
	age := 0.0
	if snap.OutboxOldest != nil {
		age = max(at.Sub(*snap.OutboxOldest), 0).Seconds()
	}
	ch <- prometheus.MustNewConstMetric(c.outboxOldestAge, prometheus.GaugeValue, age)
	for _, d := range snap.Deliveries {
		ch <- prometheus.MustNewConstMetric(c.deliveries, prometheus.GaugeValue, float64(d.Count), d.ChannelType, d.Event, d.Status)
	}
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
