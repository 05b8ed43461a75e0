package workflows

import "testing"

// TestHistoryBound: from changeBoundedHistory on, an entity without ContinueAsNewAfterEvents
// continues as new past defaultContinueAsNewAfterEvents; the option wins either way; before it,
// only Temporal's suggestion ends a run.
func TestHistoryBound(t *testing.T) {
	tests := []struct {
		name    string
		option  int
		bounded bool
		want    int
	}{
		{"bounded, no option", 0, true, defaultContinueAsNewAfterEvents},
		{"bounded, option", 250, true, 250},
		{"before the change, no option", 0, false, 0},
		{"before the change, option", 120, false, 120},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := &entity{opts: EntityOptions{ContinueAsNewAfterEvents: tc.option}, boundedHistory: tc.bounded}
			if got := e.historyBound(); got != tc.want {
				t.Fatalf("historyBound %d, want %d", got, tc.want)
			}
		})
	}
	if defaultContinueAsNewAfterEvents >= 4096 {
		t.Fatal("the default bound must be below Temporal's own suggestion (4,096 events)")
	}
}
