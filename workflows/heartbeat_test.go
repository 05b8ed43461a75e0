package workflows

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/checkflow/checkflow/internal/health"
	"github.com/checkflow/checkflow/internal/heartbeat"
)

func heartbeatCheck(id, config string) LoadedCheck {
	return LoadedCheck{Assignment: Assignment{ConfigurationID: id, Name: "job " + id[len(id)-1:], StrategyID: heartbeat.StrategyID,
		Config: []byte(config), IntervalSeconds: 60}}
}

func ping(id string, kind heartbeat.Kind, status health.Status) CheckResult {
	return CheckResult{ID: "ping:" + id, ConfigurationID: cfgA, Status: status, Ping: &heartbeat.Ping{Kind: kind}}
}

// persistedRuns lists the stored runs as "<offset from t0> <status> <latency>".
func (f *fake) persistedRuns() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, p := range f.persisted {
		for _, r := range p.Runs {
			s := fmt.Sprintf("%s %s", r.ExecutedAt.Sub(t0), r.Status)
			if r.LatencyMs != nil {
				s += fmt.Sprintf(" %dms", *r.LatencyMs)
			}
			out = append(out, s)
		}
	}
	return out
}

func (f *fake) runMessages() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, p := range f.persisted {
		for _, r := range p.Runs {
			out = append(out, r.Message)
		}
	}
	return out
}

func TestHeartbeatDeadlines(t *testing.T) {
	for _, tc := range []struct {
		name   string
		config string
		// pings at offsets from the start
		pings []struct {
			at   time.Duration
			kind heartbeat.Kind
		}
		end  time.Duration
		want []string
		// wantMessage is a part of the last run's message.
		wantMessage string
	}{
		{
			name: "pings keep it healthy, a missing one fails it at period + grace and every period after",
			// period 10 s, grace 5 s.
			config: `{"periodSeconds":10,"graceSeconds":5}`,
			pings: []struct {
				at   time.Duration
				kind heartbeat.Kind
			}{{2 * time.Second, heartbeat.Success}, {12 * time.Second, heartbeat.Success}, {22 * time.Second, heartbeat.Success}},
			end:         60 * time.Second,
			want:        []string{"2s healthy", "12s healthy", "22s healthy", "37s unhealthy", "47s unhealthy", "57s unhealthy"},
			wantMessage: "no ping since the one expected by",
		},
		{
			name:   "no ping at all: the first failure one period and grace after the start",
			config: `{"periodSeconds":10,"graceSeconds":5}`,
			end:    30 * time.Second,
			want:   []string{"15s unhealthy", "25s unhealthy"},
		},
		{
			name:   "a start then a success measures the job",
			config: `{"periodSeconds":60,"graceSeconds":30}`,
			pings: []struct {
				at   time.Duration
				kind heartbeat.Kind
			}{{5 * time.Second, heartbeat.Start}, {17 * time.Second, heartbeat.Success}},
			end:  70 * time.Second,
			want: []string{"17s healthy 12000ms"},
		},
		{
			name:   "a start without a success within the grace fails",
			config: `{"periodSeconds":60,"graceSeconds":30}`,
			pings: []struct {
				at   time.Duration
				kind heartbeat.Kind
			}{{5 * time.Second, heartbeat.Start}},
			end:         40 * time.Second,
			want:        []string{"35s unhealthy"},
			wantMessage: "did not report success within the grace time",
		},
		{
			name:   "fail fails at once and restarts the deadline",
			config: `{"periodSeconds":60,"graceSeconds":30}`,
			pings: []struct {
				at   time.Duration
				kind heartbeat.Kind
			}{{5 * time.Second, heartbeat.Fail}},
			end:  90 * time.Second,
			want: []string{"5s unhealthy"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(heartbeatCheck(cfgA, tc.config))
			env := newEnv(t, f)
			for i, p := range tc.pings {
				st := health.Healthy
				if p.kind == heartbeat.Fail {
					st = health.Unhealthy
				}
				r := ping(fmt.Sprint(i), p.kind, st)
				env.RegisterDelayedCallback(func() {
					r.ExecutedAt = env.Now()
					env.SignalWorkflow(SignalCheckResults, []CheckResult{r})
				}, p.at)
			}
			endAt(env, f, tc.end)
			// Probe sessions on (the default): a heartbeat check never goes to one (the test
			// registers no session activity, so one would fail the workflow).
			env.ExecuteWorkflow(SystemHealthWorkflow, SystemHealthInput{SystemID: "sys-1"})
			requireCompleted(t, env)
			if got := f.persistedRuns(); !slices.Equal(got, tc.want) {
				t.Errorf("runs = %v, want %v", got, tc.want)
			}
			if n := f.probeCount(cfgA); n != 0 {
				t.Errorf("a heartbeat check was probed %d times", n)
			}
			if msgs := f.runMessages(); tc.wantMessage != "" && (len(msgs) == 0 || !strings.Contains(msgs[len(msgs)-1], tc.wantMessage)) {
				t.Errorf("messages %q, want the last to say %q", msgs, tc.wantMessage)
			}
		})
	}
}

// Thresholds apply to missed pings as to any failed run: two misses degrade, five make it
// unhealthy (the default consecutive thresholds), and a ping recovers it.
func TestHeartbeatThresholds(t *testing.T) {
	f := newFake(heartbeatCheck(cfgA, `{"periodSeconds":10,"graceSeconds":0}`))
	env := newEnv(t, f)
	env.RegisterDelayedCallback(func() {
		r := ping("late", heartbeat.Success, health.Healthy)
		r.ExecutedAt = env.Now()
		env.SignalWorkflow(SignalCheckResults, []CheckResult{r})
	}, 55*time.Second)
	endAt(env, f, 58*time.Second)
	env.ExecuteWorkflow(SystemHealthWorkflow, SystemHealthInput{SystemID: "sys-1"})
	requireCompleted(t, env)
	// Which run moved the system: "<run offset> <from>→<to>".
	var got []string
	f.mu.Lock()
	for _, p := range f.persisted {
		if p.Transition != nil && len(p.Runs) > 0 {
			got = append(got, fmt.Sprintf("%s %s→%s", p.Runs[len(p.Runs)-1].ExecutedAt.Sub(t0), *p.Transition.From, p.Transition.To))
		}
	}
	f.mu.Unlock()
	if want := []string{"20s healthy→degraded", "50s degraded→unhealthy", "55s unhealthy→healthy"}; !slices.Equal(got, want) {
		t.Errorf("transitions %v, want %v", got, want)
	}
	if runs := f.persistedRuns(); len(runs) != 6 || runs[4] != "50s unhealthy" || runs[5] != "55s healthy" {
		t.Errorf("runs = %v, want five misses (10 s … 50 s) and the ping", runs)
	}
}

// A maintenance window (the edges reload the entity) stops missed pings from failing the check,
// and its end gives the job one whole period and grace before the next failure.
func TestHeartbeatMaintenance(t *testing.T) {
	f := newFake(heartbeatCheck(cfgA, `{"periodSeconds":10,"graceSeconds":5}`))
	env := newEnv(t, f)
	setMaintenance := func(in bool) func() {
		return func() {
			f.mu.Lock()
			f.system.InMaintenance = in
			f.mu.Unlock()
			env.SignalWorkflow(SignalConfigChanged, nil)
		}
	}
	env.RegisterDelayedCallback(setMaintenance(true), 5*time.Second)
	env.RegisterDelayedCallback(setMaintenance(false), 40*time.Second)
	endAt(env, f, 70*time.Second)
	env.ExecuteWorkflow(SystemHealthWorkflow, SystemHealthInput{SystemID: "sys-1"})
	requireCompleted(t, env)
	// Without the window: failures at 15 s, 25 s, 35 s, …; with it, the first comes at the
	// window's end (40 s) + 10 s + 5 s.
	if got, want := f.persistedRuns(), []string{"55s unhealthy", "1m5s unhealthy"}; !slices.Equal(got, want) {
		t.Errorf("runs = %v, want %v", got, want)
	}
}

// A new lifetime of the entity (a restart from the database) continues from the last ping: a
// check that pinged 5 s before fails no earlier than its deadline, and one whose deadline passed
// while no entity ran gets the grace time before its first failure.
func TestHeartbeatAfterRestart(t *testing.T) {
	for _, tc := range []struct {
		name     string
		lastPing time.Duration // before the start
		want     []string
	}{
		{"pinged 5 s before", 5 * time.Second, []string{"10s unhealthy", "20s unhealthy"}},
		{"deadline passed while down", time.Hour, []string{"5s unhealthy", "15s unhealthy", "25s unhealthy"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := heartbeatCheck(cfgA, `{"periodSeconds":10,"graceSeconds":5}`)
			last := t0.Add(-tc.lastPing)
			c.LastRunAt = &last
			c.Recent = []health.Status{health.Healthy}
			f := newFake(c)
			env := newEnv(t, f)
			endAt(env, f, 28*time.Second)
			env.ExecuteWorkflow(SystemHealthWorkflow, SystemHealthInput{SystemID: "sys-1"})
			requireCompleted(t, env)
			if got := f.persistedRuns(); !slices.Equal(got, tc.want) {
				t.Errorf("runs = %v, want %v", got, tc.want)
			}
		})
	}
}
