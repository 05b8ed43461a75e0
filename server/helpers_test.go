package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/checkflow/checkflow/internal/health"
	"github.com/checkflow/checkflow/internal/secretbox"
	"github.com/checkflow/checkflow/internal/store"
	"github.com/checkflow/checkflow/internal/testutil"
	"github.com/checkflow/checkflow/workflows"
)

// t0 is the tests' "now".
var t0 = time.Date(2026, 5, 30, 12, 0, 0, 0, time.UTC)

// fakeEntities records what the API asks of the entities; RunCheck answers like an entity that
// ran the check successfully. Server tests need no Temporal: reads never touch it and writes
// only signal.
type fakeEntities struct {
	mu      sync.Mutex
	changed []string
	// maintenance lists the maintenance windows signalled, in order.
	maintenance []string
	// automations lists the automations signalled, in order.
	automations []string
	runs        []string
	fail        bool
	// persist, when set, stores each run like the entity does (so that a repeated request
	// finds it in PostgreSQL).
	persist *store.Store
	seq     int64
	// entered, when set, receives the update id of each run as it reaches the entity; gate,
	// when set, holds every run until it is closed.
	entered chan string
	gate    chan struct{}
}

func (f *fakeEntities) ConfigChanged(_ context.Context, systemID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail {
		return fmt.Errorf("temporal is down")
	}
	f.changed = append(f.changed, systemID)
	return nil
}

func (f *fakeEntities) MaintenanceChanged(_ context.Context, windowID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail {
		return fmt.Errorf("temporal is down")
	}
	f.maintenance = append(f.maintenance, windowID)
	return nil
}

func (f *fakeEntities) SendResults(context.Context, string, []workflows.CheckResult) error {
	return errors.New("fake entities take no pings")
}

func (f *fakeEntities) AutomationChanged(_ context.Context, automationID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail {
		return fmt.Errorf("temporal is down")
	}
	f.automations = append(f.automations, automationID)
	return nil
}

// automationsSignalled lists the automations signalled so far.
func (f *fakeEntities) automationsSignalled() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.automations...)
}

// maintenanceSignalled lists the maintenance windows signalled so far.
func (f *fakeEntities) maintenanceSignalled() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.maintenance...)
}

func (f *fakeEntities) setFail(fail bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail = fail
}

func (f *fakeEntities) RunCheck(ctx context.Context, systemID, updateID string, req workflows.RunCheckRequest) (workflows.RunCheckResponse, error) {
	if f.entered != nil {
		f.entered <- updateID
	}
	if f.gate != nil {
		select {
		case <-f.gate:
		case <-ctx.Done():
			return workflows.RunCheckResponse{}, ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.runs = append(f.runs, systemID+"/"+req.ConfigurationID+"/"+updateID)
	lat := 12
	resp := workflows.RunCheckResponse{
		Run: workflows.CheckResult{ID: store.RunNowRunID(systemID, updateID), ConfigurationID: req.ConfigurationID,
			Status: health.Healthy, LatencyMs: &lat, Message: "Completed in 12ms", Result: json.RawMessage(`{"status":"healthy","message":"Completed in 12ms"}`), ExecutedAt: t0},
		View: &health.View{Status: health.Healthy, HealthyChecks: 1, TotalChecks: 1},
	}
	if f.persist != nil {
		f.seq++
		r := resp.Run
		if _, err := f.persist.Persist(ctx, store.PersistInput{SystemID: systemID, Seq: f.seq, At: t0, View: resp.View,
			Runs:   []store.RunRecord{{ID: r.ID, ConfigurationID: r.ConfigurationID, Status: r.Status, LatencyMs: r.LatencyMs, Result: r.Result, Timestamp: r.ExecutedAt}},
			Checks: []store.CheckState{{ConfigurationID: r.ConfigurationID, Status: r.Status, RunsConsidered: 1}},
		}); err != nil {
			return workflows.RunCheckResponse{}, err
		}
	}
	return resp, nil
}

func (f *fakeEntities) runCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.runs)
}

func (f *fakeEntities) signalled() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.changed...)
}

// Token names used by the tests.
const (
	tokNone    = ""
	tokStatus  = "status"
	tokRead    = "read"
	tokManage  = "manage"
	tokDetails = "details"
	tokAdmin   = "admin"
)

// env is one test's API on its own database.
type env struct {
	t        testing.TB
	pool     *pgxpool.Pool
	store    *store.Store
	srv      *Server
	entities *fakeEntities
	tokens   map[string]string
	// box is the server's secret box.
	box *secretbox.Box
}

func newEnv(t testing.TB, opts ...Option) *env {
	t.Helper()
	pool := testutil.NewPool(t)
	e := &env{t: t, pool: pool, store: store.New(pool), entities: &fakeEntities{}, tokens: map[string]string{}, box: testutil.SecretBox(t)}
	opts = append([]Option{WithClock(func() time.Time { return t0 }), WithStream(fastStream())}, opts...)
	e.srv = New(Config{Pool: pool, Entities: e.entities, Version: "test", SecretBox: e.box}, opts...)
	for name, scopes := range map[string][]string{
		tokStatus: {ScopeStatusRead}, tokRead: {ScopeConfigRead}, tokManage: {ScopeConfigManage},
		tokDetails: {ScopeDetailsRead}, tokAdmin: {ScopeAdmin},
	} {
		secret, _, err := e.store.CreateToken(context.Background(), "test "+name, scopes)
		if err != nil {
			t.Fatal(err)
		}
		e.tokens[name] = secret
	}
	return e
}

// serve starts a real HTTP server on the env's handler.
func (e *env) serve() *httptest.Server {
	hs := httptest.NewServer(e.srv.Handler())
	e.t.Cleanup(hs.Close)
	return hs
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) String() string { return fmt.Sprintf("%d %s", r.status, r.body) }

func (r response) problem(t testing.TB) Problem {
	t.Helper()
	var p Problem
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatalf("not a problem: %s", r.body)
	}
	return p
}

func (r response) decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// do serves one request in-process; body is JSON-marshalled unless it is a string or []byte.
func (e *env) do(method, path, token string, body any, headers ...string) response {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req := httptest.NewRequest(method, path, rd)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		secret, ok := e.tokens[token]
		if !ok {
			secret = token
		}
		req.Header.Set("Authorization", "Bearer "+secret)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	e.srv.Handler().ServeHTTP(rec, req)
	return response{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
}

// mustSystem creates a system through the store.
func (e *env) mustSystem(id string) {
	e.t.Helper()
	if _, err := e.store.CreateSystem(context.Background(), store.SystemInput{ID: id, Name: "System " + id}); err != nil {
		e.t.Fatal(err)
	}
}

// mustCheck creates an http check through the store and returns its id.
func (e *env) mustCheck(name string) string {
	e.t.Helper()
	c, err := e.store.CreateConfiguration(context.Background(), store.ConfigurationInput{
		Name: name, StrategyID: "http", Config: json.RawMessage(`{"timeout":2000}`),
		Collectors:      json.RawMessage(`[{"id":"req","collectorId":"request","config":{"url":"http://127.0.0.1:1/","method":"GET"}}]`),
		IntervalSeconds: 60,
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return c.ID
}

func (e *env) mustAssign(systemID, checkID string) {
	e.t.Helper()
	on := true
	if _, _, err := e.store.Associate(context.Background(), store.AssociateInput{SystemID: systemID, ConfigurationID: checkID, Enabled: &on}); err != nil {
		e.t.Fatal(err)
	}
}

// mustRun persists one run as the entity would and returns its id.
func (e *env) mustRun(systemID, checkID string, seq int64, status health.Status) string {
	e.t.Helper()
	lat := 10
	id := store.ProbeRunID(systemID, seq)
	view := &health.View{Status: status, HealthyChecks: 0, TotalChecks: 1}
	if status == health.Healthy {
		view.HealthyChecks = 1
	}
	if _, err := e.store.Persist(context.Background(), store.PersistInput{
		SystemID: systemID, Seq: seq, At: t0,
		Runs:   []store.RunRecord{{ID: id, ConfigurationID: checkID, Status: status, LatencyMs: &lat, Result: json.RawMessage(`{"status":"` + string(status) + `"}`), Timestamp: t0}},
		Checks: []store.CheckState{{ConfigurationID: checkID, Status: status, RunsConsidered: 1}},
		View:   view,
		Events: []store.EventRecord{{Type: "healthcheck.check.completed", Payload: map[string]any{"systemId": systemID}}},
	}); err != nil {
		e.t.Fatal(err)
	}
	return id
}

// mustChannel creates a webhook channel through the store whose URL nothing listens on, and
// returns its id.
func (e *env) mustChannel(name string) string {
	e.t.Helper()
	ch, err := e.store.CreateChannel(context.Background(), store.ChannelInput{Name: name, Type: "webhook",
		Config: json.RawMessage(`{"url":"http://127.0.0.1:9/hook"}`), Enabled: true})
	if err != nil {
		e.t.Fatal(err)
	}
	return ch.ID
}

// mustMaintenance creates an active maintenance window (t0 − 1h … t0 + 1h) through the store
// and returns its id.
func (e *env) mustMaintenance(systemIDs ...string) string {
	e.t.Helper()
	w, err := e.store.CreateMaintenance(context.Background(), store.MaintenanceInput{Title: "maintenance", SystemIDs: systemIDs,
		StartsAt: t0.Add(-time.Hour), EndsAt: t0.Add(time.Hour)})
	if err != nil {
		e.t.Fatal(err)
	}
	return w.ID
}
