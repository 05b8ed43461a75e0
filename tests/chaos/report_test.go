package chaos

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// measureGaps sets each kill's gap: the largest interval between consecutive runs of one check
// that overlaps the kill's window [at, recovered] (so it spans the kill or follows it before
// every entity persisted again), minus the check interval. Run times are the probes' start
// (executedAt), on the same clock as the test's.
func measureGaps(kills []*kill, systems []*systemData) {
	for _, k := range kills {
		k.gap, k.gapCheck = -checkInterval, ""
		for _, d := range systems {
			byCheck := map[string][]time.Time{}
			for _, r := range d.runs {
				byCheck[r.cfg] = append(byCheck[r.cfg], r.at)
			}
			for cfg, ts := range byCheck {
				slices.SortFunc(ts, func(a, b time.Time) int { return a.Compare(b) })
				for i := 1; i < len(ts); i++ {
					if !ts[i].After(k.at) || !ts[i-1].Before(k.recovered) {
						continue
					}
					if g := ts[i].Sub(ts[i-1]) - checkInterval; g > k.gap {
						k.gap, k.gapCheck = g, d.id+"/"+cfg[:8]
						k.gapFrom, k.gapTo = ts[i-1].Sub(k.at), ts[i].Sub(k.at)
					}
				}
			}
		}
	}
}

// percentile is the nearest-rank p-th percentile of sorted durations.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p+0.999999) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// report logs each kill's gap, the gaps' p50/max per kind and a one-line summary.
func report(t *testing.T, seed uint64, kills []*kill, systems []*systemData, continuedAsNew int, elapsed time.Duration) {
	t.Helper()
	measureGaps(kills, systems)
	var runs, transitions, steps int
	for _, d := range systems {
		runs += len(d.runs)
		transitions += len(d.transitions)
		steps += len(d.steps)
	}
	for _, k := range kills {
		t.Logf("kill %2d %-13s gap %6.2fs (check %s, runs at %+.1fs and %+.1fs from the kill), every system persisting again after %6.2fs",
			k.n, k.kind, k.gap.Seconds(), k.gapCheck, k.gapFrom.Seconds(), k.gapTo.Seconds(), k.recovered.Sub(k.at).Seconds())
	}
	var parts []string
	for _, kind := range killKinds {
		var gaps []time.Duration
		for _, k := range kills {
			if k.kind == kind {
				gaps = append(gaps, k.gap)
			}
		}
		if len(gaps) == 0 {
			parts = append(parts, fmt.Sprintf("%s: none", kind))
			continue
		}
		slices.Sort(gaps)
		parts = append(parts, fmt.Sprintf("%s ×%d p50 %.1fs max %.1fs", kind, len(gaps), percentile(gaps, 0.5).Seconds(), gaps[len(gaps)-1].Seconds()))
	}
	t.Logf("chaos summary: seed %d, %v, %d systems, %d kills, %d runs in %d steps, %d transitions, %d continue-as-new; gaps in runs around a kill (largest interval between consecutive runs of a check, minus the %v interval): %s",
		seed, elapsed.Round(time.Second), len(systems), len(kills), runs, steps, transitions, continuedAsNew, checkInterval, strings.Join(parts, "; "))
}
