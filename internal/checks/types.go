// Package checks runs health-check probes: strategies (http, tcp, dns, tls, ping, postgres, mysql,
// redis, grpc, ssh, rcon, jenkins, script), their collectors, assertions on collector results, secret injection
// and masking, and the per-collector aggregate merge used by hourly aggregation.
//
// The package does no Temporal and no HTTP-API work; the probe activity calls
// [Registry.Execute] and stores the returned [Result] (reference §3.5 shape).
package checks

import (
	"context"
	"encoding/json"
)

// Run statuses produced by the executor. A local probe is never "degraded".
const (
	StatusHealthy   = "healthy"
	StatusUnhealthy = "unhealthy"
)

// Result is the outcome of one probe run, in the stored §3.5 shape.
type Result struct {
	// Status is "healthy" or "unhealthy".
	Status string `json:"status"`
	// LatencyMs is the total run duration; nil for catastrophic failures.
	LatencyMs *int `json:"latencyMs"`
	// Message is "Completed in <ms>ms", "Check failed: <first error>" or the transport error.
	Message string `json:"message"`
	// Metadata holds connected, connectionTimeMs and collectors{<entryId>: {...}} (success
	// path) or connected and error (transport failure, timeout).
	Metadata map[string]any `json:"metadata,omitempty"`
}

// Healthy reports whether the run succeeded.
func (r Result) Healthy() bool { return r.Status == StatusHealthy }

// CollectorEntry is one collector instance configured on a check (reference §1.1.1).
type CollectorEntry struct {
	// ID is the instance id (a UUID in the reference); results are stored under it.
	ID string `json:"id"`
	// CollectorID names the collector, short ("request") or qualified ("healthcheck-http.request").
	CollectorID string `json:"collectorId"`
	// Config is the collector's own configuration object.
	Config json.RawMessage `json:"config"`
	// Assertions are evaluated in order against the collector's result; the first failure wins.
	Assertions []Assertion `json:"assertions,omitempty"`
}

// Assertion compares one collector result field (optionally a JSONPath into it) with a value.
type Assertion struct {
	// Field is the result field, e.g. "statusCode" or "body".
	Field string `json:"field"`
	// JSONPath, when set, is an RFC 9535 query evaluated on the field (parsed as JSON when it is
	// a string). A singular query yields one value (or none); any other yields an array of nodes.
	JSONPath string `json:"jsonPath,omitempty"`
	// Operator is one of [Operators].
	Operator string `json:"operator"`
	// Value is the expected value (unused by exists, notExists, isTrue, isFalse, isEmpty, isNotEmpty).
	Value any `json:"value,omitempty"`
}

// RunContext describes the check and system a probe runs for; scripts see it as environment.
type RunContext struct {
	// CheckID is the check (configuration) id; empty means no check part.
	CheckID string
	// CheckName is the check's name (the executor falls back to the id).
	CheckName string
	// IntervalSeconds is the check's run interval.
	IntervalSeconds int
	// SystemID is the system id; empty means no system part.
	SystemID string
	// SystemName is the system's display name (falls back to the id).
	SystemName string
}

// SecretResolver returns the values of named secrets. Names it does not know are simply absent
// from the returned map.
type SecretResolver interface {
	Resolve(ctx context.Context, names []string) (map[string]string, error)
}

// Request is everything Execute needs for one probe run.
type Request struct {
	// StrategyID is "http" or a reference alias such as "healthcheck-http.http".
	StrategyID string
	// Config is the strategy config (JSON object).
	Config json.RawMessage
	// Collectors are run in parallel against the strategy's client.
	Collectors []CollectorEntry
	// RunContext is exposed to script collectors as CHECKFLOW_* and CHECKSTACK_* variables.
	RunContext RunContext
	// Secrets resolves collector secretEnv references; nil means no secrets are injected.
	Secrets SecretResolver
}

// StrategyInfo describes a strategy for the API and UIs.
type StrategyInfo struct {
	// ID is the short strategy id, e.g. "http".
	ID string `json:"id"`
	// Aliases are the accepted reference ids, e.g. "healthcheck-http.http".
	Aliases []string `json:"aliases"`
	// DisplayName is a human-readable name.
	DisplayName string `json:"displayName"`
	// Description says what the strategy probes.
	Description string `json:"description"`
	// ConfigSchema is the JSON Schema of the strategy config (defaults, bounds, x-secret marks).
	ConfigSchema json.RawMessage `json:"configSchema"`
	// Collectors are the collectors that run against this strategy's client.
	Collectors []CollectorInfo `json:"collectors"`
}

// CollectorInfo describes a collector of a strategy.
type CollectorInfo struct {
	// ID is the short collector id, e.g. "request"; stored results carry it as _collectorId.
	ID string `json:"id"`
	// Aliases are the accepted reference ids, e.g. "healthcheck-http.request".
	Aliases []string `json:"aliases"`
	// StrategyID is the strategy this collector belongs to.
	StrategyID string `json:"strategyId"`
	// DisplayName is a human-readable name.
	DisplayName string `json:"displayName"`
	// Description says what the collector measures and when it fails.
	Description string `json:"description"`
	// AllowMultiple tells whether a check may have several entries of this collector.
	AllowMultiple bool `json:"allowMultiple"`
	// ConfigSchema is the JSON Schema of the collector config.
	ConfigSchema json.RawMessage `json:"configSchema"`
	// ResultSchema lists the result fields (assertable); x-ephemeral fields are not stored.
	ResultSchema json.RawMessage `json:"resultSchema"`
	// Aggregates lists the hourly aggregate states MergeCollector maintains.
	Aggregates []AggregateInfo `json:"aggregates"`
}

// AggregateInfo describes one aggregate state kept for a collector.
type AggregateInfo struct {
	// Name is the key in the aggregated result, e.g. "avgResponseTimeMs".
	Name string `json:"name"`
	// Type is counter, average, rate or minmax.
	Type string `json:"type"`
	// Source is the result field it is computed from.
	Source string `json:"source"`
}

// Strategy is a registered probe strategy.
type Strategy interface {
	// Info describes the strategy.
	Info() StrategyInfo
	sealed()
}
