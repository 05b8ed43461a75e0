package store

import (
	"errors"
	"testing"

	"github.com/checkflow/checkflow/internal/health"
)

// A system's flap thresholds: set, read back, loaded with the system, reset; bad ones and
// unknown systems are errors that change nothing.
func TestFlapThresholds(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := ctxT(t)
	if th, err := f.s.FlapThresholdsOf(ctx, f.sys); err != nil || th != nil {
		t.Fatalf("new system: %v, %v; want nil (defaults)", th, err)
	}
	want := health.FlapThresholds{StartPercent: 40, StopPercent: 10}
	if err := f.s.SetFlapThresholds(ctx, f.sys, &want); err != nil {
		t.Fatal(err)
	}
	if th, err := f.s.FlapThresholdsOf(ctx, f.sys); err != nil || th == nil || *th != want {
		t.Fatalf("read back %v, %v; want %+v", th, err, want)
	}
	if st, err := f.s.Load(ctx, f.sys); err != nil || st.FlapThresholds != want {
		t.Fatalf("Load: %+v, %v; want thresholds %+v", st.FlapThresholds, err, want)
	}
	for _, bad := range []health.FlapThresholds{{StartPercent: 20, StopPercent: 30}, {StartPercent: 120, StopPercent: 10}, {StartPercent: 50, StopPercent: -1}} {
		err := f.s.SetFlapThresholds(ctx, f.sys, &bad)
		var ve *ValidationError
		if !errors.As(err, &ve) {
			t.Errorf("%+v: %v, want a validation error", bad, err)
		}
	}
	if th, _ := f.s.FlapThresholdsOf(ctx, f.sys); th == nil || *th != want {
		t.Errorf("a rejected write changed the thresholds: %v", th)
	}
	if err := f.s.SetFlapThresholds(ctx, "no-such-system", &want); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown system: %v, want not found", err)
	}
	if err := f.s.SetFlapThresholds(ctx, f.sys, nil); err != nil {
		t.Fatal(err)
	}
	if st, err := f.s.Load(ctx, f.sys); err != nil || st.FlapThresholds != (health.FlapThresholds{}) {
		t.Fatalf("after reset: %+v, %v; want the defaults (zero)", st.FlapThresholds, err)
	}
}
