package store

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
)

// Configuration is a health check definition (health_check_configurations), reusable across
// systems.
type Configuration struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	StrategyID string `json:"strategyId"`
	// Config is the strategy config (a JSON object).
	Config json.RawMessage `json:"config"`
	// Collectors is the array of collector entries, or nil.
	Collectors      json.RawMessage `json:"collectors,omitempty"`
	IntervalSeconds int             `json:"intervalSeconds"`
	Paused          bool            `json:"paused"`
	CreatedAt       time.Time       `json:"createdAt"`
	UpdatedAt       time.Time       `json:"updatedAt"`
	// PingTokenSealed is the sealed ping token of a heartbeat check ("" for other checks).
	PingTokenSealed string `json:"-"`
}

// ConfigurationInput creates a configuration. ID is optional (a UUID; generated when empty).
// Config defaults to {}; Collectors may be nil.
type ConfigurationInput struct {
	ID              string          `json:"id,omitempty"`
	Name            string          `json:"name"`
	StrategyID      string          `json:"strategyId"`
	Config          json.RawMessage `json:"config"`
	Collectors      json.RawMessage `json:"collectors,omitempty"`
	IntervalSeconds int             `json:"intervalSeconds"`
	Paused          bool            `json:"paused"`
	// PingToken is the ping token of a heartbeat check (zero: none).
	PingToken PingToken `json:"-"`
}

// PingToken is a heartbeat check's ping token as stored: its SHA-256 (the lookup key) and the
// token sealed with the secret key. The plain token is never stored.
type PingToken struct {
	Hash   []byte
	Sealed string
}

// ConfigurationPatch updates the fields that are set: pointer fields when non-nil, Config when
// non-empty. Collectors set to nil or JSON null clears the collectors.
type ConfigurationPatch struct {
	Name            *string                   `json:"name,omitempty"`
	StrategyID      *string                   `json:"strategyId,omitempty"`
	Config          json.RawMessage           `json:"config,omitempty"`
	Collectors      Optional[json.RawMessage] `json:"-"`
	IntervalSeconds *int                      `json:"intervalSeconds,omitempty"`
	// PingToken, when set, gives the configuration a ping token (a check becoming a heartbeat).
	PingToken *PingToken `json:"-"`
}

const configurationColumns = `id::text, name, strategy_id, config, collectors, interval_seconds, paused, created_at, updated_at, coalesce(ping_token_sealed, '')`

func scanConfiguration(row pgx.Row) (Configuration, error) {
	var c Configuration
	var cfg, collectors []byte
	if err := row.Scan(&c.ID, &c.Name, &c.StrategyID, &cfg, &collectors, &c.IntervalSeconds, &c.Paused, &c.CreatedAt, &c.UpdatedAt, &c.PingTokenSealed); err != nil {
		return Configuration{}, err
	}
	c.Config = json.RawMessage(cfg)
	if len(collectors) > 0 {
		c.Collectors = json.RawMessage(collectors)
	}
	c.CreatedAt, c.UpdatedAt = utc(c.CreatedAt), utc(c.UpdatedAt)
	return c, nil
}

func validJSONField(fe *fieldErrors, field string, raw json.RawMessage) {
	if len(raw) > 0 && !json.Valid(raw) {
		fe.add(field, "must be valid JSON")
	}
}

// CreateConfiguration inserts a configuration. Column rules (name 1–200 characters, strategy id
// non-empty, config an object, collectors an array, interval ≥ 1) are enforced by the schema and
// surface as a *ValidationError; a duplicate explicit ID is ErrConflict.
func (s *Store) CreateConfiguration(ctx context.Context, in ConfigurationInput) (Configuration, error) {
	var fe fieldErrors
	var id *string
	if in.ID != "" {
		n, ok := normUUID(in.ID)
		if !ok {
			fe.add("id", "must be a UUID")
		}
		id = &n
	}
	validJSONField(&fe, "config", in.Config)
	validJSONField(&fe, "collectors", in.Collectors)
	if err := fe.err(); err != nil {
		return Configuration{}, err
	}
	cfg := rawOrNil(in.Config)
	if cfg == nil {
		cfg = []byte("{}")
	}
	row := s.pool.QueryRow(ctx, `INSERT INTO health_check_configurations
			(id, name, strategy_id, config, collectors, interval_seconds, paused, ping_token_hash, ping_token_sealed)
		VALUES (coalesce($1::uuid, gen_random_uuid()), $2, $3, $4, $5, $6, $7, $8, nullif($9, ''))
		RETURNING `+configurationColumns,
		id, in.Name, in.StrategyID, cfg, rawOrNil(in.Collectors), in.IntervalSeconds, in.Paused, in.PingToken.Hash, in.PingToken.Sealed)
	c, err := scanConfiguration(row)
	return c, wrapErr("create configuration", err)
}

// GetConfiguration returns one configuration or a *NotFoundError (also for a malformed id).
func (s *Store) GetConfiguration(ctx context.Context, id string) (Configuration, error) {
	n, ok := normUUID(id)
	if !ok {
		return Configuration{}, notFound("Configuration", id)
	}
	c, err := scanConfiguration(s.pool.QueryRow(ctx, `SELECT `+configurationColumns+` FROM health_check_configurations WHERE id = $1`, n))
	if errors.Is(err, pgx.ErrNoRows) {
		return Configuration{}, notFound("Configuration", id)
	}
	return c, wrapErr("get configuration", err)
}

// ListConfigurations returns a page of configurations ordered by name and id, and the total.
func (s *Store) ListConfigurations(ctx context.Context, page Page) ([]Configuration, int, error) {
	page, err := page.normalize(DefaultListLimit)
	if err != nil {
		return nil, 0, err
	}
	b := &pgx.Batch{}
	b.Queue(`SELECT `+configurationColumns+` FROM health_check_configurations ORDER BY name, id LIMIT $1 OFFSET $2`, page.Limit, page.Offset)
	b.Queue(`SELECT count(*) FROM health_check_configurations`)
	br := s.pool.SendBatch(ctx, b)
	defer br.Close()
	rows, err := br.Query()
	if err != nil {
		return nil, 0, wrapErr("list configurations", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Configuration, error) { return scanConfiguration(r) })
	if err != nil {
		return nil, 0, wrapErr("list configurations", err)
	}
	var total int
	if err := br.QueryRow().Scan(&total); err != nil {
		return nil, 0, wrapErr("count configurations", err)
	}
	return out, total, nil
}

// SystemConfigurations returns the configurations assigned to a system (enabled or not), in
// assignment order.
func (s *Store) SystemConfigurations(ctx context.Context, systemID string) ([]Configuration, error) {
	rows, err := s.pool.Query(ctx, `SELECT c.id::text, c.name, c.strategy_id, c.config, c.collectors, c.interval_seconds,
			c.paused, c.created_at, c.updated_at, coalesce(c.ping_token_sealed, '')
		FROM system_health_checks a JOIN health_check_configurations c ON c.id = a.configuration_id
		WHERE a.system_id = $1 ORDER BY a.created_at, a.configuration_id`, systemID)
	if err != nil {
		return nil, wrapErr("system configurations", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Configuration, error) { return scanConfiguration(r) })
	return out, wrapErr("system configurations", err)
}

// ConfigurationSystems returns the ids of the systems a configuration is assigned to (enabled or
// not), sorted: the entities an API handler signals after changing the configuration.
func (s *Store) ConfigurationSystems(ctx context.Context, configurationID string) ([]string, error) {
	n, ok := normUUID(configurationID)
	if !ok {
		return nil, notFound("Configuration", configurationID)
	}
	rows, err := s.pool.Query(ctx, `SELECT system_id FROM system_health_checks WHERE configuration_id = $1 ORDER BY system_id`, n)
	if err != nil {
		return nil, wrapErr("configuration systems", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	return out, wrapErr("configuration systems", err)
}

// UpdateConfiguration applies patch (PATCH semantics) and returns the result.
func (s *Store) UpdateConfiguration(ctx context.Context, id string, patch ConfigurationPatch) (Configuration, error) {
	n, ok := normUUID(id)
	if !ok {
		return Configuration{}, notFound("Configuration", id)
	}
	var fe fieldErrors
	validJSONField(&fe, "config", patch.Config)
	if patch.Collectors.Set {
		validJSONField(&fe, "collectors", patch.Collectors.Value)
	}
	if err := fe.err(); err != nil {
		return Configuration{}, err
	}
	row := s.pool.QueryRow(ctx, `UPDATE health_check_configurations SET
			name = coalesce($2, name),
			strategy_id = coalesce($3, strategy_id),
			config = coalesce($4::jsonb, config),
			collectors = CASE WHEN $5::boolean THEN $6::jsonb ELSE collectors END,
			interval_seconds = coalesce($7, interval_seconds),
			ping_token_hash = coalesce(ping_token_hash, $8),
			ping_token_sealed = coalesce(ping_token_sealed, nullif($9, '')),
			updated_at = now()
		WHERE id = $1 RETURNING `+configurationColumns,
		n, patch.Name, patch.StrategyID, rawOrNil(patch.Config), patch.Collectors.Set, rawOrNil(patch.Collectors.Value), patch.IntervalSeconds,
		tokenHash(patch.PingToken), tokenSealed(patch.PingToken))
	c, err := scanConfiguration(row)
	if errors.Is(err, pgx.ErrNoRows) {
		return Configuration{}, notFound("Configuration", id)
	}
	return c, wrapErr("update configuration", err)
}

// SetConfigurationPaused pauses (true) or resumes (false) a configuration for every system.
func (s *Store) SetConfigurationPaused(ctx context.Context, id string, paused bool) (Configuration, error) {
	n, ok := normUUID(id)
	if !ok {
		return Configuration{}, notFound("Configuration", id)
	}
	c, err := scanConfiguration(s.pool.QueryRow(ctx, `UPDATE health_check_configurations SET paused = $2, updated_at = now()
		WHERE id = $1 RETURNING `+configurationColumns, n, paused))
	if errors.Is(err, pgx.ErrNoRows) {
		return Configuration{}, notFound("Configuration", id)
	}
	return c, wrapErr("pause configuration", err)
}

// PauseConfiguration is SetConfigurationPaused(ctx, id, true).
func (s *Store) PauseConfiguration(ctx context.Context, id string) (Configuration, error) {
	return s.SetConfigurationPaused(ctx, id, true)
}

// ResumeConfiguration is SetConfigurationPaused(ctx, id, false).
func (s *Store) ResumeConfiguration(ctx context.Context, id string) (Configuration, error) {
	return s.SetConfigurationPaused(ctx, id, false)
}

// DeleteConfiguration deletes a configuration and, by cascade, its assignments, runs,
// aggregates and the transitions it drove. It returns the ids of the systems that had it
// assigned (to signal their entities).
func (s *Store) DeleteConfiguration(ctx context.Context, id string) ([]string, error) {
	n, ok := normUUID(id)
	if !ok {
		return nil, notFound("Configuration", id)
	}
	var systems []string
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT true FROM health_check_configurations WHERE id = $1 FOR UPDATE`, n).Scan(&exists); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return notFound("Configuration", id)
			}
			return err
		}
		rows, err := tx.Query(ctx, `SELECT system_id FROM system_health_checks WHERE configuration_id = $1 ORDER BY system_id`, n)
		if err != nil {
			return err
		}
		if systems, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM health_check_configurations WHERE id = $1`, n)
		return err
	})
	if err != nil {
		return nil, wrapErr("delete configuration", err)
	}
	if systems == nil {
		systems = []string{}
	}
	return systems, nil
}
