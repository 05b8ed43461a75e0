package tests

import (
	"bufio"
	"context"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/checkflow/checkflow/internal/entityclient"
	"github.com/checkflow/checkflow/internal/health"
	"github.com/checkflow/checkflow/internal/store"
	"github.com/checkflow/checkflow/internal/testutil"
	"github.com/checkflow/checkflow/workflows"
)

// startWorkerProcess runs a worker in a child process (this test binary, see TestMain) and
// returns once it polls (tests and benchmarks); env adds NAME=value settings for the child.
func startWorkerProcess(t testing.TB, dbURL, queue, probes string, env ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envWorkerRole+"=1", envHostPort+"="+shared.temporal.Server.HostPort(),
		envDatabaseURL+"="+dbURL, envTaskQueue+"="+queue, envProbeQueue+"="+probes)
	cmd.Env = append(cmd.Env, env...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != workerReadyLine {
		t.Fatalf("worker process did not start: %q %v", line, err)
	}
	return cmd
}

// newChildStack is a test's database, task queues and entity client without a worker in this
// process: the test runs its workers as child processes (startWorkerProcess) to kill them.
func newChildStack(t *testing.T) *stack {
	t.Helper()
	dbURL := testutil.NewDatabase(t)
	pool, err := pgxpool.New(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	queue := testutil.UniqueName(t)
	probes := queue + "-probes"
	return &stack{pool: pool, dbURL: dbURL, store: store.New(pool), queue: queue, probes: probes,
		entities: &entityclient.Client{Temporal: shared.temporal.Client, TaskQueue: queue, Options: workflows.EntityOptions{ProbeTaskQueue: probes}}}
}

// Kill the worker hard while results are flowing, start a new one: no run is stored twice, no
// transition is missing or doubled, and the entity carries on.
func TestWorkerCrashLosesAndDuplicatesNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newChildStack(t)
	dbURL, queue, probes := s.dbURL, s.queue, s.probes

	// A flaps between passing and failing every 1.5 s; B always passes.
	start := time.Now()
	var flap atomic.Bool
	flap.Store(true)
	a := newTargetFunc(t, func(w http.ResponseWriter, _ *http.Request) {
		if flap.Load() && (time.Since(start)/(1500*time.Millisecond))%2 == 1 {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	b := newTarget(t)
	sys := s.system(t, "crash")
	th := &health.Thresholds{Mode: health.ModeConsecutive, Healthy: health.SuccessThreshold{MinSuccessCount: 1},
		Degraded: health.FailureThreshold{MinFailureCount: 1}, Unhealthy: health.FailureThreshold{MinFailureCount: 2}}
	cfgA := s.httpCheck(t, sys, "flapping", a.URL, 1, th)
	s.httpCheck(t, sys, "steady", b.srv.URL, 1, nil)

	runs := func() int { return s.count(t, `SELECT count(*) FROM health_check_runs WHERE system_id = $1`, sys) }
	w1 := startWorkerProcess(t, dbURL, queue, probes)
	if err := s.entities.ConfigChanged(ctx, sys); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "results flowing", func() (bool, error) { return runs() >= 12, nil })
	// Kill while a probe session runs (it has claimed: started a moment ago).
	waitFor(t, 30*time.Second, "a running probe session", func() (bool, error) {
		d, err := shared.temporal.Client.DescribeWorkflowExecution(ctx, workflows.SystemWorkflowID(sys), "")
		if err != nil {
			return false, err
		}
		for _, pa := range d.PendingActivities {
			if isProbeSession(pa.GetActivityType().GetName()) && pa.GetLastStartedTime() != nil &&
				time.Since(pa.GetLastStartedTime().AsTime()) > 100*time.Millisecond {
				return true, nil
			}
		}
		return false, nil
	})
	killedAt := time.Now()
	if err := w1.Process.Kill(); err != nil { // SIGKILL: no graceful stop
		t.Fatal(err)
	}
	_ = w1.Wait()
	atKill := runs()

	w2 := startWorkerProcess(t, dbURL, queue, probes)
	waitFor(t, 60*time.Second, "the entity to carry on with the new worker", func() (bool, error) { return runs() >= atKill+12, nil })
	// The probe session that died with the first worker was handed back by the new worker's
	// watchdog, not by its activity timeout (minutes): it is still pending in Temporal while the
	// entity already went on.
	d, err := shared.temporal.Client.DescribeWorkflowExecution(ctx, workflows.SystemWorkflowID(sys), "")
	if err != nil {
		t.Fatal(err)
	}
	lost := 0
	for _, pa := range d.PendingActivities {
		if isProbeSession(pa.GetActivityType().GetName()) && pa.GetLastStartedTime().AsTime().Before(killedAt) {
			lost++
		}
	}
	switch lost {
	case 0:
		// The session ended in the moment between the look and the kill: nothing was lost.
		t.Log("no probe session was running at the kill")
	case 1, 2: // the lost one (and one scheduled to the dead worker before it could claim)
		t.Logf("%d probe session(s) lost with the worker, handed back before their timeout", lost)
	default:
		t.Errorf("%d probe sessions started before the kill are pending", lost)
	}
	flap.Store(false)
	s.waitStatus(t, sys, health.Healthy, 30*time.Second)
	if err := w2.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	_ = w2.Wait()

	// Every probe id once: the ids are "<system>:p<probeSeq>", so a re-run probe would show up
	// as a second row for the same sequence number or as a gap-less overcount.
	if total, distinct := runs(), s.count(t, `SELECT count(DISTINCT id) FROM health_check_runs WHERE system_id = $1`, sys); total != distinct {
		t.Errorf("%d runs but %d distinct ids", total, distinct)
	}
	// Probe ids are "<system>:p<epoch>.<n>" (the entity's own probes) or "<system>:s<epoch>.<k>.<n>"
	// (probe sessions).
	if n := s.count(t, `SELECT count(*) FROM health_check_runs WHERE system_id = $1 AND id !~ ('^' || system_id || ':(p([0-9A-Za-z]{8}[.])?[0-9]+|s[0-9A-Za-z]{8}[.][0-9]+[.][0-9]+)$')`, sys); n != 0 {
		t.Errorf("%d runs with unexpected ids", n)
	}
	// Each run produced exactly one check.completed event.
	if ev, r := s.count(t, `SELECT count(*) FROM health_events WHERE system_id = $1 AND type = 'healthcheck.check.completed'`, sys), runs(); ev != r {
		t.Errorf("%d check.completed events for %d runs", ev, r)
	}
	// Transitions form one unbroken chain (each starts where the previous ended), one per
	// system_health_changed event.
	rows, err := s.pool.Query(ctx, `SELECT from_status::text, to_status::text, seq FROM health_check_state_transitions WHERE system_id = $1 ORDER BY seq`, sys)
	if err != nil {
		t.Fatal(err)
	}
	prevTo, prevSeq, n := "healthy", int64(0), 0
	for rows.Next() {
		var from, to string
		var seq int64
		if err := rows.Scan(&from, &to, &seq); err != nil {
			t.Fatal(err)
		}
		if from != prevTo || from == to || seq <= prevSeq {
			t.Errorf("transition %d: %s→%s at seq %d after %s at seq %d", n, from, to, seq, prevTo, prevSeq)
		}
		prevTo, prevSeq = to, seq
		n++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if n < 2 {
		t.Errorf("only %d transitions: the flapping check should have moved the system several times", n)
	}
	if ev := s.count(t, `SELECT count(*) FROM health_events WHERE system_id = $1 AND type = $2`, sys, health.EventSystemHealthChanged); ev != n {
		t.Errorf("%d system_health_changed events for %d transitions", ev, n)
	}
	if n := s.count(t, `SELECT count(*) FROM health_check_runs WHERE configuration_id = $1`, cfgA); n == 0 {
		t.Error("no runs of the flapping check")
	}
	// The history holds the lost session's report (signal probe-session-lost) and replays.
	replayAll(t, workflows.SystemWorkflowID(sys), workflows.SystemHealthWorkflow, "systemhealth-crash", workflows.SystemHealth)
	t.Logf("%d runs (%d before the kill), %d transitions", runs(), atKill, n)
}

// isProbeSession tells whether an activity type is a probe session's (resumable or not).
func isProbeSession(activityType string) bool {
	return activityType == workflows.ActivityProbeSession || activityType == workflows.ActivityResumableProbeSession
}
