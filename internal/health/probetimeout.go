package health

// A check's probe timeout as read from its stored configuration: the executor (internal/checks)
// enforces it and the SystemHealth workflow and probe sessions bound their activities by it, so
// both read it with the same rule.

import (
	"encoding/json"
	"time"
)

// DefaultProbeTimeoutMs applies when a stored config has no usable timeout (reference §15.3).
const DefaultProbeTimeoutMs = 60000

// ProbeTimeoutMs is config.timeout in milliseconds as stored (any value of at least 1 ms; the API's schema
// asks for at least 100), or DefaultProbeTimeoutMs when it is missing, not a number or below 1.
func ProbeTimeoutMs(config json.RawMessage) int {
	var t struct {
		Timeout *float64 `json:"timeout"`
	}
	if err := json.Unmarshal(config, &t); err != nil || t.Timeout == nil || *t.Timeout < 1 {
		return DefaultProbeTimeoutMs
	}
	return int(*t.Timeout)
}

// ProbeTimeout is ProbeTimeoutMs as a duration.
func ProbeTimeout(config json.RawMessage) time.Duration {
	return time.Duration(ProbeTimeoutMs(config)) * time.Millisecond
}
