// Package heartbeat holds the pure rules of heartbeat (push) checks: when a ping is due, when a
// missing ping fails the check, and what a ping request means. A heartbeat check is not probed:
// the job it watches pings checkflow, and the system's entity fails the check when a ping does
// not arrive in time (workflows/heartbeat.go). Nothing here does I/O, so the entity may use it.
package heartbeat

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/robfig/cron/v3"
)

// StrategyID is the qualified id of the heartbeat strategy.
const StrategyID = "healthcheck-heartbeat.heartbeat"

// Limits of the configuration.
const (
	MinPeriodSeconds = 1
	MaxPeriodSeconds = 366 * 24 * 3600 // a year
	MaxGraceSeconds  = 30 * 24 * 3600
	// DefaultGraceSeconds is the grace when the configuration names none.
	DefaultGraceSeconds = 60
	// MaxBodyBytes caps the ping body kept as the run's output.
	MaxBodyBytes = 10 * 1024
)

// Config is a heartbeat check's strategy configuration: pings are due every PeriodSeconds, or
// at the times of Cron in Timezone, and a ping may be GraceSeconds late before the check fails.
type Config struct {
	PeriodSeconds int    `json:"periodSeconds,omitempty"`
	GraceSeconds  *int   `json:"graceSeconds,omitempty"`
	Cron          string `json:"cron,omitempty"`
	Timezone      string `json:"timezone,omitempty"`
}

// Schedule is a parsed, valid Config.
type Schedule struct {
	period time.Duration
	grace  time.Duration
	cron   cron.Schedule
	loc    *time.Location
}

// FieldError names the configuration field a Parse error is about.
type FieldError struct {
	Field   string
	Message string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// Parse reads and validates a heartbeat configuration. Exactly one of periodSeconds and cron
// must be set; timezone (an IANA name, default UTC) only goes with cron.
func Parse(raw json.RawMessage) (Schedule, error) {
	var c Config
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &c); err != nil {
			return Schedule{}, fmt.Errorf("heartbeat config: %w", err)
		}
	}
	return c.Schedule()
}

// Schedule validates the configuration and returns its schedule.
func (c Config) Schedule() (Schedule, error) {
	var s Schedule
	grace := DefaultGraceSeconds
	if c.GraceSeconds != nil {
		grace = *c.GraceSeconds
	}
	if grace < 0 || grace > MaxGraceSeconds {
		return s, &FieldError{"graceSeconds", fmt.Sprintf("must be between 0 and %d", MaxGraceSeconds)}
	}
	s.grace = time.Duration(grace) * time.Second
	switch {
	case c.PeriodSeconds != 0 && c.Cron != "":
		return s, &FieldError{"cron", "set either periodSeconds or cron, not both"}
	case c.Cron != "":
		sched, err := cronParser.Parse(c.Cron)
		if err != nil {
			return s, &FieldError{"cron", "not a cron expression (five fields or a descriptor such as @daily): " + err.Error()}
		}
		s.cron = sched
		s.loc = time.UTC
		if c.Timezone != "" {
			loc, err := loadZone(c.Timezone)
			if err != nil {
				return s, &FieldError{"timezone", fmt.Sprintf("unknown time zone %q (use an IANA name such as Europe/Berlin)", c.Timezone)}
			}
			s.loc = loc
		}
	case c.PeriodSeconds != 0:
		if c.Timezone != "" {
			return s, &FieldError{"timezone", "only with cron"}
		}
		if c.PeriodSeconds < MinPeriodSeconds || c.PeriodSeconds > MaxPeriodSeconds {
			return s, &FieldError{"periodSeconds", fmt.Sprintf("must be between %d and %d", MinPeriodSeconds, MaxPeriodSeconds)}
		}
		s.period = time.Duration(c.PeriodSeconds) * time.Second
	default:
		return s, &FieldError{"periodSeconds", "set periodSeconds or cron"}
	}
	return s, nil
}

// Grace is how late a ping may be.
func (s Schedule) Grace() time.Duration { return s.grace }

// NextExpected is when the next ping is expected after a ping (or an expected time) at t.
func (s Schedule) NextExpected(t time.Time) time.Time {
	if s.cron != nil {
		return s.cron.Next(t.In(s.loc)).UTC()
	}
	return t.Add(s.period)
}

// DeadlineAfterPing is when the check fails if no ping follows the one at t.
func (s Schedule) DeadlineAfterPing(t time.Time) time.Time {
	return s.NextExpected(t).Add(s.grace)
}

// DeadlineAfterMiss is when the check fails again after a missed deadline: one more period
// (or the next cron time) later, so that consecutive misses are consecutive failed runs and
// the check's thresholds apply to them as to any check.
func (s Schedule) DeadlineAfterMiss(deadline time.Time) time.Time {
	return s.NextExpected(deadline.Add(-s.grace)).Add(s.grace)
}

// DeadlineAfterStart is when a job that signalled its start at t fails unless it succeeds.
func (s Schedule) DeadlineAfterStart(t time.Time) time.Time { return t.Add(s.grace) }

// Kind is what a ping says.
type Kind string

// Ping kinds, by the path of the request.
const (
	// Success: /ping/{token} or /ping/{token}/0.
	Success Kind = "success"
	// Start: /ping/{token}/start — the job began; a success measures its duration.
	Start Kind = "start"
	// Fail: /ping/{token}/fail or a non-zero exit code — the job failed.
	Fail Kind = "fail"
)

// Ping is a parsed ping request.
type Ping struct {
	Kind Kind `json:"kind"`
	// ExitCode is set for /ping/{token}/{exitCode}.
	ExitCode *int `json:"exitCode,omitempty"`
}

// ErrUnknownAction is returned by ParseAction for a path suffix that is no ping action.
var ErrUnknownAction = errors.New("unknown ping action: use /start, /fail, or an exit code 0–255")

// ParseAction reads the suffix after /ping/{token}: "" (success), "start", "fail" or an exit
// code 0–255 (0 is a success, any other code a failure).
func ParseAction(action string) (Ping, error) {
	switch action {
	case "":
		return Ping{Kind: Success}, nil
	case "start":
		return Ping{Kind: Start}, nil
	case "fail":
		return Ping{Kind: Fail}, nil
	}
	n, err := strconv.Atoi(action)
	if err != nil || n < 0 || n > 255 || strconv.Itoa(n) != action {
		return Ping{}, ErrUnknownAction
	}
	p := Ping{Kind: Success, ExitCode: &n}
	if n != 0 {
		p.Kind = Fail
	}
	return p, nil
}

// IsStrategy tells whether a strategy id (short or qualified) is the heartbeat strategy.
func IsStrategy(id string) bool { return id == "heartbeat" || id == StrategyID }
