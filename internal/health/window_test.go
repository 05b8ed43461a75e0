package health

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// gateSim records occurrences per partition key and applies GateDecision,
// the way the automation engine's window log does (filter → window gate).
type gateSim struct {
	w    WindowConfig
	log  map[string][]time.Time
	runs int
}

func newGateSim(w WindowConfig) *gateSim { return &gateSim{w: w, log: map[string][]time.Time{}} }

func (g *gateSim) occur(key string, at time.Time) bool {
	fire := GateDecision(g.log[key], at, g.w)
	g.log[key] = append(g.log[key], at)
	if fire {
		g.runs++
	}
	return fire
}

// TestWindowGate covers §16.14 WG-1…WG-5 (gate decisions).
func TestWindowGate(t *testing.T) {
	t0 := time.Date(2026, 5, 30, 12, 0, 0, 0, time.UTC)
	min := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Minute) }

	t.Run("WG-1 {3,60,every}: 2 occurrences → 0 runs, 3rd → 1 run", func(t *testing.T) {
		g := newGateSim(WindowConfig{Count: 3, Minutes: 60, Refire: RefireEvery})
		g.occur("sys-1", min(0))
		g.occur("sys-1", min(1))
		if g.runs != 0 {
			t.Fatalf("runs after 2: %d", g.runs)
		}
		g.occur("sys-1", min(2))
		if g.runs != 1 {
			t.Fatalf("runs after 3: %d", g.runs)
		}
	})
	t.Run("WG-2 filter newStatus != healthy, {2,60,once}: 5 healthy → 0, 2 unhealthy → 1", func(t *testing.T) {
		g := newGateSim(WindowConfig{Count: 2, Minutes: 60, Refire: RefireOnce})
		filter := func(newStatus Status) bool { return newStatus != Healthy } // trigger.payload.newStatus != "healthy"
		i := 0
		for ; i < 5; i++ {
			if filter(Healthy) {
				g.occur("sys-1", min(i))
			}
		}
		if g.runs != 0 {
			t.Fatalf("healthy changes fired %d runs", g.runs)
		}
		for _, s := range []Status{Unhealthy, Unhealthy} {
			if filter(s) {
				g.occur("sys-1", min(i))
			}
			i++
		}
		if g.runs != 1 {
			t.Fatalf("runs %d, want exactly 1", g.runs)
		}
	})
	t.Run("WG-3 {2,60,every} 4 occurrences → 3 runs; once → 1 run", func(t *testing.T) {
		for _, tc := range []struct {
			refire string
			want   int
		}{{RefireEvery, 3}, {RefireOnce, 1}, {"", 3}} {
			g := newGateSim(WindowConfig{Count: 2, Minutes: 60, Refire: tc.refire})
			for i := 0; i < 4; i++ {
				g.occur("sys-1", min(i))
			}
			if g.runs != tc.want {
				t.Fatalf("refire %q: %d runs, want %d", tc.refire, g.runs, tc.want)
			}
		}
	})
	t.Run("WG-4 windows are per context key", func(t *testing.T) {
		g := newGateSim(WindowConfig{Count: 2, Minutes: 60, Refire: RefireEvery})
		if g.occur("sys-1", min(0)) || g.occur("sys-2", min(1)) {
			t.Fatal("first occurrence of each key fired")
		}
		if !g.occur("sys-1", min(2)) {
			t.Fatal("second sys-1 occurrence did not fire")
		}
		if !g.occur("sys-2", min(3)) || g.runs != 2 {
			t.Fatalf("sys-2 counted with sys-1: runs %d", g.runs)
		}
	})
	t.Run("WG-5 partitionBy keeps independent windows and falls back to the system", func(t *testing.T) {
		keys := []struct {
			name      string
			evaluated any
			err       error
			want      string
		}{
			{"value", "critical", nil, "critical"},
			{"trimmed value", "  warn ", nil, "warn"},
			{"number", 3.0, nil, "3"},
			{"fraction", 0.5, nil, "0.5"},
			{"bool", true, nil, "true"},
			{"omitted/undefined", nil, nil, "sys-1"},
			{"empty", "", nil, "sys-1"},
			{"whitespace", "   ", nil, "sys-1"},
			{"throws", "x", errors.New("no such field"), "sys-1"},
			{"array", []any{"a", 1.0}, nil, "a,1"},
			{"object", map[string]any{"a": 1}, nil, "[object Object]"},
		}
		for _, k := range keys {
			if got := PartitionKey(k.evaluated, k.err, "sys-1"); got != k.want {
				t.Fatalf("%s: key %q want %q", k.name, got, k.want)
			}
		}
		g := newGateSim(WindowConfig{Count: 2, Minutes: 60, Refire: RefireOnce})
		g.occur(PartitionKey("a", nil, "sys-1"), min(0))
		g.occur(PartitionKey("b", nil, "sys-1"), min(1))
		if g.runs != 0 {
			t.Fatal("distinct partition values shared a window")
		}
		g.occur(PartitionKey("a", nil, "sys-1"), min(2))
		g.occur(PartitionKey(nil, nil, "sys-1"), min(3))
		if g.runs != 1 {
			t.Fatalf("runs %d", g.runs)
		}
	})
	t.Run("occurrences older than the window are not counted; once re-arms", func(t *testing.T) {
		g := newGateSim(WindowConfig{Count: 2, Minutes: 60, Refire: RefireOnce})
		g.occur("k", min(0))
		if !g.occur("k", min(10)) {
			t.Fatal("crossing edge did not fire")
		}
		if g.occur("k", min(20)) {
			t.Fatal("once fired above the threshold")
		}
		// at 75 min only the 20-min row is within [15, 75]: count 2 → fires again
		if !g.occur("k", min(75)) {
			t.Fatal("once did not re-arm after old rows aged out")
		}
	})
	t.Run("window lower bound is inclusive", func(t *testing.T) {
		if WindowCount([]time.Time{min(0)}, min(60), 60) != 2 || WindowCount([]time.Time{min(0)}, min(61), 60) != 1 {
			t.Fatal("inclusive bound")
		}
		if WindowCount([]time.Time{min(90)}, min(61), 60) != 2 {
			t.Fatal("future rows are counted (no upper bound)")
		}
	})
	t.Run("invalid config never fires", func(t *testing.T) {
		if GateDecision(nil, t0, WindowConfig{Count: 0, Minutes: 60}) || GateDecision(nil, t0, WindowConfig{Count: 1, Minutes: 60, Refire: "cooldown"}) {
			t.Fatal("invalid config fired")
		}
		if !GateDecision(nil, t0, WindowConfig{Count: 1, Minutes: 60}) {
			t.Fatal("count 1 must fire on the first occurrence")
		}
	})
	if f := FlappingWindow(); f != (WindowConfig{Count: 3, Minutes: 60, Refire: RefireOnce}) || FlappingFilter != `trigger.payload.newStatus != "healthy"` {
		t.Fatalf("flapping recipe %+v", f)
	}
}

// TestParseWindowConfig covers §16.14 WG-6 (schema).
func TestParseWindowConfig(t *testing.T) {
	tests := []struct {
		name    string
		raw     string
		want    WindowConfig
		errWith string
	}{
		{"WG-6 {3,60,once} parses", `{"count":3,"minutes":60,"refire":"once"}`, WindowConfig{3, 60, RefireOnce, ""}, ""},
		{"WG-6 refire omitted → every", `{"count":3,"minutes":60}`, WindowConfig{3, 60, RefireEvery, ""}, ""},
		{"WG-6 count 0 rejected", `{"count":0,"minutes":60}`, WindowConfig{}, "count"},
		{"WG-6 count 1001 rejected", `{"count":1001,"minutes":60}`, WindowConfig{}, "count"},
		{"WG-6 minutes 1441 rejected", `{"count":3,"minutes":1441}`, WindowConfig{}, "minutes"},
		{"WG-6 count 2.5 rejected", `{"count":2.5,"minutes":60}`, WindowConfig{}, "count"},
		{"WG-6 refire cooldown rejected", `{"count":3,"minutes":60,"refire":"cooldown"}`, WindowConfig{}, "refire"},
		{"WG-6 partitionBy whitespace-only rejected", `{"count":3,"minutes":60,"partitionBy":"   "}`, WindowConfig{}, "partitionBy"},
		{"WG-6 partitionBy trimmed", `{"count":3,"minutes":60,"partitionBy":"  trigger.payload.severity  "}`, WindowConfig{3, 60, RefireEvery, "trigger.payload.severity"}, ""},
		{"bounds inclusive", `{"count":1000,"minutes":1440}`, WindowConfig{1000, 1440, RefireEvery, ""}, ""},
		{"minutes 0 rejected", `{"count":1,"minutes":0}`, WindowConfig{}, "minutes"},
		{"count missing", `{"minutes":60}`, WindowConfig{}, "count"},
		{"count as string rejected", `{"count":"3","minutes":60}`, WindowConfig{}, "count"},
		{"not an object", `[]`, WindowConfig{}, "window"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseWindowConfig([]byte(tc.raw))
			if tc.errWith == "" {
				if err != nil || got != tc.want {
					t.Fatalf("got %+v err %v", got, err)
				}
				if got.Validate() != nil {
					t.Fatal("parsed config fails Validate")
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.errWith) {
				t.Fatalf("want error about %s, got %v", tc.errWith, err)
			}
		})
	}
}
