package checks

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain doubles as the out-of-process probe target of BenchmarkHTTPProbe: with
// CHECKFLOW_HELPER_HTTP=1 the test binary serves HTTP on 127.0.0.1 (printing "LISTEN <addr>")
// until its stdin closes, so the benchmark's CPU figure is the prober's alone.
func TestMain(m *testing.M) {
	if os.Getenv("CHECKFLOW_HELPER_HTTP") == "1" {
		serveBenchTarget()
		return
	}
	os.Exit(m.Run())
}

func serveBenchTarget() {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	go func() {
		_ = http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"status":"ok","checks":[{"name":"db","ok":true},{"name":"cache","ok":true}]}`)
		}))
	}()
	fmt.Printf("LISTEN %s\n", l.Addr())
	_, _ = io.Copy(io.Discard, os.Stdin)
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkHTTPProbe measures one full HTTP probe (Execute: validation, connect, request, body
// read, two assertions incl. a JSONPath, result assembly) against a local target running in a
// separate process. It reports CPU µs per probe of this process (user+sys, incl. GC).
func BenchmarkHTTPProbe(b *testing.B) {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "CHECKFLOW_HELPER_HTTP=1")
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = stdin.Close(); _ = cmd.Wait() })
	sc := bufio.NewScanner(stdout)
	addr := ""
	for sc.Scan() {
		if a, ok := strings.CutPrefix(sc.Text(), "LISTEN "); ok {
			addr = a
			break
		}
	}
	if addr == "" {
		b.Fatal("helper server did not start")
	}
	go func() { _, _ = io.Copy(io.Discard, stdout) }()

	r := NewRegistry()
	req := Request{StrategyID: "http", Config: json.RawMessage(`{"timeout":5000}`), Collectors: []CollectorEntry{{
		ID: "req", CollectorID: "request", Config: json.RawMessage(`{"url":"http://` + addr + `/health"}`),
		Assertions: []Assertion{{Field: "statusCode", Operator: "equals", Value: 200.0}, {Field: "body", JSONPath: "$.checks[?@.ok == false]", Operator: "isEmpty"}},
	}}}
	if res := r.Execute(context.Background(), req); res.Status != StatusHealthy {
		b.Fatalf("probe unhealthy: %s", res.Message)
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	for b.Loop() {
		if res := r.Execute(context.Background(), req); res.Status != StatusHealthy {
			b.Fatalf("probe unhealthy: %s", res.Message)
		}
	}
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/probe")
}
