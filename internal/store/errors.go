package store

import (
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/checkflow/checkflow/internal/health"
)

// Sentinel errors. Every error the store returns for a missing row, a duplicate or invalid input
// wraps exactly one of them, so callers map them with errors.Is (the API: 404, 409, 422). Their
// messages are written by the store; PostgreSQL's error text never reaches them.
var (
	// ErrNotFound: the addressed row (or a row the input refers to) does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict: the write collides with an existing row (e.g. a duplicate id).
	ErrConflict = errors.New("conflict")
	// ErrValidation: the input is invalid; the error is a *ValidationError with field details.
	// It also covers values PostgreSQL itself refuses (SQLSTATE class 22 data exceptions and the
	// class 23 violations not mapped to ErrNotFound or ErrConflict): retrying the same input
	// fails the same way, so it is never retryable.
	ErrValidation = errors.New("validation failed")
)

// NotFoundError names what was not found. It matches ErrNotFound with errors.Is.
type NotFoundError struct {
	// Entity is "System", "Configuration", "Assignment", "Run", "Provenance", "View", "Setting",
	// "Channel", "Delivery", "Maintenance" or "Transition".
	Entity string
	// ID identifies the missing row (may be empty).
	ID string
}

// Error returns "<Entity> not found", the reference's wording (e.g. "Configuration not found").
func (e *NotFoundError) Error() string { return e.Entity + " not found" }

// Is makes errors.Is(err, ErrNotFound) true.
func (e *NotFoundError) Is(target error) bool { return target == ErrNotFound }

// ConflictError describes a write that collides with an existing row. It matches ErrConflict.
type ConflictError struct {
	// Entity is the kind of row that already exists.
	Entity string
	// Message is a user-facing explanation.
	Message string
}

// Error returns the user-facing message.
func (e *ConflictError) Error() string { return e.Message }

// Is makes errors.Is(err, ErrConflict) true.
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

// FieldError is one invalid input field (JSON field name, camelCase) and why.
type FieldError = health.FieldError

// ValidationError lists the invalid fields of an input. It matches ErrValidation.
type ValidationError struct {
	Errors []FieldError `json:"errors"`
}

// Error joins the field errors: "validation failed: name: must be …; intervalSeconds: …".
func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Errors))
	for i, f := range e.Errors {
		if f.Field == "" {
			parts[i] = f.Message
		} else {
			parts[i] = f.Field + ": " + f.Message
		}
	}
	return "validation failed: " + strings.Join(parts, "; ")
}

// Is makes errors.Is(err, ErrValidation) true.
func (e *ValidationError) Is(target error) bool { return target == ErrValidation }

func notFound(entity, id string) error { return &NotFoundError{Entity: entity, ID: id} }

func invalid(field, message string) error {
	return &ValidationError{Errors: []FieldError{{Field: field, Message: message}}}
}

// fieldErrors collects field errors; err returns nil when there are none.
type fieldErrors []FieldError

func (f *fieldErrors) add(field, message string) {
	*f = append(*f, FieldError{Field: field, Message: message})
}

func (f fieldErrors) err() error {
	if len(f) == 0 {
		return nil
	}
	return &ValidationError{Errors: append([]FieldError(nil), f...)}
}

// fromHealthValidation converts a health.ValidationError (thresholds, policy) into the store's,
// prefixing the field names; other errors become one error on prefix.
func fromHealthValidation(prefix string, err error) error {
	var hv *health.ValidationError
	if errors.As(err, &hv) {
		out := &ValidationError{}
		for _, f := range hv.Errors {
			name := prefix
			if f.Field != "" {
				name = prefix + "." + f.Field
			}
			out.Errors = append(out.Errors, FieldError{Field: name, Message: f.Message})
		}
		return out
	}
	return invalid(prefix, "is not valid JSON of the expected shape")
}

// checkConstraintFields maps CHECK constraints of the schema to the input field they guard.
var checkConstraintFields = map[string]FieldError{
	"systems_id_format":                            {Field: "id", Message: "must start with a letter or digit and contain only letters, digits, '.', '_' and '-' (at most 128 characters)"},
	"systems_name_check":                           {Field: "name", Message: "must be 1 to 200 characters"},
	"systems_description_check":                    {Field: "description", Message: "must be at most 4000 characters"},
	"systems_labels_check":                         {Field: "labels", Message: "must be an object"},
	"health_check_configurations_name_check":       {Field: "name", Message: "must be 1 to 200 characters"},
	"health_check_configurations_strategy_check":   {Field: "strategyId", Message: "must be 1 to 200 characters"},
	"health_check_configurations_config_check":     {Field: "config", Message: "must be a JSON object"},
	"health_check_configurations_collectors_check": {Field: "collectors", Message: "must be a JSON array"},
	"health_check_configurations_interval_check":   {Field: "intervalSeconds", Message: "must be an integer between 1 and 31536000"},
	"system_health_checks_thresholds_check":        {Field: "stateThresholds", Message: "must be an object"},
	"system_health_checks_retention_check":         {Field: "retentionConfig", Message: "must be an object"},
	"system_health_checks_policy_check":            {Field: "notificationPolicy", Message: "must be an object"},
	"system_health_checks_locations_check":         {Field: "locations", Message: "at most 32 locations, each 1 to 63 lowercase letters, digits or '-' starting with a letter or digit"},
	"system_health_checks_quorum_check":            {Field: "quorum", Message: "must be between 1 and the number of locations, on an assignment with at least 2 locations"},
	"health_check_runs_id_check":                   {Field: "runs.id", Message: `must be "<systemId>:<key>" and at most 512 characters`},
	"health_check_runs_latency_check":              {Field: "runs.latencyMs", Message: "must be ≥ 0"},
	"system_health_state_counts_check":             {Field: "view", Message: "healthyChecks must be between 0 and totalChecks"},
	"system_health_state_seq_check":                {Field: "seq", Message: "must be ≥ 0"},
	"system_health_state_view_check":               {Field: "view", Message: "a cleared view has no checks"},
	"check_health_state_counts_check":              {Field: "checks", Message: "counts must be ≥ 0"},
	"health_events_type_check":                     {Field: "events.type", Message: "must be 1 to 200 characters"},
	"health_events_payload_check":                  {Field: "events.payload", Message: "must be an object"},
	"platform_settings_key_check":                  {Field: "key", Message: "must be 1 to 200 characters"},
	"gitops_provenance_kind_check":                 {Field: "kind", Message: "must be 1 to 100 characters"},
	"gitops_provenance_entity_check":               {Field: "entityId", Message: "must be 1 to 200 characters"},
	"gitops_provenance_source_check":               {Field: "source", Message: "must be 1 to 1000 characters"},
	"notification_channels_name_check":             {Field: "name", Message: "must be 1 to 200 characters"},
	"notification_channels_type_check":             {Field: "type", Message: "must be one of webhook, slack, discord, msteams, pagerduty, email"},
	"notification_channels_config_check":           {Field: "config", Message: "must be a JSON object"},
	"notification_channels_systems_check":          {Field: "systems", Message: "must list 1 to 1000 system ids (or \"*\")"},
	"notification_channels_events_check":           {Field: "events", Message: "must list 1 to 4 of escalation, de-escalation, recovery, check_failed"},
	"notification_channels_remind_check":           {Field: "remindEverySeconds", Message: "must be an integer between 1 and 604800"},
	"notification_channels_failures_check":         {Field: "consecutiveFailures", Message: "must be ≥ 0"},
	"notification_deliveries_id_check":             {Field: "deliveries.id", Message: "must be 1 to 600 characters"},
	"notification_deliveries_event_check":          {Field: "deliveries.event", Message: "must be escalation, de-escalation, recovery, reminder, test, check_failed or flapping"},
	"notification_deliveries_status_check":         {Field: "deliveries.status", Message: "must be pending, sent or failed"},
	"notification_deliveries_payload_check":        {Field: "deliveries.payload", Message: "must be a JSON object"},
	"notification_deliveries_attempts_check":       {Field: "deliveries.attempts", Message: "must be ≥ 0"},
	"notification_deliveries_sent_check":           {Field: "deliveries.sentAt", Message: "is set exactly when the delivery is sent"},
	"maintenance_windows_title_check":              {Field: "title", Message: "must be 1 to 200 characters"},
	"maintenance_windows_description_check":        {Field: "description", Message: "must be at most 4000 characters"},
	"maintenance_windows_systems_check":            {Field: "systemIds", Message: "must list 1 to 1000 system ids"},
	"maintenance_windows_range_check":              {Field: "endsAt", Message: "must be after startsAt"},
}

// uniqueConstraintEntities maps unique constraints to the entity that already exists.
var uniqueConstraintEntities = map[string]string{
	"systems_pkey":                     "System",
	"health_check_configurations_pkey": "Configuration",
	"system_health_checks_pkey":        "Assignment",
	"gitops_provenance_pkey":           "Provenance",
	"notification_deliveries_pkey":     "Delivery",
}

// pgCode classifies a PostgreSQL error: the code, the constraint or column, ok=false otherwise.
func pgError(err error) (*pgconn.PgError, bool) {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe, true
	}
	return nil, false
}

// wrapErr turns a database error into the store's error vocabulary. Known constraint violations
// become typed errors with the store's own messages; anything else is wrapped with the
// operation's name (and is an internal error to callers).
func wrapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrConflict) || errors.Is(err, ErrValidation) {
		return err
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("store: %s: %w", op, ErrNotFound)
	}
	pe, ok := pgError(err)
	if !ok {
		return fmt.Errorf("store: %s: %w", op, err)
	}
	switch pe.Code {
	case "23505": // unique_violation
		entity := uniqueConstraintEntities[pe.ConstraintName]
		if entity == "" {
			entity = "Resource"
		}
		return &ConflictError{Entity: entity, Message: entity + " already exists"}
	case "23503": // foreign_key_violation: the referenced row is missing
		return notFound(fkEntity(pe.ConstraintName), "")
	case "23514": // check_violation
		if f, ok := checkConstraintFields[pe.ConstraintName]; ok {
			return &ValidationError{Errors: []FieldError{f}}
		}
		return invalid("", "a value is out of range")
	case "23502": // not_null_violation
		return invalid(camel(pe.ColumnName), "is required")
	}
	if rejected := rejectedData(pe); rejected != nil {
		return rejected
	}
	return fmt.Errorf("store: %s: %w", op, err)
}

// rejectedData classifies the PostgreSQL errors that depend on the data written, not on the
// database's condition: SQLSTATE class 22 (data exception: a value too long, out of range,
// malformed, or text PostgreSQL cannot store such as NUL or invalid UTF-8) and the class 23
// integrity violations wrapErr does not name otherwise. They are a *ValidationError (matching
// ErrValidation): the same input fails the same way every time, so callers must not retry it
// (the entity's persist activity makes it a non-retryable error). Everything else — connection
// failures, class 08, serialization failures and deadlocks (40001, 40P01), insufficient
// resources (53xxx), administrator shutdown or a starting server (57P01, 57P03) — may succeed
// later and stays a plain wrapped error. It returns nil for those.
func rejectedData(pe *pgconn.PgError) error {
	field := ""
	if pe.ColumnName != "" {
		field = camel(pe.ColumnName)
	}
	switch {
	case pe.Code == "22021" || pe.Code == "22P05": // character not in repertoire, untranslatable character (e.g. \u0000 in jsonb)
		return invalid(field, "contains text that cannot be stored (a NUL character or invalid UTF-8)")
	case strings.HasPrefix(pe.Code, "22"):
		return invalid(field, "a value is malformed or out of range")
	case strings.HasPrefix(pe.Code, "23"): // 23000 integrity violation, 23001 restrict, 23P01 exclusion, …
		return invalid(field, "the write breaks a data integrity rule")
	}
	return nil
}

// fkEntity names the entity a foreign key points at from its constraint name.
func fkEntity(constraint string) string {
	switch {
	case strings.HasSuffix(constraint, "_system_id_configuration_id_fkey"):
		return "Assignment"
	case strings.HasSuffix(constraint, "_configuration_id_fkey"):
		return "Configuration"
	case strings.HasSuffix(constraint, "_system_id_fkey"):
		return "System"
	case strings.HasSuffix(constraint, "_channel_id_fkey"):
		return "Channel"
	}
	return "Referenced row"
}

// camel converts a snake_case column name into the API's camelCase field name.
func camel(s string) string {
	parts := strings.Split(s, "_")
	for i := 1; i < len(parts); i++ {
		if parts[i] != "" {
			parts[i] = strings.ToUpper(parts[i][:1]) + parts[i][1:]
		}
	}
	return strings.Join(parts, "")
}
