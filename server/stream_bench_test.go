package server

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// streamBench is a live stream with many clients over real HTTP (loopback), all in this process.
type streamBench struct {
	e        *env
	url      string
	received atomic.Int64 // events received by all clients
	target   atomic.Int64
	reached  chan struct{}
	wg       sync.WaitGroup
	cancel   context.CancelFunc
}

func newStreamBench(b *testing.B, clients, systems int) *streamBench {
	b.Helper()
	e := newEnv(b, WithStream(StreamOptions{})) // the production poll interval (250 ms)
	for i := range systems {
		e.mustSystem(fmt.Sprintf("sys-%04d", i))
	}
	hs := e.serve()
	ctx, cancel := context.WithCancel(context.Background())
	sb := &streamBench{e: e, url: hs.URL + "/api/v1/stream", reached: make(chan struct{}, 1), cancel: cancel}
	sb.target.Store(-1)
	tr := &http.Transport{MaxIdleConnsPerHost: clients, DisableCompression: true}
	hc := &http.Client{Transport: tr}
	ready := make(chan struct{}, clients)
	for range clients {
		sb.wg.Add(1)
		go func() {
			defer sb.wg.Done()
			req, _ := http.NewRequestWithContext(ctx, "GET", sb.url, nil)
			res, err := hc.Do(req)
			if err != nil {
				ready <- struct{}{}
				return
			}
			defer res.Body.Close()
			r := bufio.NewReaderSize(res.Body, 64<<10)
			greeted := false
			for {
				line, err := r.ReadSlice('\n')
				if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
					return
				}
				if !greeted {
					greeted = true
					ready <- struct{}{}
				}
				if bytes.HasPrefix(line, []byte("id: ")) && sb.received.Add(1) == sb.target.Load() {
					select {
					case sb.reached <- struct{}{}:
					default:
					}
				}
			}
		}()
	}
	for range clients {
		<-ready
	}
	if n := e.srv.hub.Subscribers(); n != clients {
		b.Fatalf("%d of %d clients subscribed", n, clients)
	}
	b.Cleanup(func() {
		cancel()
		sb.wg.Wait()
		tr.CloseIdleConnections()
	})
	return sb
}

// insert writes n outbox events (run.completed) spread over the systems, in one statement.
func (sb *streamBench) insert(b *testing.B, n, systems int) {
	b.Helper()
	if _, err := sb.e.pool.Exec(context.Background(), `INSERT INTO health_events (system_id, seq, type, payload, idempotency_key)
		SELECT format('sys-%s', lpad((g % $2)::text, 4, '0')), g, 'healthcheck.check.completed',
			jsonb_build_object('systemId', format('sys-%s', lpad((g % $2)::text, 4, '0')), 'configurationId', '6f1c1f2e-0000-4000-8000-000000000000',
				'status', 'healthy', 'latencyMs', 42, 'timestamp', now()),
			gen_random_uuid()::text
		FROM generate_series(1, $1) g`, n, systems); err != nil {
		b.Fatal(err)
	}
}

// cpuTime is this process's user + system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkStream500Clients measures the live stream's cost with 500 concurrent clients over
// loopback HTTP (issue 15, acceptance 5). The CPU figures are this process's: the API (one outbox
// poller, 500 handlers writing) and the 500 clients reading, together; PostgreSQL's share (one
// poll of two small statements every 250 ms, whatever the number of clients) is not in them.
//
//   - burst: each op inserts 100 events and waits until every client has received all of them;
//     reports CPU per event fanned out and per delivery (one event to one client).
//   - rate: events at 100/s (1,000 systems @10 s) for one second per op, paced in four batches;
//     reports the process's CPU as a share of one core, with 500 clients and with none (the
//     baseline: inserting only; the poller does not run without subscribers).
//
// Run: go test ./server -run '^$' -bench Stream500Clients -benchtime 20x
func BenchmarkStream500Clients(b *testing.B) {
	const clients, systems, batch = 500, 1000, 100
	b.Run("burst", func(b *testing.B) {
		sb := newStreamBench(b, clients, systems)
		b.ResetTimer()
		cpu0 := cpuTime()
		for i := range b.N {
			sb.target.Store(int64(clients * batch * (i + 1)))
			sb.insert(b, batch, systems)
			select {
			case <-sb.reached:
			case <-time.After(60 * time.Second):
				b.Fatalf("round %d: %d of %d deliveries", i, sb.received.Load(), sb.target.Load())
			}
		}
		cpu := cpuTime() - cpu0
		b.StopTimer()
		events := float64(b.N * batch)
		b.ReportMetric(float64(cpu.Microseconds())/events, "cpu-µs/event")
		b.ReportMetric(float64(cpu.Nanoseconds())/(events*clients), "cpu-ns/delivery")
	})
	for _, n := range []int{0, clients} {
		b.Run(fmt.Sprintf("rate=100/s clients=%d", n), func(b *testing.B) {
			sb := newStreamBench(b, n, systems)
			tick := time.NewTicker(250 * time.Millisecond)
			defer tick.Stop()
			b.ResetTimer()
			start, cpu0 := time.Now(), cpuTime()
			for range b.N {
				for range 4 {
					<-tick.C
					sb.insert(b, 25, systems)
				}
			}
			if n > 0 {
				want := int64(n * 100 * b.N)
				sb.target.Store(want)
				if sb.received.Load() < want {
					select {
					case <-sb.reached:
					case <-time.After(60 * time.Second):
						b.Fatalf("%d of %d deliveries", sb.received.Load(), want)
					}
				}
			}
			cpu, wall := cpuTime()-cpu0, time.Since(start)
			b.StopTimer()
			b.ReportMetric(100*cpu.Seconds()/wall.Seconds(), "%cpu-of-1-core")
		})
	}
}
