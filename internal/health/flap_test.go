package health

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

// flapHistory turns "hhu…" (oldest first) into statuses.
func flapHistory(t *testing.T, s string) []Status {
	t.Helper()
	out := make([]Status, len(s))
	for i, c := range s {
		switch c {
		case 'h':
			out[i] = Healthy
		case 'd':
			out[i] = Degraded
		case 'u':
			out[i] = Unhealthy
		default:
			t.Fatalf("bad history letter %q", c)
		}
	}
	return out
}

func approx(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

// TestPercentStateChangeTable checks Nagios' weighted percent state change against values
// computed by hand (issue 13, acceptance 2).
//
// Slots are numbered 0 (oldest) … 20 (newest); the change between slot i-1 and slot i weighs
// 0.75 + (i-1)·0.5/19 = (55+2i)/76, so with N = Σ(55+2i) over the changed i:
//
//	percent = Σ weights × 100 / 20 = 5·N/76
//
// (55+2i) for i = 1…20: 57 59 61 63 65 67 69 71 73 75 77 79 81 83 85 87 89 91 93 95.
// Histories shorter than 21 are padded with healthy slots at the old end.
func TestPercentStateChangeTable(t *testing.T) {
	for _, tc := range []struct {
		name    string
		history string // oldest first
		want    float64
	}{
		// No status recorded: 21 healthy slots, no change.
		{"new object", "", 0},
		// 21 × healthy: no change.
		{"stable healthy", strings.Repeat("h", 21), 0},
		// 21 × unhealthy: no change inside the window (the padding is pushed out).
		{"stable unhealthy", strings.Repeat("u", 21), 0},
		// u h u h … u: every neighbour differs, i = 1…20: N = 20 terms averaging 76 = 1520;
		// 5·1520/76 = 100.
		{"full alternation", strings.Repeat("uh", 10) + "u", 100},
		// First status ever is unhealthy: padding h (slot 19) → u (slot 20), i = 20: N = 95;
		// 5·95/76 = 6.25.
		{"first status failing", "u", 6.25},
		// u then 20 × h: one change at i = 1: N = 57; 5·57/76 = 3.75.
		{"oldest change only", "u" + strings.Repeat("h", 20), 3.75},
		// One change in the newest slot of a full history: 20 × h then u, i = 20: 6.25.
		{"newest change only", strings.Repeat("h", 20) + "u", 6.25},
		// Degraded/unhealthy changes count like any other: slots 16 d, 17 u, 18 d, 19 h, 20 h
		// → changes at i = 16, 17, 18, 19: N = 87+89+91+93 = 360; 5·360/76 = 23.684210526…
		{"degraded and unhealthy", strings.Repeat("h", 16) + "dudhh", 1800.0 / 76},
		// 8 statuses alternating from a failing first one, slots 13…20 = u h u h u h u h; the
		// padding h in slot 12 → u gives changes i = 13…20: N = 8·55 + 2·(13+…+20) = 440 + 264
		// = 704; 5·704/76 = 46.315789…
		{"8 alternating, new object", "uhuhuhuh", 3520.0 / 76},
		// 9 statuses u h … u: changes i = 12…20: N = 9·55 + 2·144 = 783; 5·783/76 = 51.513157…
		{"9 alternating, new object", "uhuhuhuhu", 3915.0 / 76},
		// 9 statuses h u … h: slot 12 = h equals the padding, changes i = 13…20: 46.315789…
		{"9 alternating from healthy, new object", "huhuhuhuh", 3520.0 / 76},
		// Exactly 50: changes at i = 1…5 and 16…20: N = (57+95)+(59+93)+(61+91)+(63+89)+(65+87)
		// = 760; 5·760/76 = 50.
		{"exactly 50", "h" + "uhuhu" + strings.Repeat("u", 10) + "huhuh", 50},
		// Exactly 25: changes at i = 1…5 and 10: N = 57+59+61+63+65+75 = 380; 5·380/76 = 25.
		// Slots: 0 h, 1 u, 2 h, 3 u, 4 h, 5 u, 6…9 u, 10…20 h.
		{"exactly 25", "h" + "uhuhu" + "uuuu" + strings.Repeat("h", 11), 25},
		// More than 21 statuses: only the newest 21 count (the leading u is dropped, leaving
		// 21 × h).
		{"longer than the window", "u" + strings.Repeat("h", 21), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := PercentStateChange(flapHistory(t, tc.history))
			if !approx(got, tc.want) {
				t.Fatalf("percent of %q = %.12f, want %.12f", tc.history, got, tc.want)
			}
			// Recording the same statuses one by one ends at the same percentage.
			var f FlapState
			for _, s := range flapHistory(t, tc.history) {
				f.Record(s, FlapThresholds{})
			}
			if !approx(f.Percent, tc.want) {
				t.Fatalf("recorded percent %.12f, want %.12f", f.Percent, tc.want)
			}
			if len(f.History) > FlapHistorySize {
				t.Fatalf("history kept %d statuses", len(f.History))
			}
		})
	}
}

// TestFlapAlternatingStartsThenStableStops: a check (or system) alternating fail/pass from its
// first evaluation turns flapping once over the start threshold, stays flapping while stable
// statuses push the changes out (hysteresis), and stops once at or below the stop threshold.
func TestFlapAlternatingStartsThenStableStops(t *testing.T) {
	var f FlapState
	th := DefaultFlapThresholds()
	// Alternating u, h, u, … from a new object: after the 8th status 46.3 % (< 50, nothing),
	// the 9th 51.5 % (≥ 50: started, see the table test).
	var started int
	for i := 1; i <= 21; i++ {
		s := Unhealthy
		if i%2 == 0 {
			s = Healthy
		}
		switch ch := f.Record(s, th); {
		case ch == FlapStarted && started == 0:
			started = i
		case ch != FlapUnchanged:
			t.Fatalf("status %d: change %q after starting at %d (percent %.2f)", i, ch, started, f.Percent)
		}
	}
	if started != 9 {
		t.Fatalf("started flapping at status %d, want 9", started)
	}
	if !f.Flapping || !approx(f.Percent, 100) {
		t.Fatalf("after 21 alternating: flapping %v percent %.4f, want true 100", f.Flapping, f.Percent)
	}

	// The history is u h u … u (21). After k healthy statuses the changes are at i = 1 … m with
	// m = 21-k (the alternation plus its edge to the healthy run), N = 55m + m(m+1):
	//   k = 8,  m = 13: N = 715+182 = 897 → 59.0132 (still flapping, above start)
	//   k = 12, m = 9:  N = 495+90  = 585 → 38.4868 (between stop and start: unchanged)
	//   k = 14, m = 7:  N = 385+56  = 441 → 29.0132 (unchanged)
	//   k = 15, m = 6:  N = 330+42  = 372 → 24.4737 (≤ 25: stopped)
	want := map[int]float64{8: 5 * 897.0 / 76, 12: 5 * 585.0 / 76, 14: 5 * 441.0 / 76, 15: 5 * 372.0 / 76}
	stopped := 0
	for k := 1; k <= 21; k++ {
		ch := f.Record(Healthy, th)
		if w, ok := want[k]; ok && !approx(f.Percent, w) {
			t.Fatalf("after %d healthy: percent %.6f, want %.6f", k, f.Percent, w)
		}
		switch {
		case ch == FlapStopped && stopped == 0:
			stopped = k
		case ch != FlapUnchanged:
			t.Fatalf("after %d healthy: change %q (stopped at %d)", k, ch, stopped)
		}
	}
	if stopped != 15 {
		t.Fatalf("stopped flapping after %d healthy statuses, want 15", stopped)
	}
	if f.Flapping || f.Percent != 0 || f.History != strings.Repeat("h", 21) {
		t.Fatalf("after a stable run: %+v", f)
	}
}

// TestFlapHysteresis: between the thresholds nothing changes, in both states; the thresholds
// themselves are inclusive (≥ start starts, ≤ stop stops), as in Nagios.
func TestFlapHysteresis(t *testing.T) {
	th := DefaultFlapThresholds()
	for _, tc := range []struct {
		name     string
		flapping bool
		history  string // recorded before the last status
		last     Status
		want     FlapChange
		percent  float64
	}{
		// 7 alternating + the 8th: 46.3 % — not flapping stays not flapping.
		{"between, not flapping", false, "uhuhuhu", Healthy, FlapUnchanged, 3520.0 / 76},
		// The same percentage while flapping: stays flapping.
		{"between, flapping", true, "uhuhuhu", Healthy, FlapUnchanged, 3520.0 / 76},
		// Exactly 50 (see the table) reaches the start threshold.
		{"exactly start", false, "h" + "uhuhu" + strings.Repeat("u", 10) + "huhu", Healthy, FlapStarted, 50},
		// Exactly 25 reaches the stop threshold.
		{"exactly stop", true, "h" + "uhuhu" + "uuuu" + strings.Repeat("h", 10), Healthy, FlapStopped, 25},
		// Above start while flapping, below stop while not: unchanged.
		{"above start, flapping", true, strings.Repeat("uh", 10), Unhealthy, FlapUnchanged, 100},
		{"below stop, not flapping", false, strings.Repeat("h", 20), Healthy, FlapUnchanged, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := FlapState{History: tc.history, Flapping: tc.flapping}
			if got := f.Record(tc.last, th); got != tc.want {
				t.Fatalf("change %q, want %q (percent %.4f)", got, tc.want, f.Percent)
			}
			if !approx(f.Percent, tc.percent) {
				t.Fatalf("percent %.6f, want %.6f", f.Percent, tc.percent)
			}
		})
	}
}

// TestFlapThresholdsPerSystem: thresholds are the caller's (per system); zero fields default,
// invalid ones fall back to the defaults in Record and are named by Validate.
func TestFlapThresholdsPerSystem(t *testing.T) {
	// 46.3 % (8 alternating) starts with start 40 but not with the default 50.
	hist := flapHistory(t, "uhuhuhuh")
	low, def := FlapState{}, FlapState{}
	var lowCh, defCh FlapChange
	for _, s := range hist {
		if c := low.Record(s, FlapThresholds{StartPercent: 40, StopPercent: 10}); c != FlapUnchanged {
			lowCh = c
		}
		if c := def.Record(s, FlapThresholds{}); c != FlapUnchanged {
			defCh = c
		}
	}
	if lowCh != FlapStarted || defCh != FlapUnchanged {
		t.Fatalf("start 40: %q, default: %q", lowCh, defCh)
	}
	// Invalid thresholds (stop ≥ start) are replaced by the defaults: 46.3 % does not start.
	bad := FlapState{}
	for _, s := range hist {
		if c := bad.Record(s, FlapThresholds{StartPercent: 40, StopPercent: 45}); c != FlapUnchanged {
			t.Fatalf("invalid thresholds acted: %q at %.2f", c, bad.Percent)
		}
	}

	for _, tc := range []struct {
		th     FlapThresholds
		fields string // "" = valid
	}{
		{FlapThresholds{}, ""},
		{FlapThresholds{StartPercent: 30}, ""},
		{FlapThresholds{StartPercent: 20}, "stopPercent"}, // default stop 25 ≥ 20
		{FlapThresholds{StartPercent: 100, StopPercent: 99.5}, ""},
		{FlapThresholds{StartPercent: 101}, "startPercent"},
		{FlapThresholds{StartPercent: -1}, "startPercent"},
		{FlapThresholds{StopPercent: math.NaN()}, "stopPercent"},
		{FlapThresholds{StartPercent: 40, StopPercent: 40}, "stopPercent"},
	} {
		err := tc.th.Validate()
		var ve *ValidationError
		switch {
		case tc.fields == "" && err != nil:
			t.Errorf("%+v: unexpected error %v", tc.th, err)
		case tc.fields != "" && (!errors.As(err, &ve) || ve.Errors[0].Field != tc.fields):
			t.Errorf("%+v: error %v, want one naming %s", tc.th, err, tc.fields)
		}
	}
}

// TestFlapStateIsDeterministicJSON: the state survives a JSON round trip (workflow state,
// continue-as-new) and goes on exactly as the original; invalid statuses are ignored.
func TestFlapStateIsDeterministicJSON(t *testing.T) {
	seq := flapHistory(t, "uhuhuhuhuhhhhhhhdudud")
	var a FlapState
	for _, s := range seq[:12] {
		a.Record(s, FlapThresholds{})
	}
	raw, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"history":"uhuhuhuhuhhh","flapping":true,"percent":`; !strings.HasPrefix(string(raw), want) {
		t.Fatalf("json %s, want prefix %s", raw, want)
	}
	var b FlapState
	if err := json.Unmarshal(raw, &b); err != nil {
		t.Fatal(err)
	}
	for i, s := range seq[12:] {
		ca, cb := a.Record(s, FlapThresholds{}), b.Record(s, FlapThresholds{})
		if ca != cb || a != b {
			t.Fatalf("step %d: %q %+v vs %q %+v", i, ca, a, cb, b)
		}
	}
	before := a
	if ch := a.Record(Status("unknown"), FlapThresholds{}); ch != FlapUnchanged || a != before {
		t.Fatalf("invalid status changed the state: %q %+v", ch, a)
	}
	if got := a.Statuses(); len(got) != FlapHistorySize || got[FlapHistorySize-1] != Degraded {
		t.Fatalf("statuses %v", got)
	}
}

// TestFlapEvent: the outbox event of a change carries the flapping payload; no event without a
// change.
func TestFlapEvent(t *testing.T) {
	at := time.Date(2026, 5, 30, 12, 0, 0, 0, time.UTC)
	if ev := FlapEvent(FlapUnchanged, "sys-1", "", Healthy, 10, FlapThresholds{}, at); ev != nil {
		t.Fatalf("unchanged produced %+v", ev)
	}
	ev := FlapEvent(FlapStarted, "sys-1", "", Degraded, 3915.0/76, FlapThresholds{}, at)
	jsonEqual(t, ev, map[string]any{"type": EventFlappingStarted, "payload": map[string]any{
		"systemId": "sys-1", "status": "degraded", "percentStateChange": 51.51,
		"startThreshold": 50, "stopThreshold": 25, "timestamp": "2026-05-30T12:00:00Z",
	}})
	ev = FlapEvent(FlapStopped, "sys-1", "cfg-1", Healthy, 24.47, FlapThresholds{StartPercent: 40, StopPercent: 20}, at)
	jsonEqual(t, ev, map[string]any{"type": EventFlappingStopped, "payload": map[string]any{
		"systemId": "sys-1", "configurationId": "cfg-1", "status": "healthy", "percentStateChange": 24.47,
		"startThreshold": 40, "stopThreshold": 20, "timestamp": "2026-05-30T12:00:00Z",
	}})
}

// Rebuilding a check's flap state from its run window gives the state recording the
// evaluated statuses one by one gave.
func TestRebuildCheckFlap(t *testing.T) {
	t.Parallel()
	th := &Thresholds{Mode: ModeConsecutive, Healthy: SuccessThreshold{MinSuccessCount: 1},
		Degraded: FailureThreshold{MinFailureCount: 1}, Unhealthy: FailureThreshold{MinFailureCount: 100}}
	for _, n := range []int{0, 1, 5, 21, 30} {
		var recent []Status // newest first
		var live FlapState
		for i := range n {
			s := Healthy
			if i%2 == 1 {
				s = Unhealthy
			}
			recent = append([]Status{s}, recent...)
			live.Record(EvaluateCheck(recent, th, false), FlapThresholds{})
		}
		got := RebuildCheckFlap(recent, th, false, FlapThresholds{})
		want := live
		if n > FlapHistorySize {
			// The rebuilt one starts from the last 21 runs only; the history and percentage agree.
			want.Flapping = got.Flapping
		}
		if got != want {
			t.Errorf("%d runs: rebuilt %+v, recorded %+v", n, got, want)
		}
		if n >= 10 && !got.Flapping {
			t.Errorf("%d alternating runs: not flapping (%.2f %%)", n, got.Percent)
		}
	}
}
