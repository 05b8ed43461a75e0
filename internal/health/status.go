package health

import "fmt"

// Status is the status of a run, a check or a system (§2.1).
type Status string

// The three statuses of 1.5.0 (there is no "unknown" status at 1.5.0).
const (
	Healthy   Status = "healthy"
	Degraded  Status = "degraded"
	Unhealthy Status = "unhealthy"
)

// Statuses lists the valid statuses in severity order.
func Statuses() []Status { return []Status{Healthy, Degraded, Unhealthy} }

// Severity orders statuses for comparisons: healthy 0 < degraded 1 < unhealthy 2.
// An invalid status has severity -1.
func (s Status) Severity() int {
	switch s {
	case Healthy:
		return 0
	case Degraded:
		return 1
	case Unhealthy:
		return 2
	}
	return -1
}

// Valid reports whether s is one of the three statuses.
func (s Status) Valid() bool { return s.Severity() >= 0 }

// String returns the status value.
func (s Status) String() string { return string(s) }

// ParseStatus parses one of "healthy", "degraded", "unhealthy" (exact, case-sensitive,
// as the database enum is).
func ParseStatus(v string) (Status, error) {
	s := Status(v)
	if !s.Valid() {
		return "", fmt.Errorf("health: invalid status %q (want healthy, degraded or unhealthy)", v)
	}
	return s, nil
}

// Worst returns the most severe of the given statuses ("worst wins", §2.4).
// Invalid statuses are ignored; no (valid) status yields Healthy.
func Worst(statuses ...Status) Status {
	worst := Healthy
	for _, s := range statuses {
		if s.Severity() > worst.Severity() {
			worst = s
		}
	}
	return worst
}
