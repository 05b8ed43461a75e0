package checks

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// mustJSON marshals v or fails the test.
func mustJSON(t testing.TB, v any) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal %v: %v", v, err)
	}
	return b
}

// entry builds a collector entry.
func entry(t testing.TB, id, collectorID string, cfg map[string]any, asserts ...Assertion) CollectorEntry {
	t.Helper()
	if cfg == nil {
		cfg = map[string]any{}
	}
	return CollectorEntry{ID: id, CollectorID: collectorID, Config: mustJSON(t, cfg), Assertions: asserts}
}

// run executes a probe with a fresh registry.
func run(t testing.TB, strategy string, cfg map[string]any, entries ...CollectorEntry) Result {
	t.Helper()
	return NewRegistry().Execute(context.Background(), Request{StrategyID: strategy, Config: mustJSON(t, cfg), Collectors: entries,
		RunContext: RunContext{CheckID: "chk-1", CheckName: "Check One", IntervalSeconds: 60, SystemID: "sys-1", SystemName: "web-01"}})
}

// collector returns the stored result of collector entry id.
func collector(t testing.TB, r Result, id string) map[string]any {
	t.Helper()
	cs, ok := r.Metadata["collectors"].(map[string]any)
	if !ok {
		t.Fatalf("result has no collectors: %+v", r)
	}
	c, ok := cs[id].(map[string]any)
	if !ok {
		t.Fatalf("no collector %q in %+v", id, cs)
	}
	return c
}

func requireHealthy(t testing.TB, r Result) {
	t.Helper()
	if r.Status != StatusHealthy {
		t.Fatalf("want healthy, got %s: %q (metadata %+v)", r.Status, r.Message, r.Metadata)
	}
	if !strings.HasPrefix(r.Message, "Completed in ") || r.LatencyMs == nil {
		t.Fatalf("healthy result message/latency: %q %v", r.Message, r.LatencyMs)
	}
}

func requireUnhealthy(t testing.TB, r Result, wantMsg string) {
	t.Helper()
	if r.Status != StatusUnhealthy {
		t.Fatalf("want unhealthy, got %s: %q (metadata %+v)", r.Status, r.Message, r.Metadata)
	}
	if !strings.Contains(r.Message, wantMsg) {
		t.Fatalf("message %q does not contain %q", r.Message, wantMsg)
	}
}

// requireTimeout checks the executor's hard-timeout shape.
func requireTimeout(t testing.TB, r Result, ms int) {
	t.Helper()
	want := fmt.Sprintf("Execution timeout after %dms", ms)
	if r.Status != StatusUnhealthy || r.Message != want {
		t.Fatalf("want %q, got %s %q", want, r.Status, r.Message)
	}
	if r.Metadata["error"] != want {
		t.Fatalf("metadata.error = %v", r.Metadata["error"])
	}
	if r.LatencyMs == nil || *r.LatencyMs < ms || *r.LatencyMs > ms+1500 { // the probe stops promptly on cancellation
		t.Fatalf("latency %v not around %dms", r.LatencyMs, ms)
	}
}

// blockUntilEnd returns a channel closed when the test ends (servers block on it).
func blockUntilEnd(t testing.TB) <-chan struct{} {
	done := make(chan struct{})
	t.Cleanup(func() { close(done) })
	return done
}

// closedPort returns a 127.0.0.1 port nothing listens on.
func closedPort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	return port
}

// silentListener accepts TCP connections and never writes; connections stay open until the test ends.
func silentListener(t testing.TB) (host string, port int) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := blockUntilEnd(t)
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	go func() {
		<-done
		_ = l.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
	}()
	a := l.Addr().(*net.TCPAddr)
	return "127.0.0.1", a.Port
}

// redisAddr returns a Redis to test against: the one on 127.0.0.1:6379, or a private
// redis-server started on a free port (stopped when the test ends).
func redisAddr(t testing.TB) (string, int) {
	t.Helper()
	if c, err := net.DialTimeout("tcp", "127.0.0.1:6379", time.Second); err == nil {
		_ = c.Close()
		return "127.0.0.1", 6379
	}
	return startRedisServer(t)
}

// startRedisServer starts a private, non-persistent redis-server on a free 127.0.0.1 port and
// stops it when the test ends; it fails the test clearly when that is impossible.
func startRedisServer(t testing.TB) (string, int) {
	t.Helper()
	port := closedPort(t)
	path, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("no Redis on 127.0.0.1:6379 and redis-server is not installed (apt-get install redis-server): %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, path, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	out, err := cmd.StdoutPipe()
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("starting redis-server: %v", err)
	}
	t.Cleanup(func() { cancel(); _ = cmd.Wait() })
	ready := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "Ready to accept connections") {
				ready <- nil
				for sc.Scan() { // keep draining
				}
				return
			}
		}
		ready <- errors.New("redis-server exited before it was ready")
	}()
	select {
	case err := <-ready:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("redis-server did not become ready within 10s")
	}
	return "127.0.0.1", port
}

// staticResolver resolves secrets from a map.
type staticResolver map[string]string

func (s staticResolver) Resolve(_ context.Context, names []string) (map[string]string, error) {
	out := map[string]string{}
	for _, n := range names {
		if v, ok := s[n]; ok {
			out[n] = v
		}
	}
	return out, nil
}
