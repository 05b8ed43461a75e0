package health

import (
	"sort"
	"strconv"
	"time"
)

// An automation's gate as a pure decision (reference §8.4 plus checkflow's cooldown): the
// automation workflow decides with explicit inputs — the occurrence's time, the partition's
// prior occurrences and its last fire — so the decision is deterministic and replayable. The
// window counting is WindowCount and GateDecision (window.go).

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
	Window *WindowConfig
	// CooldownSeconds is the automation's cooldown (0 = none).
	CooldownSeconds int
	// Now is the time of the occurrence (the event's At).
	Now time.Time
	// Prior are the times of the partition's occurrences already recorded, this one excluded,
	// in any order. Only those at or after Now − window minutes matter, and at most window.count
	// newest of them: a longer list gives the same decision.
	Prior []time.Time
	// LastFire is the partition's last fire (nil = never or forgotten after the cooldown).
	LastFire *time.Time
}

// GateOutcome is the outcome of DecideGate.
type GateOutcome struct {
	// Fire: run the actions.
	Fire bool `json:"fire"`
	// Reason says why (GateFired when Fire).
	Reason GateReason `json:"reason"`
	// Count is the number of occurrences in the window, this one included (0 without a window).
	Count int `json:"count"`
	// CooldownUntil is when the partition's cooldown ends (set for GateCooldown).
	CooldownUntil *time.Time `json:"cooldownUntil,omitempty"`
}

// DecideGate applies an automation's window gate (reference §8.4, GateDecision: refire "every" fires
// at count ≥ N, "once" only at count == N) and then the cooldown: a partition that fired at
// LastFire does not fire again before LastFire + CooldownSeconds (at that instant it may). A
// suppressed occurrence is still an occurrence (the caller has recorded it; it counts for later
// decisions) but does not move the cooldown. Without a window every matched event passes the
// gate.
func DecideGate(in GateInput) GateOutcome {
	d := GateOutcome{}
	if in.Window != nil {
		w := *in.Window
		if w.Refire == "" {
			w.Refire = RefireEvery
		}
		if w.Validate() != nil {
			return GateOutcome{Reason: GateInvalidWindow}
		}
		d.Count = WindowCount(in.Prior, in.Now, w.Minutes)
		if !GateDecision(in.Prior, in.Now, w) {
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

// AutomationActionKey is the idempotency key of one action of one automation for one event:
// "<event key>:<automation id>:<action index>" — the run-now Idempotency-Key, the webhook's
// X-Checkflow-Delivery and the key its outcome is recorded under.
func AutomationActionKey(eventKey, automationID string, actionIndex int) string {
	return eventKey + ":" + automationID + ":" + strconv.Itoa(actionIndex)
}
