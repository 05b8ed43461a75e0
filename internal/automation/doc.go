// Package automation is the pure domain of checkflow's automations (issue 13): "when these
// events happen (this often), do that". It has no I/O and no clock; every time is a parameter.
//
// # Model
//
// A Spec is an automation as configured (the API body, what the store keeps): a Trigger (one
// event of Events, an optional CEL filter, an optional window gate), an optional cooldown and
// 1–20 Actions (notify, run_check, set_assignment_enabled, webhook). Parse decodes a body
// strictly; Spec.Validate checks a Spec built in Go; both report every invalid field at once as
// a *ValidationError (Field + Detail, plus Line/Column for CEL errors; FieldErrors gives the
// API's {field, message} form).
//
// # Expressions
//
// Filters and partitionBy are CEL (github.com/google/cel-go). A Compiler holds one CEL
// environment per trigger event in which trigger.event is a string and trigger.payload a
// struct with exactly the event's payload fields (EventDefinition), so a syntax error, an
// unknown field or a type error is found when the automation is saved, with its position.
// Compiler.Compile (a Spec) and Compiler.Parse (a body) return an Automation: immutable, safe
// for concurrent use, to be built once per automation revision and evaluated for every event.
// A filter evaluation costs about 2 µs.
//
// # Deciding a fire
//
// For each event of the trigger's type the caller:
//
//  1. calls Automation.Match: the filter (a failure is an *EvalError: log it, do not count the
//     event), then the partition key (partitionBy's value, else the payload's systemId; a
//     failing or empty partitionBy falls back to the systemId, reference §8.4);
//  2. with a window (Automation.HasWindow), records the occurrence (automation, partition key,
//     event key, the event's time) idempotently by event key and reads the partition's prior
//     occurrences since Automation.WindowStart, at most Automation.PriorLimit newest, the event
//     itself excluded;
//  3. calls Automation.Decide (or Decide) with the event's time, those occurrences and the
//     partition's last fire (Cooldowns, kept in the automation's workflow state): the window
//     gate of health.GateDecision (refire "every" fires at count ≥ N, "once" at count == N),
//     then the cooldown;
//  4. on a fire, records it in Cooldowns and runs each action with ActionKey(event key,
//     automation id, index) as its idempotency key (fire row, run-now Idempotency-Key,
//     X-Checkflow-Delivery).
//
// The cooldown is per partition (per system unless partitionBy): "restart this system at most
// once every 10 minutes" does not hold back another system's fire. An occurrence suppressed by
// the cooldown still counts for the window.
//
// Everything a workflow needs (Decide, Cooldowns, ActionKey, WebhookBody, NotifyConfig.Render)
// is deterministic; Match evaluates CEL, which is deterministic too but is meant to run where
// events are read (the dispatcher), so that workflows receive only matching events with their
// partition key.
package automation
