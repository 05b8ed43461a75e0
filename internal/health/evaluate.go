package health

// Window sizes used when reading runs (§2.4, §18).
const (
	// MaxWindowRuns is the number of newest runs read per check for the system status.
	MaxWindowRuns = 100
	// OverviewRuns is the number of newest runs read per check for the overview/sparkline.
	OverviewRuns = 25
)

// Evaluate computes a check's status from its recent run statuses, newest
// first (§2.3, 1.5.0 including fix 0d9e5d8). th == nil means DefaultThresholds;
// zero fields of th take their mode's defaults.
//
//   - no runs → healthy;
//   - consecutive: count the leading streak of successes or failures
//     (degraded and unhealthy runs both count as failures, and so does any
//     invalid status); failures ≥ unhealthy → unhealthy; failures ≥ degraded
//     → degraded; otherwise healthy (1.5.0 fix: a short failure streak no
//     longer returns the newest run's raw status);
//   - window: failures among the newest windowSize runs; ≥ unhealthy →
//     unhealthy; ≥ degraded → degraded; else healthy.
//
// Only the newest MaxWindowRuns runs are considered, as the reference reads
// at most 100 runs per check.
func Evaluate(runsNewestFirst []Status, th *Thresholds) Status {
	if len(runsNewestFirst) == 0 {
		return Healthy
	}
	t := DefaultThresholds()
	if th != nil {
		t = th.WithDefaults()
	}
	runs := runsNewestFirst
	if len(runs) > MaxWindowRuns {
		runs = runs[:MaxWindowRuns]
	}
	var failures int
	if t.Mode == ModeWindow {
		n := t.WindowSize
		if n < 0 {
			n = 0
		}
		if n > len(runs) {
			n = len(runs)
		}
		for _, s := range runs[:n] {
			if s != Healthy {
				failures++
			}
		}
	} else {
		successes := 0
		for _, s := range runs {
			if s == Healthy {
				if failures != 0 {
					break
				}
				successes++
			} else {
				if successes != 0 {
					break
				}
				failures++
			}
		}
		// successes ≥ healthy.minSuccessCount → healthy, and the 1.5.0
		// fallback is healthy too: the success threshold never changes the
		// result, it is kept for contract compatibility.
		_ = successes
	}
	switch {
	case failures >= t.Unhealthy.MinFailureCount:
		return Unhealthy
	case failures >= t.Degraded.MinFailureCount:
		return Degraded
	default:
		return Healthy
	}
}
