package activities

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/checkflow/checkflow/internal/checks"
	"github.com/checkflow/checkflow/internal/health"
	"github.com/checkflow/checkflow/workflows"
)

// Prober runs probes on probe workers. It needs no database: probe-only workers in remote
// locations run just this.
type Prober struct {
	Checks  *checks.Registry
	Secrets checks.SecretResolver
}

// Probe runs one check once with its strategy and collectors. Check failures are results
// (status unhealthy with a message), never activity errors; an error here means the probe could
// not run at all (bad stored config), and Temporal retries it.
func (p *Prober) Probe(ctx context.Context, req workflows.ProbeRequest) (workflows.CheckResult, error) {
	var collectors []checks.CollectorEntry
	if len(req.Assignment.Collectors) > 0 && string(req.Assignment.Collectors) != "null" {
		if err := json.Unmarshal(req.Assignment.Collectors, &collectors); err != nil {
			return workflows.CheckResult{}, fmt.Errorf("collectors of %s: %w", req.Assignment.ConfigurationID, err)
		}
	}
	started := time.Now().UTC()
	res := p.Checks.Execute(ctx, checks.Request{
		StrategyID: req.Assignment.StrategyID,
		Config:     req.Assignment.Config,
		Collectors: collectors,
		RunContext: checks.RunContext{
			CheckID: req.Assignment.ConfigurationID, CheckName: req.Assignment.Name, IntervalSeconds: req.Assignment.IntervalSeconds,
			SystemID: req.SystemID, SystemName: req.SystemName,
		},
		Secrets: p.Secrets,
	})
	body, err := json.Marshal(res)
	if err != nil {
		return workflows.CheckResult{}, fmt.Errorf("encode result: %w", err)
	}
	out := workflows.CheckResult{
		ID: req.ResultID, ConfigurationID: req.Assignment.ConfigurationID, Status: health.Status(res.Status),
		LatencyMs: res.LatencyMs, Message: res.Message, Result: body, ExecutedAt: started,
	}
	if !out.Status.Valid() {
		out.Status = health.Unhealthy
	}
	if req.Location != "" {
		loc := req.Location
		out.SourceID, out.SourceLabel = &loc, &loc
	}
	return out, nil
}
