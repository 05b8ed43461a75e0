package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/checkflow/checkflow/internal/health"
)

// Store is checkflow's PostgreSQL access layer. It is safe for concurrent use.
type Store struct {
	pool  *pgxpool.Pool
	merge health.CollectorMerger
}

// Option configures a Store.
type Option func(*Store)

// WithCollectorMerger sets the collector mergeResult used when a run is folded into its hourly
// bucket (Persist) and when raw runs are bucketed for the detailed aggregated history. Without
// one, collector aggregates are not computed (aggregatedResult stays as stored).
func WithCollectorMerger(m health.CollectorMerger) Option {
	return func(s *Store) { s.merge = m }
}

// New returns a Store on pool. The pool's database must be migrated (schema.Migrate).
func New(pool *pgxpool.Pool, opts ...Option) *Store {
	s := &Store{pool: pool}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	return wrapErr("ping", s.pool.Ping(ctx))
}

// inTx runs fn in one transaction (READ COMMITTED), committing when fn returns nil.
func (s *Store) inTx(ctx context.Context, fn func(pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, s.pool, fn)
}

// List limits.
const (
	// DefaultListLimit is the page size when a list request gives none.
	DefaultListLimit = 100
	// MaxListLimit is the largest page a list request may ask for.
	MaxListLimit = 500
)

// Page asks for a slice of a list: Limit rows (0 = DefaultListLimit, at most MaxListLimit)
// after skipping Offset rows.
type Page struct {
	Limit  int `json:"limit"`
	Offset int `json:"offset"`
}

func (p Page) normalize(defaultLimit int) (Page, error) {
	var fe fieldErrors
	if p.Limit == 0 {
		p.Limit = defaultLimit
	}
	if p.Limit < 1 || p.Limit > MaxListLimit {
		fe.add("limit", fmt.Sprintf("must be between 1 and %d", MaxListLimit))
	}
	if p.Offset < 0 {
		fe.add("offset", "must be ≥ 0")
	}
	return p, fe.err()
}

// Optional is a field of a partial update that distinguishes "leave as is" (Set false) from
// "set to Value" (Set true; a nil Value clears the field).
type Optional[T any] struct {
	Set   bool
	Value T
}

// Some returns an Optional that sets v.
func Some[T any](v T) Optional[T] { return Optional[T]{Set: true, Value: v} }

// ---- run ids and idempotency keys -------------------------------------------------------------

// ProbeRunID is health.SeqRunID: "<systemId>:<seq>" (the first entity's run ids; fixtures).
func ProbeRunID(systemID string, seq int64) string { return health.SeqRunID(systemID, seq) }

// ExternalRunID is health.ExternalRunID: "<systemId>:ext:<producerId>".
func ExternalRunID(systemID, producerID string) string {
	return health.ExternalRunID(systemID, producerID)
}

// RunNowRunID is health.RunNowRunID: "<systemId>:run:<updateId>".
func RunNowRunID(systemID, updateID string) string { return health.RunNowRunID(systemID, updateID) }

// EventKey is an outbox event's idempotency key: "<systemId>:<seq>:<type>", followed by
// ":<discriminator>" when the entity writes several events of one type in one step (e.g. the
// check id of a check.completed hook).
func EventKey(systemID string, seq int64, eventType, discriminator string) string {
	k := systemID + ":" + strconv.FormatInt(seq, 10) + ":" + eventType
	if discriminator != "" {
		k += ":" + discriminator
	}
	return k
}

// ---- small helpers --------------------------------------------------------------------------

// normUUID validates a textual UUID and returns it in lower case.
func normUUID(s string) (string, bool) {
	if len(s) != 36 {
		return "", false
	}
	for i := 0; i < 36; i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return "", false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return "", false
			}
		}
	}
	return strings.ToLower(s), true
}

// utc returns t in UTC (pgx returns timestamptz in the process's local zone).
func utc(t time.Time) time.Time { return t.UTC() }

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// jsonValue marshals v for a jsonb parameter; nil maps/slices/pointers become SQL NULL.
func jsonValue(v any) ([]byte, error) {
	if v == nil {
		return nil, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	if string(b) == "null" {
		return nil, nil
	}
	return b, nil
}

// rawOrNil returns nil (SQL NULL) for an empty or JSON-null raw message.
func rawOrNil(raw json.RawMessage) []byte {
	t := strings.TrimSpace(string(raw))
	if t == "" || t == "null" {
		return nil
	}
	return []byte(raw)
}

// statusPtr converts a nullable enum text into a *health.Status.
func statusPtr(s *string) *health.Status {
	if s == nil {
		return nil
	}
	st := health.Status(*s)
	return &st
}

func statusesText(in []health.Status) []string {
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = string(s)
	}
	return out
}
