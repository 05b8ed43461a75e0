package workflows

import (
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/checkflow/checkflow/internal/health"
)

var errDatabaseDown = errors.New("dial tcp 127.0.0.1:5432: connect: connection refused")

// outage makes every write fail (retryably) between from and to (workflow time offsets).
func outage(env interface {
	RegisterDelayedCallback(func(), time.Duration)
}, f *fake, from, to time.Duration) {
	down := false
	f.persistErr = func(PersistRequest) error {
		if down {
			return errDatabaseDown
		}
		return nil
	}
	env.RegisterDelayedCallback(func() { f.mu.Lock(); down = true; f.mu.Unlock() }, from)
	env.RegisterDelayedCallback(func() { f.mu.Lock(); down = false; f.mu.Unlock() }, to)
}

func degradeAfter(n int) *health.Thresholds {
	return &health.Thresholds{Mode: health.ModeConsecutive, Healthy: health.SuccessThreshold{MinSuccessCount: 1},
		Degraded: health.FailureThreshold{MinFailureCount: n}, Unhealthy: health.FailureThreshold{MinFailureCount: 100}}
}

// The database is away for 60 s (twice the old 30 s limit) while the check starts failing: the
// entity keeps probing, stores every run afterwards in order with no hole in the sequence, and
// the healthy→degraded transition and its events are stored.
func TestStorageOutageLosesNothing(t *testing.T) {
	f := newFake(check(cfgA, 5, degradeAfter(2)))
	env := newEnv(t, f)
	outage(env, f, 20*time.Second, 80*time.Second)
	env.RegisterDelayedCallback(func() {
		f.mu.Lock()
		f.status[cfgA] = health.Unhealthy
		f.mu.Unlock()
	}, 30*time.Second)
	endAt(env, f, 3*time.Minute)
	env.ExecuteWorkflow(SystemHealthWorkflow, SystemHealthInput{SystemID: "sys-1", Options: EntityOptions{NoProbeSessions: true}})
	requireCompleted(t, env)

	f.mu.Lock()
	defer f.mu.Unlock()
	// Probing went on during the outage.
	during := 0
	for _, p := range f.probes {
		if at := p.DueAt.Sub(t0); at > 25*time.Second && at < 75*time.Second {
			during++
		}
	}
	if during < 8 {
		t.Errorf("%d probes due during the 60 s outage at 5 s, want ≥8 (probing must go on)", during)
	}
	// Every probe's run is stored, once.
	var stored []string
	for _, p := range f.persisted {
		for _, r := range p.Runs {
			stored = append(stored, r.ID)
		}
	}
	var probed []string
	for _, p := range f.probes {
		probed = append(probed, p.ResultID)
	}
	slices.Sort(stored)
	slices.Sort(probed)
	if !slices.Equal(stored, probed) {
		t.Errorf("stored %d runs, probed %d: the sets differ", len(stored), len(probed))
	}
	// The stored sequence has no hole and never goes back.
	for i := 1; i < len(f.persisted); i++ {
		if f.persisted[i].Seq != f.persisted[i-1].Seq+1 {
			t.Fatalf("stored seq %d after %d: a write was lost or reordered", f.persisted[i].Seq, f.persisted[i-1].Seq)
		}
	}
	var transitions []string
	var events []string
	for _, p := range f.persisted {
		if p.Transition != nil {
			transitions = append(transitions, string(*p.Transition.From)+"→"+string(p.Transition.To))
		}
		for _, e := range p.Events {
			if e.Type == health.EventSystemDegraded || e.Type == health.EventSystemHealthChanged {
				events = append(events, e.Type)
			}
		}
	}
	if !slices.Equal(transitions, []string{"healthy→degraded"}) {
		t.Errorf("stored transitions %v, want the one healthy→degraded", transitions)
	}
	if !slices.Equal(events, []string{health.EventSystemDegraded, health.EventSystemHealthChanged}) {
		t.Errorf("stored events %v, want degraded + health_changed once", events)
	}
	if f.attempts <= len(f.persisted) {
		t.Errorf("%d attempts for %d writes: the outage was not exercised", f.attempts, len(f.persisted))
	}
}

// While the database is away the waiting results are bounded: at the bound the entity starts no
// probe, and it resumes once the backlog is stored.
func TestStorageOutageBacklogIsBounded(t *testing.T) {
	f := newFake(check(cfgA, 1, nil))
	env := newEnv(t, f)
	outage(env, f, 10*time.Second, 10*time.Minute)
	endAt(env, f, 12*time.Minute)
	env.ExecuteWorkflow(SystemHealthWorkflow, SystemHealthInput{SystemID: "sys-1", Options: EntityOptions{MaxPendingRuns: 20, NoProbeSessions: true}})
	requireCompleted(t, env)
	f.mu.Lock()
	defer f.mu.Unlock()
	during, after := 0, 0
	for _, p := range f.probes {
		switch at := p.DueAt.Sub(t0); {
		case at > 15*time.Second && at < 10*time.Minute:
			during++
		case at > 10*time.Minute+30*time.Second:
			after++
		}
	}
	// One write is in flight (not counted as pending) plus the bound.
	if during > 22 || during < 15 {
		t.Errorf("%d probes during a 10 min outage with a bound of 20 pending runs, want about 20", during)
	}
	if after < 60 {
		t.Errorf("%d probes in the 90 s after the outage at 1 s, want ≥60 (probing must resume)", after)
	}
	stored := 0
	for _, p := range f.persisted {
		stored += len(p.Runs)
	}
	if stored != len(f.probes) {
		t.Errorf("stored %d runs of %d probed", stored, len(f.probes))
	}
}

// A write the store rejects as invalid does not hold the loop: it is stored again without the
// run's details (status, transition and events kept), and the runs after it go on.
func TestRejectedWriteIsStoredWithoutDetails(t *testing.T) {
	f := newFake(check(cfgA, 5, degradeAfter(1)))
	f.status[cfgA] = health.Unhealthy
	poisoned := ""
	f.persistErr = func(req PersistRequest) error {
		for _, r := range req.Runs {
			if poisoned == "" {
				poisoned = r.ID
			}
			if r.ID == poisoned && !strings.Contains(r.Message, "could not be stored") {
				return temporal.NewNonRetryableApplicationError("invalid byte sequence", ErrTypePersistRejected, nil)
			}
		}
		return nil
	}
	env := newEnv(t, f)
	endAt(env, f, 30*time.Second)
	env.ExecuteWorkflow(SystemHealthWorkflow, SystemHealthInput{SystemID: "sys-1", Options: EntityOptions{NoProbeSessions: true}})
	requireCompleted(t, env)
	f.mu.Lock()
	defer f.mu.Unlock()
	var first *PersistRequest
	runs := 0
	for i := range f.persisted {
		for _, r := range f.persisted[i].Runs {
			runs++
			if r.ID == poisoned {
				first = &f.persisted[i]
			}
		}
	}
	if first == nil {
		t.Fatal("the rejected run was not stored at all")
	}
	if first.Transition == nil || first.Transition.To != health.Degraded {
		t.Errorf("the rejected item's transition was not kept: %+v", first.Transition)
	}
	if !strings.Contains(string(first.Runs[0].Result), "invalid byte sequence") {
		t.Errorf("stored result %s does not say why the details are missing", first.Runs[0].Result)
	}
	if runs < 5 {
		t.Errorf("only %d runs stored in 30 s at 5 s: the loop was held", runs)
	}
}

// A system deleted while its entity runs ends the entity without a write (there is nothing to
// write to; it used to log an ERROR "System not found").
func TestDeletedSystemEndsWithoutWriting(t *testing.T) {
	f := newFake(check(cfgA, 5, nil))
	env := newEnv(t, f)
	var before int
	env.RegisterDelayedCallback(func() {
		f.mu.Lock()
		f.system = LoadedSystem{SystemID: "sys-1", Deleted: true}
		before = len(f.persisted)
		f.persistErr = func(PersistRequest) error {
			return temporal.NewNonRetryableApplicationError("System not found", ErrTypeSystemGone, nil)
		}
		f.mu.Unlock()
		env.SignalWorkflow(SignalConfigChanged, nil)
	}, 12*time.Second)
	env.ExecuteWorkflow(SystemHealthWorkflow, SystemHealthInput{SystemID: "sys-1", Options: EntityOptions{NoProbeSessions: true}})
	requireCompleted(t, env)
	f.mu.Lock()
	defer f.mu.Unlock()
	if before == 0 {
		t.Fatal("nothing was stored before the deletion")
	}
	if f.attempts != before {
		t.Errorf("%d writes attempted after the system was deleted, want none", f.attempts-before)
	}
}

// A step whose write had happened before — its workflow task was lost with a crashed worker, so
// its local probe ran again on replay and answered differently — adopts what is stored: the
// transitions after it continue from the stored state (the chain stays unbroken).
func TestReplayedProbeAdoptsStoredRuns(t *testing.T) {
	f := newFake(check(cfgA, 5, degradeAfter(1)))
	env := newEnv(t, f)
	const lost = 3 // the seq of the step whose first attempt committed a failing run
	f.persistErr = func(req PersistRequest) error { return nil }
	var stored []StoredRun
	f.persistHook = func(req PersistRequest) (PersistResponse, bool) {
		if req.Seq != lost || len(req.Runs) == 0 {
			return PersistResponse{}, false
		}
		// What the first attempt stored: the same run ids, unhealthy, and its transition.
		first := req
		first.Runs = nil
		for _, r := range req.Runs {
			r.Status = health.Unhealthy
			first.Runs = append(first.Runs, r)
			stored = append(stored, StoredRun{ID: r.ID, Status: r.Status, ExecutedAt: r.ExecutedAt, LatencyMs: r.LatencyMs})
		}
		from := health.Healthy
		first.Transition = &Transition{ConfigurationID: cfgA, From: &from, To: health.Degraded}
		f.persisted = append(f.persisted, first)
		return PersistResponse{Applied: false, Stored: stored}, true
	}
	endAt(env, f, time.Minute)
	env.ExecuteWorkflow(SystemHealthWorkflow, SystemHealthInput{SystemID: "sys-1", Options: EntityOptions{NoProbeSessions: true}})
	requireCompleted(t, env)
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(stored) == 0 {
		t.Fatal("the lost step was never written")
	}
	var chain []string
	last := health.Healthy
	for _, p := range f.persisted {
		if tr := p.Transition; tr != nil {
			if *tr.From != last {
				t.Errorf("seq %d: transition %s→%s after %s: the chain is broken", p.Seq, *tr.From, tr.To, last)
			}
			last = tr.To
			chain = append(chain, string(*tr.From)+"→"+string(tr.To))
		}
	}
	if want := []string{"healthy→degraded", "degraded→healthy"}; !slices.Equal(chain, want) {
		t.Errorf("stored transitions %v, want %v", chain, want)
	}
}

// A fresh entity numbers its probes within an epoch of its own, so its run ids never collide
// with the runs of an earlier lifetime of the same system (which would be dropped as stored).
func TestProbeIDsCarryTheEntityEpoch(t *testing.T) {
	f := newFake(check(cfgA, 5, nil))
	env := newEnv(t, f)
	endAt(env, f, 12*time.Second)
	env.ExecuteWorkflow(SystemHealthWorkflow, SystemHealthInput{SystemID: "sys-1", Options: EntityOptions{NoProbeSessions: true}})
	requireCompleted(t, env)
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.probes) == 0 {
		t.Fatal("no probe")
	}
	id := f.probes[0].ResultID
	if !regexp.MustCompile(`^sys-1:p[0-9a-zA-Z]{8}\.1$`).MatchString(id) {
		t.Errorf("first probe id %q, want sys-1:p<8-character epoch>.1", id)
	}
	if probeEpoch("0f9e3b2a-1c4d-4e5f-8a9b-0c1d2e3f4a5b") != "0f9e3b2a" {
		t.Error("probeEpoch does not take the run id's first 8 characters")
	}
}
