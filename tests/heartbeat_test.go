package tests

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/checkflow/checkflow/internal/devenv"
	"github.com/checkflow/checkflow/internal/testutil"
	"github.com/checkflow/checkflow/workflows"
)

type apiRunItem struct {
	ID        string          `json:"id"`
	Status    string          `json:"status"`
	Timestamp time.Time       `json:"timestamp"`
	LatencyMs *int            `json:"latencyMs"`
	Result    json.RawMessage `json:"result"`
}

// TestHeartbeatEndToEnd (issue 16, acceptance 4): a heartbeat check over the real stack. Pings
// every 2 s keep it healthy; when they stop, the check fails at period + grace after the last
// ping (± 1 s), from the entity's own timer; /fail fails it at once; an exit code is a success
// or a failure; a ping counts for every system the check is enabled in and its body is the
// run's output; a wrong token is a 404 and changes nothing.
func TestHeartbeatEndToEnd(t *testing.T) {
	t.Parallel()
	a := newAPIStack(t)
	api := a.admin
	sysA, sysB := apiSystemID(t, "cron-a"), apiSystemID(t, "cron-b")
	for _, sys := range []string{sysA, sysB} {
		expectStatus(t, api.Do("POST", "/api/v1/systems", map[string]any{"id": sys, "name": sys}), 201)
	}
	var chk struct {
		ID        string `json:"id"`
		PingToken string `json:"pingToken"`
		PingURL   string `json:"pingUrl"`
	}
	expectStatus(t, api.Do("POST", "/api/v1/checks", map[string]any{
		"name": "nightly backup", "strategyId": "heartbeat", "intervalSeconds": 60,
		"config": map[string]any{"periodSeconds": 2, "graceSeconds": 1},
	}), 201).Decode(t, &chk)
	if len(chk.PingToken) < 40 || chk.PingURL != a.http.URL+"/api/v1/ping/"+chk.PingToken {
		t.Fatalf("ping token %q, url %q", chk.PingToken, chk.PingURL)
	}
	// The token is stored only hashed and sealed.
	if n := a.count(t, `SELECT count(*) FROM health_check_configurations WHERE ping_token_sealed LIKE '%' || $1 || '%' OR config::text LIKE '%' || $1 || '%'`, chk.PingToken); n != 0 {
		t.Fatal("the ping token is stored in plain text")
	}
	var got struct {
		PingToken string `json:"pingToken"`
	}
	expectStatus(t, api.Do("GET", "/api/v1/checks/"+chk.ID, nil), 200).Decode(t, &got)
	if got.PingToken != chk.PingToken {
		t.Fatalf("GET shows ping token %q, created with %q", got.PingToken, chk.PingToken)
	}
	for _, sys := range []string{sysA, sysB} {
		expectStatus(t, api.Do("PUT", "/api/v1/systems/"+sys+"/checks/"+chk.ID, map[string]any{"enabled": true}), 201)
	}
	runs := func(sys string) []apiRunItem {
		var page struct {
			Runs []apiRunItem `json:"runs"`
		}
		expectStatus(t, api.Do("GET", "/api/v1/runs/detailed?systemId="+sys+"&checkId="+chk.ID+"&limit=100", nil), 200).Decode(t, &page)
		slices.Reverse(page.Runs) // oldest first
		return page.Runs
	}
	pingPath := "/api/v1/ping/" + chk.PingToken
	pingOK := func(suffix string, wantKind string) {
		t.Helper()
		var acc struct {
			Kind    string `json:"kind"`
			Systems int    `json:"systems"`
		}
		expectStatus(t, a.anon.Do("POST", pingPath+suffix, nil), 200).Decode(t, &acc)
		if acc.Kind != wantKind || acc.Systems != 2 {
			t.Fatalf("ping%s answered %+v", suffix, acc)
		}
	}

	// A wrong token (well-formed or not) and an unknown action: 404, nothing stored.
	before := a.count(t, `SELECT count(*) FROM health_check_runs WHERE configuration_id = $1`, chk.ID)
	wrong := strings.Repeat("A", len(chk.PingToken))
	for _, p := range []string{"/api/v1/ping/" + wrong, "/api/v1/ping/short", "/api/v1/ping/" + wrong + "/fail", pingPath + "/restart", pingPath + "/256"} {
		expectStatus(t, a.anon.Do("POST", p, nil), 404)
	}
	// Run-now has nothing to run.
	expectStatus(t, api.Do("POST", "/api/v1/systems/"+sysA+"/checks/"+chk.ID+"/run", nil), 409)
	if n := a.count(t, `SELECT count(*) FROM health_check_runs WHERE configuration_id = $1`, chk.ID); n != before {
		t.Fatalf("%d runs after wrong pings and a refused run-now, want %d", n, before)
	}

	// Pings every 2 s (the period) keep it healthy, in both systems.
	ctx, stop := context.WithCancel(context.Background())
	pinged := make(chan struct{})
	go func() {
		defer close(pinged)
		tick := time.NewTicker(2 * time.Second)
		defer tick.Stop()
		for {
			req, _ := http.NewRequestWithContext(ctx, "GET", a.http.URL+pingPath, nil)
			if resp, err := a.http.Client().Do(req); err == nil {
				_ = resp.Body.Close()
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	waitFor(t, 30*time.Second, "four pings stored in both systems", func() (bool, error) {
		return len(runs(sysA)) >= 4 && len(runs(sysB)) >= 4, nil
	})
	stop()
	<-pinged
	if n := a.count(t, `SELECT count(*) FROM health_check_runs WHERE configuration_id = $1`, chk.ID); n < before+8 {
		t.Fatalf("%d runs", n)
	}
	for _, sys := range []string{sysA, sysB} {
		for _, r := range runs(sys) {
			if r.Status != "healthy" {
				t.Fatalf("%s: a run while pinging every period is %s", sys, r.Status)
			}
		}
		var h apiHealth
		expectStatus(t, a.anon.Do("GET", "/api/v1/systems/"+sys+"/health", nil), 200).Decode(t, &h)
		if h.Status != "healthy" {
			t.Fatalf("%s health %+v", sys, h)
		}
	}

	// Pings stop: a failed run at period + grace (3 s) after the last ping, ± 1 s.
	var missed apiRunItem
	var lastPing time.Time
	waitFor(t, 30*time.Second, "a missed-ping failure", func() (bool, error) {
		for _, r := range runs(sysA) {
			if r.Status == "healthy" {
				lastPing = r.Timestamp
			} else {
				missed = r
				return true, nil
			}
		}
		return false, nil
	})
	if gap := missed.Timestamp.Sub(lastPing); gap < 2*time.Second || gap > 4*time.Second {
		t.Fatalf("the check failed %v after the last ping, want 3 s ± 1 s", gap)
	}
	if !strings.Contains(string(missed.Result), `"missed":true`) {
		t.Errorf("missed run result %s", missed.Result)
	}

	// A success with a body, then /fail and exit codes.
	resp, err := a.http.Client().Post(a.http.URL+pingPath+"/0", "text/plain", strings.NewReader("backup: 42 files\x00 done"))
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("ping with body: %d", resp.StatusCode)
	}
	pingOK("/fail", "fail")
	pingOK("/3", "fail")
	// A start is no run; the success after it carries the job's duration as its latency.
	pingOK("/start", "start")
	pingOK("", "success")
	waitFor(t, 15*time.Second, "the body, /fail and exit 3 stored", func() (bool, error) {
		rs := runs(sysB)
		var tail []string
		for _, r := range rs {
			var res map[string]any
			_ = json.Unmarshal(r.Result, &res)
			switch {
			case res["exitCode"] == 0.0 && strings.HasPrefix(res["body"].(string), "backup: 42 files"):
				tail = append(tail, "body")
			case res["ping"] == "fail" && res["exitCode"] == nil:
				tail = append(tail, "fail:"+r.Status)
			case res["exitCode"] == 3.0:
				tail = append(tail, "exit3:"+r.Status)
			case res["ping"] == "success" && r.LatencyMs != nil:
				tail = append(tail, "timed:"+r.Status)
			case res["ping"] == "start":
				tail = append(tail, "start")
			}
		}
		return slices.Equal(tail, []string{"body", "fail:unhealthy", "exit3:unhealthy", "timed:healthy"}), nil
	})

	// The heartbeat path (ping batches, missed deadlines, starts) replays deterministically.
	replayer := sdkworker.NewWorkflowReplayer()
	replayer.RegisterWorkflowWithOptions(workflows.SystemHealth, workflow.RegisterOptions{Name: workflows.SystemHealthWorkflow})
	hist := fetchHistory(t, workflows.SystemWorkflowID(sysB), "")
	if err := replayer.ReplayWorkflowHistory(devenv.SDKLogger(testutil.Logger(t)), hist); err != nil {
		t.Errorf("replay the heartbeat history (%d events): %v", len(hist.Events), err)
	}
	recordHistory(t, hist, "running")
}

// TestHeartbeatMaintenance: no ping during a maintenance window fails a heartbeat check (the
// window's edges reload the entity), and the window's end gives the job period + grace again.
func TestHeartbeatMaintenance(t *testing.T) {
	t.Parallel()
	a := newAPIStack(t)
	api := a.admin
	sys := apiSystemID(t, "maint-cron")
	expectStatus(t, api.Do("POST", "/api/v1/systems", map[string]any{"id": sys, "name": sys}), 201)
	var chk struct {
		ID string `json:"id"`
	}
	expectStatus(t, api.Do("POST", "/api/v1/checks", map[string]any{
		"name": "hourly sync", "strategyId": "heartbeat", "intervalSeconds": 60,
		"config": map[string]any{"periodSeconds": 2, "graceSeconds": 1},
	}), 201).Decode(t, &chk)
	expectStatus(t, api.Do("PUT", "/api/v1/systems/"+sys+"/checks/"+chk.ID, map[string]any{"enabled": true}), 201)
	// The window starts right away and lasts 6 s — twice the time a missing ping needs to fail.
	start := time.Now().Add(300 * time.Millisecond)
	m := a.createMaintenance(t, []string{sys}, start, start.Add(6*time.Second))
	waitFor(t, 20*time.Second, "the window to end", func() (bool, error) {
		return a.maintenance(t, m.ID).EndedAt != nil, nil
	})
	ended := *a.maintenance(t, m.ID).EndedAt
	var first time.Time
	waitFor(t, 20*time.Second, "the first missed-ping failure after the window", func() (bool, error) {
		var page struct {
			Runs []apiRunItem `json:"runs"`
		}
		expectStatus(t, api.Do("GET", "/api/v1/runs?systemId="+sys+"&checkId="+chk.ID, nil), 200).Decode(t, &page)
		for _, r := range page.Runs {
			if first.IsZero() || r.Timestamp.Before(first) {
				first = r.Timestamp
			}
		}
		return !first.IsZero(), nil
	})
	// Without the window the first failure would have come 3 s after the check was assigned.
	if gap := first.Sub(ended); gap < 2*time.Second || gap > 4*time.Second {
		t.Fatalf("first failure %v after the window ended (at %v), want 3 s ± 1 s", gap, ended)
	}
}
