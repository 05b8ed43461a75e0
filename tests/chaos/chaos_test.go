package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/sdk/client"

	"github.com/checkflow/checkflow/internal/devenv"
	"github.com/checkflow/checkflow/internal/entityclient"
	"github.com/checkflow/checkflow/internal/health"
	"github.com/checkflow/checkflow/internal/store"
	"github.com/checkflow/checkflow/internal/testutil"
	"github.com/checkflow/checkflow/workflows"
)

// checkInterval is the interval of every check of the scenario.
const checkInterval = time.Second

// Deadlines. The machine has 2 cores shared with other test runs: they are generous, and
// nothing is asserted about timing.
const (
	hostStartTimeout   = 2 * time.Minute
	workerStartTimeout = time.Minute
	recoveryTimeout    = 3 * time.Minute
	// stepsAfterRestart is how many new persisted steps every system must show after a restart
	// before the test counts it as recovered (and may kill again).
	stepsAfterRestart = 2
)

// Kinds of kill.
const (
	killWorker   = "worker"
	killTemporal = "temporal host"
	killBoth     = "both"
)

var killKinds = [...]string{killWorker, killTemporal, killBoth}

// harness owns the child processes of one chaos run.
type harness struct {
	dir    string // logs and the Temporal host's SQLite file
	port   int    // the Temporal frontend's fixed port
	dbURL  string
	queue  string
	probes string
	host   *child
	worker *child
}

func (h *harness) hostPort() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(h.port)) }

// startHost starts the Temporal host on the harness's SQLite file and port.
func (h *harness) startHost() error {
	c, err := startChild("temporal host", filepath.Join(h.dir, "temporal.log"), hostStartTimeout,
		envRole+"="+roleTemporal, envTemporalPort+"="+strconv.Itoa(h.port),
		envTemporalDB+"="+filepath.Join(h.dir, "temporal", "temporal.db"))
	if err != nil {
		return err
	}
	h.host = c
	return nil
}

// startWorker starts a worker process.
func (h *harness) startWorker() error {
	c, err := startChild("worker", filepath.Join(h.dir, "worker.log"), workerStartTimeout,
		envRole+"="+roleWorker, envTemporalAddr+"="+h.hostPort(), envDatabaseURL+"="+h.dbURL,
		envTaskQueue+"="+h.queue, envProbeQueue+"="+h.probes)
	if err != nil {
		return err
	}
	h.worker = c
	return nil
}

// crash SIGKILLs what kind names and starts replacements: the Temporal host on the same file and
// port, then a new worker.
func (h *harness) crash(kind string) error {
	if kind == killTemporal || kind == killBoth {
		if err := h.host.kill(); err != nil {
			return err
		}
	}
	if kind == killWorker || kind == killBoth {
		if err := h.worker.kill(); err != nil {
			return err
		}
	}
	if kind == killTemporal || kind == killBoth {
		if err := h.startHost(); err != nil {
			return fmt.Errorf("restart the Temporal host: %w", err)
		}
	}
	if kind == killWorker || kind == killBoth {
		if err := h.startWorker(); err != nil {
			return fmt.Errorf("start a new worker: %w", err)
		}
	}
	return nil
}

// flapper is an HTTP target that answers 500 during its failing segments and 200 otherwise. Its
// schedule is seeded; it repeats after the last segment.
type flapper struct {
	srv   *httptest.Server
	start time.Time
	// bounds are the ends of the segments, from start; even segments pass, odd ones fail.
	bounds []time.Duration
}

func newFlapper(t *testing.T, rng *rand.Rand, passMin, passMax, failMin, failMax time.Duration) *flapper {
	f := &flapper{start: time.Now()}
	var end time.Duration
	for i := 0; i < 64; i++ {
		lo, hi := passMin, passMax
		if i%2 == 1 {
			lo, hi = failMin, failMax
		}
		end += lo + time.Duration(rng.Int64N(int64(hi-lo)+1))
		f.bounds = append(f.bounds, end)
	}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if f.failing(time.Now()) {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *flapper) failing(at time.Time) bool {
	cycle := f.bounds[len(f.bounds)-1]
	d := at.Sub(f.start) % cycle
	i, _ := slices.BinarySearch(f.bounds, d+1)
	return i%2 == 1
}

// kill is one crash of the run and what it cost.
type kill struct {
	n    int
	kind string
	// at is when SIGKILL was sent; restarted when the replacements were ready; recovered when
	// every system had persisted stepsAfterRestart new steps after the restart.
	at, restarted, recovered time.Time
	// gap is the largest interval between consecutive runs of one check around the kill
	// (overlapping [at, recovered]) minus the check interval; gapCheck names that check.
	gap      time.Duration
	gapCheck string
	// gapFrom and gapTo are the two runs bounding the gap, relative to at.
	gapFrom, gapTo time.Duration
}

// TestChaos kills workers and the Temporal host while checks fail and recover, then checks the
// stored runs, transitions and events (see verify_test.go for what is asserted).
func TestChaos(t *testing.T) {
	if *flagKills < 0 || *flagDuration <= 0 || *flagSystems < 1 {
		t.Fatalf("bad flags: -chaos.kills=%d -chaos.duration=%v -chaos.systems=%d", *flagKills, *flagDuration, *flagSystems)
	}
	seed := *flagSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (repeat the plan with -chaos.seed=%d); %d kills over %v, %d systems", seed, seed, *flagKills, *flagDuration, *flagSystems)
	rng := rand.New(rand.NewPCG(seed, 0x6368616f73))
	ctx := context.Background()

	dir, err := os.MkdirTemp("", "checkflow-chaos-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() || *flagKeepLogs {
			t.Logf("logs, Temporal data and histories kept in %s", dir)
			return
		}
		_ = os.RemoveAll(dir)
	})
	port, err := devenv.FreePort("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{dir: dir, port: port, dbURL: testutil.NewDatabase(t), queue: "checkflow-chaos", probes: "checkflow-chaos-probes"}
	t.Cleanup(func() {
		// The worker first, so that it does not spin against a host that is gone.
		if h.worker != nil {
			_ = h.worker.kill()
		}
		if h.host != nil {
			_ = h.host.kill()
		}
	})
	pool, err := pgxpool.New(ctx, h.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	st := store.New(pool)

	started := time.Now()
	if err := h.startHost(); err != nil {
		t.Fatal(err)
	}
	t.Logf("Temporal host ready on %s in %v", h.hostPort(), time.Since(started).Round(time.Millisecond))
	clientLog, err := os.Create(filepath.Join(dir, "test-client.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = clientLog.Close() })
	tc, err := client.DialContext(ctx, client.Options{HostPort: h.hostPort(),
		Logger: devenv.SDKLogger(slog.New(slog.NewTextHandler(clientLog, &slog.HandlerOptions{Level: slog.LevelWarn})))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tc.Close)
	entities := &entityclient.Client{Temporal: tc, TaskQueue: h.queue,
		Options: workflows.EntityOptions{ProbeTaskQueue: h.probes, ContinueAsNewAfterEvents: *flagCANAfter}}

	// Systems: two flapping checks with different thresholds and schedules, one steady check.
	steady := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }))
	t.Cleanup(steady.Close)
	consecutive := &health.Thresholds{Mode: health.ModeConsecutive, Healthy: health.SuccessThreshold{MinSuccessCount: 1},
		Degraded: health.FailureThreshold{MinFailureCount: 1}, Unhealthy: health.FailureThreshold{MinFailureCount: 3}}
	window := &health.Thresholds{Mode: health.ModeWindow, WindowSize: 5,
		Degraded: health.FailureThreshold{MinFailureCount: 2}, Unhealthy: health.FailureThreshold{MinFailureCount: 4}}
	var systems []string
	for i := range *flagSystems {
		sys := fmt.Sprintf("chaos-%d", i+1)
		if _, err := st.CreateSystem(ctx, store.SystemInput{ID: sys, Name: sys}); err != nil {
			t.Fatalf("create system: %v", err)
		}
		a := newFlapper(t, rng, 2*time.Second, 8*time.Second, time.Second, 6*time.Second)
		b := newFlapper(t, rng, 3*time.Second, 10*time.Second, 2*time.Second, 7*time.Second)
		createCheck(t, st, sys, "consecutive", a.srv.URL, consecutive)
		createCheck(t, st, sys, "window", b.srv.URL, window)
		createCheck(t, st, sys, "steady", steady.URL, nil)
		systems = append(systems, sys)
	}

	if err := h.startWorker(); err != nil {
		t.Fatal(err)
	}
	for _, sys := range systems {
		if err := entities.ConfigChanged(ctx, sys); err != nil {
			t.Fatal(err)
		}
	}
	if err := waitAdvance(ctx, pool, systems, nil, 3, recoveryTimeout); err != nil {
		t.Fatalf("runs flowing: %v", err)
	}
	t.Logf("runs flowing after %v", time.Since(started).Round(time.Millisecond))

	// The kill plan: kill i falls at a random moment of the first 60 % of its slot of the
	// phase, but never before the previous kill has been recovered from; the kinds cycle
	// through a random permutation of the three kinds, so that three kills cover all of them.
	var kills []*kill
	slot := *flagDuration / time.Duration(max(*flagKills, 1))
	phase := time.Now()
	var perm []int
	for i := range *flagKills {
		if i%len(killKinds) == 0 {
			perm = rng.Perm(len(killKinds))
		}
		k := &kill{n: i + 1, kind: killKinds[perm[i%len(killKinds)]]}
		planned := phase.Add(slot*time.Duration(i) + time.Duration(float64(slot)*(0.05+0.55*rng.Float64())))
		if late := time.Since(planned); late > 0 {
			// The previous recovery ran into this slot: kill at a random moment of the next second.
			planned = time.Now().Add(time.Duration(rng.Int64N(int64(time.Second))))
		}
		// Waiting for the planned moment is the fault schedule, not synchronisation.
		<-time.After(time.Until(planned))
		k.at = time.Now()
		if err := h.crash(k.kind); err != nil {
			t.Fatalf("kill %d (%s): %v", k.n, k.kind, err)
		}
		k.restarted = time.Now()
		mark, err := seqs(ctx, pool, systems)
		if err != nil {
			t.Fatal(err)
		}
		if err := waitAdvance(ctx, pool, systems, mark, stepsAfterRestart, recoveryTimeout); err != nil {
			t.Fatalf("kill %d (%s at %s): the entities did not resume: %v", k.n, k.kind, k.at.Format("15:04:05.000"), err)
		}
		k.recovered = time.Now()
		t.Logf("kill %2d at +%6.1fs: %-13s replacements ready in %5.2fs, every system persisting again %5.2fs after the kill",
			k.n, k.at.Sub(phase).Seconds(), k.kind, k.restarted.Sub(k.at).Seconds(), k.recovered.Sub(k.at).Seconds())
		kills = append(kills, k)
	}
	if wait := time.Until(phase.Add(*flagDuration)); wait > 0 {
		// Let the run last its duration after the last kill (failures and recoveries go on).
		<-time.After(wait)
	}

	// Settled: every system persists new steps with the last worker and host.
	mark, err := seqs(ctx, pool, systems)
	if err != nil {
		t.Fatal(err)
	}
	if err := waitAdvance(ctx, pool, systems, mark, 3, recoveryTimeout); err != nil {
		t.Fatalf("settling: %v", err)
	}

	v := &verifier{t: t, ctx: ctx, pool: pool, store: st, entities: entities, dir: dir}
	// The entity's own window of statuses must be what is stored (needs a worker to answer).
	for _, sys := range systems {
		v.entityMatchesStore(sys)
	}
	if err := h.worker.stop(30 * time.Second); err != nil {
		t.Logf("stopping the last worker: %v", err)
	}
	h.worker = nil

	var all []*systemData
	for _, sys := range systems {
		d, err := loadSystem(ctx, pool, st, sys)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, d)
		v.verify(d)
	}
	if v.suspect != nil {
		v.dumpHistories()
	}
	cans := 0
	for _, sys := range systems {
		n, err := v.continuedAsNew(sys)
		if err != nil {
			t.Logf("counting continue-as-new: %v", err)
		}
		cans += n
	}
	report(t, seed, kills, all, cans, time.Since(started))
}

// createCheck creates an HTTP check of url every checkInterval and assigns it to system.
func createCheck(t *testing.T, st *store.Store, systemID, name, url string, th *health.Thresholds) {
	t.Helper()
	ctx := context.Background()
	cfg, _ := json.Marshal(map[string]any{"timeout": 2000})
	collectors, _ := json.Marshal([]map[string]any{{"id": "req", "collectorId": "request",
		"config": map[string]any{"url": url, "method": "GET", "timeout": 2000}}})
	c, err := st.CreateConfiguration(ctx, store.ConfigurationInput{Name: systemID + "/" + name, StrategyID: "http",
		Config: cfg, Collectors: collectors, IntervalSeconds: int(checkInterval / time.Second)})
	if err != nil {
		t.Fatalf("create configuration: %v", err)
	}
	enabled := true
	in := store.AssociateInput{SystemID: systemID, ConfigurationID: c.ID, Enabled: &enabled}
	if th != nil {
		in.StateThresholds = store.Some(th)
	}
	if _, _, err := st.Associate(ctx, in); err != nil {
		t.Fatalf("associate: %v", err)
	}
}

// seqs reads the stored seq of every system (0 for a system without state yet).
func seqs(ctx context.Context, pool *pgxpool.Pool, systems []string) (map[string]int64, error) {
	rows, err := pool.Query(ctx, `SELECT system_id, seq FROM system_health_state WHERE system_id = ANY($1)`, systems)
	if err != nil {
		return nil, fmt.Errorf("read seqs: %w", err)
	}
	defer rows.Close()
	out := make(map[string]int64, len(systems))
	for rows.Next() {
		var id string
		var seq int64
		if err := rows.Scan(&id, &seq); err != nil {
			return nil, fmt.Errorf("read seqs: %w", err)
		}
		out[id] = seq
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read seqs: %w", err)
	}
	return out, nil
}

// waitAdvance polls PostgreSQL until every system's stored seq is at least by past its mark
// (a nil mark is 0): every entity has persisted that many new steps.
func waitAdvance(ctx context.Context, pool *pgxpool.Pool, systems []string, mark map[string]int64, by int64, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		now, err := seqs(ctx, pool, systems)
		if err != nil {
			return err
		}
		var behind []string
		for _, s := range systems {
			if now[s] < mark[s]+by {
				behind = append(behind, fmt.Sprintf("%s at seq %d (want ≥ %d)", s, now[s], mark[s]+by))
			}
		}
		if len(behind) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %v: %s", timeout, strings.Join(behind, ", "))
		}
		<-tick.C
	}
}
