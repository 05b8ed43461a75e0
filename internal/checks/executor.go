package checks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/checkflow/checkflow/internal/health"
)

// DefaultExecutionTimeoutMs applies when a stored config has no timeout (reference §15.3;
// health.DefaultProbeTimeoutMs).
const DefaultExecutionTimeoutMs = health.DefaultProbeTimeoutMs

var errExecutionTimeout = errors.New("execution timeout")

// Execute runs one probe: connect with the strategy config, run every collector in parallel,
// evaluate assertions, mask secrets and strip ephemeral fields (reference §15.3 step 9).
//
// It never panics and never returns an error: every failure is an unhealthy Result whose
// message says why. The whole run is bounded by config.timeout (DefaultExecutionTimeoutMs
// when absent); when it fires the probe context is cancelled (scripts are killed, sockets
// closed) and the result is "Execution timeout after <ms>ms".
func (r *Registry) Execute(ctx context.Context, req Request) (res Result) {
	start := time.Now()
	defer func() {
		if p := recover(); p != nil {
			r.log.ErrorContext(ctx, "check execution panicked", slog.Any("panic", p), slog.String("stack", string(debug.Stack())))
			res = catastrophicResult(fmt.Sprintf("panic: %v", p))
		}
	}()
	s, ok := r.byID[req.StrategyID]
	if !ok {
		return catastrophicResult(fmt.Sprintf("Strategy %s not found", req.StrategyID))
	}
	timeoutMs := rawTimeoutMs(req.Config)
	obj, err := decodeObject(req.Config)
	if err != nil {
		return failureResult(start, false, "invalid configuration: config: "+err.Error())
	}
	var errs errList
	cfg := s.config.validateObject("config", obj, &errs)
	if len(errs) > 0 {
		return failureResult(start, false, (&ValidationError{Errors: errs}).Error())
	}

	pctx, cancel := context.WithTimeoutCause(ctx, time.Duration(timeoutMs)*time.Millisecond, errExecutionTimeout)
	defer cancel()
	var connected atomic.Bool
	done := make(chan Result, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				r.log.ErrorContext(ctx, "probe panicked", slog.String("strategy", s.id), slog.Any("panic", p), slog.String("stack", string(debug.Stack())))
				done <- catastrophicResult(fmt.Sprintf("panic: %v", p))
			}
		}()
		done <- r.probe(pctx, s, cfg, req, start, &connected)
	}()

	deadline, _ := pctx.Deadline()
	finished := false
	select {
	case res := <-done:
		// Socket deadlines derived from the context can fire a moment before the context
		// itself: a probe that ends at the deadline is a timeout either way.
		if pctx.Err() == nil && time.Now().Before(deadline) {
			return res
		}
		finished = true
	case <-pctx.Done():
	}
	timedOut := errors.Is(context.Cause(pctx), errExecutionTimeout) || !time.Now().Before(deadline)
	cause := context.Cause(pctx)
	cancel()
	if !finished { // make sure the probe has released its resources (bounded wait)
		grace := time.NewTimer(r.grace)
		select {
		case <-done:
		case <-grace.C:
			r.log.WarnContext(ctx, "probe did not stop within grace period after cancellation", slog.String("strategy", s.id), slog.Duration("grace", r.grace))
		}
		grace.Stop()
	}
	if timedOut {
		return failureResult(start, connected.Load(), fmt.Sprintf("Execution timeout after %dms", timeoutMs))
	}
	return failureResult(start, connected.Load(), fmt.Sprintf("Execution cancelled: %v", cause))
}

// rawTimeoutMs reads config.timeout as stored (health.ProbeTimeoutMs: the rule the workflow bounds its
// activities by), falling back to DefaultExecutionTimeoutMs.
func rawTimeoutMs(raw json.RawMessage) int { return health.ProbeTimeoutMs(raw) }

func elapsedMs(start time.Time) int { return int(time.Since(start).Milliseconds()) }

// failureResult is the transport-failure / timeout shape of §3.5.
func failureResult(start time.Time, connected bool, msg string) Result {
	ms := elapsedMs(start)
	return Result{
		Status:    StatusUnhealthy,
		LatencyMs: &ms,
		Message:   msg,
		Metadata:  map[string]any{"connected": connected, "error": msg},
	}
}

// catastrophicResult is the shape for failures outside the probe: no latency.
func catastrophicResult(msg string) Result {
	return Result{Status: StatusUnhealthy, Message: msg, Metadata: map[string]any{"error": msg}}
}

type collectorOutcome struct {
	key   string
	entry map[string]any
	err   string // first error of this collector: collector error, else "Assertion failed: ..."
	skip  bool
}

func (r *Registry) probe(ctx context.Context, s *strategyDef, cfg map[string]any, req Request, start time.Time, connected *atomic.Bool) Result {
	c, err := s.connect(ctx, cfg)
	if err != nil {
		return failureResult(start, false, err.Error())
	}
	connected.Store(true)
	connectionTimeMs := elapsedMs(start)

	outs := make([]collectorOutcome, len(req.Collectors))
	var wg sync.WaitGroup
	for i, e := range req.Collectors {
		cd, ok := r.collectorFor(s, e.CollectorID)
		if !ok {
			r.log.WarnContext(ctx, "collector not registered for strategy, skipping", slog.String("strategy", s.id), slog.String("collectorId", e.CollectorID), slog.String("entryId", e.ID))
			outs[i].skip = true
			continue
		}
		wg.Go(func() { outs[i] = r.runCollector(ctx, c, cd, i, e, req) })
	}
	wg.Wait()
	if err := c.Close(); err != nil {
		r.log.WarnContext(ctx, "closing probe client failed", slog.String("strategy", s.id), slog.Any("error", err))
	}

	collectors := make(map[string]any, len(outs))
	firstErr := ""
	for _, o := range outs {
		if o.skip {
			continue
		}
		collectors[o.key] = o.entry
		if firstErr == "" && o.err != "" {
			firstErr = o.err
		}
	}
	latency := elapsedMs(start)
	res := Result{
		Status:    StatusHealthy,
		LatencyMs: &latency,
		Message:   fmt.Sprintf("Completed in %dms", latency),
		Metadata: map[string]any{
			"connected":        true,
			"connectionTimeMs": connectionTimeMs,
			"collectors":       collectors,
		},
	}
	if firstErr != "" {
		res.Status = StatusUnhealthy
		res.Message = "Check failed: " + firstErr
	}
	return res
}

// runCollector is one collector's error boundary: config validation, secret resolution,
// collection, assertions, ephemeral stripping and masking.
func (r *Registry) runCollector(ctx context.Context, c client, cd *collectorDef, idx int, e CollectorEntry, req Request) (o collectorOutcome) {
	o.key = e.ID
	if o.key == "" {
		o.key = fmt.Sprintf("collector-%d", idx)
	}
	var mask *masker
	fail := func(msg string) collectorOutcome {
		msg = mask.text(msg)
		o.entry = map[string]any{"_collectorId": cd.id, "_collectorError": msg}
		o.err = msg
		return o
	}
	defer func() {
		if p := recover(); p != nil {
			r.log.ErrorContext(ctx, "collector panicked", slog.String("collector", cd.id), slog.Any("panic", p), slog.String("stack", string(debug.Stack())))
			o = fail(fmt.Sprintf("collector panicked: %v", p))
		}
	}()

	obj, err := decodeObject(e.Config)
	if err != nil {
		return fail("invalid collector configuration: " + err.Error())
	}
	var errs errList
	cfg := cd.config.validateObject(fmt.Sprintf("collectors[%d].config", idx), obj, &errs)
	if len(errs) > 0 {
		return fail((&ValidationError{Errors: errs}).Error())
	}
	in := collectInput{Run: req.RunContext, Dial: r.dial, HTTP: r.http}
	if tmpl := parseSecretEnv(cfg); tmpl != nil {
		if req.Secrets == nil {
			// Never a silent skip: the script would run without what it needs.
			return fail(noSecretResolverMessage(tmpl))
		}
		env, values, err := resolveSecretEnv(ctx, req.Secrets, tmpl)
		if err != nil {
			return fail(err.Error())
		}
		in.SecretEnv = env
		mask = newMasker(values)
	}

	result, cerr := cd.collect(ctx, c, cfg, in)
	entry := map[string]any{"_collectorId": cd.id}
	if result != nil {
		if len(e.Assertions) > 0 {
			if failed := EvaluateAssertions(result, e.Assertions); failed != "" {
				entry["_assertionFailed"] = mask.text(failed)
				o.err = "Assertion failed: " + mask.text(failed)
			}
		}
		for _, k := range cd.ephemeral {
			delete(result, k)
		}
		for k, v := range result {
			entry[mask.text(k)] = mask.deep(v)
		}
	}
	if cerr != nil {
		msg := mask.text(cerr.Error())
		entry["_collectorError"] = msg
		o.err = msg
	}
	o.entry = entry
	return o
}
