package automation

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/checkflow/checkflow/internal/health"
)

// Event is one trigger event as an automation receives it from the outbox.
type Event struct {
	// Key is the event's idempotency key ("<systemId>:<seq>:<type>[:…]", health_events).
	Key string `json:"key"`
	// Type is the trigger event type (one of EventTypes()).
	Type string `json:"type"`
	// Payload is the event's payload (decoded JSON; numbers may be float64, json.Number or
	// Go integers).
	Payload map[string]any `json:"payload"`
	// At is when the event happened (the outbox row's created_at). Pass it as the gate's now,
	// so that a backlog delivered late is counted by when it happened.
	At time.Time `json:"at"`
}

// Automation is a validated Spec with its CEL expressions compiled, ready to evaluate events.
// It is immutable and safe for concurrent use. Build it with Compiler.Compile (a stored spec)
// or Compiler.Parse (an API body), once per automation revision.
type Automation struct {
	spec      Spec
	filter    *Expression
	partition *Expression
}

// Compile validates spec (Spec.Validate) and compiles its filter and partitionBy against the
// trigger event's payload schema. Errors are one *ValidationError listing every invalid field,
// CEL problems with their positions.
func (c *Compiler) Compile(spec Spec) (*Automation, error) {
	return c.compileSpec(spec, spec.validate())
}

// Parse decodes and validates an API body (see Parse) and compiles its expressions; the errors
// of all three steps come in one *ValidationError.
func (c *Compiler) Parse(raw []byte) (*Automation, error) {
	spec, errs := parse(raw)
	return c.compileSpec(spec, errs)
}

// compileSpec compiles the expressions of spec (when its event is known) and adds their errors
// to errs, except where errs already names the field.
func (c *Compiler) compileSpec(spec Spec, errs fieldErrs) (*Automation, error) {
	a := &Automation{spec: spec}
	if _, ok := LookupEvent(spec.Trigger.Event); ok {
		known := errs
		compile := func(field, src string, fn func(event, source string) (*Expression, error)) *Expression {
			if strings.TrimSpace(src) == "" || relatedField(known, field) {
				return nil
			}
			expr, err := fn(spec.Trigger.Event, src)
			var ve *ValidationError
			switch {
			case err == nil:
				return expr
			case errors.As(err, &ve):
				errs = append(errs, ve.Errors...)
			default:
				errs.add(field, "%s", err.Error())
			}
			return nil
		}
		a.filter = compile(FieldFilter, spec.Trigger.Filter, c.Filter)
		if w := spec.Trigger.Window; w != nil {
			a.partition = compile(FieldPartitionBy, w.PartitionBy, c.PartitionBy)
		}
	}
	if err := errs.err(); err != nil {
		return nil, err
	}
	return a, nil
}

// Spec returns the automation's configuration (a copy; its slices are shared read-only).
func (a *Automation) Spec() Spec { return a.spec }

// Event returns the trigger event type.
func (a *Automation) Event() string { return a.spec.Trigger.Event }

// Match is the result of evaluating an event against an automation's trigger.
type Match struct {
	// Matched: the event has the trigger's type and passed the filter; only matched events are
	// counted by the window gate.
	Matched bool `json:"matched"`
	// PartitionKey is the event's window and cooldown partition (set when Matched): the value
	// of partitionBy, or the payload's systemId without one.
	PartitionKey string `json:"partitionKey,omitempty"`
	// PartitionFallback says why the built-in key was used although partitionBy is set (the
	// expression failed or was empty); "" otherwise. Worth a log line, not an error (§8.4).
	PartitionFallback string `json:"partitionFallback,omitempty"`
}

// Match evaluates the trigger against ev: an event of another type does not match; then the
// filter (when set) must be true; then the partition key is computed (reference §8.4:
// partitionBy's value as a trimmed string, falling back to the built-in context key when it is
// null, empty or fails — never a global key). A filter that fails or is not a bool is an
// *EvalError: the caller logs it and the event does not count ("any gate error → do not
// fire"). Enabled is not looked at (the :test endpoint evaluates disabled automations too).
func (a *Automation) Match(ev Event) (Match, error) {
	if ev.Type != a.spec.Trigger.Event {
		return Match{}, nil
	}
	if a.filter != nil {
		ok, err := a.filter.Matches(ev.Payload)
		if err != nil || !ok {
			return Match{}, err
		}
	}
	m := Match{Matched: true}
	builtin := ContextKey(ev.Payload)
	if a.partition == nil {
		m.PartitionKey = builtin
		return m, nil
	}
	v, err := a.partition.Value(ev.Payload)
	// health.PartitionKey with an empty built-in key returns "" exactly when it would fall back.
	key := health.PartitionKey(v, err, "")
	switch {
	case err != nil:
		m.PartitionKey, m.PartitionFallback = builtin, err.Error()
	case key == "":
		m.PartitionKey, m.PartitionFallback = builtin, "partitionBy evaluated to an empty value"
	default:
		m.PartitionKey = capPartitionKey(key)
	}
	return m, nil
}

// MaxPartitionKeyLength is the longest partition key kept as it is, in bytes; a longer value of
// partitionBy is replaced by "sha256:<hex>" of it (still one partition per distinct value).
const MaxPartitionKeyLength = 512

func capPartitionKey(key string) string {
	if len(key) <= MaxPartitionKeyLength {
		return key
	}
	sum := sha256.Sum256([]byte(key))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// The gate decision is internal/health's (workflows decide with it); these names keep it
// reachable from the automation model.

// GateReason says why the gate fired or not (health.GateReason).
type GateReason = health.GateReason

// Gate reasons.
const (
	GateFired          = health.GateFired
	GateBelowCount     = health.GateBelowCount
	GateAlreadyCrossed = health.GateAlreadyCrossed
	GateCooldown       = health.GateCooldown
	GateInvalidWindow  = health.GateInvalidWindow
)

// GateInput is health.GateInput.
type GateInput = health.GateInput

// GateDecision is health.GateOutcome.
type GateDecision = health.GateOutcome

// Decide is health.DecideGate.
func Decide(in GateInput) GateDecision { return health.DecideGate(in) }

// Decide is Decide with the automation's window and cooldown.
func (a *Automation) Decide(now time.Time, prior []time.Time, lastFire *time.Time) GateDecision {
	return Decide(GateInput{Window: a.spec.Trigger.Window, CooldownSeconds: a.spec.CooldownSeconds,
		Now: now, Prior: prior, LastFire: lastFire})
}

// HasWindow reports whether matched events must be recorded as occurrences (the trigger has a
// window).
func (a *Automation) HasWindow() bool { return a.spec.Trigger.Window != nil }

// WindowStart is the oldest occurrence time that counts for an occurrence at now: now − minutes
// (the zero time without a window).
func (a *Automation) WindowStart(now time.Time) time.Time {
	if a.spec.Trigger.Window == nil {
		return time.Time{}
	}
	return now.Add(-time.Duration(a.spec.Trigger.Window.Minutes) * time.Minute)
}

// PriorLimit is how many of the newest prior occurrences in the window the store has to return
// for an exact decision: window.count (a count of ≥ N prior occurrences decides the same
// whatever the exact number: "every" fires, "once" does not). 0 without a window.
func (a *Automation) PriorLimit() int {
	if a.spec.Trigger.Window == nil {
		return 0
	}
	return a.spec.Trigger.Window.Count
}

// LastFire is health.LastFire.
type LastFire = health.LastFire

// Cooldowns is health.Cooldowns.
type Cooldowns = health.Cooldowns

// ---- JSON helpers -------------------------------------------------------------------------------

// DecodePayload decodes an event payload the way the outbox stores it (a JSON object); numbers
// become float64, as encoding/json does.
func DecodePayload(raw []byte) (map[string]any, error) {
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("automation: decode payload: %w", err)
	}
	if m == nil {
		return nil, fmt.Errorf("automation: decode payload: not a JSON object")
	}
	return m, nil
}
