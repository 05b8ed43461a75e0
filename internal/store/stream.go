package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// The live stream (GET /api/v1/stream) reads the outbox (health_events) by id. Ids come from an
// identity sequence, so they are handed out in order but may become visible out of order: a
// transaction that took id 100 can commit after the one that took id 101. A reader that simply
// went on from the highest id it saw would skip 100 for good. OutboxHorizon lets the reader know
// when every id up to some value is final (committed, or never going to be), see
// internal/eventstream.

// OutboxHorizon is a snapshot of which transactions may still add outbox rows.
type OutboxHorizon struct {
	// Next is above the transaction id of every transaction of this database that had one when
	// the horizon was read: the snapshot's xmax (one past the latest completed transaction) or
	// one past the newest running transaction of this database, whichever is higher.
	Next uint64
	// OldestRunning is the oldest transaction id still running in this database (Next when
	// none runs). Every transaction of this database with an id below it has ended, so whatever
	// it wrote is visible to any later statement.
	OldestRunning uint64
}

// OutboxHorizon reads the current horizon from the snapshot's xmax and the top-level
// transaction ids (pg_stat_activity.backend_xid, readable without privileges) of this
// database's other backends, read after the snapshot. Transactions of other databases are
// ignored: they cannot write this outbox. Prepared (two-phase) transactions are not seen;
// checkflow does not use them.
func (s *Store) OutboxHorizon(ctx context.Context) (OutboxHorizon, error) {
	var xmaxText string
	var running []string
	err := s.pool.QueryRow(ctx, `SELECT pg_snapshot_xmax(pg_current_snapshot())::text,
			ARRAY(SELECT backend_xid::text FROM pg_stat_activity
				WHERE datname = current_database() AND backend_xid IS NOT NULL AND pid <> pg_backend_pid())`).Scan(&xmaxText, &running)
	if err != nil {
		return OutboxHorizon{}, wrapErr("outbox horizon", err)
	}
	xmax, err := strconv.ParseUint(xmaxText, 10, 64)
	if err != nil {
		return OutboxHorizon{}, fmt.Errorf("outbox horizon: xmax %q: %w", xmaxText, err)
	}
	h := OutboxHorizon{Next: xmax}
	oldest := uint64(0)
	for _, r := range running {
		x, err := strconv.ParseUint(r, 10, 32)
		if err != nil {
			return OutboxHorizon{}, fmt.Errorf("outbox horizon: xid %q: %w", r, err)
		}
		full := WidenXid(uint32(x), xmax)
		if oldest == 0 || full < oldest {
			oldest = full
		}
		h.Next = max(h.Next, full+1)
	}
	h.OldestRunning = h.Next
	if oldest != 0 {
		h.OldestRunning = oldest
	}
	return h, nil
}

// WidenXid turns a 32-bit transaction id into the 64-bit one nearest to ref (a recent 64-bit
// id such as a snapshot's xmax): running transactions are never 2³¹ ids away from it.
func WidenXid(xid uint32, ref uint64) uint64 {
	d := int64(int32(xid - uint32(ref)))
	return uint64(int64(ref) + d)
}

// StreamFilter selects outbox rows for the live stream, in id order: ids in (After, UpTo] (no
// upper bound when UpTo is 0) of the given types, of the given systems (all when empty).
type StreamFilter struct {
	After, UpTo int64
	Types       []string
	SystemIDs   []string
	// Limit is at most 10,000 (default 1,000).
	Limit int
}

// StreamRow is an outbox row as the live stream reads it: the payload of a
// healthcheck.check.completed hook comes without its result (run results need details:read).
type StreamRow struct {
	ID        int64
	SystemID  string
	Type      string
	Payload   json.RawMessage
	CreatedAt time.Time
}

// StreamEvents returns the rows f selects and the highest id of the whole outbox visible to the
// same statement (0 when it is empty).
func (s *Store) StreamEvents(ctx context.Context, f StreamFilter) ([]StreamRow, int64, error) {
	if f.Limit <= 0 {
		f.Limit = 1000
	}
	if f.Limit > 10000 {
		return nil, 0, invalid("limit", "must be at most 10000")
	}
	if f.SystemIDs == nil {
		f.SystemIDs = []string{}
	}
	rows, err := s.pool.Query(ctx, `SELECT h.m, e.id, e.system_id, e.type, e.payload, e.created_at
		FROM (SELECT coalesce(max(id), 0) AS m FROM health_events) h
		LEFT JOIN LATERAL (
			SELECT id, system_id, type,
				CASE WHEN type = 'healthcheck.check.completed' THEN payload - 'result' ELSE payload END AS payload, created_at
			FROM health_events
			WHERE id > $1 AND ($2 = 0 OR id <= $2) AND type = ANY($3)
			  AND (cardinality($4::text[]) = 0 OR system_id = ANY($4))
			ORDER BY id LIMIT $5) e ON true
		ORDER BY e.id`, f.After, f.UpTo, f.Types, f.SystemIDs, f.Limit)
	if err != nil {
		return nil, 0, wrapErr("stream events", err)
	}
	defer rows.Close()
	var maxID int64
	var out []StreamRow
	for rows.Next() {
		var r StreamRow
		var id *int64
		var sys, typ *string
		var payload []byte
		var at *time.Time
		if err := rows.Scan(&maxID, &id, &sys, &typ, &payload, &at); err != nil {
			return nil, 0, wrapErr("stream events", err)
		}
		if id == nil {
			continue // no row matched: only the maximum
		}
		r.ID, r.SystemID, r.Type, r.Payload = *id, *sys, *typ, json.RawMessage(payload)
		r.CreatedAt = utc(*at)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, wrapErr("stream events", err)
	}
	return out, maxID, nil
}

// OutboxBounds returns the oldest outbox id still stored (0 when the outbox is empty) and the
// last id the outbox's sequence handed out (0 when none): a stream resuming after an id older
// than the oldest one has missed pruned events; one after an id never handed out comes from
// another database.
func (s *Store) OutboxBounds(ctx context.Context) (oldest, lastAllocated int64, err error) {
	err = s.pool.QueryRow(ctx, `SELECT coalesce((SELECT min(id) FROM health_events), 0),
		coalesce(pg_sequence_last_value(pg_get_serial_sequence('health_events', 'id')), 0)`).Scan(&oldest, &lastAllocated)
	if err != nil {
		return 0, 0, wrapErr("outbox bounds", err)
	}
	return oldest, lastAllocated, nil
}
