package metrics

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// readmeMetricRe finds metric names in the README's code spans and PromQL: a full name, or one
// abbreviated after the first in its table cell ("…_store_scrape_duration_seconds").
var readmeMetricRe = regexp.MustCompile(`(checkflow_[a-z0-9_]+|…_[a-z0-9_]+)`)

// TestMetricNamesDocumented: every checkflow metric is in the README's metrics table (issue 15
// asks for the names documented), the table names no metric that does not exist, and the PromQL
// examples — "checks failing now" and "uptime over 30 d" among them — use only existing metrics
// (and their histogram series).
func TestMetricNamesDocumented(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(raw)
	names := []string{NameCheckRuns, NameProbeDuration, NameApplyLag, NameJobDuration, NameCheckStatus, NameSystemStatus,
		NameSystemMaintenance, NameOutboxBacklog, NameOutboxOldestAge, NameNotificationDeliveries, NameDeliveryAttempts,
		NameStoreUp, NameStoreScrapeDuration}

	// The names of a registry with every metric in use are the list above.
	r := New(Options{Strategies: []string{"http"}})
	r.ObserveProbe("http", "healthy", 0)
	r.ObserveJob(JobRetention, 0)
	r.ObserveDelivery("webhook", DeliverySent)
	fams, err := r.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if strings.HasPrefix(f.GetName(), "checkflow_") && !slices.Contains(names, f.GetName()) {
			t.Errorf("%s is registered but not in this test's list", f.GetName())
		}
	}

	// The metrics table: the rows starting with a code span of a checkflow metric.
	var documented []string
	for line := range strings.SplitSeq(readme, "\n") {
		if !strings.HasPrefix(line, "| `checkflow_") {
			continue
		}
		cell := strings.SplitN(line, "|", 3)[1]
		var first string
		for _, m := range readmeMetricRe.FindAllString(cell, -1) {
			if strings.HasPrefix(m, "…") {
				// "…_x" continues the cell's first name: checkflow_metrics_store_up, …_store_scrape… .
				i := strings.LastIndex(first, strings.SplitN(m[len("…"):], "_", 3)[1])
				if i < 0 {
					t.Errorf("README: cannot expand %q after %q", m, first)
					continue
				}
				m = first[:i-1] + m[len("…"):]
			} else if first == "" {
				first = m
			}
			documented = append(documented, m)
		}
	}
	for _, n := range names {
		if !slices.Contains(documented, n) {
			t.Errorf("README's metrics table lacks %s (documented: %v)", n, documented)
		}
	}
	for _, d := range documented {
		if !slices.Contains(names, d) {
			t.Errorf("README's metrics table names %s, which does not exist", d)
		}
	}

	// The PromQL examples.
	_, rest, ok := strings.Cut(readme, "```promql\n")
	block, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("README has no promql block")
	}
	for _, want := range []string{"# checks failing now", "# uptime over 30 d"} {
		if !strings.Contains(block, want) {
			t.Errorf("the PromQL examples lack %q", want)
		}
	}
	for _, m := range readmeMetricRe.FindAllString(block, -1) {
		base := m
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if b, ok := strings.CutSuffix(m, suffix); ok && slices.Contains(names, b) {
				base = b
			}
		}
		if !slices.Contains(names, base) {
			t.Errorf("the PromQL example uses %s, which does not exist", m)
		}
	}
}
