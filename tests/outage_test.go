package tests

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/checkflow/checkflow/internal/devenv"
	"github.com/checkflow/checkflow/internal/entityclient"
	"github.com/checkflow/checkflow/internal/health"
	"github.com/checkflow/checkflow/internal/store"
	"github.com/checkflow/checkflow/internal/testutil"
	"github.com/checkflow/checkflow/worker"
	"github.com/checkflow/checkflow/workflows"
)

// dbProxy is a TCP proxy in front of PostgreSQL that the test can take down: while down it
// refuses connections (its port is closed) and has cut every open one, like a database host
// that went away.
type dbProxy struct {
	target string
	addr   string
	mu     sync.Mutex
	ln     net.Listener
	conns  map[net.Conn]bool
}

func newDBProxy(t *testing.T, target string) *dbProxy {
	t.Helper()
	p := &dbProxy{target: target, conns: map[net.Conn]bool{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(func() { p.down() })
	return p
}

func (p *dbProxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.pipe(c)
		}
	}()
}

func (p *dbProxy) pipe(c net.Conn) {
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		_ = c.Close()
		return
	}
	p.mu.Lock()
	if p.ln == nil { // went down meanwhile
		p.mu.Unlock()
		_ = c.Close()
		_ = up.Close()
		return
	}
	p.conns[c], p.conns[up] = true, true
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(up, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, up); done <- struct{}{} }()
	<-done
	_ = c.Close()
	_ = up.Close()
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, up)
	p.mu.Unlock()
}

// down closes the port and cuts every connection.
func (p *dbProxy) down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		_ = p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		_ = c.Close()
	}
	clear(p.conns)
}

// up opens the same port again.
func (p *dbProxy) up(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		t.Fatalf("reopen the proxy port: %v", err)
	}
	p.serve(ln)
}

// PostgreSQL refuses connections for 60 s (twice the limit that used to lose results) while the
// systems' checks start failing: afterwards every system's healthy→degraded transition and its
// events are stored, the runs made during the outage are stored, the transition chains are
// unbroken, and the TCP check of the database itself recorded the outage.
func TestDatabaseOutageLosesNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dbURL := testutil.NewDatabase(t)
	direct, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(direct.Close)
	cfg, err := pgxpool.ParseConfig(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newDBProxy(t, net.JoinHostPort(cfg.ConnConfig.Host, strconv.Itoa(int(cfg.ConnConfig.Port))))
	host, port, _ := net.SplitHostPort(proxy.addr)
	cfg.ConnConfig.Host = host
	p, _ := strconv.Atoi(port)
	cfg.ConnConfig.Port = uint16(p)
	cfg.ConnConfig.ConnectTimeout = 2 * time.Second
	// Fallbacks (sslmode=prefer's plain attempt, other hosts) would dial PostgreSQL directly.
	cfg.ConnConfig.Fallbacks = nil
	viaProxy, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(viaProxy.Close)

	queue := testutil.UniqueName(t)
	s := &stack{pool: direct, dbURL: dbURL, store: store.New(direct), queue: queue, probes: queue + "-probes"}
	s.entities = &entityclient.Client{Temporal: shared.temporal.Client, TaskQueue: queue,
		Options: workflows.EntityOptions{ProbeTaskQueue: s.probes}}
	w, err := worker.Start(worker.Config{Client: shared.temporal.Client, Pool: viaProxy, TaskQueue: queue,
		ProbeTaskQueue: s.probes, EntityOptions: s.entities.Options, Logger: testutil.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)

	const systems = 6
	tg := newTarget(t)
	var ids []string
	for i := 0; i < systems; i++ {
		ids = append(ids, s.system(t, fmt.Sprint("outage", i)))
		s.httpCheck(t, ids[i], "api", tg.srv.URL, 1, nil)
	}
	// The first system also watches the database itself (through the proxy) over TCP.
	dbCheck := s.tcpCheck(t, ids[0], "database", host, p, 1)
	for _, id := range ids {
		if err := s.entities.ConfigChanged(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range ids {
		s.waitStatus(t, id, health.Healthy, 60*time.Second)
	}
	runsOf := func(id string) int {
		return s.count(t, `SELECT count(*) FROM health_check_runs WHERE system_id = $1`, id)
	}
	for _, id := range ids {
		before := runsOf(id)
		waitFor(t, 30*time.Second, "runs before the outage", func() (bool, error) { return runsOf(id) >= before+2, nil })
	}

	// The outage: the database goes away, then the target starts failing.
	proxy.down()
	downAt := time.Now()
	waitFor(t, 10*time.Second, "the worker's pool to see the outage", func() (bool, error) {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		return viaProxy.Ping(pctx) != nil, nil
	})
	tg.code.Store(http.StatusInternalServerError)
	// Nothing can be stored for 60 s; the test waits for the time to pass, watching that nothing
	// is stored meanwhile (a write getting through would mean the outage is not one). A commit
	// that was on the wire when the proxy cut the connections may still land: the watch starts
	// 3 s in.
	var storedAtDown []int
	waitFor(t, 2*time.Minute, "60 s of outage", func() (bool, error) {
		if time.Since(downAt) < 3*time.Second {
			return false, nil
		}
		if storedAtDown == nil {
			for _, id := range ids {
				storedAtDown = append(storedAtDown, runsOf(id))
			}
		}
		for i, id := range ids {
			if n := runsOf(id); n != storedAtDown[i] {
				return false, fmt.Errorf("system %s stored %d runs while its database was away", id, n-storedAtDown[i])
			}
		}
		return time.Since(downAt) >= 60*time.Second, nil
	})
	proxy.up(t)
	upAt := time.Now()

	// Five failing runs make a check unhealthy (default thresholds): all of them happened during
	// the outage, so each system's chain is healthy→degraded→unhealthy once it is all stored.
	for _, id := range ids {
		s.waitStatus(t, id, health.Unhealthy, 2*time.Minute)
		// Results are stored in the order they were made: a run made after the outage is stored
		// once the whole backlog is.
		waitFor(t, 2*time.Minute, "the backlog to be stored", func() (bool, error) {
			return s.count(t, `SELECT count(*) FROM health_check_runs WHERE system_id = $1 AND "timestamp" > $2`, id, upAt.Add(time.Second)) > 0, nil
		})
	}
	if os.Getenv("OUTAGE_DEBUG") != "" {
		h := fetchHistory(t, workflows.SystemWorkflowID(ids[1]), "")
		for _, ev := range h.Events {
			extra := ""
			if a := ev.GetMarkerRecordedEventAttributes(); a != nil {
				extra = a.GetMarkerName()
				if d := a.GetDetails()["type"]; d != nil && len(d.Payloads) > 0 {
					extra += " " + string(d.Payloads[0].Data)
				}
				if a.GetFailure() != nil {
					extra += " FAIL " + a.GetFailure().GetMessage()
				}
			}
			if a := ev.GetTimerStartedEventAttributes(); a != nil {
				extra = a.GetStartToFireTimeout().AsDuration().String()
			}
			t.Logf("%s %s %s", ev.GetEventTime().AsTime().Format("15:04:05.000"), ev.GetEventType(), extra)
		}
	}
	// Every system: the transition and its events, made during the outage, are stored.
	for _, id := range ids {
		trs, err := s.store.ListTransitions(ctx, store.TransitionFilter{SystemID: id})
		if err != nil {
			t.Fatal(err)
		}
		if len(trs) == 0 {
			t.Fatalf("system %s: no transition stored", id)
		}
		first := trs[len(trs)-1] // newest first
		if first.FromStatus == nil || *first.FromStatus != health.Healthy || first.ToStatus != health.Degraded {
			t.Errorf("system %s: first transition %v→%s, want healthy→degraded", id, first.FromStatus, first.ToStatus)
		}
		if first.TransitionedAt.Before(downAt) || first.TransitionedAt.After(upAt) {
			t.Errorf("system %s: transition dated %v, want during the outage (%v–%v)", id, first.TransitionedAt, downAt, upAt)
		}
		for i := len(trs) - 2; i >= 0; i-- {
			if trs[i].FromStatus == nil || *trs[i].FromStatus != trs[i+1].ToStatus {
				t.Errorf("system %s: transition chain broken at %d", id, i)
			}
		}
		for _, want := range []struct {
			typ string
			n   int
		}{{health.EventSystemDegraded, 1}, {health.EventSystemHealthChanged, len(trs)}} {
			if n := s.count(t, `SELECT count(*) FROM health_events WHERE system_id = $1 AND type = $2`, id, want.typ); n != want.n {
				t.Errorf("system %s: %d %s events, want %d (one per transition)", id, n, want.typ, want.n)
			}
		}
		during := s.count(t, `SELECT count(*) FROM health_check_runs WHERE system_id = $1 AND "timestamp" BETWEEN $2 AND $3`,
			id, downAt.Add(5*time.Second), upAt.Add(-5*time.Second))
		if during < 25 {
			t.Errorf("system %s: %d runs stored from the 50 s in the middle of the outage (1 s checks), want ≥25", id, during)
		}
	}
	failedDB := s.count(t, `SELECT count(*) FROM health_check_runs WHERE configuration_id = $1 AND status = 'unhealthy' AND "timestamp" BETWEEN $2 AND $3`,
		dbCheck, downAt, upAt)
	if failedDB < 25 {
		t.Errorf("the database's TCP check recorded %d failing runs during the 60 s outage, want ≥25", failedDB)
	}
	// Runs go on being stored after the outage.
	after := runsOf(ids[1])
	waitFor(t, 30*time.Second, "runs after the outage", func() (bool, error) { return runsOf(ids[1]) >= after+2, nil })

	// The outage path (rounds of writes, timers, probes meanwhile) replays deterministically.
	replayer := sdkworker.NewWorkflowReplayer()
	replayer.RegisterWorkflowWithOptions(workflows.SystemHealth, workflow.RegisterOptions{Name: workflows.SystemHealthWorkflow})
	h := fetchHistory(t, workflows.SystemWorkflowID(ids[0]), "")
	if err := replayer.ReplayWorkflowHistory(devenv.SDKLogger(testutil.Logger(t)), h); err != nil {
		t.Errorf("replay the outage history (%d events): %v", len(h.Events), err)
	}
	recordHistory(t, h, "outage")
}

// tcpCheck creates a TCP configuration connecting to host:port every intervalSeconds and assigns
// it to system.
func (s *stack) tcpCheck(t *testing.T, systemID, name, host string, port, intervalSeconds int) string {
	t.Helper()
	ctx := context.Background()
	cfg, _ := json.Marshal(map[string]any{"host": host, "port": port, "timeout": 1000})
	c, err := s.store.CreateConfiguration(ctx, store.ConfigurationInput{Name: name, StrategyID: "tcp", Config: cfg, IntervalSeconds: intervalSeconds})
	if err != nil {
		t.Fatalf("create configuration: %v", err)
	}
	enabled := true
	if _, _, err := s.store.Associate(ctx, store.AssociateInput{SystemID: systemID, ConfigurationID: c.ID, Enabled: &enabled}); err != nil {
		if !errors.Is(err, store.ErrConflict) {
			t.Fatalf("associate: %v", err)
		}
	}
	return c.ID
}
