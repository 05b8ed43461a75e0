package checks

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/checkflow/checkflow/internal/heartbeat"
)

// errHeartbeatNotProbed is what probing a heartbeat check answers: the check waits for pings.
var errHeartbeatNotProbed = errors.New("heartbeat checks are not probed: the job pings POST /api/v1/ping/{pingToken}, and the system's entity fails the check when a ping is late")

// heartbeatStrategy is the push check: a job pings checkflow every period (or at the times of a
// cron expression), and a ping later than the grace time fails the check (internal/heartbeat).
// It has no collectors and nothing to connect to.
func heartbeatStrategy() *strategyDef {
	return &strategyDef{
		id: "heartbeat", plugin: "healthcheck-heartbeat", displayName: "Heartbeat",
		description: "Expects a ping (POST or GET /api/v1/ping/{pingToken}) every period, or at the times of a cron expression, with a grace time; " +
			"a late ping fails the check, /fail or a non-zero exit code fails it at once, /start then a success measures the job's duration.",
		config: objectSchema{Props: []prop{
			{Name: "periodSeconds", Type: "integer", Description: "Seconds between pings (set this or cron).",
				Min: ptr(heartbeat.MinPeriodSeconds), Max: ptr(heartbeat.MaxPeriodSeconds)},
			{Name: "graceSeconds", Type: "integer", Default: heartbeat.DefaultGraceSeconds,
				Description: "How late a ping may be before the check fails; also how long a started job may run.",
				Min:         ptr(0), Max: ptr(heartbeat.MaxGraceSeconds)},
			{Name: "cron", Type: "string", MaxLength: 200, Description: "When pings are due, as a five-field cron expression or a descriptor such as @daily (set this or periodSeconds)."},
			{Name: "timezone", Type: "string", MaxLength: 64, Description: "IANA time zone of cron (default UTC)."},
		}},
		connect: func(context.Context, map[string]any) (client, error) { return nil, errHeartbeatNotProbed },
		validate: func(config json.RawMessage, errs *errList) {
			if _, err := heartbeat.Parse(config); err != nil {
				var fe *heartbeat.FieldError
				if errors.As(err, &fe) {
					errs.add("config."+fe.Field, "%s", fe.Message)
				} else {
					errs.add("config", "%s", err.Error())
				}
			}
		},
	}
}
