package server

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/checkflow/checkflow/internal/store"
	"github.com/checkflow/checkflow/server/apitest"
)

type runOut struct {
	Run struct {
		ID              string    `json:"id"`
		ConfigurationID string    `json:"configurationId"`
		Status          string    `json:"status"`
		Message         string    `json:"message"`
		ExecutedAt      time.Time `json:"executedAt"`
	} `json:"run"`
	View *struct {
		Status string `json:"status"`
	} `json:"view"`
	Events    []any `json:"events"`
	Duplicate bool  `json:"duplicate"`
}

// A repeated Idempotency-Key answers the same run with duplicate true, from PostgreSQL and
// without reaching the entity again; a key already used for another check of the system is a
// 409. Every answer matches the OpenAPI document.
func TestRunNowRepeatedKeyIsDuplicate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.entities.persist = e.store
	e.mustSystem("s")
	a, b := e.mustCheck("a"), e.mustCheck("b")
	e.mustAssign("s", a)
	e.mustAssign("s", b)
	hs := e.serve()
	api := apitest.New(t, hs.URL, hs.Client()).WithToken(e.tokens[tokManage])
	run := func(check, key string) (*apitest.Response, runOut) {
		t.Helper()
		res := api.Do("POST", "/api/v1/systems/s/checks/"+check+"/run", nil, "Idempotency-Key", key)
		var out runOut
		if res.Status == http.StatusOK {
			res.Decode(t, &out)
		}
		return res, out
	}
	res1, first := run(a, "k1")
	res2, second := run(a, "k1")
	if res1.Status != 200 || res2.Status != 200 {
		t.Fatalf("runs = %d %s / %d %s", res1.Status, res1.Body, res2.Status, res2.Body)
	}
	if first.Duplicate || !second.Duplicate {
		t.Fatalf("duplicate = %v then %v, want false then true", first.Duplicate, second.Duplicate)
	}
	if second.Run.ID != "s:run:k1" || second.Run.ID != first.Run.ID || !second.Run.ExecutedAt.Equal(first.Run.ExecutedAt) ||
		second.Run.Status != first.Run.Status || second.Run.Message != first.Run.Message || second.View == nil || len(second.Events) != 0 {
		t.Fatalf("second answer %+v differs from the first %+v", second, first)
	}
	if res2.Header.Get("Idempotency-Key") != "k1" {
		t.Errorf("Idempotency-Key header = %q", res2.Header.Get("Idempotency-Key"))
	}
	if n := e.entities.runCount(); n != 1 {
		t.Fatalf("the entity ran %d times, want 1", n)
	}
	res, _ := run(b, "k1")
	if p := res.Problem(t); res.Status != http.StatusConflict || !strings.Contains(p.Detail, "already used") {
		t.Fatalf("key reused for another check = %d %s", res.Status, res.Body)
	}
	if _, out := run(b, "k2"); out.Duplicate || out.Run.ConfigurationID != b {
		t.Fatalf("a new key = %+v", out)
	}
}

// Two identical requests in flight at once share one call to the entity: the first answers
// duplicate false, the second duplicate true with the same run.
func TestRunNowConcurrentIdenticalRequestsShareOneRun(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.entities.entered = make(chan string, 4)
	e.entities.gate = make(chan struct{})
	e.mustSystem("s")
	id := e.mustCheck("c")
	e.mustAssign("s", id)
	followed := make(chan string, 1)
	e.srv.runGate.onFollow = func(runID string) { followed <- runID }
	path := "/api/v1/systems/s/checks/" + id + "/run"
	type answer struct {
		res response
		out runResponse
	}
	answers := make(chan answer, 2)
	send := func() {
		res := e.do("POST", path, tokManage, nil, "Idempotency-Key", "same")
		var out runResponse
		_ = json.Unmarshal(res.body, &out) // a non-200 answer fails the checks below
		answers <- answer{res, out}
	}
	go send()
	if key := <-e.entities.entered; key != "same" {
		t.Fatalf("entity entered with %q", key)
	}
	go send()
	if runID := <-followed; runID != store.RunNowRunID("s", "same") {
		t.Fatalf("followed %q", runID)
	}
	close(e.entities.gate)
	first, second := <-answers, <-answers
	if first.res.status != 200 || second.res.status != 200 {
		t.Fatalf("answers %s / %s", first.res, second.res)
	}
	if first.out.Duplicate == second.out.Duplicate || first.out.Run.ID != second.out.Run.ID {
		t.Fatalf("want one duplicate and one original of the same run: %s / %s", first.res, second.res)
	}
	if n := e.entities.runCount(); n != 1 {
		t.Fatalf("the entity ran %d times, want 1", n)
	}
}

// The per-system gate admits at most its limit of runs at once: the next waits for a slot and
// gives up when its context ends; slots of other systems are independent and the gate forgets
// idle systems.
func TestRunGateBoundsRunsPerSystem(t *testing.T) {
	t.Parallel()
	g := newRunGate()
	g.perLimit = 2
	ctx := context.Background()
	r1, err := g.acquire(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	r2, err := g.acquire(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	other, err := g.acquire(ctx, "b")
	if err != nil {
		t.Fatalf("another system's slot: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := g.acquire(cctx, "a"); err == nil {
		t.Fatal("a third run of system a got a slot while two were in flight")
	}
	got := make(chan error, 1)
	go func() {
		r3, err := g.acquire(ctx, "a")
		if err == nil {
			r3()
		}
		got <- err
	}()
	r1()
	if err := <-got; err != nil {
		t.Fatalf("waiting run after a release: %v", err)
	}
	r2()
	other()
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.systems) != 0 {
		t.Fatalf("idle systems kept: %v", g.systems)
	}
}
