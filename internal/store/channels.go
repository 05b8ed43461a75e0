package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/checkflow/checkflow/internal/safetext"
)

// Channel is a notification channel as stored (Config as stored: x-secret fields sealed).
type Channel struct {
	ID                  string          `json:"id"`
	Name                string          `json:"name"`
	Type                string          `json:"type"`
	Config              json.RawMessage `json:"config"`
	Systems             []string        `json:"systems"`
	Events              []string        `json:"events"`
	RemindEverySeconds  *int            `json:"remindEverySeconds,omitempty"`
	Enabled             bool            `json:"enabled"`
	ConsecutiveFailures int             `json:"consecutiveFailures"`
	FailingSince        *time.Time      `json:"failingSince,omitempty"`
	LastError           *string         `json:"lastError,omitempty"`
	LastErrorAt         *time.Time      `json:"lastErrorAt,omitempty"`
	LastSuccessAt       *time.Time      `json:"lastSuccessAt,omitempty"`
	CreatedAt           time.Time       `json:"createdAt"`
	UpdatedAt           time.Time       `json:"updatedAt"`
}

// ChannelInput is a channel's configuration (create, or full replacement on update).
type ChannelInput struct {
	Name               string
	Type               string
	Config             json.RawMessage
	Systems            []string // nil/empty → ["*"]
	Events             []string // nil/empty → escalation, de-escalation, recovery
	RemindEverySeconds *int
	Enabled            bool
}

// Channel limits and vocabularies (mirrored by the notification_channels CHECK constraints).
const (
	// AllSystems in a channel's systems subscribes it to every system.
	AllSystems = "*"
	// MaxChannelSystems is the most system ids a channel may list.
	MaxChannelSystems = 1000
	// MaxRemindEverySeconds is the longest reminder interval (one week).
	MaxRemindEverySeconds = 604800
	// maxErrorBytes caps a stored last_error.
	maxErrorBytes = 2000
)

// ChannelTypes are the channel types the store accepts.
func ChannelTypes() []string {
	return []string{"webhook", "slack", "discord", "msteams", "pagerduty", "email"}
}

// ChannelEvents are the event kinds a channel may subscribe to.
func ChannelEvents() []string {
	return []string{"escalation", "de-escalation", "recovery", "check_failed"}
}

// DefaultChannelEvents are the events of a channel created without any.
func DefaultChannelEvents() []string {
	return []string{"escalation", "de-escalation", "recovery"}
}

const channelColumns = `id::text, name, type, config, systems, events, remind_every_seconds, enabled,
	consecutive_failures, failing_since, last_error, last_error_at, last_success_at, created_at, updated_at`

func scanChannel(row pgx.Row) (Channel, error) {
	var c Channel
	var cfg []byte
	if err := row.Scan(&c.ID, &c.Name, &c.Type, &cfg, &c.Systems, &c.Events, &c.RemindEverySeconds, &c.Enabled,
		&c.ConsecutiveFailures, &c.FailingSince, &c.LastError, &c.LastErrorAt, &c.LastSuccessAt, &c.CreatedAt, &c.UpdatedAt); err != nil {
		return Channel{}, err
	}
	c.Config = json.RawMessage(cfg)
	if c.Systems == nil {
		c.Systems = []string{}
	}
	if c.Events == nil {
		c.Events = []string{}
	}
	c.FailingSince, c.LastErrorAt, c.LastSuccessAt = utcPtr(c.FailingSince), utcPtr(c.LastErrorAt), utcPtr(c.LastSuccessAt)
	c.CreatedAt, c.UpdatedAt = utc(c.CreatedAt), utc(c.UpdatedAt)
	return c, nil
}

// channelRow is a validated ChannelInput ready to be written.
type channelRow struct {
	name, typ   string
	config      []byte
	systems     []string
	events      []string
	remindEvery *int
	enabled     bool
}

// validate checks in against the channel rules and applies the defaults; every invalid field
// is reported at once.
func (in ChannelInput) validate() (channelRow, error) {
	var fe fieldErrors
	r := channelRow{name: in.Name, typ: in.Type, remindEvery: in.RemindEverySeconds, enabled: in.Enabled}
	if n := len([]rune(in.Name)); strings.TrimSpace(in.Name) == "" || n > 200 {
		fe.add("name", "must be 1 to 200 characters")
	}
	if !slices.Contains(ChannelTypes(), in.Type) {
		fe.add("type", "must be one of "+strings.Join(ChannelTypes(), ", "))
	}
	r.config = rawOrNil(in.Config)
	if r.config == nil {
		r.config = []byte("{}")
	} else {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(r.config, &obj); err != nil || obj == nil {
			fe.add("config", "must be a JSON object")
		}
	}
	r.systems = dedupe(in.Systems)
	if len(r.systems) == 0 {
		r.systems = []string{AllSystems}
	}
	if len(r.systems) > MaxChannelSystems {
		fe.add("systems", fmt.Sprintf("at most %d system ids", MaxChannelSystems))
	}
	if slices.Contains(r.systems, "") {
		fe.add("systems", "a system id must not be empty")
	}
	r.events = dedupe(in.Events)
	if len(r.events) == 0 {
		r.events = DefaultChannelEvents()
	}
	for _, e := range r.events {
		if !slices.Contains(ChannelEvents(), e) {
			fe.add("events", fmt.Sprintf("unknown event %q (must be one of %s)", e, strings.Join(ChannelEvents(), ", ")))
			break
		}
	}
	if v := in.RemindEverySeconds; v != nil && (*v < 1 || *v > MaxRemindEverySeconds) {
		fe.add("remindEverySeconds", fmt.Sprintf("must be an integer between 1 and %d", MaxRemindEverySeconds))
	}
	return r, fe.err()
}

// dedupe drops repeated values, keeping the first occurrence; nil stays nil.
func dedupe(in []string) []string {
	if len(in) == 0 {
		return nil
	}
	out := make([]string, 0, len(in))
	for _, v := range in {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// CreateChannel validates in, applies its defaults (systems ["*"]; events escalation,
// de-escalation, recovery) and inserts the channel. Invalid input is a *ValidationError naming
// the JSON fields.
func (s *Store) CreateChannel(ctx context.Context, in ChannelInput) (Channel, error) {
	r, err := in.validate()
	if err != nil {
		return Channel{}, err
	}
	c, err := scanChannel(s.pool.QueryRow(ctx, `INSERT INTO notification_channels
			(name, type, config, systems, events, remind_every_seconds, enabled)
		VALUES ($1, $2, $3::jsonb, $4, $5, $6, $7) RETURNING `+channelColumns,
		r.name, r.typ, r.config, r.systems, r.events, r.remindEvery, r.enabled))
	return c, wrapErr("create channel", err)
}

// GetChannel returns one channel or a *NotFoundError (also for a malformed id).
func (s *Store) GetChannel(ctx context.Context, id string) (Channel, error) {
	uid, ok := normUUID(id)
	if !ok {
		return Channel{}, notFound("Channel", id)
	}
	c, err := scanChannel(s.pool.QueryRow(ctx, `SELECT `+channelColumns+` FROM notification_channels WHERE id = $1`, uid))
	if errors.Is(err, pgx.ErrNoRows) {
		return Channel{}, notFound("Channel", id)
	}
	return c, wrapErr("get channel", err)
}

// ListChannels returns a page of channels ordered by creation time, then id.
func (s *Store) ListChannels(ctx context.Context, p Page) ([]Channel, error) {
	p, err := p.normalize(DefaultListLimit)
	if err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT `+channelColumns+` FROM notification_channels
		ORDER BY created_at, id LIMIT $1 OFFSET $2`, p.Limit, p.Offset)
	if err != nil {
		return nil, wrapErr("list channels", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Channel, error) { return scanChannel(r) })
	return out, wrapErr("list channels", err)
}

// UpdateChannel replaces the configuration; the failure columns stay, except that a changed
// Config resets consecutive_failures and failing_since (a fixed URL gets a fresh start).
func (s *Store) UpdateChannel(ctx context.Context, id string, in ChannelInput) (Channel, error) {
	uid, ok := normUUID(id)
	if !ok {
		return Channel{}, notFound("Channel", id)
	}
	r, err := in.validate()
	if err != nil {
		return Channel{}, err
	}
	// In SET, column references are the old row: the config comparison sees the stored config.
	c, err := scanChannel(s.pool.QueryRow(ctx, `UPDATE notification_channels SET
			name = $2, type = $3, config = $4::jsonb, systems = $5, events = $6, remind_every_seconds = $7, enabled = $8,
			consecutive_failures = CASE WHEN config = $4::jsonb THEN consecutive_failures ELSE 0 END,
			failing_since = CASE WHEN config = $4::jsonb THEN failing_since END,
			updated_at = now()
		WHERE id = $1 RETURNING `+channelColumns,
		uid, r.name, r.typ, r.config, r.systems, r.events, r.remindEvery, r.enabled))
	if errors.Is(err, pgx.ErrNoRows) {
		return Channel{}, notFound("Channel", id)
	}
	return c, wrapErr("update channel", err)
}

// DeleteChannel deletes a channel and, by cascade, its deliveries; a missing one is a
// *NotFoundError.
func (s *Store) DeleteChannel(ctx context.Context, id string) error {
	uid, ok := normUUID(id)
	if !ok {
		return notFound("Channel", id)
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM notification_channels WHERE id = $1`, uid)
	if err != nil {
		return wrapErr("delete channel", err)
	}
	if tag.RowsAffected() == 0 {
		return notFound("Channel", id)
	}
	return nil
}

// SubscribedChannels returns the enabled channels whose systems contain '*' or systemID and
// whose events contain event (event "" = any event), ordered by id.
func (s *Store) SubscribedChannels(ctx context.Context, systemID, event string) ([]Channel, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+channelColumns+` FROM notification_channels
		WHERE enabled AND systems && ARRAY['*', $1]::text[] AND ($2 = '' OR $2 = ANY (events))
		ORDER BY id`, systemID, event)
	if err != nil {
		return nil, wrapErr("subscribed channels", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Channel, error) { return scanChannel(r) })
	return out, wrapErr("subscribed channels", err)
}

// RecordChannelFailure counts a failed send: consecutive_failures+1, last_error, last_error_at=at.
// When the count reaches threshold (at least 1) and failing_since IS NULL it sets
// failing_since=at and returns true — exactly once per failing episode, even under concurrent
// calls: one statement locks the row, reads its failing_since and updates it. A missing channel
// is a *NotFoundError.
func (s *Store) RecordChannelFailure(ctx context.Context, channelID, message string, at time.Time, threshold int) (becameFailing bool, err error) {
	uid, ok := normUUID(channelID)
	if !ok {
		return false, notFound("Channel", channelID)
	}
	threshold = max(threshold, 1)
	// FOR UPDATE in the CTE waits for a concurrent update and then reads the row's newest
	// version, so "was NULL before, is set now" is true for exactly one caller.
	err = s.pool.QueryRow(ctx, `WITH old AS (
			SELECT id, failing_since FROM notification_channels WHERE id = $1 FOR UPDATE)
		UPDATE notification_channels c SET
			consecutive_failures = c.consecutive_failures + 1,
			last_error = $2, last_error_at = $3,
			failing_since = CASE WHEN c.failing_since IS NULL AND c.consecutive_failures + 1 >= $4 THEN $3 ELSE c.failing_since END
		FROM old WHERE c.id = old.id
		RETURNING old.failing_since IS NULL AND c.failing_since IS NOT NULL`,
		uid, safetext.Truncate(message, maxErrorBytes), at.UTC(), threshold).Scan(&becameFailing)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, notFound("Channel", channelID)
	}
	if err != nil {
		return false, wrapErr("record channel failure", err)
	}
	return becameFailing, nil
}

// RecordChannelSuccess counts a successful send: consecutive_failures=0, failing_since=NULL,
// last_success_at=at. A missing channel is a *NotFoundError.
func (s *Store) RecordChannelSuccess(ctx context.Context, channelID string, at time.Time) error {
	uid, ok := normUUID(channelID)
	if !ok {
		return notFound("Channel", channelID)
	}
	tag, err := s.pool.Exec(ctx, `UPDATE notification_channels SET consecutive_failures = 0, failing_since = NULL,
		last_success_at = $2 WHERE id = $1`, uid, at.UTC())
	if err != nil {
		return wrapErr("record channel success", err)
	}
	if tag.RowsAffected() == 0 {
		return notFound("Channel", channelID)
	}
	return nil
}
