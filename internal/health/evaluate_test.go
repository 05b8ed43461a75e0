package health

import (
	"testing"
)

const (
	H = Healthy
	D = Degraded
	U = Unhealthy
)

func consecutive(h, d, u int) *Thresholds {
	return &Thresholds{Mode: ModeConsecutive, Healthy: SuccessThreshold{h}, Degraded: FailureThreshold{d}, Unhealthy: FailureThreshold{u}}
}

func window(size, d, u int) *Thresholds {
	return &Thresholds{Mode: ModeWindow, WindowSize: size, Degraded: FailureThreshold{d}, Unhealthy: FailureThreshold{u}}
}

// TestEvaluate covers §16.1 (state-evaluator.test.ts at 1.5.0).
func TestEvaluate(t *testing.T) {
	cons := consecutive(2, 2, 4)
	win := window(5, 2, 4)
	tests := []struct {
		name string
		runs []Status
		th   *Thresholds
		want Status
	}{
		{"SE-1 no runs consecutive", nil, cons, H},
		{"SE-1 no runs window", []Status{}, win, H},
		{"SE-1 no runs defaults", nil, nil, H},
		{"SE-2 [H,H,U] two successes", []Status{H, H, U}, cons, H},
		{"SE-3 [H,H] exactly minSuccessCount", []Status{H, H}, cons, H},
		{"SE-4 [U,D,H] two leading failures", []Status{U, D, H}, cons, D},
		{"SE-5 [U,U,D,U,H] four leading failures", []Status{U, U, D, U, H}, cons, U},
		{"SE-6 [H] below success threshold falls back to healthy", []Status{H}, cons, H},
		{"SE-7 [D,U] degraded and unhealthy both failures", []Status{D, U}, cons, D},
		{"SE-8 [H,U,U] single leading success", []Status{H, U, U}, cons, H},
		{"SE-9 window [H,U,H,H,H] one failure", []Status{H, U, H, H, H}, win, H},
		{"SE-10 window [U,U,H,H,H] two failures", []Status{U, U, H, H, H}, win, D},
		{"SE-11 window [U,D,U,U,H] four failures", []Status{U, D, U, U, H}, win, U},
		{"SE-12 window failures beyond window ignored", []Status{H, H, H, H, H, U, U, U, U}, win, H},
		{"SE-13 window {3,2,3} [U,U,H,U]", []Status{U, U, H, U}, window(3, 2, 3), D},
		{"SE-14 defaults [H]", []Status{H}, nil, H},
		{"SE-15 defaults [U,U]", []Status{U, U}, nil, D},
		{"SE-16 defaults [U,U,U,U,U]", []Status{U, U, U, U, U}, nil, U},
		{"SE-17 defaults single failure stays healthy", []Status{U}, nil, H},
		{"SE-17 defaults [H,U] healthy", []Status{H, U}, nil, H},
		{"SE-18 consecutive {1,2,3} [U,H,U,U,U]", []Status{U, H, U, U, U}, consecutive(1, 2, 3), H},
		{"SE-19 consecutive {1,2,3} [U,H,U,U,U] healthy", []Status{U, H, U, U, U}, consecutive(1, 2, 3), H},
		{"SE-19 window {5,2,4} [U,H,U,U,U] unhealthy", []Status{U, H, U, U, U}, window(5, 2, 4), U},
		{"SE-20 window {5,2,4} [H,U,H,H,H]", []Status{H, U, H, H, H}, window(5, 2, 4), H},
		{"interleaved local/satellite [H,U,H,U,H,U] consecutive {2,2,3}", []Status{H, U, H, U, H, U}, consecutive(2, 2, 3), H},
		{"unhealthy wins when unhealthy.min <= degraded.min", []Status{U, U, U}, consecutive(1, 3, 2), U},
		{"zero fields take mode defaults (window 10/3/7)", []Status{U, U, U, H, H, H, H, H, H, H, U, U, U, U}, &Thresholds{Mode: ModeWindow}, D},
		{"only the newest 100 runs count", append(repeat(U, 100), repeat(U, 50)...), consecutive(1, 2, 120), D},
		{"invalid status counts as failure", []Status{"bogus", "bogus"}, nil, D},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Evaluate(tc.runs, tc.th); got != tc.want {
				t.Fatalf("Evaluate(%v) = %q, want %q", tc.runs, got, tc.want)
			}
		})
	}
}

func repeat(s Status, n int) []Status {
	out := make([]Status, n)
	for i := range out {
		out[i] = s
	}
	return out
}

// TestEvaluateRegressionPre150 guards against the pre-1.5.0 behaviour
// (SE-19): a consecutive-mode failure streak below the degraded threshold
// used to return the newest run's raw status.
func TestEvaluateRegressionPre150(t *testing.T) {
	tests := []struct {
		name string
		runs []Status
		th   *Thresholds
	}{
		{"SE-19 regression: consecutive {1,2,3} [U,H,U,U,U] must not be unhealthy", []Status{U, H, U, U, U}, consecutive(1, 2, 3)},
		{"SE-17 regression: defaults [U] must not be unhealthy", []Status{U}, nil},
		{"SE-19 regression: newest degraded run below threshold must not be degraded", []Status{D, H}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Evaluate(tc.runs, tc.th)
			if got != Healthy {
				t.Fatalf("Evaluate = %q: pre-1.5.0 behaviour (newest run's raw status %q) is back", got, tc.runs[0])
			}
		})
	}
}

func TestEvaluateDoesNotModifyInput(t *testing.T) {
	runs := []Status{U, U, H}
	th := window(3, 1, 2)
	before := *th
	Evaluate(runs, th)
	if runs[0] != U || runs[2] != H || *th != before {
		t.Fatal("inputs modified")
	}
}

func FuzzEvaluate(f *testing.F) {
	f.Add(false, 0, 1, 2, 5, []byte{1, 1, 0})
	f.Add(true, 5, 0, 2, 4, []byte{1, 0, 1, 1, 1})
	f.Add(true, 100, 0, 1, 1, []byte{})
	f.Add(false, 0, 3, 9, 2, []byte{2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 3})
	f.Fuzz(func(t *testing.T, windowMode bool, ws, h, d, u int, raw []byte) {
		th := consecutive(h, d, u)
		if windowMode {
			th = window(ws, d, u)
		}
		if _, err := th.Validate(); err != nil {
			return // only thresholds that pass validation are specified
		}
		all := []Status{H, D, U, "junk"}
		runs := make([]Status, len(raw))
		allHealthy := true
		for i, b := range raw {
			runs[i] = all[int(b)%len(all)]
			allHealthy = allHealthy && runs[i] == H
		}
		got := Evaluate(runs, th)
		if !got.Valid() {
			t.Fatalf("Evaluate returned invalid status %q", got)
		}
		if allHealthy && got != Healthy {
			t.Fatalf("all-healthy runs evaluated to %q", got)
		}
		if got != Evaluate(runs, th) {
			t.Fatal("Evaluate is not deterministic")
		}
	})
}
