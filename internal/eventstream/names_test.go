package eventstream_test

import (
	"slices"
	"testing"

	"github.com/checkflow/checkflow/activities"
	"github.com/checkflow/checkflow/internal/eventstream"
	"github.com/checkflow/checkflow/internal/health"
)

// TestOutboxTypesAreTheWrittenOnes: the stream reads the outbox types the rest of checkflow
// writes (the maintenance edges are written by activities.Notifier.MaintenanceEdge).
func TestOutboxTypesAreTheWrittenOnes(t *testing.T) {
	t.Parallel()
	if eventstream.OutboxMaintenanceStarted != activities.EventMaintenanceStart || eventstream.OutboxMaintenanceEnded != activities.EventMaintenanceEnd {
		t.Fatalf("maintenance types %q %q, activities write %q %q", eventstream.OutboxMaintenanceStarted, eventstream.OutboxMaintenanceEnded,
			activities.EventMaintenanceStart, activities.EventMaintenanceEnd)
	}
	want := []string{health.HookCheckCompleted, health.EventSystemHealthChanged, activities.EventMaintenanceStart, activities.EventMaintenanceEnd}
	if got := eventstream.OutboxTypes(); !slices.Equal(got, want) {
		t.Fatalf("OutboxTypes() = %v, want %v", got, want)
	}
}
