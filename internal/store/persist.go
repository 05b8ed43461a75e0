package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/checkflow/checkflow/internal/health"
	"github.com/checkflow/checkflow/internal/safetext"
)

// RunRecord is one run written by Persist.
type RunRecord struct {
	// ID is the run's stable id, "<systemId>:<key>" (see ProbeRunID, ExternalRunID,
	// RunNowRunID). Persisting an id twice is a no-op.
	ID              string        `json:"id"`
	ConfigurationID string        `json:"configurationId"`
	Status          health.Status `json:"status"`
	// LatencyMs is nil for catastrophic failures.
	LatencyMs *int `json:"latencyMs,omitempty"`
	// Result is the stored run result object (reference §3.5); its metadata.collectors feed the
	// collector aggregates.
	Result json.RawMessage `json:"result,omitempty"`
	// SourceID is the probe location (nil = the default, local probes); SourceLabel its label.
	SourceID    *string `json:"sourceId,omitempty"`
	SourceLabel *string `json:"sourceLabel,omitempty"`
	// Timestamp is the run time; it chooses the hourly bucket (UTC).
	Timestamp time.Time `json:"timestamp"`
}

// CheckState is the evaluated state of one check after the processed item, computed by the
// entity with internal/health.
type CheckState struct {
	ConfigurationID      string        `json:"configurationId"`
	Status               health.Status `json:"status"`
	RunsConsidered       int           `json:"runsConsidered"`
	ConsecutiveSuccesses int           `json:"consecutiveSuccesses"`
	ConsecutiveFailures  int           `json:"consecutiveFailures"`
}

// TransitionRecord is an aggregate status transition of the system.
type TransitionRecord struct {
	// ConfigurationID is the check whose run drove the change; "" when the change was caused by
	// a configuration change. A configuration deleted meanwhile is recorded as none.
	ConfigurationID string `json:"configurationId,omitempty"`
	// From is nil for a first measurement.
	From *health.Status `json:"fromStatus,omitempty"`
	To   health.Status  `json:"toStatus"`
	// At is the transition time; zero means PersistInput.At.
	At time.Time `json:"transitionedAt"`
}

// EventRecord is an outbox event (trigger event or hook) written by Persist. Its idempotency
// key is EventKey(systemID, seq, Type, Discriminator).
type EventRecord struct {
	Type string `json:"type"`
	// Discriminator distinguishes several events of one type written in one step (e.g. the
	// configuration id of a check.completed hook when a batch holds several runs).
	Discriminator string         `json:"discriminator,omitempty"`
	Payload       map[string]any `json:"payload"`
	// Key, when set, is the event's idempotency key instead of EventKey(…): a probe session
	// keys the hooks of its runs by run id (its writes share one seq).
	Key string `json:"key,omitempty"`
}

// SessionFence makes a Persist the write of a probe session (design.md §1): the entity fenced the
// session by its id (ClaimProbeSession), and the write happens only while the system's state
// row still names that session. A session writes quiet runs only — runs that change no
// evaluated status — so it stores the runs, their hourly buckets, the checks' last-run fields
// and run counts, and the runs' hooks, but never the view, a status, a transition or a trigger
// event: those stay the entity's.
type SessionFence struct {
	// ID is the session's id as claimed.
	ID string `json:"id"`
	// ExpiresAt is when the session's next write is due at the latest.
	ExpiresAt time.Time `json:"expiresAt"`
}

// ErrSessionFenced is returned by a session's Persist when the system's state row no longer
// names the session (the entity revoked or replaced it): nothing was written.
var ErrSessionFenced = errors.New("probe session fenced: the entity revoked or replaced it")

// PersistInput is everything the entity writes for one processed item, in one transaction.
type PersistInput struct {
	SystemID string `json:"systemId"`
	// Seq is the entity's sequence number of the item (≥ 1, increasing); it fences the current
	// state: an older Seq never overwrites a newer state.
	Seq int64 `json:"seq"`
	// At is the processing time (workflow time): updated_at, default transition time and the
	// events' created_at.
	At time.Time `json:"at"`
	// Runs are the results of the item (none for a configuration change). They gate the write:
	// when none of them is new, nothing is written.
	Runs []RunRecord `json:"runs,omitempty"`
	// Checks are the evaluated check states after the item (only the changed ones are needed).
	Checks []CheckState `json:"checks,omitempty"`
	// View is the system's view after the item; nil clears it (no enabled checks: tombstone).
	View *health.View `json:"view"`
	// Transition is written when the aggregate status changed.
	Transition *TransitionRecord `json:"transition,omitempty"`
	// Events are written to the outbox (each at most once, by idempotency key).
	Events []EventRecord `json:"events,omitempty"`
	// Session, when set, makes this a probe session's write (see SessionFence): View and
	// Transition must be empty, the state row is not written, and the check states are
	// written without the seq fence (the session's checks are the session's while it holds
	// the fence).
	Session *SessionFence `json:"session,omitempty"`
}

func (in *PersistInput) validate() error {
	var fe fieldErrors
	if in.SystemID == "" {
		fe.add("systemId", "is required")
	}
	if in.Seq < 1 {
		fe.add("seq", "must be ≥ 1")
	}
	if in.At.IsZero() {
		fe.add("at", "is required")
	}
	seen := map[string]bool{}
	for i := range in.Runs {
		r := &in.Runs[i]
		p := fmt.Sprintf("runs[%d]", i)
		if !strings.HasPrefix(r.ID, in.SystemID+":") || len(r.ID) == len(in.SystemID)+1 {
			fe.add(p+".id", `must be "<systemId>:<key>"`)
		} else if safetext.String(r.ID) != r.ID {
			fe.add(p+".id", "must be valid UTF-8 without NUL characters")
		} else if seen[r.ID] {
			fe.add(p+".id", "is duplicated in the input")
		}
		seen[r.ID] = true
		if id, ok := normUUID(r.ConfigurationID); ok {
			r.ConfigurationID = id
		} else {
			fe.add(p+".configurationId", "must be a UUID")
		}
		if !r.Status.Valid() {
			fe.add(p+".status", "must be healthy, degraded or unhealthy")
		}
		if r.LatencyMs != nil && *r.LatencyMs < 0 {
			fe.add(p+".latencyMs", "must be ≥ 0")
		}
		if r.Timestamp.IsZero() {
			fe.add(p+".timestamp", "is required")
		}
		if len(r.Result) > 0 && !json.Valid(r.Result) {
			fe.add(p+".result", "must be valid JSON")
		}
	}
	for i := range in.Checks {
		c := &in.Checks[i]
		p := fmt.Sprintf("checks[%d]", i)
		if id, ok := normUUID(c.ConfigurationID); ok {
			c.ConfigurationID = id
		} else {
			fe.add(p+".configurationId", "must be a UUID")
		}
		if !c.Status.Valid() {
			fe.add(p+".status", "must be healthy, degraded or unhealthy")
		}
		if c.RunsConsidered < 0 || c.ConsecutiveSuccesses < 0 || c.ConsecutiveFailures < 0 {
			fe.add(p, "counts must be ≥ 0")
		}
	}
	if in.View != nil {
		if err := in.View.Validate(); err != nil {
			fe.add("view", err.Error())
		} else if in.View.HealthyChecks > in.View.TotalChecks {
			fe.add("view", "healthyChecks must be ≤ totalChecks")
		}
	}
	if t := in.Transition; t != nil {
		if !t.To.Valid() {
			fe.add("transition.toStatus", "must be healthy, degraded or unhealthy")
		}
		if t.From != nil && !t.From.Valid() {
			fe.add("transition.fromStatus", "must be healthy, degraded or unhealthy")
		}
		if t.ConfigurationID != "" {
			if id, ok := normUUID(t.ConfigurationID); ok {
				t.ConfigurationID = id
			} else {
				fe.add("transition.configurationId", "must be a UUID")
			}
		}
	}
	for i, e := range in.Events {
		if e.Type == "" {
			fe.add(fmt.Sprintf("events[%d].type", i), "is required")
		}
	}
	if in.Session != nil {
		if in.Session.ID == "" {
			fe.add("session.id", "is required")
		}
		if in.View != nil || in.Transition != nil {
			fe.add("session", "a probe session writes no view and no transition")
		}
		if len(in.Runs) == 0 {
			fe.add("runs", "a probe session writes runs")
		}
	}
	return fe.err()
}

// makeSafe passes every text and jsonb value of the run that comes from outside — the result
// document, the source id and label — through safetext, so that whatever bytes a target or an
// external producer sent (NUL, invalid UTF-8) are stored, visibly replaced, instead of failing
// the transaction. Results that came by the check-result signal did not go through a prober,
// which does the same. The id is not rewritten (it is the run's identity): validate rejects one
// that is not safe.
func (r *RunRecord) makeSafe() {
	r.Result = safeJSON(r.Result)
	r.SourceID = safeText(r.SourceID)
	r.SourceLabel = safeText(r.SourceLabel)
}

// safeJSON is a jsonb value as it is stored: safetext.CapJSON with safetext.MaxResultBytes; nil
// (SQL NULL) for an empty or JSON-null value.
func safeJSON(raw json.RawMessage) json.RawMessage {
	if rawOrNil(raw) == nil {
		return nil
	}
	return safetext.CapJSON(raw, safetext.MaxResultBytes)
}

// safeText is a nullable text value as it is stored: safetext.String.
func safeText(s *string) *string {
	if s == nil {
		return nil
	}
	v := safetext.String(*s)
	return &v
}

// bucketKey identifies an hourly bucket row.
type bucketKey struct {
	configurationID string
	start           time.Time
	source          string // "" = NULL
	hasSource       bool
}

func (k bucketKey) less(o bucketKey) bool {
	if k.configurationID != o.configurationID {
		return k.configurationID < o.configurationID
	}
	if !k.start.Equal(o.start) {
		return k.start.Before(o.start)
	}
	if k.hasSource != o.hasSource {
		return !k.hasSource
	}
	return k.source < o.source
}

type bucketGroup struct {
	key   bucketKey
	label *string
	runs  []*RunRecord // in timestamp order
	rowID string
	b     health.Bucket
}

// source is the group's source id (nil = NULL, the default location).
func (g *bucketGroup) source() *string {
	if !g.key.hasSource {
		return nil
	}
	src := g.key.source
	return &src
}

// errNotApplied rolls a duplicate write back.
var errNotApplied = errors.New("not applied")

const bucketReturning = `id::text, run_count, healthy_count, degraded_count, unhealthy_count, latency_sum_ms,
	avg_latency_ms, min_latency_ms, max_latency_ms, p95_latency_ms, aggregated_result, tdigest_state`

// lockBucketSQL inserts the bucket row if it is missing and locks it either way (the no-op
// DO UPDATE takes the row lock and returns the current values), so two transactions folding into
// the same new bucket serialise instead of losing an update.
const lockBucketSQL = `INSERT INTO health_check_aggregates AS g
		(configuration_id, system_id, bucket_start, bucket_size, source_id, source_label)
	VALUES ($1::uuid, $2, $3, $4::bucket_size, $5, $6)
	ON CONFLICT ON CONSTRAINT health_check_aggregates_bucket_unique DO UPDATE SET run_count = g.run_count
	RETURNING ` + bucketReturning

const updateBucketSQL = `UPDATE health_check_aggregates SET
		run_count = $2, healthy_count = $3, degraded_count = $4, unhealthy_count = $5,
		latency_sum_ms = $6, avg_latency_ms = $7, min_latency_ms = $8, max_latency_ms = $9, p95_latency_ms = $10,
		aggregated_result = $11::jsonb, tdigest_state = $12::jsonb, source_label = coalesce($13, source_label)
	WHERE id = $1::uuid`

// bucketRow receives a bucket row's bucketReturning columns after its id.
type bucketRow struct {
	b      health.Bucket
	ar, td []byte
}

func (r *bucketRow) dest() []any {
	b := &r.b
	return []any{&b.RunCount, &b.HealthyCount, &b.DegradedCount, &b.UnhealthyCount, &b.LatencySumMs,
		&b.AvgLatencyMs, &b.MinLatencyMs, &b.MaxLatencyMs, &b.P95LatencyMs, &r.ar, &r.td}
}

// bucket decodes the row's documents (id names the row in errors).
func (r *bucketRow) bucket(id string) (health.Bucket, error) {
	b := r.b
	if len(r.ar) > 0 {
		if err := json.Unmarshal(r.ar, &b.AggregatedResult); err != nil {
			return health.Bucket{}, fmt.Errorf("aggregated_result of %s: %w", id, err)
		}
	}
	if len(r.td) > 0 {
		if err := json.Unmarshal(r.td, &b.TDigest); err != nil {
			return health.Bucket{}, fmt.Errorf("tdigest_state of %s: %w", id, err)
		}
	}
	return b, nil
}

func scanBucket(row pgx.Row) (string, health.Bucket, error) {
	var id string
	var r bucketRow
	if err := row.Scan(append([]any{&id}, r.dest()...)...); err != nil {
		return "", health.Bucket{}, err
	}
	b, err := r.bucket(id)
	if err != nil {
		return "", health.Bucket{}, err
	}
	return id, b, nil
}

// bucketDocs encodes a bucket's aggregated result and t-digest (nil: SQL NULL).
func bucketDocs(b health.Bucket) (ar, td []byte, err error) {
	if ar, err = jsonValue(b.AggregatedResult); err != nil {
		return nil, nil, fmt.Errorf("aggregated result: %w", err)
	}
	if len(b.TDigest) > 0 {
		if td, err = json.Marshal(b.TDigest); err != nil {
			return nil, nil, fmt.Errorf("t-digest: %w", err)
		}
	}
	return ar, td, nil
}

func queueBucketUpdate(batch *pgx.Batch, id string, b health.Bucket, label *string) error {
	ar, td, err := bucketDocs(b)
	if err != nil {
		return err
	}
	batch.Queue(updateBucketSQL, id, b.RunCount, b.HealthyCount, b.DegradedCount, b.UnhealthyCount, b.LatencySumMs,
		b.AvgLatencyMs, b.MinLatencyMs, b.MaxLatencyMs, b.P95LatencyMs, ar, td, label)
	return nil
}

// runCollectors extracts result.metadata.collectors.
func runCollectors(result json.RawMessage) map[string]map[string]any {
	if len(result) == 0 {
		return nil
	}
	var r struct {
		Metadata struct {
			Collectors map[string]map[string]any `json:"collectors"`
		} `json:"metadata"`
	}
	if json.Unmarshal(result, &r) != nil {
		return nil
	}
	return r.Metadata.Collectors
}

const upsertStateSQL = `INSERT INTO system_health_state AS s
		(system_id, status, healthy_checks, total_checks, in_status_since, seq, updated_at)
	VALUES ($1, $2::health_check_status, $3, $4,
		CASE WHEN $2::health_check_status IS NULL THEN NULL ELSE $5::timestamptz END, $6, $7)
	ON CONFLICT (system_id) DO UPDATE SET
		status = EXCLUDED.status,
		healthy_checks = EXCLUDED.healthy_checks,
		total_checks = EXCLUDED.total_checks,
		in_status_since = CASE
			WHEN EXCLUDED.status IS NULL THEN NULL
			WHEN s.status IS NOT DISTINCT FROM EXCLUDED.status THEN s.in_status_since
			ELSE EXCLUDED.in_status_since END,
		seq = EXCLUDED.seq,
		updated_at = EXCLUDED.updated_at
	WHERE s.seq < EXCLUDED.seq
	RETURNING seq`

const lastRunNewer = `$14::boolean AND (c.last_run_at IS NULL OR EXCLUDED.last_run_at >= c.last_run_at)`

// upsertCheckSQL writes a check's state only while its assignment exists (a check disassociated
// meanwhile is skipped, not an error) and only for a newer seq — or, for a probe session's write
// ($15), whatever the seq (which it keeps).
const upsertCheckSQL = `INSERT INTO check_health_state AS c
		(system_id, configuration_id, status, runs_considered, consecutive_successes, consecutive_failures,
		 last_run_id, last_run_at, last_run_status, last_latency_ms, seq, updated_at)
	SELECT a.system_id, a.configuration_id, $3::health_check_status, coalesce($4::int, 0), coalesce($5::int, 0),
		coalesce($6::int, 0), $7::text, $8::timestamptz, $9::health_check_status, $10::int, $11::bigint, $12::timestamptz
	FROM system_health_checks a WHERE a.system_id = $1 AND a.configuration_id = $2::uuid
	ON CONFLICT (system_id, configuration_id) DO UPDATE SET
		status = CASE WHEN $13::boolean THEN EXCLUDED.status ELSE c.status END,
		runs_considered = CASE WHEN $13::boolean THEN EXCLUDED.runs_considered ELSE c.runs_considered END,
		consecutive_successes = CASE WHEN $13::boolean THEN EXCLUDED.consecutive_successes ELSE c.consecutive_successes END,
		consecutive_failures = CASE WHEN $13::boolean THEN EXCLUDED.consecutive_failures ELSE c.consecutive_failures END,
		last_run_id = CASE WHEN ` + lastRunNewer + ` THEN EXCLUDED.last_run_id ELSE c.last_run_id END,
		last_run_status = CASE WHEN ` + lastRunNewer + ` THEN EXCLUDED.last_run_status ELSE c.last_run_status END,
		last_latency_ms = CASE WHEN ` + lastRunNewer + ` THEN EXCLUDED.last_latency_ms ELSE c.last_latency_ms END,
		last_run_at = CASE WHEN ` + lastRunNewer + ` THEN EXCLUDED.last_run_at ELSE c.last_run_at END,
		seq = CASE WHEN $15::boolean THEN c.seq ELSE EXCLUDED.seq END,
		updated_at = EXCLUDED.updated_at
	WHERE c.seq < EXCLUDED.seq OR $15::boolean`

// insertRunSQL inserts a run unless its id is stored already. Runs are partitioned by day
// (schema 006), so the primary key is (id, "timestamp"): the same id with another timestamp (a
// local probe that ran again after a crash and answered later) is found by looking for the id
// within a day of the timestamp — an index probe into at most three partitions.
const insertRunSQL = `INSERT INTO health_check_runs
		(id, configuration_id, system_id, status, latency_ms, result, source_id, source_label, "timestamp")
	SELECT $1, $2::uuid, $3, $4::health_check_status, $5, $6::jsonb, $7, $8, $9::timestamptz
	WHERE NOT EXISTS (SELECT 1 FROM health_check_runs WHERE id = $1
		AND "timestamp" BETWEEN $9::timestamptz - interval '1 day' AND $9::timestamptz + interval '1 day')
	ON CONFLICT (id, "timestamp") DO NOTHING RETURNING id`

// Persist is the entity's single write per processed item (design.md invariant 3), in one
// transaction:
//
//  1. every run is inserted unless its id is stored (insertRunSQL). If the input has runs and none of them
//     is new, the item was persisted before: the transaction is rolled back and Persist returns
//     false. (An input without runs — a configuration change — is gated by step 2 instead: it
//     applies only when its Seq is newer than the stored one.)
//  2. system_health_state is upserted only if Seq is newer than the stored seq (fencing; a zombie
//     attempt with an older Seq changes nothing there). A nil View clears the view and keeps seq.
//  3. each new run is folded into its hourly bucket with health.FoldRun under the bucket row's
//     lock (insert-or-lock, so concurrent folds into a new bucket cannot lose an update).
//  4. check_health_state is updated for the given checks and the checks of the new runs (fenced
//     by seq per check; checks no longer assigned are skipped).
//  5. the transition row and the outbox events are inserted (events ON CONFLICT on their
//     idempotency key DO NOTHING).
//
// Before writing, every text and jsonb value that comes from a run or an event payload is made
// safe (RunRecord.makeSafe, safeJSON): NUL and invalid UTF-8 are replaced and documents are
// capped at safetext.MaxResultBytes, so bytes a target sent never fail the transaction.
//
// It returns whether the item was applied. Calling it again with the same input — also
// concurrently — returns false and changes nothing. A system or configuration deleted meanwhile
// is a *NotFoundError (the item cannot be persisted any more).
func (s *Store) Persist(ctx context.Context, in PersistInput) (bool, error) {
	p, err := prepareWrite(in)
	if err != nil {
		return false, err
	}
	in = p.in
	at := p.at

	var status *string
	healthyChecks, totalChecks := 0, 0
	if in.View != nil {
		st := string(in.View.Status)
		status = &st
		healthyChecks, totalChecks = in.View.HealthyChecks, in.View.TotalChecks
	}
	since := at
	if in.Transition != nil && !in.Transition.At.IsZero() {
		since = in.Transition.At.UTC()
	}

	err = s.inTx(ctx, func(tx pgx.Tx) error {
		// Round trip 1: runs (in id order, so that two transactions holding the same runs take
		// their locks in the same order), fenced state, bucket locks.
		b := &pgx.Batch{}
		if in.Session != nil {
			// The fence first: the row lock orders this write with the entity's revocation.
			b.Queue(sessionFenceSQL, in.SystemID, in.Session.ID, in.Session.ExpiresAt.UTC())
		}
		for _, r := range p.byID {
			b.Queue(insertRunSQL,
				r.ID, r.ConfigurationID, in.SystemID, string(r.Status), r.LatencyMs, rawOrNil(r.Result), r.SourceID, r.SourceLabel, r.Timestamp.UTC())
		}
		if in.Session == nil {
			b.Queue(upsertStateSQL, in.SystemID, status, healthyChecks, totalChecks, since, in.Seq, at)
		}
		for _, g := range p.groups {
			b.Queue(lockBucketSQL, g.key.configurationID, in.SystemID, g.key.start, "hourly", g.source(), g.label)
		}
		inserted := map[string]bool{}
		advanced := false
		err := func() error {
			br := tx.SendBatch(ctx, b)
			defer br.Close()
			if in.Session != nil {
				var one int
				switch err := br.QueryRow().Scan(&one); {
				case errors.Is(err, pgx.ErrNoRows):
					return ErrSessionFenced
				case err != nil:
					return err
				}
			}
			for range in.Runs {
				var id string
				switch err := br.QueryRow().Scan(&id); {
				case err == nil:
					inserted[id] = true
				case errors.Is(err, pgx.ErrNoRows): // already persisted
				default:
					return err
				}
			}
			if in.Session == nil {
				var seq int64
				switch err := br.QueryRow().Scan(&seq); {
				case err == nil:
					advanced = true
				case errors.Is(err, pgx.ErrNoRows):
				default:
					return err
				}
			}
			for _, g := range p.groups {
				id, bk, err := scanBucket(br.QueryRow())
				if err != nil {
					return err
				}
				g.rowID, g.b = id, bk
			}
			return br.Close()
		}()
		if err != nil {
			return err
		}
		if len(in.Runs) > 0 && len(inserted) == 0 || len(in.Runs) == 0 && !advanced {
			return errNotApplied
		}

		// Round trip 2: bucket folds, check states, transition, events.
		b = &pgx.Batch{}
		folds, checks := s.foldWrite(p, inserted)
		for _, f := range folds {
			if err := queueBucketUpdate(b, f.rowID, f.b, f.label); err != nil {
				return err
			}
		}
		for _, c := range checks {
			b.Queue(upsertCheckSQL, in.SystemID, c.cfg, c.status(), c.considered(), c.successes(), c.failures(),
				c.runID(), c.runAt(), c.runStatus(), c.latency(), in.Seq, at, c.st != nil, c.lr != nil, in.Session != nil)
		}
		if t := in.Transition; t != nil {
			var cfg, from *string
			if t.ConfigurationID != "" {
				cfg = &t.ConfigurationID
			}
			if t.From != nil {
				x := string(*t.From)
				from = &x
			}
			tAt := at
			if !t.At.IsZero() {
				tAt = t.At.UTC()
			}
			b.Queue(`INSERT INTO health_check_state_transitions
					(system_id, configuration_id, from_status, to_status, transitioned_at, seq)
				VALUES ($1, (SELECT id FROM health_check_configurations WHERE id = $2::uuid),
					$3::health_check_status, $4::health_check_status, $5, $6)`,
				in.SystemID, cfg, from, string(t.To), tAt, in.Seq)
		}
		for _, e := range in.Events {
			payload, err := e.payload()
			if err != nil {
				return err
			}
			b.Queue(`INSERT INTO health_events (system_id, seq, type, payload, idempotency_key, created_at)
				VALUES ($1, $2, $3, $4::jsonb, $5, $6) ON CONFLICT (idempotency_key) DO NOTHING`,
				in.SystemID, in.Seq, e.Type, payload, e.key(in.SystemID, in.Seq), at)
		}
		if b.Len() == 0 {
			return nil
		}
		return tx.SendBatch(ctx, b).Close()
	})
	if errors.Is(err, errNotApplied) {
		return false, nil
	}
	if errors.Is(err, ErrSessionFenced) {
		return false, err
	}
	if err != nil {
		return false, wrapErr("persist", err)
	}
	return true, nil
}

// preparedWrite is a PersistInput ready to be written: copied (the caller's slices are not
// touched), validated, its runs made safe, in time order, grouped by hourly bucket in lock order
// and in id order.
type preparedWrite struct {
	in     PersistInput
	at     time.Time
	groups []*bucketGroup // lock order (bucketKey.less)
	byID   []*RunRecord   // id order
}

func prepareWrite(in PersistInput) (*preparedWrite, error) {
	in.Runs = append([]RunRecord(nil), in.Runs...)
	in.Checks = append([]CheckState(nil), in.Checks...)
	if in.Transition != nil {
		t := *in.Transition
		in.Transition = &t
	}
	if err := in.validate(); err != nil {
		return nil, err
	}
	for i := range in.Runs {
		in.Runs[i].makeSafe()
	}
	p := &preparedWrite{in: in, at: in.At.UTC()}

	// Runs in time order; hourly buckets in a fixed order (lock order).
	runs := make([]*RunRecord, len(p.in.Runs))
	for i := range p.in.Runs {
		runs[i] = &p.in.Runs[i]
	}
	sort.SliceStable(runs, func(i, j int) bool { return runs[i].Timestamp.Before(runs[j].Timestamp) })
	groupsByKey := map[bucketKey]*bucketGroup{}
	for _, r := range runs {
		k := bucketKey{configurationID: r.ConfigurationID, start: health.HourStart(r.Timestamp)}
		if r.SourceID != nil {
			k.source, k.hasSource = *r.SourceID, true
		}
		g := groupsByKey[k]
		if g == nil {
			g = &bucketGroup{key: k}
			groupsByKey[k] = g
			p.groups = append(p.groups, g)
		}
		if r.SourceLabel != nil {
			g.label = r.SourceLabel
		}
		g.runs = append(g.runs, r)
	}
	sort.Slice(p.groups, func(i, j int) bool { return p.groups[i].key.less(p.groups[j].key) })
	p.byID = runs
	if len(runs) > 1 {
		p.byID = append([]*RunRecord(nil), runs...)
		sort.Slice(p.byID, func(i, j int) bool { return p.byID[i].ID < p.byID[j].ID })
	}
	return p, nil
}

// bucketFold is the new state of a group's locked bucket row after the fold.
type bucketFold struct {
	g     *bucketGroup
	rowID string
	b     health.Bucket
	label *string
}

// checkWrite is one check_health_state row to upsert: the check's evaluated state (st, nil when
// the input carries none) and its newest inserted run (lr, nil when none).
type checkWrite struct {
	cfg string
	st  *CheckState
	lr  *RunRecord
}

func (c checkWrite) status() *string {
	if c.st == nil {
		return nil
	}
	x := string(c.st.Status)
	return &x
}

func (c checkWrite) considered() *int {
	if c.st == nil {
		return nil
	}
	return &c.st.RunsConsidered
}

func (c checkWrite) successes() *int {
	if c.st == nil {
		return nil
	}
	return &c.st.ConsecutiveSuccesses
}

func (c checkWrite) failures() *int {
	if c.st == nil {
		return nil
	}
	return &c.st.ConsecutiveFailures
}

func (c checkWrite) runID() *string {
	if c.lr == nil {
		return nil
	}
	return &c.lr.ID
}

func (c checkWrite) runAt() *time.Time {
	if c.lr == nil {
		return nil
	}
	t := c.lr.Timestamp.UTC()
	return &t
}

func (c checkWrite) runStatus() *string {
	if c.lr == nil {
		return nil
	}
	x := string(c.lr.Status)
	return &x
}

func (c checkWrite) latency() *int {
	if c.lr == nil {
		return nil
	}
	return c.lr.LatencyMs
}

// foldWrite folds the write's inserted runs into their locked buckets (each group's rowID and b
// are the locked row) with health.FoldRun, in time order, and works out the check-state rows:
// the input's check states and the checks of the inserted runs (with the newest run of each),
// in configuration id order.
func (s *Store) foldWrite(p *preparedWrite, inserted map[string]bool) ([]bucketFold, []checkWrite) {
	var folds []bucketFold
	last := map[string]*RunRecord{}
	touched := map[string]bool{}
	var order []string
	touch := func(cfg string) {
		if !touched[cfg] {
			touched[cfg] = true
			order = append(order, cfg)
		}
	}
	for _, g := range p.groups {
		bk, folded := g.b, false
		for _, r := range g.runs {
			if !inserted[r.ID] {
				continue
			}
			sample := health.RunSample{Status: r.Status, LatencyMs: r.LatencyMs}
			if s.merge != nil {
				sample.Collectors = runCollectors(r.Result)
			}
			bk = health.FoldRun(bk, sample, s.merge)
			folded = true
			touch(r.ConfigurationID)
			if lr := last[r.ConfigurationID]; lr == nil || !r.Timestamp.Before(lr.Timestamp) {
				last[r.ConfigurationID] = r
			}
		}
		if folded {
			folds = append(folds, bucketFold{g: g, rowID: g.rowID, b: bk, label: g.label})
		}
	}
	states := map[string]*CheckState{}
	for i := range p.in.Checks {
		states[p.in.Checks[i].ConfigurationID] = &p.in.Checks[i]
		touch(p.in.Checks[i].ConfigurationID)
	}
	sort.Strings(order)
	checks := make([]checkWrite, len(order))
	for i, cfg := range order {
		checks[i] = checkWrite{cfg: cfg, st: states[cfg], lr: last[cfg]}
	}
	return folds, checks
}

// payload is the event's payload as stored: JSON ({} for none), made safe (safeJSON).
func (e EventRecord) payload() ([]byte, error) {
	payload, err := jsonValue(e.Payload)
	if err != nil {
		return nil, invalid("events.payload", "must be JSON-encodable")
	}
	if payload == nil {
		payload = []byte("{}")
	}
	return safeJSON(payload), nil
}

// key is the event's idempotency key.
func (e EventRecord) key(systemID string, seq int64) string {
	if e.Key != "" {
		return e.Key
	}
	return EventKey(systemID, seq, e.Type, e.Discriminator)
}

// ClearView clears a system's view (tombstone) when it has no enabled checks any more: the
// state row keeps its seq (fenced like Persist) but has no status. It returns whether it applied.
func (s *Store) ClearView(ctx context.Context, systemID string, seq int64, at time.Time) (bool, error) {
	return s.Persist(ctx, PersistInput{SystemID: systemID, Seq: seq, At: at})
}
