package health

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/checkflow/checkflow/internal/safetext"
)

func TestDefaultAndEffectiveQuorum(t *testing.T) {
	tests := []struct {
		quorum, locations, want int
	}{
		{0, 2, 2}, {0, 3, 2}, {0, 4, 3}, {0, 5, 3}, {0, 32, 17},
		{1, 3, 1}, {3, 3, 3}, {2, 2, 2},
		{-1, 3, 2}, {4, 3, 2}, // out of range: the default
	}
	for _, tt := range tests {
		if got := EffectiveQuorum(tt.quorum, tt.locations); got != tt.want {
			t.Errorf("EffectiveQuorum(%d, %d) = %d, want %d", tt.quorum, tt.locations, got, tt.want)
		}
	}
}

func TestQuorumProblem(t *testing.T) {
	tests := []struct {
		name              string
		quorum, locations int
		want              string // substring; "" = valid
	}{
		{"majority of three", 2, 3, ""},
		{"one of two", 1, 2, ""},
		{"all of three", 3, 3, ""},
		{"zero", 0, 3, "between 1 and 3"},
		{"negative", -2, 3, "between 1 and 3"},
		{"more than locations", 4, 3, "between 1 and 3"},
		{"one location", 1, 1, "at least 2 locations"},
		{"no location", 1, 0, "at least 2 locations"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := QuorumProblem(tt.quorum, tt.locations)
			if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
				t.Errorf("QuorumProblem(%d, %d) = %q, want %q", tt.quorum, tt.locations, got, tt.want)
			}
		})
	}
}

func TestDecideQuorum(t *testing.T) {
	ok := func(loc string, ms int) LocationOutcome {
		return LocationOutcome{Location: loc, Status: Healthy, LatencyMs: intp(ms), Message: "Completed in 1ms", Result: json.RawMessage(`{"status":"healthy"}`)}
	}
	bad := func(loc, msg string, ms int) LocationOutcome {
		return LocationOutcome{Location: loc, Status: Unhealthy, LatencyMs: intp(ms), Message: msg, Result: json.RawMessage(`{"status":"unhealthy"}`)}
	}
	deg := func(loc string, ms int) LocationOutcome {
		return LocationOutcome{Location: loc, Status: Degraded, LatencyMs: intp(ms), Message: "slow"}
	}
	gone := func(loc string) LocationOutcome {
		return LocationOutcome{Location: loc, Unavailable: true, Message: "no probe worker of location " + loc}
	}
	tests := []struct {
		name        string
		outcomes    []LocationOutcome
		quorum      int
		wantStatus  Status
		wantLatency *int
		wantMessage string
		wantCounts  QuorumCounts
	}{
		{
			name:     "all healthy",
			outcomes: []LocationOutcome{ok("a", 30), ok("b", 10), ok("c", 20)},
			quorum:   2, wantStatus: Healthy, wantLatency: intp(20),
			wantMessage: "0 of 3 locations failing (quorum 2)",
			wantCounts:  QuorumCounts{Required: 2, Locations: 3, Answered: 3, Unavailable: []string{}},
		},
		{
			name:     "one of three failing stays healthy",
			outcomes: []LocationOutcome{ok("a", 10), bad("b", "HTTP 500", 40), ok("c", 20)},
			quorum:   0, wantStatus: Healthy, wantLatency: intp(20),
			wantMessage: "1 of 3 locations failing (quorum 2): b: HTTP 500",
			wantCounts:  QuorumCounts{Required: 2, Locations: 3, Answered: 3, Failing: 1, Unavailable: []string{}},
		},
		{
			name:     "two of three failing fails",
			outcomes: []LocationOutcome{ok("a", 10), bad("b", "HTTP 500", 40), bad("c", "refused", 5)},
			quorum:   2, wantStatus: Unhealthy, wantLatency: intp(10),
			wantMessage: "2 of 3 locations failing (quorum 2): b: HTTP 500; c: refused",
			wantCounts:  QuorumCounts{Required: 2, Locations: 3, Answered: 3, Failing: 2, Unavailable: []string{}},
		},
		{
			name:     "quorum one: any failure fails",
			outcomes: []LocationOutcome{ok("a", 10), bad("b", "", 40), ok("c", 20)},
			quorum:   1, wantStatus: Unhealthy, wantLatency: intp(20),
			wantMessage: "1 of 3 locations failing (quorum 1): b",
			wantCounts:  QuorumCounts{Required: 1, Locations: 3, Answered: 3, Failing: 1, Unavailable: []string{}},
		},
		{
			name:     "quorum all: two failing of three passes",
			outcomes: []LocationOutcome{bad("a", "x", 1), bad("b", "y", 2), ok("c", 3)},
			quorum:   3, wantStatus: Healthy, wantLatency: intp(2),
			wantMessage: "2 of 3 locations failing (quorum 3): a: x; b: y",
			wantCounts:  QuorumCounts{Required: 3, Locations: 3, Answered: 3, Failing: 2, Unavailable: []string{}},
		},
		{
			name:     "unavailable location does not count as failing",
			outcomes: []LocationOutcome{ok("a", 10), bad("b", "HTTP 500", 40), gone("c")},
			quorum:   2, wantStatus: Healthy, wantLatency: intp(10),
			wantMessage: "1 of 3 locations failing (quorum 2): b: HTTP 500; unavailable: c",
			wantCounts:  QuorumCounts{Required: 2, Locations: 3, Answered: 2, Failing: 1, Unavailable: []string{"c"}},
		},
		{
			name:     "two failing and one unavailable fails",
			outcomes: []LocationOutcome{gone("a"), bad("b", "HTTP 500", 40), bad("c", "HTTP 503", 30)},
			quorum:   2, wantStatus: Unhealthy, wantLatency: intp(30),
			wantMessage: "2 of 3 locations failing (quorum 2): b: HTTP 500; c: HTTP 503; unavailable: a",
			wantCounts:  QuorumCounts{Required: 2, Locations: 3, Answered: 2, Failing: 2, Unavailable: []string{"a"}},
		},
		{
			name:     "quorum not reachable: decided by the one that answered",
			outcomes: []LocationOutcome{bad("a", "HTTP 500", 40), gone("b"), gone("c")},
			quorum:   2, wantStatus: Healthy, wantLatency: intp(40),
			wantMessage: "1 of 3 locations failing (quorum 2): a: HTTP 500; unavailable: b, c (quorum not reachable: 1 answered)",
			wantCounts:  QuorumCounts{Required: 2, Locations: 3, Answered: 1, Failing: 1, Unavailable: []string{"b", "c"}},
		},
		{
			name:     "no location answered fails naming them",
			outcomes: []LocationOutcome{gone("a"), gone("b")},
			quorum:   0, wantStatus: Unhealthy, wantLatency: nil,
			wantMessage: "no location answered (quorum 2 of 2): a, b unavailable",
			wantCounts:  QuorumCounts{Required: 2, Locations: 2, Answered: 0, Unavailable: []string{"a", "b"}},
		},
		{
			name:     "degraded quorum",
			outcomes: []LocationOutcome{deg("a", 100), bad("b", "down", 5), ok("c", 7)},
			quorum:   2, wantStatus: Degraded, wantLatency: intp(7),
			wantMessage: "1 of 3 locations failing (quorum 2): b: down; degraded: a: slow",
			wantCounts:  QuorumCounts{Required: 2, Locations: 3, Answered: 3, Failing: 1, Degraded: 1, Unavailable: []string{}},
		},
		{
			name:     "even count: lower median latency",
			outcomes: []LocationOutcome{ok("a", 40), ok("b", 10), ok("c", 30), ok("d", 20)},
			quorum:   0, wantStatus: Healthy, wantLatency: intp(20),
			wantMessage: "0 of 4 locations failing (quorum 3)",
			wantCounts:  QuorumCounts{Required: 3, Locations: 4, Answered: 4, Unavailable: []string{}},
		},
		{
			name:     "no latencies",
			outcomes: []LocationOutcome{{Location: "a", Status: Healthy}, {Location: "b", Status: Healthy}},
			quorum:   0, wantStatus: Healthy, wantLatency: nil,
			wantMessage: "0 of 2 locations failing (quorum 2)",
			wantCounts:  QuorumCounts{Required: 2, Locations: 2, Answered: 2, Unavailable: []string{}},
		},
		{
			name:     "invalid status counts as failing",
			outcomes: []LocationOutcome{{Location: "a", Status: "weird", Message: "?"}, {Location: "b", Status: "", Message: "!"}},
			quorum:   0, wantStatus: Unhealthy, wantLatency: nil,
			wantMessage: "2 of 2 locations failing (quorum 2): a: ?; b: !",
			wantCounts:  QuorumCounts{Required: 2, Locations: 2, Answered: 2, Failing: 2, Unavailable: []string{}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run := DecideQuorum(tt.outcomes, tt.quorum)
			if run.Status != tt.wantStatus {
				t.Errorf("status = %s, want %s", run.Status, tt.wantStatus)
			}
			if !ptrEq(run.LatencyMs, tt.wantLatency) {
				t.Errorf("latency = %s, want %s", ptrStr(run.LatencyMs), ptrStr(tt.wantLatency))
			}
			if run.Message != tt.wantMessage {
				t.Errorf("message = %q, want %q", run.Message, tt.wantMessage)
			}
			var doc QuorumDocument
			if err := json.Unmarshal(run.Result, &doc); err != nil {
				t.Fatalf("result %s: %v", run.Result, err)
			}
			if doc.Status != run.Status || doc.Message != run.Message || !ptrEq(doc.LatencyMs, run.LatencyMs) {
				t.Errorf("document head = %s/%q/%s, want the run's", doc.Status, doc.Message, ptrStr(doc.LatencyMs))
			}
			if !reflect.DeepEqual(doc.Quorum, tt.wantCounts) {
				t.Errorf("counts = %+v, want %+v", doc.Quorum, tt.wantCounts)
			}
			if len(doc.Locations) != len(tt.outcomes) {
				t.Fatalf("locations = %v, want one entry per location", doc.Locations)
			}
			for _, o := range tt.outcomes {
				got := doc.Locations[o.Location]
				want := string(o.Status)
				if o.Unavailable {
					want = LocationUnavailable
				} else if !o.Status.Valid() {
					want = string(Unhealthy)
				}
				if got.Status != want || got.Message != o.Message {
					t.Errorf("location %s = %+v, want status %s message %q", o.Location, got, want, o.Message)
				}
				if !o.Unavailable && !ptrEq(got.LatencyMs, o.LatencyMs) {
					t.Errorf("location %s latency = %s, want %s", o.Location, ptrStr(got.LatencyMs), ptrStr(o.LatencyMs))
				}
				if len(o.Result) > 0 && !o.Unavailable && string(got.Result) != string(o.Result) {
					t.Errorf("location %s result = %s, want %s", o.Location, got.Result, o.Result)
				}
			}
		})
	}
}

// The document of a run stays within the cap of any run's document, however large the
// locations' own documents are, and keeps the decision.
func TestDecideQuorumCapsTheDocument(t *testing.T) {
	big, _ := json.Marshal(map[string]string{"body": strings.Repeat("x", safetext.MaxResultBytes-100)})
	var outcomes []LocationOutcome
	for _, loc := range []string{"a", "b", "c"} {
		outcomes = append(outcomes, LocationOutcome{Location: loc, Status: Unhealthy, Message: "down", Result: big})
	}
	run := DecideQuorum(outcomes, 2)
	if len(run.Result) > safetext.MaxResultBytes {
		t.Fatalf("document is %d bytes, cap %d", len(run.Result), safetext.MaxResultBytes)
	}
	var doc QuorumDocument
	if err := json.Unmarshal(run.Result, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Status != Unhealthy || doc.Quorum.Failing != 3 || doc.Locations["b"].Status != string(Unhealthy) {
		t.Errorf("capped document lost the decision: %+v", doc)
	}
}

// The same outcomes give byte-identical documents (the workflow calls DecideQuorum on replay).
func TestDecideQuorumIsDeterministic(t *testing.T) {
	outcomes := []LocationOutcome{
		{Location: "zz", Status: Healthy, LatencyMs: intp(3)},
		{Location: "aa", Unavailable: true, Message: "gone"},
		{Location: "mm", Status: Unhealthy, LatencyMs: intp(9), Message: "down", Result: json.RawMessage(`{"b":1,"a":2}`)},
	}
	first := DecideQuorum(outcomes, 0)
	for range 20 {
		if got := DecideQuorum(outcomes, 0); string(got.Result) != string(first.Result) || got.Message != first.Message {
			t.Fatalf("decision differs: %s vs %s", got.Result, first.Result)
		}
	}
}
