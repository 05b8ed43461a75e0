package store

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/checkflow/checkflow/internal/health"
)

// benchResult is a typical HTTP check's result document.
const benchResult = `{"status":"healthy","message":"Completed in 2ms","metadata":{"connected":true,"collectors":{"d209a811-3dd0-4a7c-a0fe-fad1ee6c0344":{"success":true,"finalUrl":"http://127.0.0.1:18080/ep/00000","redirects":0,"bodyLength":25,"statusCode":200,"statusText":"OK","contentType":"application/json","_collectorId":"request","bodyTruncated":false,"responseTimeMs":0}},"connectionTimeMs":0},"latencyMs":2}`

// pacedRate is the arrival rate of BenchmarkSessionPersist's paced writes: 1,000 checks @10 s.
const pacedRate = 100

// BenchmarkSessionPersist measures probe sessions' quiet writes as the benchmark scenarios make
// them — many systems, each writing one run (its check state and check.completed hook) at a time
// — stored one transaction per write (Store.Persist, "alone") or gathered by a GroupCommitter
// with its default options ("group"): as fast as 64 writers go, and "-paced" at pacedRate runs/s
// arriving evenly, as sessions make them (PostgreSQL then pays a WAL flush per transaction, and
// a group holds the runs of one linger). Reported: runs/s, this process's CPU per run
// (cpu-µs/run, the Go side of the store path) and runs per transaction. PostgreSQL's CPU is not
// in it: measure the server's processes alongside (e.g. with TEST_DATABASE_URL on a private
// cluster).
func BenchmarkSessionPersist(b *testing.B) {
	s, _ := newStore(b)
	ctx := context.Background()
	const systems = 128
	cfgs := make([]string, systems)
	for i := range systems {
		sys := fmt.Sprintf("bench-%03d", i)
		mustSystem(b, s, sys)
		c := mustConfig(b, s, sys)
		mustAssign(b, s, sys, c.ID)
		cfgs[i] = c.ID
		if _, err := s.Persist(ctx, PersistInput{SystemID: sys, Seq: 1, At: t0, View: health.BaselineView(1),
			Checks: []CheckState{{ConfigurationID: c.ID, Status: health.Healthy}}}); err != nil {
			b.Fatal(err)
		}
		if _, ok, err := s.ClaimProbeSession(ctx, sys, "b.1", time.Now().Add(time.Hour), 0); err != nil || !ok {
			b.Fatalf("claim: %v %v", ok, err)
		}
	}
	var k atomic.Int64 // run numbers continue across the sub-benchmarks' rounds: every run is new
	write := func(i int) PersistInput {
		sys := fmt.Sprintf("bench-%03d", i)
		n := k.Add(1)
		at := time.Now().UTC()
		id := fmt.Sprintf("%s:sb.1.%d", sys, n)
		return PersistInput{SystemID: sys, Seq: 1, At: at, Session: &SessionFence{ID: "b.1", ExpiresAt: at.Add(time.Minute)},
			Runs:   []RunRecord{{ID: id, ConfigurationID: cfgs[i], Status: health.Healthy, LatencyMs: intp(int(n % 50)), Result: []byte(benchResult), Timestamp: at}},
			Checks: []CheckState{{ConfigurationID: cfgs[i], Status: health.Healthy, RunsConsidered: 100}},
			Events: []EventRecord{{Type: health.HookCheckCompleted, Discriminator: cfgs[i], Key: id + ":" + health.HookCheckCompleted,
				Payload: map[string]any{"systemId": sys, "configurationId": cfgs[i], "status": "healthy", "latencyMs": n % 50, "timestamp": at}}},
		}
	}
	for _, mode := range []struct {
		name  string
		group bool
		rate  int // runs/s arriving evenly; 0: as fast as the writers go
	}{{"alone", false, 0}, {"group", true, 0}, {"alone-paced", false, pacedRate}, {"group-paced", true, pacedRate}} {
		b.Run(mode.name, func(b *testing.B) {
			persist := s.Persist
			var gc *GroupCommitter
			if mode.group {
				gc = s.NewGroupCommitter(GroupCommitOptions{})
				persist = gc.Persist
			}
			cpu0 := cpuTime()
			start := time.Now()
			b.ResetTimer()
			if mode.rate == 0 {
				var next atomic.Int64
				b.SetParallelism(systems / 2) // with 2 cores: one writer per system, as sessions are
				b.RunParallel(func(pb *testing.PB) {
					i := int(next.Add(1)-1) % systems
					for pb.Next() {
						if _, err := persist(ctx, write(i)); err != nil {
							b.Error(err)
							return
						}
					}
				})
			} else {
				// Writes arrive as probe sessions make them: evenly spread, each system's one
				// after the other.
				every := time.Second / time.Duration(mode.rate)
				var wg sync.WaitGroup
				for n := range b.N {
					time.Sleep(time.Until(start.Add(time.Duration(n) * every)))
					wg.Go(func() {
						if _, err := persist(ctx, write(n%systems)); err != nil {
							b.Error(err)
						}
					})
				}
				wg.Wait()
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "runs/s")
			b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/run")
			tx := float64(b.N)
			if gc != nil {
				tx = float64(gc.Stats().Commits)
			}
			b.ReportMetric(float64(b.N)/tx, "runs/tx")
		})
	}
}

// cpuTime is this process's CPU time (user + system; 0 when unknown).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
