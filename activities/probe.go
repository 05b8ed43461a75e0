package activities

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/checkflow/checkflow/internal/checks"
	"github.com/checkflow/checkflow/internal/health"
	"github.com/checkflow/checkflow/internal/metrics"
	"github.com/checkflow/checkflow/internal/safetext"
	"github.com/checkflow/checkflow/internal/secretbox"
	"github.com/checkflow/checkflow/workflows"
)

// Prober runs probes. It needs no database: probe-only workers in remote locations run just
// this. The entity's own worker runs it too, as a local activity, for checks without a location.
type Prober struct {
	Checks  *checks.Registry
	Secrets checks.SecretResolver
	// Box opens the sealed x-secret values of stored configurations (nil: a configuration with
	// one fails its run with a message saying the key is missing).
	Box   *secretbox.Box
	Hooks Hooks
	// Metrics (optional) counts the runs by strategy and status and times the probes.
	Metrics *metrics.Registry
}

// Probe runs a batch of checks of one system once, concurrently, each with its strategy and
// collectors, and returns their results in order. Check failures are results (status unhealthy
// with a message), never activity errors; an error here means the batch could not run at all.
func (p *Prober) Probe(ctx context.Context, req workflows.ProbeRequest) ([]workflows.CheckResult, error) {
	return p.probe(ctx, req, nil)
}

// preparedCollectors are a check's collectors decoded once for many runs (a probe session's).
type preparedCollectors struct {
	entries []checks.CollectorEntry
}

// prepareCollectors decodes an assignment's collectors for many runs; nil when they hold sealed
// secrets (opened in memory for each run only) or do not decode (each run reports it).
func prepareCollectors(a workflows.Assignment) *preparedCollectors {
	if secretbox.HasSealed(a.Collectors) {
		return nil
	}
	entries, err := decodeCollectors(a.Collectors)
	if err != nil {
		return nil
	}
	return &preparedCollectors{entries: entries}
}

// decodeCollectors decodes an assignment's collector list (none when empty or JSON null).
func decodeCollectors(raw json.RawMessage) ([]checks.CollectorEntry, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var entries []checks.CollectorEntry
	if err := json.Unmarshal(raw, &entries); err != nil {
		return nil, err
	}
	return entries, nil
}

// probe runs a batch (Probe); prepared holds collectors decoded before, by configuration id
// (nil: each run decodes its own).
func (p *Prober) probe(ctx context.Context, req workflows.ProbeRequest, prepared map[string]*preparedCollectors) ([]workflows.CheckResult, error) {
	out := make([]workflows.CheckResult, len(req.Probes))
	errs := make([]error, len(req.Probes))
	var wg sync.WaitGroup
	for i, it := range req.Probes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i], errs[i] = p.probeOne(ctx, req, it, prepared[it.Assignment.ConfigurationID])
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// probeOne runs one check. Whatever the target sent, the result it returns is safe to carry in
// Temporal and to store in PostgreSQL (see safeResult).
func (p *Prober) probeOne(ctx context.Context, req workflows.ProbeRequest, it workflows.ProbeItem, pre *preparedCollectors) (workflows.CheckResult, error) {
	a := it.Assignment
	started := time.Now().UTC()
	// Secrets are opened here, in memory, for this run only.
	config, err := p.Box.OpenJSON(a.Config)
	if err == nil && pre == nil {
		a.Collectors, err = p.Box.OpenJSON(a.Collectors)
	}
	if err != nil {
		msg := "secrets of the configuration: " + err.Error()
		body, _ := json.Marshal(map[string]any{"status": health.Unhealthy, "message": msg, "metadata": map[string]any{"error": msg}})
		p.Metrics.ObserveRun(p.strategyLabel(a.StrategyID), health.Unhealthy)
		return safeResult(workflows.CheckResult{ID: it.ResultID, ConfigurationID: a.ConfigurationID, Status: health.Unhealthy,
			Message: msg, Result: body, ExecutedAt: started}), nil
	}
	a.Config = config
	var collectors []checks.CollectorEntry
	if pre != nil {
		collectors = pre.entries
	} else if collectors, err = decodeCollectors(a.Collectors); err != nil {
		return workflows.CheckResult{}, fmt.Errorf("collectors of %s: %w", a.ConfigurationID, err)
	}
	if p.Hooks.ProbeStarted != nil {
		p.Hooks.ProbeStarted(it, started)
	}
	probeStart := time.Now()
	res := p.Checks.Execute(ctx, checks.Request{
		StrategyID: a.StrategyID,
		Config:     a.Config,
		Collectors: collectors,
		RunContext: checks.RunContext{
			CheckID: a.ConfigurationID, CheckName: a.Name, IntervalSeconds: a.IntervalSeconds,
			SystemID: req.SystemID, SystemName: req.SystemName,
		},
		Secrets: p.Secrets,
	})
	body, err := json.Marshal(res)
	if err != nil {
		return workflows.CheckResult{}, fmt.Errorf("encode result: %w", err)
	}
	out := workflows.CheckResult{
		ID: it.ResultID, ConfigurationID: a.ConfigurationID, Status: health.Status(res.Status),
		LatencyMs: res.LatencyMs, Message: res.Message, Result: body, ExecutedAt: started,
	}
	if !out.Status.Valid() {
		out.Status = health.Unhealthy
	}
	p.Metrics.ObserveProbe(p.strategyLabel(a.StrategyID), out.Status, time.Since(probeStart))
	if req.Location != "" {
		loc := req.Location
		out.SourceID, out.SourceLabel = &loc, &loc
	}
	return safeResult(out), nil
}

// strategyLabel is the metrics label of a strategy id: the id when the registry knows it (a
// closed set), else metrics.StrategyUnknown.
func (p *Prober) strategyLabel(id string) string {
	if p.Metrics == nil || p.Checks == nil {
		return metrics.StrategyUnknown
	}
	if _, ok := p.Checks.Strategy(id); !ok {
		return metrics.StrategyUnknown
	}
	return id
}

// safeResult makes a probe's result safe before it reaches Temporal: the result document's
// strings (a banner, a script's output — at any depth) and the message hold no NUL or invalid
// UTF-8 (safetext), the document is capped at safetext.MaxResultBytes and the message at
// safetext.MaxMessageBytes.
func safeResult(r workflows.CheckResult) workflows.CheckResult {
	r.Result = safetext.CapJSON(r.Result, safetext.MaxResultBytes)
	r.Message = safetext.Truncate(r.Message, safetext.MaxMessageBytes)
	return r
}
