// Package timeout owns a check's probe timeout as read from its stored configuration: the
// executor enforces it and the SystemHealth workflow and probe sessions bound their activities
// by it, so both read it with the same rule. It has no dependencies, so workflow code can use
// it.
package timeout

import (
	"encoding/json"
	"time"
)

// DefaultMs applies when a stored config has no usable timeout (reference §15.3).
const DefaultMs = 60000

// Ms is config.timeout in milliseconds as stored (any value of at least 1 ms; the API's schema
// asks for at least 100), or DefaultMs when it is missing, not a number or below 1.
func Ms(config json.RawMessage) int {
	var t struct {
		Timeout *float64 `json:"timeout"`
	}
	if err := json.Unmarshal(config, &t); err != nil || t.Timeout == nil || *t.Timeout < 1 {
		return DefaultMs
	}
	return int(*t.Timeout)
}

// Of is Ms as a duration.
func Of(config json.RawMessage) time.Duration { return time.Duration(Ms(config)) * time.Millisecond }
