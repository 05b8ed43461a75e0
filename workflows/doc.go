// Package workflows holds checkflow's Temporal workflow code. Everything here is deterministic:
// no wall clock, goroutines, map-order dependence, I/O or randomness — only workflow APIs, pure
// domain logic from internal/health and the names and types of activities.
package workflows

// Task queues (design.md §3).
const (
	// TaskQueue serves workflows and the persist/emit activities.
	TaskQueue = "checkflow"
	// ProbeTaskQueue serves probe activities that may run anywhere.
	ProbeTaskQueue = "checkflow-probes"
)

// ProbeTaskQueueFor returns the probe task queue of a location ("" = any location).
func ProbeTaskQueueFor(location string) string {
	if location == "" {
		return ProbeTaskQueue
	}
	return ProbeTaskQueue + "-" + location
}
