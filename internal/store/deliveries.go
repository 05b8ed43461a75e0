package store

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/checkflow/checkflow/internal/safetext"
)

// Delivery statuses.
const (
	DeliveryPending = "pending"
	DeliverySent    = "sent"
	DeliveryFailed  = "failed"
)

// Delivery list limits.
const (
	// DefaultDeliveryLimit is the page size of ListDeliveries when none is given.
	DefaultDeliveryLimit = 50
	// MaxDeliveryLimit is the largest page ListDeliveries returns.
	MaxDeliveryLimit = 500
)

// Delivery is one notification to one channel.
type Delivery struct {
	ID        string          `json:"id"`
	ChannelID string          `json:"channelId"`
	SystemID  *string         `json:"systemId"`
	Event     string          `json:"event"`
	Payload   json.RawMessage `json:"payload"`
	Status    string          `json:"status"`
	Attempts  int             `json:"attempts"`
	LastError *string         `json:"lastError"`
	CreatedAt time.Time       `json:"createdAt"`
	UpdatedAt time.Time       `json:"updatedAt"`
	SentAt    *time.Time      `json:"sentAt"`
}

// DeliveryInput creates a pending delivery. SystemID "" stores NULL (test deliveries).
type DeliveryInput struct {
	ID, ChannelID, SystemID, Event string
	Payload                        json.RawMessage
}

const deliveryColumns = `id, channel_id::text, system_id, event, payload, status, attempts, last_error,
	created_at, updated_at, sent_at`

func scanDelivery(row pgx.Row) (Delivery, error) {
	var d Delivery
	var payload []byte
	if err := row.Scan(&d.ID, &d.ChannelID, &d.SystemID, &d.Event, &payload, &d.Status, &d.Attempts, &d.LastError,
		&d.CreatedAt, &d.UpdatedAt, &d.SentAt); err != nil {
		return Delivery{}, err
	}
	d.Payload = json.RawMessage(payload)
	d.CreatedAt, d.UpdatedAt, d.SentAt = utc(d.CreatedAt), utc(d.UpdatedAt), utcPtr(d.SentAt)
	return d, nil
}

// CreateDeliveries inserts pending deliveries in one statement; an existing id is left as it is
// (ON CONFLICT DO NOTHING). Returns how many were new. An unknown channel or system is a
// *NotFoundError; a malformed channel id or a payload that is not a JSON object is a
// *ValidationError ("deliveries.channelId", "deliveries.payload").
func (s *Store) CreateDeliveries(ctx context.Context, in []DeliveryInput) (int, error) {
	if len(in) == 0 {
		return 0, nil
	}
	ids := make([]string, len(in))
	channels := make([]string, len(in))
	systems := make([]*string, len(in))
	events := make([]string, len(in))
	payloads := make([]string, len(in))
	var fe fieldErrors
	for i, d := range in {
		ids[i], events[i] = d.ID, d.Event
		ch, ok := normUUID(d.ChannelID)
		if !ok {
			fe.add("deliveries.channelId", "must be a UUID")
			break
		}
		channels[i] = ch
		if d.SystemID != "" {
			sys := d.SystemID
			systems[i] = &sys
		}
		p := rawOrNil(d.Payload)
		if p == nil {
			p = []byte("{}")
		} else if !json.Valid(p) {
			fe.add("deliveries.payload", "must be a JSON object")
			break
		}
		payloads[i] = string(safetext.CapJSON(p, safetext.MaxResultBytes))
	}
	if err := fe.err(); err != nil {
		return 0, err
	}
	tag, err := s.pool.Exec(ctx, `INSERT INTO notification_deliveries (id, channel_id, system_id, event, payload)
		SELECT * FROM unnest($1::text[], $2::uuid[], $3::text[], $4::text[], $5::jsonb[])
		ON CONFLICT (id) DO NOTHING`, ids, channels, systems, events, payloads)
	if err != nil {
		return 0, wrapErr("create deliveries", err)
	}
	return int(tag.RowsAffected()), nil
}

// GetDelivery returns one delivery or a *NotFoundError.
func (s *Store) GetDelivery(ctx context.Context, id string) (Delivery, error) {
	d, err := scanDelivery(s.pool.QueryRow(ctx, `SELECT `+deliveryColumns+` FROM notification_deliveries WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Delivery{}, notFound("Delivery", id)
	}
	return d, wrapErr("get delivery", err)
}

// StartDeliveryAttempt counts one attempt (attempts+1, updated_at) of a pending delivery and
// returns the row; a sent or failed delivery is returned unchanged. A missing one is a
// *NotFoundError.
func (s *Store) StartDeliveryAttempt(ctx context.Context, id string, at time.Time) (Delivery, error) {
	// The outer SELECT reads the snapshot before the CTE's update, so it only answers when the
	// update did not match (the delivery is not pending).
	d, err := scanDelivery(s.pool.QueryRow(ctx, `WITH u AS (
			UPDATE notification_deliveries SET attempts = attempts + 1, updated_at = $2
			WHERE id = $1 AND status = 'pending' RETURNING `+deliveryColumns+`)
		SELECT * FROM u
		UNION ALL
		SELECT `+deliveryColumns+` FROM notification_deliveries WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM u)`,
		id, at.UTC()))
	if errors.Is(err, pgx.ErrNoRows) {
		return Delivery{}, notFound("Delivery", id)
	}
	return d, wrapErr("start delivery attempt", err)
}

// MarkDeliverySent moves a pending or failed delivery to sent with sent_at=at; it returns false
// when the delivery was already sent (nothing changes), a *NotFoundError when it is missing.
func (s *Store) MarkDeliverySent(ctx context.Context, id string, at time.Time) (bool, error) {
	var changed bool
	err := s.pool.QueryRow(ctx, `WITH u AS (
			UPDATE notification_deliveries SET status = 'sent', sent_at = $2, updated_at = $2
			WHERE id = $1 AND status <> 'sent' RETURNING 1)
		SELECT EXISTS (SELECT 1 FROM u)
		FROM notification_deliveries WHERE id = $1`, id, at.UTC()).Scan(&changed)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, notFound("Delivery", id)
	}
	if err != nil {
		return false, wrapErr("mark delivery sent", err)
	}
	return changed, nil
}

// RecordDeliveryError sets last_error (and updated_at=at); final (given up) also sets status
// failed unless the delivery was sent. A missing delivery is a *NotFoundError.
func (s *Store) RecordDeliveryError(ctx context.Context, id, message string, at time.Time, final bool) error {
	tag, err := s.pool.Exec(ctx, `UPDATE notification_deliveries SET last_error = $2, updated_at = $3,
			status = CASE WHEN $4 AND status <> 'sent' THEN 'failed' ELSE status END
		WHERE id = $1`, id, safetext.Truncate(message, maxErrorBytes), at.UTC(), final)
	if err != nil {
		return wrapErr("record delivery error", err)
	}
	if tag.RowsAffected() == 0 {
		return notFound("Delivery", id)
	}
	return nil
}

// DeliveryFilter selects deliveries, newest first (created_at DESC, id DESC). Cursor is the
// opaque NextCursor of the previous page ("" = first page); a malformed cursor is a validation
// error on "cursor". Limit defaults to 50, at most 500.
type DeliveryFilter struct {
	ChannelID, SystemID, Status, Cursor string
	Limit                               int
}

// deliveryCursor is the position after the last row of a page.
type deliveryCursor struct {
	createdAt time.Time
	id        string
}

func (c deliveryCursor) encode() string {
	raw := c.createdAt.UTC().Format(time.RFC3339Nano) + "|" + c.id
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

func decodeDeliveryCursor(s string) (deliveryCursor, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return deliveryCursor{}, false
	}
	ts, id, ok := strings.Cut(string(raw), "|")
	if !ok || id == "" {
		return deliveryCursor{}, false
	}
	at, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return deliveryCursor{}, false
	}
	return deliveryCursor{createdAt: at, id: id}, true
}

// ListDeliveries returns a page of deliveries matching f, newest first, and the cursor of the
// next page ("" when this one is the last). A malformed channel id, status, limit or cursor is
// a *ValidationError.
func (s *Store) ListDeliveries(ctx context.Context, f DeliveryFilter) (items []Delivery, nextCursor string, err error) {
	var fe fieldErrors
	limit := f.Limit
	if limit == 0 {
		limit = DefaultDeliveryLimit
	}
	if limit < 1 || limit > MaxDeliveryLimit {
		fe.add("limit", fmt.Sprintf("must be between 1 and %d", MaxDeliveryLimit))
	}
	var conds []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if f.ChannelID != "" {
		if ch, ok := normUUID(f.ChannelID); ok {
			conds = append(conds, "channel_id = "+arg(ch)+"::uuid")
		} else {
			fe.add("channelId", "must be a UUID")
		}
	}
	if f.SystemID != "" {
		conds = append(conds, "system_id = "+arg(f.SystemID))
	}
	if f.Status != "" {
		if slices.Contains([]string{DeliveryPending, DeliverySent, DeliveryFailed}, f.Status) {
			conds = append(conds, "status = "+arg(f.Status))
		} else {
			fe.add("status", "must be pending, sent or failed")
		}
	}
	if f.Cursor != "" {
		if c, ok := decodeDeliveryCursor(f.Cursor); ok {
			conds = append(conds, "(created_at, id) < ("+arg(c.createdAt)+"::timestamptz, "+arg(c.id)+"::text)")
		} else {
			fe.add("cursor", "is not a cursor returned by this list")
		}
	}
	if err := fe.err(); err != nil {
		return nil, "", err
	}
	where := ""
	if len(conds) > 0 {
		where = " WHERE " + strings.Join(conds, " AND ")
	}
	rows, err := s.pool.Query(ctx, `SELECT `+deliveryColumns+` FROM notification_deliveries`+where+
		` ORDER BY created_at DESC, id DESC LIMIT `+arg(limit+1), args...)
	if err != nil {
		return nil, "", wrapErr("list deliveries", err)
	}
	items, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Delivery, error) { return scanDelivery(r) })
	if err != nil {
		return nil, "", wrapErr("list deliveries", err)
	}
	if len(items) > limit {
		items = items[:limit]
		last := items[limit-1]
		nextCursor = deliveryCursor{createdAt: last.CreatedAt, id: last.ID}.encode()
	}
	return items, nextCursor, nil
}
