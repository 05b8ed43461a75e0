package automation

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
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

// GateReason says why the gate fired or not.
type GateReason string

// Gate reasons.
const (
	// GateFired: the occurrence fires the actions.
	GateFired GateReason = "fired"
	// GateBelowCount: fewer than window.count occurrences in the window (this one included).
	GateBelowCount GateReason = "below_count"
	// GateAlreadyCrossed: refire "once" and the count is past window.count (it fired when the
	// count reached it; it re-arms when old occurrences leave the window).
	GateAlreadyCrossed GateReason = "already_crossed"
	// GateCooldown: the partition fired less than cooldownSeconds ago.
	GateCooldown GateReason = "cooldown"
	// GateInvalidWindow: the window config is invalid (never fires).
	GateInvalidWindow GateReason = "invalid_window"
)

// GateInput is everything a gate decision depends on — explicit values, so that a workflow can
// decide deterministically (no clock, no I/O).
type GateInput struct {
	// Window is the trigger's window; nil means every matched event fires.
	Window *health.WindowConfig
	// CooldownSeconds is the automation's cooldown (0 = none).
	CooldownSeconds int
	// Now is the time of the occurrence (the event's At).
	Now time.Time
	// Prior are the times of the partition's occurrences already recorded, this one excluded,
	// in any order. Only those at or after WindowStart(Now) matter, and at most PriorLimit
	// newest of them: a longer list gives the same decision.
	Prior []time.Time
	// LastFire is the partition's last fire (nil = never or forgotten after the cooldown).
	LastFire *time.Time
}

// GateDecision is the outcome of Decide.
type GateDecision struct {
	// Fire: run the actions.
	Fire bool `json:"fire"`
	// Reason says why (GateFired when Fire).
	Reason GateReason `json:"reason"`
	// Count is the number of occurrences in the window, this one included (0 without a window).
	Count int `json:"count"`
	// CooldownUntil is when the partition's cooldown ends (set for GateCooldown).
	CooldownUntil *time.Time `json:"cooldownUntil,omitempty"`
}

// Decide applies the window gate (reference §8.4, health.GateDecision: refire "every" fires
// at count ≥ N, "once" only at count == N) and then the cooldown: a partition that fired at
// LastFire does not fire again before LastFire + CooldownSeconds (at that instant it may). A
// suppressed occurrence is still an occurrence (the caller has recorded it; it counts for later
// decisions) but does not move the cooldown. Without a window every matched event passes the
// gate.
func Decide(in GateInput) GateDecision {
	d := GateDecision{}
	if in.Window != nil {
		w := *in.Window
		if w.Refire == "" {
			w.Refire = health.RefireEvery
		}
		if w.Validate() != nil {
			return GateDecision{Reason: GateInvalidWindow}
		}
		d.Count = health.WindowCount(in.Prior, in.Now, w.Minutes)
		if !health.GateDecision(in.Prior, in.Now, w) {
			d.Reason = GateBelowCount
			if d.Count > w.Count {
				d.Reason = GateAlreadyCrossed
			}
			return d
		}
	}
	if in.CooldownSeconds > 0 && in.LastFire != nil {
		until := in.LastFire.Add(time.Duration(in.CooldownSeconds) * time.Second).UTC()
		if in.Now.Before(until) {
			d.Reason = GateCooldown
			d.CooldownUntil = &until
			return d
		}
	}
	d.Fire = true
	d.Reason = GateFired
	return d
}

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

// ---- cooldown state ---------------------------------------------------------------------------

// LastFire is when a partition last fired.
type LastFire struct {
	PartitionKey string    `json:"partitionKey"`
	At           time.Time `json:"at"`
}

// Cooldowns remembers the last fire of each partition for the cooldown, as workflow state: a
// slice sorted by partition key (no map, deterministic JSON). Prune keeps it small.
type Cooldowns struct {
	Entries []LastFire `json:"entries,omitempty"`
}

func (c *Cooldowns) find(key string) (int, bool) {
	i := sort.Search(len(c.Entries), func(i int) bool { return c.Entries[i].PartitionKey >= key })
	return i, i < len(c.Entries) && c.Entries[i].PartitionKey == key
}

// Last returns the partition's last fire, nil when none is remembered.
func (c *Cooldowns) Last(partitionKey string) *time.Time {
	if i, ok := c.find(partitionKey); ok {
		t := c.Entries[i].At
		return &t
	}
	return nil
}

// Record remembers a fire of the partition at at (a later fire replaces an earlier one; an
// older one is ignored).
func (c *Cooldowns) Record(partitionKey string, at time.Time) {
	at = at.UTC()
	i, ok := c.find(partitionKey)
	if ok {
		if at.After(c.Entries[i].At) {
			c.Entries[i].At = at
		}
		return
	}
	c.Entries = append(c.Entries, LastFire{})
	copy(c.Entries[i+1:], c.Entries[i:])
	c.Entries[i] = LastFire{PartitionKey: partitionKey, At: at}
}

// Prune forgets the partitions whose cooldown has ended at now (all of them when cooldown ≤
// 0): forgetting them changes no decision.
func (c *Cooldowns) Prune(now time.Time, cooldownSeconds int) {
	keep := c.Entries[:0]
	for _, e := range c.Entries {
		if cooldownSeconds > 0 && now.Before(e.At.Add(time.Duration(cooldownSeconds)*time.Second)) {
			keep = append(keep, e)
		}
	}
	clear(c.Entries[len(keep):])
	c.Entries = keep
	if len(c.Entries) == 0 {
		c.Entries = nil
	}
}

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
