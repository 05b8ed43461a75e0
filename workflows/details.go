// What an operator sees of a SystemHealth entity in the Temporal UI: search attributes and the
// markdown details.

package workflows

import (
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/checkflow/checkflow/internal/health"
)

// afterApply refreshes what an operator sees in the Temporal UI: search attributes (when they
// changed) and the markdown details.
func (e *entity) afterApply(ctx workflow.Context) {
	healthSA := "none"
	if e.st.View != nil {
		healthSA = string(e.st.View.Status)
	}
	var failing int64
	for _, c := range e.st.Checks {
		if c.Status != health.Healthy {
			failing++
		}
	}
	if !e.searchAttrsLoaded || healthSA != e.lastHealth || failing != e.lastFailing {
		err := workflow.UpsertTypedSearchAttributes(ctx,
			saSystemID.ValueSet(e.systemID), saHealth.ValueSet(healthSA), saFailingChecks.ValueSet(failing))
		if err != nil {
			e.logger.Warn("upsert search attributes", "error", err)
		}
		e.searchAttrsLoaded, e.lastHealth, e.lastFailing = true, healthSA, failing
	}
	workflow.SetCurrentDetails(ctx, e.details())
}

func (e *entity) details() string {
	var b strings.Builder
	name := e.st.SystemName
	if name == "" {
		name = e.systemID
	}
	if e.st.View == nil {
		fmt.Fprintf(&b, "**%s** — no enabled checks\n", name)
		return b.String()
	}
	fmt.Fprintf(&b, "**%s** — %s (%d/%d checks healthy)\n\n", name, e.st.View.Status, e.st.View.HealthyChecks, e.st.View.TotalChecks)
	if !e.storageDownSince.IsZero() {
		fmt.Fprintf(&b, "⚠ PostgreSQL unavailable since %s: %d result(s) wait in the entity.\n\n",
			e.storageDownSince.UTC().Format(time.RFC3339), e.pendingRuns())
	}
	b.WriteString("| Check | Status | Last run | Next due |\n|---|---|---|---|\n")
	for _, c := range e.st.Checks {
		status := string(c.Status)
		if c.Paused {
			status += " (paused)"
		}
		last := "never"
		if c.LastRunAt != nil {
			last = c.LastRunAt.UTC().Format(time.RFC3339)
		}
		due := c.NextDue.UTC().Format(time.RFC3339)
		if c.Paused {
			due = "–"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", mdEscape(c.Name), status, last, due)
	}
	return b.String()
}

func mdEscape(s string) string { return strings.ReplaceAll(s, "|", "\\|") }
