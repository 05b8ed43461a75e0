// Package store is checkflow's PostgreSQL access layer (pgx/v5): the only package that writes
// SQL. The schema itself lives in the embedded migrations of package schema.
//
// # Writers
//
// API handlers write configuration only (systems, configurations, assignments, settings,
// provenance) and then signal the system's entity. Everything a check run produces — runs,
// hourly aggregates, the current view, check states, transitions and outbox events — is written
// by the system's entity through Persist, one transaction per processed item (design.md
// invariants 1 and 3). Retention (RunRetention and its primitives) deletes and rolls up.
// Every assignment write (Associate, SetAssignmentEnabled, SetRetentionConfig, Disassociate)
// also writes a healthcheck.assignment.changed hook into the outbox, in its own transaction.
//
// Notifications: the API writes channels and maintenance windows; the notifier writes
// deliveries (one row per event and channel, id "<event idempotency key>:<channel id>"), the
// channels' failure columns, what was last notified per system (notification_state) and its
// own outbox events (InsertEvent); a maintenance window's workflow marks its edges.
//
// # Ids and idempotency
//
// Run ids are text and always "<systemId>:<key>" (a CHECK constraint enforces the prefix;
// system ids cannot contain ':'), so a run id is globally unique and stable across retries:
//
//   - probe runs: ProbeRunID → "<systemId>:<seq>";
//   - results pushed from outside: ExternalRunID → "<systemId>:ext:<producerId>";
//   - run-now updates: RunNowRunID → "<systemId>:run:<updateId>".
//
// Persist inserts runs ON CONFLICT DO NOTHING and writes everything else only when a run was
// new; an item without runs (a configuration change) applies only when its seq is newer than
// the stored one. The current view is fenced by seq: an older seq never overwrites a newer
// state. Outbox events carry the idempotency key "<systemId>:<seq>:<type>[:<discriminator>]"
// (EventKey), unique in the table; events written outside Persist choose their own unique key
// (assignment hooks: "<systemId>:assignment:<configurationId>:<uuid>"). A cleared view (no enabled checks) keeps its row and seq so
// that a restarted entity continues the sequence and never reuses a probe run id.
//
// # Time
//
// All columns are timestamptz; values are returned in UTC. Hourly and daily buckets start on
// UTC boundaries (health.HourStart, health.DayStart) — a deliberate difference from the
// reference, which floors in process-local time on timestamp columns.
//
// # Errors
//
// Missing rows, duplicates and invalid input are returned as *NotFoundError, *ConflictError and
// *ValidationError, matching ErrNotFound, ErrConflict and ErrValidation with errors.Is (the API
// maps them to 404, 409 and 422). Their messages are the store's own; constraint violations are
// translated by constraint name, never by passing PostgreSQL's text on. Any other error is an
// internal error.
//
// # Rules
//
// The store does no health math of its own: folding a run into a bucket, the daily rollup,
// history re-bucketing, windowed metrics, threshold parsing and policy resolution all call
// internal/health.
package store
