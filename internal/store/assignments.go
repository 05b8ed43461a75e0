package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/checkflow/checkflow/internal/health"
)

// Assignment is a configuration assigned to a system (system_health_checks).
type Assignment struct {
	SystemID          string `json:"systemId"`
	ConfigurationID   string `json:"configurationId"`
	ConfigurationName string `json:"configurationName"`
	Enabled           bool   `json:"enabled"`
	// StateThresholds is nil when the assignment uses the default thresholds.
	StateThresholds *health.Thresholds `json:"stateThresholds,omitempty"`
	// RetentionConfig is nil when the assignment uses the default retention.
	RetentionConfig *RetentionConfig `json:"retentionConfig,omitempty"`
	// Locations are where the check is probed; empty = the default probe task queue.
	Locations []string `json:"locations"`
	// Quorum is how many locations must fail for a run to fail (multi-location checks, at
	// least 2 locations); nil: a majority of Locations.
	Quorum *int `json:"quorum,omitempty"`
	// NotificationPolicy is nil when the assignment inherits the platform defaults.
	NotificationPolicy *health.NotificationPolicy `json:"notificationPolicy,omitempty"`
	CreatedAt          time.Time                  `json:"createdAt"`
	UpdatedAt          time.Time                  `json:"updatedAt"`
}

// AssociateInput upserts an assignment. On insert, unset fields take their defaults (enabled,
// default thresholds, no locations, inherited policy); on update, unset fields are left as they
// are. Optional fields set with a nil Value are cleared (back to the default).
type AssociateInput struct {
	SystemID           string
	ConfigurationID    string
	Enabled            *bool
	StateThresholds    Optional[*health.Thresholds]
	NotificationPolicy Optional[*health.NotificationPolicy]
	Locations          *[]string
	// Quorum sets the quorum (Value nil: back to a majority). Set or not, the resulting quorum
	// must suit the resulting locations (health.QuorumProblem): else a *ValidationError on
	// "quorum" and nothing changes.
	Quorum Optional[*int]
}

// QuorumValue is the assignment's quorum, or 0 when none is set (a majority of the locations).
func (a Assignment) QuorumValue() int {
	if a.Quorum == nil {
		return 0
	}
	return *a.Quorum
}

const assignmentColumns = `a.system_id, a.configuration_id::text, c.name, a.enabled, a.state_thresholds,
	a.retention_config, a.locations, a.notification_policy, a.created_at, a.updated_at, a.quorum`

func scanAssignment(row pgx.Row) (Assignment, error) {
	var a Assignment
	var th, rc, np []byte
	if err := row.Scan(&a.SystemID, &a.ConfigurationID, &a.ConfigurationName, &a.Enabled, &th, &rc, &a.Locations, &np, &a.CreatedAt, &a.UpdatedAt, &a.Quorum); err != nil {
		return Assignment{}, err
	}
	if err := decodeAssignmentJSON(&a, th, rc, np); err != nil {
		return Assignment{}, err
	}
	if a.Locations == nil {
		a.Locations = []string{}
	}
	a.CreatedAt, a.UpdatedAt = utc(a.CreatedAt), utc(a.UpdatedAt)
	return a, nil
}

func decodeAssignmentJSON(a *Assignment, th, rc, np []byte) error {
	if len(th) > 0 {
		t, err := health.ParseThresholds(th)
		if err != nil {
			return fmt.Errorf("stored thresholds of %s/%s: %w", a.SystemID, a.ConfigurationID, err)
		}
		a.StateThresholds = &t
	}
	if len(rc) > 0 {
		var r RetentionConfig
		if err := json.Unmarshal(rc, &r); err != nil {
			return fmt.Errorf("stored retention config of %s/%s: %w", a.SystemID, a.ConfigurationID, err)
		}
		a.RetentionConfig = &r
	}
	if len(np) > 0 {
		p, ok, err := health.ParseNotificationPolicy(np)
		if err != nil {
			return fmt.Errorf("stored notification policy of %s/%s: %w", a.SystemID, a.ConfigurationID, err)
		}
		if ok {
			a.NotificationPolicy = &p
		}
	}
	return nil
}

// normLocations drops duplicates, keeping the first occurrence.
func normLocations(in []string) []string {
	out := make([]string, 0, len(in))
	seen := map[string]bool{}
	for _, l := range in {
		if !seen[l] {
			seen[l] = true
			out = append(out, l)
		}
	}
	return out
}

// Associate upserts the assignment of a configuration to a system and reports whether it was
// created. Thresholds are validated with the domain rules (§2.2) and stored as the versioned
// record; the notification policy is stored as given (1.5.0 shape). An unknown system or
// configuration is a *NotFoundError. The healthcheck.assignment.changed hook is written in the
// same transaction.
func (s *Store) Associate(ctx context.Context, in AssociateInput) (Assignment, bool, error) {
	var fe fieldErrors
	cfgID, ok := normUUID(in.ConfigurationID)
	if !ok {
		fe.add("configurationId", "must be a UUID")
	}
	var thJSON []byte
	if in.StateThresholds.Set && in.StateThresholds.Value != nil {
		th := in.StateThresholds.Value.WithDefaults()
		if _, err := th.Validate(); err != nil {
			var ve *ValidationError
			if errors.As(fromHealthValidation("stateThresholds", err), &ve) {
				fe = append(fe, ve.Errors...)
			}
		} else if thJSON, err = health.MarshalThresholdsRecord(th); err != nil {
			return Assignment{}, false, fmt.Errorf("store: associate: %w", err)
		}
	}
	var npJSON []byte
	if in.NotificationPolicy.Set && in.NotificationPolicy.Value != nil {
		npJSON, _ = json.Marshal(in.NotificationPolicy.Value)
	}
	var locations []string
	if in.Locations != nil {
		locations = normLocations(*in.Locations)
	}
	if err := fe.err(); err != nil {
		return Assignment{}, false, err
	}
	var quorum *int
	if in.Quorum.Set {
		quorum = in.Quorum.Value
	}
	var a Assignment
	var created bool
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if in.Quorum.Set || in.Locations != nil {
			if err := checkQuorum(ctx, tx, in, cfgID, locations); err != nil {
				return err
			}
		}
		if err := tx.QueryRow(ctx, `INSERT INTO system_health_checks AS a
				(system_id, configuration_id, enabled, state_thresholds, notification_policy, locations, quorum)
			VALUES ($1, $2, coalesce($3::boolean, true), $4::jsonb, $6::jsonb, coalesce($8::text[], '{}'),
				-- The row to insert passes the quorum constraint even when it is an update of
				-- another row's quorum only (checkQuorum validated what the write leaves).
				CASE WHEN cardinality($8::text[]) >= 2 THEN $9::integer END)
			ON CONFLICT (system_id, configuration_id) DO UPDATE SET
				enabled = coalesce($3::boolean, a.enabled),
				state_thresholds = CASE WHEN $5::boolean THEN EXCLUDED.state_thresholds ELSE a.state_thresholds END,
				notification_policy = CASE WHEN $7::boolean THEN EXCLUDED.notification_policy ELSE a.notification_policy END,
				locations = coalesce($8::text[], a.locations),
				quorum = CASE WHEN $10::boolean THEN $9::integer ELSE a.quorum END,
				updated_at = now()
			RETURNING (xmax = 0)`,
			in.SystemID, cfgID, in.Enabled, thJSON, in.StateThresholds.Set, npJSON, in.NotificationPolicy.Set, locations,
			quorum, in.Quorum.Set,
		).Scan(&created); err != nil {
			return err
		}
		var err error
		a, err = scanAssignment(tx.QueryRow(ctx, `SELECT `+assignmentColumns+`
			FROM system_health_checks a JOIN health_check_configurations c ON c.id = a.configuration_id
			WHERE a.system_id = $1 AND a.configuration_id = $2`, in.SystemID, cfgID))
		if err != nil {
			return err
		}
		return insertAssignmentChanged(ctx, tx, in.SystemID, cfgID)
	})
	if err != nil {
		return Assignment{}, false, wrapErr("associate", err)
	}
	return a, created, nil
}

// checkQuorum validates the quorum an assignment write leaves — the one set, else the stored one
// — against the locations it leaves (locations: the normalised new ones, nil when not set),
// with the stored row locked for the rest of the write's transaction.
func checkQuorum(ctx context.Context, tx pgx.Tx, in AssociateInput, cfgID string, locations []string) error {
	var stored []string
	var storedQuorum *int
	err := tx.QueryRow(ctx, `SELECT locations, quorum FROM system_health_checks
		WHERE system_id = $1 AND configuration_id = $2 FOR UPDATE`, in.SystemID, cfgID).Scan(&stored, &storedQuorum)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return err
	}
	quorum := storedQuorum
	if in.Quorum.Set {
		quorum = in.Quorum.Value
	}
	if in.Locations != nil {
		stored = locations
	}
	if quorum == nil {
		return nil
	}
	if msg := health.QuorumProblem(*quorum, len(stored)); msg != "" {
		return invalid("quorum", msg)
	}
	return nil
}

// GetAssignment returns one assignment or a *NotFoundError ("Assignment not found").
func (s *Store) GetAssignment(ctx context.Context, systemID, configurationID string) (Assignment, error) {
	cfgID, ok := normUUID(configurationID)
	if !ok {
		return Assignment{}, notFound("Assignment", systemID+"/"+configurationID)
	}
	a, err := scanAssignment(s.pool.QueryRow(ctx, `SELECT `+assignmentColumns+`
		FROM system_health_checks a JOIN health_check_configurations c ON c.id = a.configuration_id
		WHERE a.system_id = $1 AND a.configuration_id = $2`, systemID, cfgID))
	if errors.Is(err, pgx.ErrNoRows) {
		return Assignment{}, notFound("Assignment", systemID+"/"+configurationID)
	}
	return a, wrapErr("get assignment", err)
}

// ListAssignments returns all assignments of a system (enabled or not) in assignment order
// (creation time, then configuration id).
func (s *Store) ListAssignments(ctx context.Context, systemID string) ([]Assignment, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+assignmentColumns+`
		FROM system_health_checks a JOIN health_check_configurations c ON c.id = a.configuration_id
		WHERE a.system_id = $1 ORDER BY a.created_at, a.configuration_id`, systemID)
	if err != nil {
		return nil, wrapErr("list assignments", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Assignment, error) { return scanAssignment(r) })
	return out, wrapErr("list assignments", err)
}

// Disassociate removes an assignment (and its check state). A missing one is a *NotFoundError.
// Runs, aggregates and transitions of the pair stay (they age out through retention). The
// healthcheck.assignment.changed hook is written in the same transaction.
func (s *Store) Disassociate(ctx context.Context, systemID, configurationID string) error {
	cfgID, ok := normUUID(configurationID)
	if !ok {
		return notFound("Assignment", systemID+"/"+configurationID)
	}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM system_health_checks WHERE system_id = $1 AND configuration_id = $2`, systemID, cfgID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return notFound("Assignment", systemID+"/"+configurationID)
		}
		return insertAssignmentChanged(ctx, tx, systemID, cfgID)
	})
	return wrapErr("disassociate", err)
}

// SetAssignmentEnabled enables or disables an assignment; a missing one is a *NotFoundError.
// The healthcheck.assignment.changed hook is written in the same transaction.
func (s *Store) SetAssignmentEnabled(ctx context.Context, systemID, configurationID string, enabled bool) (Assignment, error) {
	cfgID, ok := normUUID(configurationID)
	if !ok {
		return Assignment{}, notFound("Assignment", systemID+"/"+configurationID)
	}
	var a Assignment
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		a, err = scanAssignment(tx.QueryRow(ctx, `WITH a AS (
				UPDATE system_health_checks SET enabled = $3, updated_at = now()
				WHERE system_id = $1 AND configuration_id = $2 RETURNING *)
			SELECT `+assignmentColumns+` FROM a JOIN health_check_configurations c ON c.id = a.configuration_id`,
			systemID, cfgID, enabled))
		if errors.Is(err, pgx.ErrNoRows) {
			return notFound("Assignment", systemID+"/"+configurationID)
		}
		if err != nil {
			return err
		}
		return insertAssignmentChanged(ctx, tx, systemID, cfgID)
	})
	if err != nil {
		return Assignment{}, wrapErr("set assignment enabled", err)
	}
	return a, nil
}

// insertAssignmentChanged writes the healthcheck.assignment.changed hook of an assignment write
// into the outbox, in the write's transaction: seq = the system's current seq (0 without a state
// row), idempotency key "<systemId>:assignment:<configurationId>:<random uuid>" (every write is
// its own event).
func insertAssignmentChanged(ctx context.Context, tx pgx.Tx, systemID, configurationID string) error {
	payload, err := json.Marshal(health.AssignmentChangedPayload(systemID, configurationID))
	if err != nil {
		return fmt.Errorf("assignment changed payload: %w", err)
	}
	_, err = tx.Exec(ctx, `INSERT INTO health_events (system_id, seq, type, payload, idempotency_key)
		VALUES ($1, `+currentSeqSQL+`, $2, $3::jsonb, $1 || ':assignment:' || $4 || ':' || gen_random_uuid()::text)`,
		systemID, health.HookAssignmentChanged, payload, configurationID)
	return err
}

// ListSystemsWithEnabledChecks returns the ids of the systems with at least one enabled
// assignment, sorted: the systems whose entity the reconcile job keeps running.
func (s *Store) ListSystemsWithEnabledChecks(ctx context.Context) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT DISTINCT system_id FROM system_health_checks WHERE enabled ORDER BY system_id`)
	if err != nil {
		return nil, wrapErr("list systems with enabled checks", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	return out, wrapErr("list systems with enabled checks", err)
}

// ---- retention config ------------------------------------------------------------------------

// Retention bounds and defaults (reference §1.8).
const (
	DefaultRawRetentionDays    = 7
	DefaultHourlyRetentionDays = 30
	DefaultDailyRetentionDays  = 365
	MinRawRetentionDays        = 1
	MaxRawRetentionDays        = 30
	MinHourlyRetentionDays     = 7
	MaxHourlyRetentionDays     = 90
	MinDailyRetentionDays      = 30
	MaxDailyRetentionDays      = 1095
)

// RetentionConfig says how long each tier of an assignment's data is kept (§1.8).
type RetentionConfig struct {
	RawRetentionDays    int `json:"rawRetentionDays"`
	HourlyRetentionDays int `json:"hourlyRetentionDays"`
	DailyRetentionDays  int `json:"dailyRetentionDays"`
}

// DefaultRetentionConfig is 7/30/365 days.
func DefaultRetentionConfig() RetentionConfig {
	return RetentionConfig{DefaultRawRetentionDays, DefaultHourlyRetentionDays, DefaultDailyRetentionDays}
}

// RetentionConfigInput is a submitted retention config; nil fields take their defaults.
type RetentionConfigInput struct {
	RawRetentionDays    *int `json:"rawRetentionDays,omitempty"`
	HourlyRetentionDays *int `json:"hourlyRetentionDays,omitempty"`
	DailyRetentionDays  *int `json:"dailyRetentionDays,omitempty"`
}

// Resolve fills defaults and validates (§1.8): each field within its bounds, then
// raw < hourly ("Raw retention must be less than hourly retention") and hourly < daily
// ("Hourly retention must be less than daily retention").
func (in RetentionConfigInput) Resolve() (RetentionConfig, error) {
	rc := DefaultRetentionConfig()
	var fe fieldErrors
	pick := func(field string, v *int, lo, hi int, dst *int) {
		if v == nil {
			return
		}
		if *v < lo || *v > hi {
			fe.add(field, fmt.Sprintf("must be an integer between %d and %d", lo, hi))
			return
		}
		*dst = *v
	}
	pick("rawRetentionDays", in.RawRetentionDays, MinRawRetentionDays, MaxRawRetentionDays, &rc.RawRetentionDays)
	pick("hourlyRetentionDays", in.HourlyRetentionDays, MinHourlyRetentionDays, MaxHourlyRetentionDays, &rc.HourlyRetentionDays)
	pick("dailyRetentionDays", in.DailyRetentionDays, MinDailyRetentionDays, MaxDailyRetentionDays, &rc.DailyRetentionDays)
	if err := fe.err(); err != nil {
		return RetentionConfig{}, err
	}
	if rc.RawRetentionDays >= rc.HourlyRetentionDays {
		return RetentionConfig{}, invalid("rawRetentionDays", "Raw retention must be less than hourly retention")
	}
	if rc.HourlyRetentionDays >= rc.DailyRetentionDays {
		return RetentionConfig{}, invalid("hourlyRetentionDays", "Hourly retention must be less than daily retention")
	}
	return rc, nil
}

// GetRetentionConfig returns an assignment's retention config; nil means "not set" (the
// defaults apply). A missing assignment is a *NotFoundError.
func (s *Store) GetRetentionConfig(ctx context.Context, systemID, configurationID string) (*RetentionConfig, error) {
	a, err := s.GetAssignment(ctx, systemID, configurationID)
	if err != nil {
		return nil, err
	}
	return a.RetentionConfig, nil
}

// SetRetentionConfig validates and stores an assignment's retention config; nil resets it to
// the defaults (stored as NULL). It returns the stored config (nil after a reset). The
// healthcheck.assignment.changed hook is written in the same transaction.
func (s *Store) SetRetentionConfig(ctx context.Context, systemID, configurationID string, in *RetentionConfigInput) (*RetentionConfig, error) {
	var rc *RetentionConfig
	var raw []byte
	if in != nil {
		r, err := in.Resolve()
		if err != nil {
			return nil, err
		}
		rc = &r
		raw, _ = json.Marshal(r)
	}
	cfgID, ok := normUUID(configurationID)
	if !ok {
		return nil, notFound("Assignment", systemID+"/"+configurationID)
	}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE system_health_checks SET retention_config = $3::jsonb, updated_at = now()
			WHERE system_id = $1 AND configuration_id = $2`, systemID, cfgID, raw)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return notFound("Assignment", systemID+"/"+configurationID)
		}
		return insertAssignmentChanged(ctx, tx, systemID, cfgID)
	})
	if err != nil {
		return nil, wrapErr("set retention config", err)
	}
	return rc, nil
}
