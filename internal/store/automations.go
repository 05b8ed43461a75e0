package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/checkflow/checkflow/internal/automation"
	"github.com/checkflow/checkflow/internal/safetext"
)

// Automations (issue 13, migration 008). Writers: the API writes automations (CreateAutomation,
// UpdateAutomation, DeleteAutomation — then signals the automation's workflow); the automation's
// workflow, through its activities, writes occurrences (RecordOccurrence / InsertOccurrence) and
// fires (RecordFire, RecordFireOutcome); a lifecycle job sweeps old occurrences
// (SweepOccurrences) and finished fires (DeleteFinishedFiresBatch). Deleting an automation
// deletes its occurrences and fires (cascade).

// ProvenanceKindAutomation is the GitOps provenance kind of automations (entity id = the
// automation's id), for SetProvenance / IsManaged like the reference's kinds.
const ProvenanceKindAutomation = "Automation"

// Automation is a stored automation: its id, its revision (1 on create, +1 on every update) and
// its configuration (the Spec as given; a webhook action's secret is stored as the caller
// passed it — the API seals it first). Its JSON form is the API's: {id, revision, name, enabled,
// trigger, cooldownSeconds, actions, createdAt, updatedAt}.
type Automation struct {
	ID       string `json:"id"`
	Revision int64  `json:"revision"`
	automation.Spec
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// AutomationFilter narrows ListAutomations.
type AutomationFilter struct {
	// Event keeps the automations of one trigger event ("" = all).
	Event string
	// EnabledOnly keeps the enabled automations.
	EnabledOnly bool
}

// automationConfig is the config column: the Spec without its name and enabled.
type automationConfig struct {
	Trigger         automation.Trigger  `json:"trigger"`
	CooldownSeconds int                 `json:"cooldownSeconds"`
	Actions         []automation.Action `json:"actions"`
}

const automationColumns = `id::text, revision, name, enabled, config, created_at, updated_at`

func scanAutomation(row pgx.Row) (Automation, error) {
	var a Automation
	var cfg []byte
	if err := row.Scan(&a.ID, &a.Revision, &a.Name, &a.Enabled, &cfg, &a.CreatedAt, &a.UpdatedAt); err != nil {
		return Automation{}, err
	}
	var c automationConfig
	if err := json.Unmarshal(cfg, &c); err != nil {
		return Automation{}, fmt.Errorf("decode automation %s config: %w", a.ID, err)
	}
	a.Trigger, a.CooldownSeconds, a.Actions = c.Trigger, c.CooldownSeconds, c.Actions
	if a.Actions == nil {
		a.Actions = []automation.Action{}
	}
	a.CreatedAt, a.UpdatedAt = utc(a.CreatedAt), utc(a.UpdatedAt)
	return a, nil
}

// automationRow validates spec (automation.Spec.Validate: everything but compiling the CEL
// expressions, which the API does with automation.Compiler before saving) and encodes its
// config column.
func automationRow(spec automation.Spec) ([]byte, error) {
	if err := spec.Validate(); err != nil {
		var ve *automation.ValidationError
		if errors.As(err, &ve) {
			return nil, &ValidationError{Errors: ve.FieldErrors()}
		}
		return nil, err
	}
	cfg, err := json.Marshal(automationConfig{Trigger: spec.Trigger, CooldownSeconds: spec.CooldownSeconds, Actions: spec.Actions})
	if err != nil {
		return nil, invalid("actions", "must be valid JSON")
	}
	return cfg, nil
}

// CreateAutomation validates spec and inserts it with a new id and revision 1. Invalid input is a
// *ValidationError naming the JSON fields (e.g. "trigger.window.count", "actions[0].config.url").
func (s *Store) CreateAutomation(ctx context.Context, spec automation.Spec) (Automation, error) {
	cfg, err := automationRow(spec)
	if err != nil {
		return Automation{}, err
	}
	a, err := scanAutomation(s.pool.QueryRow(ctx, `INSERT INTO automations (name, enabled, trigger_event, config)
		VALUES ($1, $2, $3, $4::jsonb) RETURNING `+automationColumns,
		spec.Name, spec.Enabled, spec.Trigger.Event, cfg))
	return a, wrapAutomationErr("create automation", err)
}

// GetAutomation returns one automation or a *NotFoundError (also for a malformed id).
func (s *Store) GetAutomation(ctx context.Context, id string) (Automation, error) {
	uid, ok := normUUID(id)
	if !ok {
		return Automation{}, notFound("Automation", id)
	}
	a, err := scanAutomation(s.pool.QueryRow(ctx, `SELECT `+automationColumns+` FROM automations WHERE id = $1`, uid))
	if errors.Is(err, pgx.ErrNoRows) {
		return Automation{}, notFound("Automation", id)
	}
	return a, wrapAutomationErr("get automation", err)
}

// ListAutomations returns a page of automations ordered by creation time, then id.
func (s *Store) ListAutomations(ctx context.Context, f AutomationFilter, p Page) ([]Automation, error) {
	p, err := p.normalize(DefaultListLimit)
	if err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT `+automationColumns+` FROM automations
		WHERE ($1 = '' OR trigger_event = $1) AND (NOT $2 OR enabled)
		ORDER BY created_at, id LIMIT $3 OFFSET $4`, f.Event, f.EnabledOnly, p.Limit, p.Offset)
	if err != nil {
		return nil, wrapAutomationErr("list automations", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Automation, error) { return scanAutomation(r) })
	return out, wrapAutomationErr("list automations", err)
}

// EnabledAutomations returns every enabled automation whose trigger is event, ordered by id
// (the dispatcher's lookup for one outbox event; not paged).
func (s *Store) EnabledAutomations(ctx context.Context, event string) ([]Automation, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+automationColumns+` FROM automations
		WHERE enabled AND trigger_event = $1 ORDER BY id`, event)
	if err != nil {
		return nil, wrapAutomationErr("enabled automations", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Automation, error) { return scanAutomation(r) })
	return out, wrapAutomationErr("enabled automations", err)
}

// UpdateAutomation replaces the configuration of an automation (PATCH merges before calling it)
// and increments its revision. Occurrences and fires stay. A missing automation is a
// *NotFoundError; invalid input a *ValidationError.
func (s *Store) UpdateAutomation(ctx context.Context, id string, spec automation.Spec) (Automation, error) {
	uid, ok := normUUID(id)
	if !ok {
		return Automation{}, notFound("Automation", id)
	}
	cfg, err := automationRow(spec)
	if err != nil {
		return Automation{}, err
	}
	a, err := scanAutomation(s.pool.QueryRow(ctx, `UPDATE automations SET
			name = $2, enabled = $3, trigger_event = $4, config = $5::jsonb, revision = revision + 1, updated_at = now()
		WHERE id = $1 RETURNING `+automationColumns,
		uid, spec.Name, spec.Enabled, spec.Trigger.Event, cfg))
	if errors.Is(err, pgx.ErrNoRows) {
		return Automation{}, notFound("Automation", id)
	}
	return a, wrapAutomationErr("update automation", err)
}

// DeleteAutomation deletes an automation with its occurrences and fires; a missing one is a
// *NotFoundError. Its GitOps provenance, if any, is the caller's (DeleteProvenance).
func (s *Store) DeleteAutomation(ctx context.Context, id string) error {
	uid, ok := normUUID(id)
	if !ok {
		return notFound("Automation", id)
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM automations WHERE id = $1`, uid)
	if err != nil {
		return wrapAutomationErr("delete automation", err)
	}
	if tag.RowsAffected() == 0 {
		return notFound("Automation", id)
	}
	return nil
}

// ---- occurrences --------------------------------------------------------------------------------

// Occurrence is one event that passed an automation's filter and counts for its window.
type Occurrence struct {
	AutomationID string `json:"automationId"`
	// PartitionKey is the window partition (automation.Match's PartitionKey).
	PartitionKey string `json:"partitionKey"`
	// EventKey is the outbox event's idempotency key; an automation counts an event once.
	EventKey string `json:"eventKey"`
	// At is the event's time.
	At time.Time `json:"at"`
}

func (o Occurrence) validate() (string, error) {
	var fe fieldErrors
	uid, ok := normUUID(o.AutomationID)
	if !ok {
		return "", notFound("Automation", o.AutomationID)
	}
	if o.EventKey == "" || len(o.EventKey) > 600 {
		fe.add("eventKey", "must be 1 to 600 characters")
	}
	if len(o.PartitionKey) > 600 {
		fe.add("partitionKey", "must be at most 600 characters")
	}
	if o.At.IsZero() {
		fe.add("at", "is required")
	}
	return uid, fe.err()
}

const insertOccurrenceSQL = `INSERT INTO automation_occurrences (automation_id, event_key, partition_key, occurred_at)
	VALUES ($1, $2, $3, $4) ON CONFLICT (automation_id, event_key) DO NOTHING`

// InsertOccurrence records an occurrence once per (automation, event key): inserted is false
// when the event was recorded before (a redelivery), which changes nothing. A missing
// automation is a *NotFoundError.
func (s *Store) InsertOccurrence(ctx context.Context, o Occurrence) (inserted bool, err error) {
	uid, err := o.validate()
	if err != nil {
		return false, err
	}
	tag, err := s.pool.Exec(ctx, insertOccurrenceSQL, uid, o.EventKey, o.PartitionKey, o.At.UTC())
	if err != nil {
		return false, wrapAutomationErr("insert occurrence", err)
	}
	return tag.RowsAffected() == 1, nil
}

// RecordOccurrence is the window gate's storage step in one transaction: it inserts o (once per
// event key, like InsertOccurrence) and returns the times of the partition's other occurrences
// at or after since, newest first, at most limit (automation.Automation.WindowStart and
// PriorLimit) — the prior occurrences automation.Decide takes. The event itself is never among
// them, so a retried call returns the same list as long as no other occurrence of the partition
// was recorded in between (the automation's workflow records one event at a time).
func (s *Store) RecordOccurrence(ctx context.Context, o Occurrence, since time.Time, limit int) (inserted bool, prior []time.Time, err error) {
	uid, err := o.validate()
	if err != nil {
		return false, nil, err
	}
	if err := checkLimit(limit); err != nil {
		return false, nil, err
	}
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, insertOccurrenceSQL, uid, o.EventKey, o.PartitionKey, o.At.UTC())
		if err != nil {
			return err
		}
		inserted = tag.RowsAffected() == 1
		rows, err := tx.Query(ctx, `SELECT occurred_at FROM automation_occurrences
			WHERE automation_id = $1 AND partition_key = $2 AND occurred_at >= $3 AND event_key <> $4
			ORDER BY occurred_at DESC LIMIT $5`, uid, o.PartitionKey, since.UTC(), o.EventKey, limit)
		if err != nil {
			return err
		}
		prior, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (time.Time, error) {
			var t time.Time
			err := r.Scan(&t)
			return t.UTC(), err
		})
		return err
	})
	if err != nil {
		return false, nil, wrapAutomationErr("record occurrence", err)
	}
	return inserted, prior, nil
}

// CountOccurrences counts the occurrences of a partition at or after since (all partitions
// when partitionKey is "*").
func (s *Store) CountOccurrences(ctx context.Context, automationID, partitionKey string, since time.Time) (int, error) {
	uid, ok := normUUID(automationID)
	if !ok {
		return 0, notFound("Automation", automationID)
	}
	var n int
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM automation_occurrences
		WHERE automation_id = $1 AND ($2 = '*' OR partition_key = $2) AND occurred_at >= $3`,
		uid, partitionKey, since.UTC()).Scan(&n)
	return n, wrapAutomationErr("count occurrences", err)
}

// ListOccurrences returns the occurrences of a partition ("*" = every partition) at or after
// since, newest first (then by event key), at most limit.
func (s *Store) ListOccurrences(ctx context.Context, automationID, partitionKey string, since time.Time, limit int) ([]Occurrence, error) {
	uid, ok := normUUID(automationID)
	if !ok {
		return nil, notFound("Automation", automationID)
	}
	if err := checkLimit(limit); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT automation_id::text, partition_key, event_key, occurred_at FROM automation_occurrences
		WHERE automation_id = $1 AND ($2 = '*' OR partition_key = $2) AND occurred_at >= $3
		ORDER BY occurred_at DESC, event_key LIMIT $4`, uid, partitionKey, since.UTC(), limit)
	if err != nil {
		return nil, wrapAutomationErr("list occurrences", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Occurrence, error) {
		var o Occurrence
		err := r.Scan(&o.AutomationID, &o.PartitionKey, &o.EventKey, &o.At)
		o.At = o.At.UTC()
		return o, err
	})
	return out, wrapAutomationErr("list occurrences", err)
}

// DeleteOccurrencesBatch deletes at most limit occurrences (of any automation) older than cutoff,
// the oldest first, in one short statement, and returns how many it deleted.
func (s *Store) DeleteOccurrencesBatch(ctx context.Context, cutoff time.Time, limit int) (int64, error) {
	if err := checkLimit(limit); err != nil {
		return 0, err
	}
	return s.execCount(ctx, "delete occurrences", `DELETE FROM automation_occurrences WHERE ctid = ANY(ARRAY(
			SELECT ctid FROM automation_occurrences WHERE occurred_at < $1 ORDER BY occurred_at LIMIT $2))`,
		cutoff.UTC(), limit)
}

// SweepOccurrences deletes every occurrence older than cutoff (now − health.WindowEventRetention,
// 24 h: no window is longer) in batches of at most batchSize rows, each its own statement, until
// a batch comes back short; it returns the total. A cancelled ctx stops between batches with
// what was deleted so far.
func (s *Store) SweepOccurrences(ctx context.Context, cutoff time.Time, batchSize int) (int64, error) {
	var total int64
	for {
		n, err := s.DeleteOccurrencesBatch(ctx, cutoff, batchSize)
		total += n
		if err != nil || n < int64(batchSize) {
			return total, err
		}
		if err := ctx.Err(); err != nil {
			return total, err
		}
	}
}

// ---- fires -------------------------------------------------------------------------------------

// FireOutcome is the state of one action of a fire.
type FireOutcome string

// Fire outcomes.
const (
	// FirePending: the gate fired, the action has not reported an outcome yet.
	FirePending FireOutcome = "pending"
	// FireSucceeded: the action succeeded.
	FireSucceeded FireOutcome = "succeeded"
	// FireFailed: the action failed for good (retries given up, or a permanent failure).
	FireFailed FireOutcome = "failed"
)

// FireInput identifies one action of one fire.
type FireInput struct {
	AutomationID string
	EventKey     string
	EventType    string
	PartitionKey string
	ActionIndex  int
	ActionType   automation.ActionType
	// FiredAt is the time of the gate decision.
	FiredAt time.Time
}

// Fire is one action of one fire as recorded. ID is its idempotency key
// (automation.ActionKey).
type Fire struct {
	ID           string                `json:"id"`
	AutomationID string                `json:"automationId"`
	EventKey     string                `json:"eventKey"`
	EventType    string                `json:"eventType"`
	PartitionKey string                `json:"partitionKey"`
	ActionIndex  int                   `json:"actionIndex"`
	ActionType   automation.ActionType `json:"actionType"`
	Outcome      FireOutcome           `json:"outcome"`
	// Detail is the failure or a short description of the success (e.g. the external id).
	Detail string `json:"detail,omitempty"`
	// Result is the action's result document (e.g. the assignment artifact).
	Result     json.RawMessage `json:"result,omitempty"`
	FiredAt    time.Time       `json:"firedAt"`
	FinishedAt *time.Time      `json:"finishedAt,omitempty"`
	CreatedAt  time.Time       `json:"createdAt"`
}

// Fire limits.
const (
	// maxFireDetailBytes caps a stored detail.
	maxFireDetailBytes = 2000
	// maxFireResultBytes caps a stored result document.
	maxFireResultBytes = 16 * 1024
)

const fireColumns = `id, automation_id::text, event_key, event_type, partition_key, action_index, action_type, outcome,
	detail, result, fired_at, finished_at, created_at`

func scanFire(row pgx.Row) (Fire, error) {
	var f Fire
	var detail *string
	var result []byte
	if err := row.Scan(&f.ID, &f.AutomationID, &f.EventKey, &f.EventType, &f.PartitionKey, &f.ActionIndex, &f.ActionType,
		&f.Outcome, &detail, &result, &f.FiredAt, &f.FinishedAt, &f.CreatedAt); err != nil {
		return Fire{}, err
	}
	if detail != nil {
		f.Detail = *detail
	}
	if result != nil {
		f.Result = json.RawMessage(result)
	}
	f.FiredAt, f.CreatedAt, f.FinishedAt = utc(f.FiredAt), utc(f.CreatedAt), utcPtr(f.FinishedAt)
	return f, nil
}

// validate checks in and returns the normalised automation id and the fire's id.
func (in FireInput) validate() (uid, id string, err error) {
	uid, ok := normUUID(in.AutomationID)
	if !ok {
		return "", "", notFound("Automation", in.AutomationID)
	}
	var fe fieldErrors
	if in.EventKey == "" || len(in.EventKey) > 600 {
		fe.add("eventKey", "must be 1 to 600 characters")
	}
	if in.EventType == "" || len(in.EventType) > 200 {
		fe.add("eventType", "must be 1 to 200 characters")
	}
	if len(in.PartitionKey) > 600 {
		fe.add("partitionKey", "must be at most 600 characters")
	}
	if in.ActionIndex < 0 || in.ActionIndex > 99 {
		fe.add("actionIndex", "must be between 0 and 99")
	}
	known := false
	for _, t := range automation.ActionTypes() {
		known = known || t == in.ActionType
	}
	if !known {
		fe.add("actionType", "must be one of notify, run_check, set_assignment_enabled, webhook")
	}
	if in.FiredAt.IsZero() {
		fe.add("firedAt", "is required")
	}
	return uid, automation.ActionKey(in.EventKey, uid, in.ActionIndex), fe.err()
}

// RecordFire records that the gate fired an action (outcome pending), once: created is false
// when the action's row exists already (a retried or replayed activity), and the stored row is
// returned unchanged. A missing automation is a *NotFoundError.
func (s *Store) RecordFire(ctx context.Context, in FireInput) (f Fire, created bool, err error) {
	uid, id, err := in.validate()
	if err != nil {
		return Fire{}, false, err
	}
	f, err = scanFire(s.pool.QueryRow(ctx, `INSERT INTO automation_fires
			(id, automation_id, event_key, event_type, partition_key, action_index, action_type, fired_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING RETURNING `+fireColumns,
		id, uid, in.EventKey, in.EventType, in.PartitionKey, in.ActionIndex, string(in.ActionType), in.FiredAt.UTC()))
	if errors.Is(err, pgx.ErrNoRows) {
		f, err = s.GetFire(ctx, id)
		return f, false, err
	}
	if err != nil {
		return Fire{}, false, wrapAutomationErr("record fire", err)
	}
	return f, true, nil
}

// RecordFireOutcome records the outcome (succeeded or failed) of an action once: the first call
// for an action sets it (creating the row if RecordFire was not called), later calls change
// nothing and return the stored row with recorded false — an action's outcome is recorded
// exactly once even when its activity is retried after doing its work. detail is capped at 2000
// bytes; result (a JSON object or nil) at 16 KiB.
func (s *Store) RecordFireOutcome(ctx context.Context, in FireInput, outcome FireOutcome, detail string, result json.RawMessage, at time.Time) (f Fire, recorded bool, err error) {
	uid, id, err := in.validate()
	if err != nil {
		return Fire{}, false, err
	}
	if outcome != FireSucceeded && outcome != FireFailed {
		return Fire{}, false, invalid("outcome", "must be succeeded or failed")
	}
	if at.IsZero() {
		return Fire{}, false, invalid("finishedAt", "is required")
	}
	var res []byte
	if r := rawOrNil(result); r != nil {
		res = safetext.CapJSON(r, maxFireResultBytes)
	}
	var det *string
	if detail != "" {
		d := safetext.Truncate(safetext.String(detail), maxFireDetailBytes)
		det = &d
	}
	f, err = scanFire(s.pool.QueryRow(ctx, `INSERT INTO automation_fires
			(id, automation_id, event_key, event_type, partition_key, action_index, action_type, fired_at,
			 outcome, detail, result, finished_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::jsonb, $12)
		ON CONFLICT (id) DO UPDATE SET outcome = EXCLUDED.outcome, detail = EXCLUDED.detail,
			result = EXCLUDED.result, finished_at = EXCLUDED.finished_at
		WHERE automation_fires.outcome = 'pending'
		RETURNING `+fireColumns,
		id, uid, in.EventKey, in.EventType, in.PartitionKey, in.ActionIndex, string(in.ActionType), in.FiredAt.UTC(),
		string(outcome), det, res, at.UTC()))
	if errors.Is(err, pgx.ErrNoRows) { // the outcome was recorded before
		f, err = s.GetFire(ctx, id)
		return f, false, err
	}
	if err != nil {
		return Fire{}, false, wrapAutomationErr("record fire outcome", err)
	}
	return f, true, nil
}

// GetFire returns one action's fire by its idempotency key, or a *NotFoundError.
func (s *Store) GetFire(ctx context.Context, id string) (Fire, error) {
	f, err := scanFire(s.pool.QueryRow(ctx, `SELECT `+fireColumns+` FROM automation_fires WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Fire{}, notFound("Fire", id)
	}
	return f, wrapAutomationErr("get fire", err)
}

// ListFires returns a page of an automation's fires, newest first (fired_at, then event key and
// action index). A missing automation gives an empty list.
func (s *Store) ListFires(ctx context.Context, automationID string, p Page) ([]Fire, error) {
	uid, ok := normUUID(automationID)
	if !ok {
		return nil, notFound("Automation", automationID)
	}
	p, err := p.normalize(DefaultListLimit)
	if err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT `+fireColumns+` FROM automation_fires WHERE automation_id = $1
		ORDER BY fired_at DESC, event_key, action_index LIMIT $2 OFFSET $3`, uid, p.Limit, p.Offset)
	if err != nil {
		return nil, wrapAutomationErr("list fires", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Fire, error) { return scanFire(r) })
	return out, wrapAutomationErr("list fires", err)
}

// DeleteFinishedFiresBatch deletes at most limit fires that finished (succeeded or failed)
// before cutoff, the oldest first. Pending fires are never deleted.
func (s *Store) DeleteFinishedFiresBatch(ctx context.Context, cutoff time.Time, limit int) (int64, error) {
	if err := checkLimit(limit); err != nil {
		return 0, err
	}
	return s.execCount(ctx, "delete finished fires", `DELETE FROM automation_fires WHERE id = ANY(ARRAY(
			SELECT id FROM automation_fires WHERE finished_at < $1 ORDER BY finished_at LIMIT $2))`,
		cutoff.UTC(), limit)
}

// ---- errors --------------------------------------------------------------------------------------

// automationCheckField maps the CHECK constraints of migration 008 to the field they guard.
func automationCheckField(constraint string) (FieldError, bool) {
	switch constraint {
	case "automations_name_check":
		return FieldError{Field: "name", Message: "must be 1 to 200 characters"}, true
	case "automations_event_check", "automations_config_check":
		return FieldError{Field: "trigger.event", Message: "must be 1 to 200 characters and match the trigger"}, true
	case "automation_occurrences_event_key_check", "automation_fires_event_key_check":
		return FieldError{Field: "eventKey", Message: "must be 1 to 600 characters"}, true
	case "automation_occurrences_partition_check", "automation_fires_partition_check":
		return FieldError{Field: "partitionKey", Message: "must be at most 600 characters"}, true
	case "automation_fires_event_type_check":
		return FieldError{Field: "eventType", Message: "must be 1 to 200 characters"}, true
	case "automation_fires_index_check":
		return FieldError{Field: "actionIndex", Message: "must be between 0 and 99"}, true
	case "automation_fires_action_type_check":
		return FieldError{Field: "actionType", Message: "must be one of notify, run_check, set_assignment_enabled, webhook"}, true
	case "automation_fires_result_check":
		return FieldError{Field: "result", Message: "must be a JSON object"}, true
	case "automations_revision_check":
		return FieldError{Field: "revision", Message: "must be ≥ 1"}, true
	case "automation_fires_id_check":
		return FieldError{Field: "id", Message: `must be "<event key>:<automation id>:<action index>"`}, true
	case "automation_fires_outcome_check":
		return FieldError{Field: "outcome", Message: "must be pending, succeeded or failed"}, true
	case "automation_fires_finished_check":
		return FieldError{Field: "finishedAt", Message: "is set exactly when the outcome is not pending"}, true
	}
	return FieldError{}, false
}

// wrapAutomationErr is wrapErr with the constraints of the automation tables: their CHECKs name
// their fields and a missing automation (foreign key) is an "Automation not found".
func wrapAutomationErr(op string, err error) error {
	if pe, ok := pgError(err); ok {
		switch {
		case pe.Code == "23514":
			if f, ok := automationCheckField(pe.ConstraintName); ok {
				return &ValidationError{Errors: []FieldError{f}}
			}
		case pe.Code == "23503" && strings.HasSuffix(pe.ConstraintName, "_automation_id_fkey"):
			return notFound("Automation", "")
		}
	}
	return wrapErr(op, err)
}
