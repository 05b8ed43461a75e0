package tests

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/checkflow/checkflow/activities"
	"github.com/checkflow/checkflow/internal/entityclient"
	"github.com/checkflow/checkflow/internal/store"
	"github.com/checkflow/checkflow/internal/testutil"
	"github.com/checkflow/checkflow/worker"
	"github.com/checkflow/checkflow/workflows"
)

// BenchmarkLifecycleSoak (issue 11, acceptance 4) runs systems × checks HTTP checks against a
// local target for a while with the data-lifecycle jobs on compressed time (one retention "day"
// lasts CHECKFLOW_BENCH_SOAK_DAY, default 1 minute: raw runs are kept 7 minutes, hourly buckets
// 30, daily 365; delivered events and finished deliveries are pruned after
// CHECKFLOW_BENCH_SOAK_PRUNE_AFTER, default 5 minutes) and every minute runs the three jobs
// (rollup, retention, prune) at once, on a worker of their own whose activities.Lifecycle has
// that Day. A few systems have one flapping check (failing one minute in three) so that
// transitions, notifications (a webhook channel to a local receiver) and their deliveries are
// written and pruned too. Every few minutes, right after a round of jobs (so that every sample
// is taken at the same point of the cycle), it samples each table's rows, total bytes
// (pg_total_relation_size, the day partitions of health_check_runs summed) and dead tuples, the
// machine's load and the runs stored per second; it logs the series and a start / middle / end
// table and reports the middle and end sizes of the runs and events tables and their growth
// (end / middle). "Flat" is end within ±15 % of middle; the verdict is logged, not asserted. On a
// server with autovacuum off the soak VACUUMs by autovacuum's default thresholds itself after
// each round (soakVacuum; CHECKFLOW_BENCH_SOAK_VACUUM=off measures the bare server).
// Run with -v (Go trims a benchmark's log to 10 lines otherwise; the metrics are reported either
// way):
//
//	go test ./tests -run '^$' -bench LifecycleSoak -benchtime 1x -timeout 60m -v
//
// CHECKFLOW_BENCH_SOAK_MINUTES (30), _SYSTEMS (100), _CHECKS (10 per system), _INTERVAL (10 s),
// _FLAPPING (10 systems), _SAMPLE_MINUTES (3), _DAY (1m), _PRUNE_AFTER (5m), _VACUUM (auto, on,
// off), _RETENTION (the assignments' retention "raw/hourly/daily" in days, default the defaults
// 7/30/365: hourly buckets then leave only 30 minutes after their hour ended, which a 30-minute
// soak reaches only when it started just before an hour boundary; e.g. 7/8/9 rolls the last hour
// up 8 minutes after it ended).
func BenchmarkLifecycleSoak(b *testing.B) {
	c := soakConfig{
		minutes: benchEnvInt("CHECKFLOW_BENCH_SOAK_MINUTES", 30), systems: benchEnvInt("CHECKFLOW_BENCH_SOAK_SYSTEMS", 100),
		checksPer: benchEnvInt("CHECKFLOW_BENCH_SOAK_CHECKS", 10), interval: benchEnvInt("CHECKFLOW_BENCH_SOAK_INTERVAL", 10),
		flapping: benchEnvInt("CHECKFLOW_BENCH_SOAK_FLAPPING", 10), sampleEvery: benchEnvInt("CHECKFLOW_BENCH_SOAK_SAMPLE_MINUTES", 3),
		day: benchEnvDuration(b, "CHECKFLOW_BENCH_SOAK_DAY", time.Minute), pruneAfter: benchEnvDuration(b, "CHECKFLOW_BENCH_SOAK_PRUNE_AFTER", 5*time.Minute),
		jobsEvery: time.Minute, retention: store.DefaultRetentionConfig(), vacuum: os.Getenv("CHECKFLOW_BENCH_SOAK_VACUUM"),
	}
	switch c.vacuum {
	case "":
		c.vacuum = "auto"
	case "auto", "on", "off":
	default:
		b.Fatalf("CHECKFLOW_BENCH_SOAK_VACUUM=%q: want auto, on or off", c.vacuum)
	}
	if v := os.Getenv("CHECKFLOW_BENCH_SOAK_RETENTION"); v != "" {
		if _, err := fmt.Sscanf(v, "%d/%d/%d", &c.retention.RawRetentionDays, &c.retention.HourlyRetentionDays, &c.retention.DailyRetentionDays); err != nil {
			b.Fatalf("CHECKFLOW_BENCH_SOAK_RETENTION=%q: want raw/hourly/daily days: %v", v, err)
		}
	}
	c.flapping = min(c.flapping, c.systems)
	for range b.N {
		r := runSoak(b, c)
		r.log(b, c)
		r.report(b)
	}
}

// soakConfig is one soak run's setup.
type soakConfig struct {
	minutes, systems, checksPer, interval, flapping, sampleEvery int
	day, pruneAfter, jobsEvery                                   time.Duration
	// retention is every assignment's retention config (days of length day).
	retention store.RetentionConfig
	// vacuum: "on" runs soakVacuum after every round of jobs, "off" never, "auto" (default)
	// when the server's autovacuum is off.
	vacuum string
}

// soakVacuum stands in for autovacuum on a server that has it off (a CI configuration): it
// VACUUMs each sampled table (each partition of health_check_runs on its own, as autovacuum
// does) whose dead tuples exceed autovacuum's default threshold, 50 + 20 % of its live tuples,
// and returns how many it vacuumed. Without any VACUUM the space of deleted rows is never
// reused and the tables grow with every row ever written, however many the jobs delete.
func soakVacuum(tb testing.TB, pool *pgxpool.Pool) int {
	tb.Helper()
	ctx := context.Background()
	rows, err := pool.Query(ctx, `SELECT schemaname, relname FROM pg_stat_user_tables
		WHERE (relname = ANY($1) OR relid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = 'health_check_runs'::regclass))
		  AND n_dead_tup > 50 + 0.2 * n_live_tup`, soakTables)
	if err != nil {
		tb.Fatal(err)
	}
	names, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (string, error) {
		var schema, rel string
		err := r.Scan(&schema, &rel)
		return pgx.Identifier{schema, rel}.Sanitize(), err
	})
	if err != nil {
		tb.Fatal(err)
	}
	for _, n := range names {
		if _, err := pool.Exec(ctx, "VACUUM "+n); err != nil {
			tb.Fatalf("vacuum %s: %v", n, err)
		}
	}
	return len(names)
}

func benchEnvDuration(tb testing.TB, name string, def time.Duration) time.Duration {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		tb.Fatalf("%s=%q: want a positive Go duration", name, v)
	}
	return d
}

// soakTables are the tables a soak samples; health_check_runs is the sum of its partitions.
var soakTables = []string{"health_check_runs", "health_check_aggregates", "health_check_state_transitions", "health_events",
	"notification_deliveries", "system_health_state", "check_health_state"}

// soakTable is one table's size at a sample.
type soakTable struct {
	rows, bytes, dead int64
}

// soakSample is the state of the database and the machine after a round of jobs.
type soakSample struct {
	label string
	round int
	at    time.Duration // since the first sample
	// tables by name; hourly and daily split health_check_aggregates; partitions counts the
	// partitions of health_check_runs (the default one included).
	tables        map[string]soakTable
	hourly, daily int64
	partitions    int
	// load1 is the 1-minute load average; busy the machine's CPU busy share and cores the cores
	// this process (worker, embedded Temporal server, benchmark) used since the previous sample;
	// runs the runs stored since then (in window), runsPerSec per second.
	load1, busy, cores, runsPerSec float64
	runs                           int64
	window                         time.Duration
}

// soakJobStats sums one job's runs.
type soakJobStats struct {
	n       int
	total   time.Duration
	longest time.Duration
	report  workflows.JobReport
}

// soakResult is what a soak measured.
type soakResult struct {
	samples []soakSample
	jobs    map[string]*soakJobStats
	rounds  int
	late    int // rounds that started late because the previous one overran the cadence
	// autovacuum is the server's setting; vacuumed counts the VACUUMs the soak ran in its stead
	// (see soakVacuum) and vacuumTook their time.
	autovacuum bool
	vacuumed   int
	vacuumTook time.Duration
	posts      int64
	duration   time.Duration
}

// soakFailing says whether the flapping checks fail at t: during the first minute of every three.
func soakFailing(t time.Time) bool { return t.Unix()/60%3 == 0 }

// soakLog writes a worker's log lines into the benchmark's log.
type soakLog struct{ tb testing.TB }

func (w soakLog) Write(p []byte) (int, error) {
	w.tb.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func runSoak(b *testing.B, c soakConfig) soakResult {
	ctx := context.Background()
	dbURL := testutil.NewDatabase(b)
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	st := store.New(pool)
	queue := testutil.UniqueName(b)
	probes, lcQueue := queue+"-probes", queue+"-lifecycle"
	target := newTargetFunc(b, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/flap" && soakFailing(time.Now()) {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	var posts atomic.Int64
	receiver := newTargetFunc(b, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		posts.Add(1)
		w.WriteHeader(http.StatusOK)
	})

	// The checkflow worker (entities, probes, notifications) logs warnings and errors only: a
	// 30-minute run at 100 runs/s would otherwise fill the benchmark's log.
	logger := slog.New(slog.NewTextHandler(soakLog{b}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	w, err := worker.Start(worker.Config{Client: shared.temporal.Client, Pool: pool, TaskQueue: queue, ProbeTaskQueue: probes,
		EntityOptions: workflows.EntityOptions{ProbeTaskQueue: probes}, Logger: logger})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Stop()
	// The jobs run on a worker of their own, whose lifecycle activities have the compressed day.
	lw := sdkworker.New(shared.temporal.Client, lcQueue, sdkworker.Options{})
	lw.RegisterWorkflowWithOptions(workflows.RetentionJob, workflow.RegisterOptions{Name: workflows.RetentionJobWorkflow})
	lw.RegisterWorkflowWithOptions(workflows.RollupJob, workflow.RegisterOptions{Name: workflows.RollupJobWorkflow})
	lw.RegisterWorkflowWithOptions(workflows.PruneJob, workflow.RegisterOptions{Name: workflows.PruneJobWorkflow})
	lc := &activities.Lifecycle{Store: st, Day: c.day, PruneAfter: c.pruneAfter}
	lw.RegisterActivityWithOptions(lc.RetentionStep, activity.RegisterOptions{Name: workflows.ActivityRetentionStep})
	lw.RegisterActivityWithOptions(lc.RollupStep, activity.RegisterOptions{Name: workflows.ActivityRollupStep})
	lw.RegisterActivityWithOptions(lc.PruneStep, activity.RegisterOptions{Name: workflows.ActivityPruneStep})
	lw.RegisterActivityWithOptions(lc.JobSummary, activity.RegisterOptions{Name: workflows.ActivityJobSummary})
	if err := lw.Start(); err != nil {
		b.Fatal(err)
	}
	defer lw.Stop()
	ents := &entityclient.Client{Temporal: shared.temporal.Client, TaskQueue: queue, Options: workflows.EntityOptions{ProbeTaskQueue: probes}}

	hookCfg, _ := json.Marshal(map[string]any{"url": receiver.URL})
	if _, err := st.CreateChannel(ctx, store.ChannelInput{Name: "soak", Type: "webhook", Config: hookCfg, Enabled: true}); err != nil {
		b.Fatal(err)
	}
	cfgJSON, _ := json.Marshal(map[string]any{"timeout": 5000})
	collectors := func(path string) []byte {
		j, _ := json.Marshal([]map[string]any{{"id": "req", "collectorId": "request", "config": map[string]any{"url": target.URL + path}}})
		return j
	}
	ok, flap := collectors("/"), collectors("/flap")
	ids := make([]string, 0, c.systems)
	defer func() {
		for _, id := range ids {
			_ = shared.temporal.Client.TerminateWorkflow(context.Background(), workflows.SystemWorkflowID(id), "", "benchmark ended")
			_ = shared.temporal.Client.TerminateWorkflow(context.Background(), workflows.NotifierWorkflowID(id), "", "benchmark ended")
		}
	}()
	for i := range c.systems {
		id := fmt.Sprintf("soak-%03d-%s", i, queue[len(queue)-8:])
		if _, err := st.CreateSystem(ctx, store.SystemInput{ID: id, Name: id}); err != nil {
			b.Fatal(err)
		}
		ids = append(ids, id)
		for j := range c.checksPer {
			col := ok
			if j == 0 && i < c.flapping {
				col = flap
			}
			cfg, err := st.CreateConfiguration(ctx, store.ConfigurationInput{Name: fmt.Sprintf("check %d", j), StrategyID: "http",
				Config: cfgJSON, Collectors: col, IntervalSeconds: c.interval})
			if err != nil {
				b.Fatal(err)
			}
			if _, _, err := st.Associate(ctx, store.AssociateInput{SystemID: id, ConfigurationID: cfg.ID}); err != nil {
				b.Fatal(err)
			}
			if c.retention != store.DefaultRetentionConfig() {
				r := c.retention
				if _, err := st.SetRetentionConfig(ctx, id, cfg.ID, &store.RetentionConfigInput{RawRetentionDays: &r.RawRetentionDays,
					HourlyRetentionDays: &r.HourlyRetentionDays, DailyRetentionDays: &r.DailyRetentionDays}); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	began := time.Now().UTC()
	for _, id := range ids {
		if err := ents.ConfigChanged(ctx, id); err != nil {
			b.Fatal(err)
		}
	}
	waitFor(b, 5*time.Minute, "every system to store a run", func() (bool, error) {
		var n int
		err := pool.QueryRow(ctx, `SELECT count(DISTINCT system_id) FROM health_check_runs WHERE "timestamp" >= $1`, began).Scan(&n)
		return n == c.systems, err
	})
	b.Logf("all %d entities running after %v", c.systems, time.Since(began).Round(100*time.Millisecond))

	res := soakResult{jobs: map[string]*soakJobStats{}}
	var av string
	if err := pool.QueryRow(ctx, `SHOW autovacuum`).Scan(&av); err != nil {
		b.Fatal(err)
	}
	res.autovacuum = av == "on"
	vacuum := c.vacuum == "on" || (c.vacuum == "auto" && !res.autovacuum)
	b.Logf("server autovacuum %s; the soak runs VACUUM by autovacuum's default thresholds itself: %v", av, vacuum)
	sm := newSoakSampler(pool)
	res.samples = append(res.samples, sm.sample(b, "start", 0))
	start := time.Now()
	mid := (c.minutes + 1) / 2
	for round := 1; round <= c.minutes; round++ {
		due := start.Add(time.Duration(round) * c.jobsEvery)
		if wait := time.Until(due); wait > 0 {
			// The jobs' cadence (a schedule's interval), not a synchronisation.
			<-time.After(wait)
		} else {
			res.late++
		}
		soakRound(b, lcQueue, queue, round, res.jobs)
		res.rounds = round
		if vacuum {
			t0 := time.Now()
			res.vacuumed += soakVacuum(b, pool)
			res.vacuumTook += time.Since(t0)
		}
		label := ""
		switch {
		case round == c.minutes:
			label = "end"
		case round == mid:
			label = "middle"
		case round%c.sampleEvery == 0:
		default:
			continue
		}
		s := sm.sample(b, label, round)
		res.samples = append(res.samples, s)
		if !testing.Verbose() {
			continue // only 10 lines of a benchmark's log are shown: keep them for the tables
		}
		b.Logf("round %d (%v): runs %d rows %.1f MB, events %d rows %.1f MB, load %.2f, machine %.0f %% busy, %.0f runs/s",
			round, s.at.Round(time.Second), s.tables["health_check_runs"].rows, mb(s.tables["health_check_runs"].bytes),
			s.tables["health_events"].rows, mb(s.tables["health_events"].bytes), s.load1, 100*s.busy, s.runsPerSec)
	}
	res.duration = time.Since(start)
	res.posts = posts.Load()
	return res
}

// soakRound runs the three jobs at once on queue and waits for them (a round overlapping the
// next tick delays it, like a schedule's skip policy).
func soakRound(b *testing.B, lcQueue, queue string, round int, stats map[string]*soakJobStats) {
	type done struct {
		job string
		res workflows.JobResult
		d   time.Duration
		err error
	}
	ch := make(chan done, 3)
	jobs := []string{workflows.RollupJobWorkflow, workflows.RetentionJobWorkflow, workflows.PruneJobWorkflow}
	for _, job := range jobs {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
			defer cancel()
			t0 := time.Now()
			id := fmt.Sprintf("soak-%s-%s-%d", strings.ToLower(job), queue, round)
			run, err := shared.temporal.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: lcQueue}, job, workflows.JobInput{})
			var res workflows.JobResult
			if err == nil {
				err = run.Get(ctx, &res)
			}
			ch <- done{job, res, time.Since(t0), err}
		}()
	}
	for range jobs {
		d := <-ch
		if d.err != nil {
			b.Fatalf("round %d: %s: %v", round, d.job, d.err)
		}
		s := stats[d.job]
		if s == nil {
			s = &soakJobStats{}
			stats[d.job] = s
		}
		s.n++
		s.total += d.d
		s.longest = max(s.longest, d.d)
		s.report = s.report.Add(d.res.Report)
	}
}

// soakSampler reads table sizes and the machine's load.
type soakSampler struct {
	pool       *pgxpool.Pool
	first      time.Time
	prevAt     time.Time
	prevCPU    time.Duration
	prevBusy   uint64
	prevTotal  uint64
	havePrevCP bool
}

func newSoakSampler(pool *pgxpool.Pool) *soakSampler {
	s := &soakSampler{pool: pool}
	s.prevCPU = processCPU()
	s.prevBusy, s.prevTotal, s.havePrevCP = machineCPU()
	return s
}

func (s *soakSampler) sample(tb testing.TB, label string, round int) soakSample {
	tb.Helper()
	ctx := context.Background()
	now := time.Now()
	if s.first.IsZero() {
		s.first, s.prevAt = now, now
	}
	out := soakSample{label: label, round: round, at: now.Sub(s.first), tables: map[string]soakTable{}}
	for _, name := range soakTables {
		var t soakTable
		var err error
		if name == "health_check_runs" {
			err = s.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM health_check_runs),
					coalesce(sum(pg_total_relation_size(i.inhrelid)), 0) + pg_total_relation_size('health_check_runs'),
					coalesce(sum(st.n_dead_tup), 0), count(*)
				FROM pg_inherits i LEFT JOIN pg_stat_user_tables st ON st.relid = i.inhrelid
				WHERE i.inhparent = 'health_check_runs'::regclass`).Scan(&t.rows, &t.bytes, &t.dead, &out.partitions)
		} else {
			err = s.pool.QueryRow(ctx, fmt.Sprintf(`SELECT (SELECT count(*) FROM %[1]s), pg_total_relation_size('%[1]s'),
					coalesce((SELECT n_dead_tup FROM pg_stat_user_tables WHERE relid = '%[1]s'::regclass), 0)`, name)).
				Scan(&t.rows, &t.bytes, &t.dead)
		}
		if err != nil {
			tb.Fatalf("size of %s: %v", name, err)
		}
		out.tables[name] = t
	}
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE bucket_size = 'hourly'), count(*) FILTER (WHERE bucket_size = 'daily')
		FROM health_check_aggregates`).Scan(&out.hourly, &out.daily); err != nil {
		tb.Fatal(err)
	}
	out.load1 = loadAverage()
	if window := now.Sub(s.prevAt); window > 0 {
		cpu := processCPU()
		out.cores = (cpu - s.prevCPU).Seconds() / window.Seconds()
		s.prevCPU = cpu
		if busy, total, ok := machineCPU(); ok && s.havePrevCP && total > s.prevTotal {
			out.busy = float64(busy-s.prevBusy) / float64(total-s.prevTotal)
			s.prevBusy, s.prevTotal = busy, total
		}
		// The runs of the window (a few minutes) are younger than the raw retention (7 days of
		// 1 minute), so none of them was deleted yet.
		if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM health_check_runs WHERE "timestamp" >= $1 AND "timestamp" < $2`,
			s.prevAt, now).Scan(&out.runs); err != nil {
			tb.Fatal(err)
		}
		out.window = window
		out.runsPerSec = float64(out.runs) / window.Seconds()
	}
	s.prevAt = now
	return out
}

// processCPU is the CPU time (user + system) this process used so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// machineCPU reads the busy and total jiffies of all CPUs from /proc/stat (false where there is
// none).
func machineCPU() (busy, total uint64, ok bool) {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return 0, 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() {
		return 0, 0, false
	}
	fields := strings.Fields(sc.Text())
	if len(fields) < 5 || fields[0] != "cpu" {
		return 0, 0, false
	}
	for i, v := range fields[1:] {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return 0, 0, false
		}
		if i >= 8 { // guest time is already counted in user time
			break
		}
		total += n
		if i != 3 && i != 4 { // idle, iowait
			busy += n
		}
	}
	return busy, total, true
}

// loadAverage is the machine's 1-minute load average (NaN where unknown).
func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return math.NaN()
	}
	fields := strings.Fields(string(b))
	if len(fields) == 0 {
		return math.NaN()
	}
	v, err := strconv.ParseFloat(fields[0], 64)
	if err != nil {
		return math.NaN()
	}
	return v
}

func mb(bytes int64) float64 { return float64(bytes) / (1 << 20) }

// pick returns the sample labelled label.
func (r soakResult) pick(label string) soakSample {
	for _, s := range r.samples {
		if s.label == label {
			return s
		}
	}
	return soakSample{}
}

// growth is end / middle (NaN when middle is 0).
func growth(end, middle int64) float64 {
	if middle == 0 {
		return math.NaN()
	}
	return float64(end) / float64(middle)
}

func (r soakResult) log(tb testing.TB, c soakConfig) {
	tb.Logf("soak: %d systems × %d checks @%d s (%.0f runs/s asked; %d systems with a check failing one minute in three), "+
		"1 retention day = %v (raw %d d = %v, hourly %d d = %v, daily %d d = %v), prune after %v, jobs every %v, %d rounds in %v (%d late)",
		c.systems, c.checksPer, c.interval, float64(c.systems*c.checksPer)/float64(c.interval), c.flapping, c.day,
		c.retention.RawRetentionDays, time.Duration(c.retention.RawRetentionDays)*c.day,
		c.retention.HourlyRetentionDays, time.Duration(c.retention.HourlyRetentionDays)*c.day,
		c.retention.DailyRetentionDays, time.Duration(c.retention.DailyRetentionDays)*c.day,
		c.pruneAfter, c.jobsEvery, r.rounds, r.duration.Round(time.Second), r.late)
	st, md, en := r.pick("start"), r.pick("middle"), r.pick("end")
	flat := true
	for _, t := range []string{"health_check_runs", "health_events"} {
		for _, g := range []float64{growth(en.tables[t].rows, md.tables[t].rows), growth(en.tables[t].bytes, md.tables[t].bytes)} {
			if math.IsNaN(g) || math.Abs(g-1) > 0.15 {
				flat = false
			}
		}
	}
	verdict := "FLAT"
	if !flat {
		verdict = "NOT FLAT"
	}
	tb.Logf("verdict: runs and events %s (end within ±15 %% of middle, rows and bytes)", verdict)
	firstCycle := max(time.Duration(c.retention.RawRetentionDays)*c.day, c.pruneAfter) + c.jobsEvery
	if md.at < firstCycle {
		tb.Logf("note: the middle sample (%v) comes before the first full retention cycle (%v): the growth says little", md.at.Round(time.Second), firstCycle)
	}

	var sb strings.Builder
	fmt.Fprintf(&sb, "start (%.0f min) / middle (%.0f min) / end (%.0f min):\n", st.at.Minutes(), md.at.Minutes(), en.at.Minutes())
	sb.WriteString("| table | rows start | rows middle | rows end | MB start | MB middle | MB end | end / middle rows | end / middle bytes |\n")
	sb.WriteString("|---|---|---|---|---|---|---|---|---|\n")
	var totS, totM, totE int64
	for _, t := range soakTables {
		a, m, e := st.tables[t], md.tables[t], en.tables[t]
		totS, totM, totE = totS+a.bytes, totM+m.bytes, totE+e.bytes
		fmt.Fprintf(&sb, "| `%s` | %d | %d | %d | %.2f | %.2f | %.2f | %.2f | %.2f |\n", t, a.rows, m.rows, e.rows,
			mb(a.bytes), mb(m.bytes), mb(e.bytes), growth(e.rows, m.rows), growth(e.bytes, m.bytes))
	}
	fmt.Fprintf(&sb, "| total | | | | %.2f | %.2f | %.2f | | %.2f |\n", mb(totS), mb(totM), mb(totE), growth(totE, totM))
	tb.Log(sb.String())

	sb.Reset()
	sb.WriteString("series (after each sampled round of jobs):\n| min | load1 | machine busy | this process | runs/s stored |")
	for _, t := range soakTables {
		fmt.Fprintf(&sb, " %s rows / MB / dead |", t)
	}
	sb.WriteString(" hourly / daily | partitions |\n")
	for _, s := range r.samples {
		fmt.Fprintf(&sb, "| %.1f | %.2f | %.0f %% | %.2f cores | %.0f |", s.at.Minutes(), s.load1, 100*s.busy, s.cores, s.runsPerSec)
		for _, t := range soakTables {
			v := s.tables[t]
			fmt.Fprintf(&sb, " %d / %.2f / %d |", v.rows, mb(v.bytes), v.dead)
		}
		fmt.Fprintf(&sb, " %d / %d | %d |\n", s.hourly, s.daily, s.partitions)
	}
	tb.Log(sb.String())

	for _, job := range []string{workflows.RollupJobWorkflow, workflows.RetentionJobWorkflow, workflows.PruneJobWorkflow} {
		s := r.jobs[job]
		if s == nil || s.n == 0 {
			continue
		}
		tb.Logf("%s: %d runs, mean %v, longest %v, in all %+v", job, s.n, (s.total / time.Duration(s.n)).Round(10*time.Millisecond),
			s.longest.Round(10*time.Millisecond), s.report)
	}
	tb.Logf("webhook posts received: %d", r.posts)
	tb.Logf("server autovacuum on: %v; VACUUMs run by the soak: %d (%v in all)", r.autovacuum, r.vacuumed, r.vacuumTook.Round(10*time.Millisecond))
}

func (r soakResult) report(b *testing.B) {
	md, en := r.pick("middle"), r.pick("end")
	runs, events := "health_check_runs", "health_events"
	b.ReportMetric(float64(md.tables[runs].rows), "runs-rows-middle")
	b.ReportMetric(float64(en.tables[runs].rows), "runs-rows-end")
	b.ReportMetric(mb(md.tables[runs].bytes), "runs-MB-middle")
	b.ReportMetric(mb(en.tables[runs].bytes), "runs-MB-end")
	b.ReportMetric(growth(en.tables[runs].rows, md.tables[runs].rows), "runs-rows-end/middle")
	b.ReportMetric(growth(en.tables[runs].bytes, md.tables[runs].bytes), "runs-bytes-end/middle")
	b.ReportMetric(float64(md.tables[events].rows), "events-rows-middle")
	b.ReportMetric(float64(en.tables[events].rows), "events-rows-end")
	b.ReportMetric(mb(md.tables[events].bytes), "events-MB-middle")
	b.ReportMetric(mb(en.tables[events].bytes), "events-MB-end")
	b.ReportMetric(growth(en.tables[events].rows, md.tables[events].rows), "events-rows-end/middle")
	b.ReportMetric(growth(en.tables[events].bytes, md.tables[events].bytes), "events-bytes-end/middle")
	var totM, totE int64
	for _, t := range soakTables {
		totM, totE = totM+md.tables[t].bytes, totE+en.tables[t].bytes
	}
	b.ReportMetric(mb(totE), "total-MB-end")
	b.ReportMetric(growth(totE, totM), "total-bytes-end/middle")
	var stored int64
	var window time.Duration
	for _, s := range r.samples {
		stored, window = stored+s.runs, window+s.window
	}
	if window > 0 {
		b.ReportMetric(float64(stored)/window.Seconds(), "runs/s-stored")
	}
	if s := r.jobs[workflows.RetentionJobWorkflow]; s != nil {
		b.ReportMetric(s.longest.Seconds(), "retention-longest-s")
	}
}
