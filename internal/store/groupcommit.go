package store

import (
	"context"
	"errors"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/checkflow/checkflow/internal/health"
)

// Defaults of a GroupCommitter.
const (
	// DefaultGroupCommitLinger is how long a write waits at most for others to share its commit.
	DefaultGroupCommitLinger = 40 * time.Millisecond
	// DefaultGroupCommitMaxRuns bounds the runs of one group commit.
	DefaultGroupCommitMaxRuns = 1000
	// DefaultGroupCommitTimeout bounds one group commit.
	DefaultGroupCommitTimeout = 30 * time.Second
)

// GroupCommitOptions configure a GroupCommitter; zero values take the defaults.
type GroupCommitOptions struct {
	// Linger is how long a write waits at most for others to share its transaction (from its
	// arrival; default DefaultGroupCommitLinger): the latency a quiet run's commit gains, less
	// when its caller needs the answer sooner (PersistBy).
	Linger time.Duration
	// MaxRuns bounds the runs of one commit; a commit starts at once when that many runs wait
	// (default DefaultGroupCommitMaxRuns).
	MaxRuns int
	// Timeout bounds one commit (default DefaultGroupCommitTimeout).
	Timeout time.Duration
}

// GroupCommitter writes the quiet batches of many probe sessions (PersistInput with a Session)
// that arrive within a few milliseconds in one transaction, with one multi-row statement per
// kind of row: the fences, the runs, the bucket folds, the check states and the hooks. The
// hourly buckets it wrote last are cached with their row's xmin, so that the next fold into
// one reads nothing (a bucket written by anyone else since is locked and read again). Each write
// means exactly what Store.Persist means for it:
//
//   - the fence is checked per system: a write whose session is revoked or replaced writes
//     nothing and only its caller gets ErrSessionFenced; the others commit;
//   - a run whose id is stored already is not stored again, and a write none of whose runs is
//     new writes nothing else (not applied);
//   - each bucket and check state is folded and written as Persist would, from the runs that
//     were new.
//
// A commit holds at most one write per system (a second one waits for the next commit), so two
// writes never fold into the same rows in one statement. When PostgreSQL refuses the group's
// transaction (an invalid value in one write, a deadlock), every write of the group is persisted
// alone with Persist, so one write cannot fail the others; a connection error fails them all.
//
// It is safe for concurrent use and needs no closing: a goroutine runs while writes wait.
type GroupCommitter struct {
	s    *Store
	opts GroupCommitOptions

	mu      sync.Mutex
	queue   []*sessionWrite
	queued  int       // runs in queue
	running bool      // a loop goroutine is gathering or committing
	wakeAt  time.Time // when the loop starts the next group
	kick    chan struct{}

	// buckets is used by the commit in progress (one at a time).
	buckets bucketCache

	commits atomic.Int64
	writes  atomic.Int64
}

// GroupCommitStats counts a GroupCommitter's work.
type GroupCommitStats struct {
	// Commits is the number of group transactions attempted; Writes the number of writes in them.
	Commits, Writes int64
}

// NewGroupCommitter returns a GroupCommitter writing to s.
func (s *Store) NewGroupCommitter(opts GroupCommitOptions) *GroupCommitter {
	if opts.Linger <= 0 {
		opts.Linger = DefaultGroupCommitLinger
	}
	if opts.MaxRuns <= 0 {
		opts.MaxRuns = DefaultGroupCommitMaxRuns
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultGroupCommitTimeout
	}
	return &GroupCommitter{s: s, opts: opts, kick: make(chan struct{}, 1)}
}

// Stats returns the committer's counts so far.
func (g *GroupCommitter) Stats() GroupCommitStats {
	return GroupCommitStats{Commits: g.commits.Load(), Writes: g.writes.Load()}
}

// sessionWrite is one caller's write waiting for (or in) a group commit.
type sessionWrite struct {
	p       *preparedWrite
	due     time.Time // its commit starts by then
	done    chan struct{}
	applied bool
	err     error

	// inserted are its runs that were new (set by the commit).
	inserted map[string]bool
}

// Persist writes a probe session's quiet batch (in.Session must be set) in the next group
// commit and returns what Store.Persist would: whether it applied, ErrSessionFenced when the
// session was fenced, a validation error for invalid input. When ctx ends first it returns
// ctx's error; the write may still commit (a later Persist of the same runs is a no-op).
func (g *GroupCommitter) Persist(ctx context.Context, in PersistInput) (bool, error) {
	return g.PersistBy(ctx, in, time.Time{})
}

// PersistBy is Persist for a caller that needs the answer by a given time: the write's commit
// starts by then at the latest, even if it waited less than Linger (at once when the time has
// passed). A zero time sets no limit beyond Linger.
func (g *GroupCommitter) PersistBy(ctx context.Context, in PersistInput, by time.Time) (bool, error) {
	if in.Session == nil {
		return false, invalid("session", "a group commit writes probe sessions' batches only")
	}
	p, err := prepareWrite(in)
	if err != nil {
		return false, err
	}
	due := time.Now().Add(g.opts.Linger)
	if !by.IsZero() && by.Before(due) {
		due = by
	}
	w := &sessionWrite{p: p, due: due, done: make(chan struct{})}
	g.mu.Lock()
	g.queue = append(g.queue, w)
	g.queued += len(p.in.Runs)
	switch {
	case !g.running:
		g.running = true
		go g.loop()
	case g.queued >= g.opts.MaxRuns || due.Before(g.wakeAt):
		// The loop waits for a later time: wake it.
		select {
		case g.kick <- struct{}{}:
		default:
		}
	}
	g.mu.Unlock()
	select {
	case <-w.done:
		return w.applied, w.err
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

// Flush starts the next group commit at once, with every write that waits (for a caller whose
// answer is awaited now).
func (g *GroupCommitter) Flush() {
	now := time.Now()
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, w := range g.queue {
		if w.due.After(now) {
			w.due = now
		}
	}
	if g.running && g.wakeAt.After(now) {
		select {
		case g.kick <- struct{}{}:
		default:
		}
	}
}

// loop commits the queued writes, one group at a time, until none waits. A group starts when
// its earliest due write is due (Linger after it arrived, or earlier as its caller asked) or
// when MaxRuns runs wait.
func (g *GroupCommitter) loop() {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		g.mu.Lock()
		if len(g.queue) == 0 {
			g.running = false
			g.mu.Unlock()
			return
		}
		at := g.queue[0].due
		for _, w := range g.queue[1:] {
			if w.due.Before(at) {
				at = w.due
			}
		}
		g.wakeAt = at
		full := g.queued >= g.opts.MaxRuns
		g.mu.Unlock()
		if wait := time.Until(at); wait > 0 && !full {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-g.kick:
				continue // an earlier write or a full queue: look again
			}
		}
		g.mu.Lock()
		batch := g.take()
		g.mu.Unlock()
		g.commit(batch)
	}
}

// take removes the next group from the queue: writes in arrival order, at most one per system,
// up to MaxRuns runs (at least one write). g.mu is held.
func (g *GroupCommitter) take() []*sessionWrite {
	select {
	case <-g.kick:
	default:
	}
	var batch, rest []*sessionWrite
	systems := map[string]bool{}
	runs := 0
	for _, w := range g.queue {
		n := len(w.p.in.Runs)
		if systems[w.p.in.SystemID] || len(batch) > 0 && runs+n > g.opts.MaxRuns {
			rest = append(rest, w)
			continue
		}
		systems[w.p.in.SystemID] = true
		runs += n
		batch = append(batch, w)
	}
	g.queue, g.queued = rest, g.queued-runs
	return batch
}

// commit writes one group and answers its callers.
func (g *GroupCommitter) commit(batch []*sessionWrite) {
	ctx, cancel := context.WithTimeout(context.Background(), g.opts.Timeout)
	defer cancel()
	g.commits.Add(1)
	g.writes.Add(int64(len(batch)))
	err := g.s.commitGroup(ctx, batch, &g.buckets)
	var pe *pgconn.PgError
	switch {
	case err == nil:
	case errors.As(err, &pe):
		// PostgreSQL refused the transaction, perhaps for one write's values: each alone, so
		// that only that write fails (and fails as Persist fails).
		for _, w := range batch {
			w.applied, w.err = g.s.Persist(ctx, w.p.in)
		}
	default:
		for _, w := range batch {
			w.applied, w.err = false, wrapErr("persist", err)
		}
	}
	for _, w := range batch {
		close(w.done)
	}
}

// groupPlanSQL sets how the group's statements are planned, for its transaction: each is driven
// by its arrays, a few rows that are looked up by key (a hash join would read the whole state
// tables), and its plan does not depend on the arrays' lengths (a custom plan per execution
// costs more than the fence's execution). The settings keep their plans in the order of the
// arrays, which is the lock order.
const groupPlanSQL = `SELECT set_config('plan_cache_mode', 'force_generic_plan', true),
	set_config('enable_hashjoin', 'off', true), set_config('enable_mergejoin', 'off', true),
	set_config('enable_seqscan', 'off', true)`

// Multi-row statements of a group commit. Arrays are passed as text where PostgreSQL has no
// binary array input for the type at hand (enums, uuids given as text) and cast per element.
const (
	// groupFenceSQL is sessionFenceSQL for many systems: it locks the state rows that still name
	// their session (in the order given) and returns their system ids.
	groupFenceSQL = `UPDATE system_health_state s SET probe_session_expires_at = f.expires_at
	FROM unnest($1::text[], $2::text[], $3::timestamptz[]) AS f(system_id, session, expires_at)
	WHERE s.system_id = f.system_id AND s.probe_session = f.session
	RETURNING s.system_id`

	// groupInsertRunsSQL is insertRunSQL for many runs, each only while its session holds the
	// fence (locked by groupFenceSQL in the same transaction).
	groupInsertRunsSQL = `INSERT INTO health_check_runs
		(id, configuration_id, system_id, status, latency_ms, result, source_id, source_label, "timestamp")
	SELECT r.id, r.configuration_id::uuid, r.system_id, r.status::health_check_status, r.latency_ms, r.result,
		r.source_id, r.source_label, r.ts
	FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[], $6::jsonb[], $7::text[], $8::text[],
			$9::timestamptz[], $10::text[])
		AS r(id, configuration_id, system_id, status, latency_ms, result, source_id, source_label, ts, session)
	WHERE EXISTS (SELECT 1 FROM system_health_state s WHERE s.system_id = r.system_id AND s.probe_session = r.session)
		AND NOT EXISTS (SELECT 1 FROM health_check_runs h WHERE h.id = r.id
			AND h."timestamp" BETWEEN r.ts - interval '1 day' AND r.ts + interval '1 day')
	ON CONFLICT (id, "timestamp") DO NOTHING RETURNING id`

	// groupLockBucketsSQL is lockBucketSQL for many buckets (in the order given).
	groupLockBucketsSQL = `INSERT INTO health_check_aggregates AS g
		(configuration_id, system_id, bucket_start, bucket_size, source_id, source_label)
	SELECT k.configuration_id::uuid, k.system_id, k.bucket_start, 'hourly', k.source_id, k.source_label
	FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::text[], $5::text[])
		AS k(configuration_id, system_id, bucket_start, source_id, source_label)
	ON CONFLICT ON CONSTRAINT health_check_aggregates_bucket_unique DO UPDATE SET run_count = g.run_count
	RETURNING g.configuration_id::text, g.system_id, g.bucket_start, g.source_id, ` + bucketReturning

	// groupUpdateBucketsSQL is updateBucketSQL for many buckets; a bucket with a cached xmin is
	// written only while its row's xmin is that one (nothing else wrote it since it was cached).
	// It returns the rows written with their new xmin.
	groupUpdateBucketsSQL = `UPDATE health_check_aggregates g SET
		run_count = u.run_count, healthy_count = u.healthy_count, degraded_count = u.degraded_count,
		unhealthy_count = u.unhealthy_count, latency_sum_ms = u.latency_sum_ms, avg_latency_ms = u.avg_latency_ms,
		min_latency_ms = u.min_latency_ms, max_latency_ms = u.max_latency_ms, p95_latency_ms = u.p95_latency_ms,
		aggregated_result = u.aggregated_result, tdigest_state = u.tdigest_state,
		source_label = coalesce(u.source_label, g.source_label)
	FROM unnest($1::text[], $2::int[], $3::int[], $4::int[], $5::int[], $6::bigint[], $7::int[], $8::int[], $9::int[],
			$10::int[], $11::jsonb[], $12::jsonb[], $13::text[], $14::xid[])
		AS u(id, run_count, healthy_count, degraded_count, unhealthy_count, latency_sum_ms, avg_latency_ms,
			min_latency_ms, max_latency_ms, p95_latency_ms, aggregated_result, tdigest_state, source_label, cached_xmin)
	WHERE g.id = u.id::uuid AND (u.cached_xmin IS NULL OR g.xmin = u.cached_xmin)
	RETURNING g.id::text, g.xmin`

	// groupUpsertChecksSQL is upsertCheckSQL for many probe-session check states: a row's status
	// is NULL when the write carries no state for the check, its last_run_id NULL when none of
	// its runs was new (upsertCheckSQL's $13 and $14); the seq is kept, as for every session
	// write ($15).
	groupUpsertChecksSQL = `INSERT INTO check_health_state AS c
		(system_id, configuration_id, status, runs_considered, consecutive_successes, consecutive_failures,
		 last_run_id, last_run_at, last_run_status, last_latency_ms, seq, updated_at)
	SELECT a.system_id, a.configuration_id, u.status::health_check_status, coalesce(u.runs_considered, 0),
		coalesce(u.consecutive_successes, 0), coalesce(u.consecutive_failures, 0), u.last_run_id, u.last_run_at,
		u.last_run_status::health_check_status, u.last_latency_ms, u.seq, u.updated_at
	FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::int[], $6::int[], $7::text[], $8::timestamptz[],
			$9::text[], $10::int[], $11::bigint[], $12::timestamptz[])
		AS u(system_id, configuration_id, status, runs_considered, consecutive_successes, consecutive_failures,
			last_run_id, last_run_at, last_run_status, last_latency_ms, seq, updated_at)
	JOIN system_health_checks a ON a.system_id = u.system_id AND a.configuration_id = u.configuration_id::uuid
	ON CONFLICT (system_id, configuration_id) DO UPDATE SET
		status = CASE WHEN EXCLUDED.status IS NOT NULL THEN EXCLUDED.status ELSE c.status END,
		runs_considered = CASE WHEN EXCLUDED.status IS NOT NULL THEN EXCLUDED.runs_considered ELSE c.runs_considered END,
		consecutive_successes = CASE WHEN EXCLUDED.status IS NOT NULL THEN EXCLUDED.consecutive_successes ELSE c.consecutive_successes END,
		consecutive_failures = CASE WHEN EXCLUDED.status IS NOT NULL THEN EXCLUDED.consecutive_failures ELSE c.consecutive_failures END,
		last_run_id = CASE WHEN ` + groupLastRunNewer + ` THEN EXCLUDED.last_run_id ELSE c.last_run_id END,
		last_run_status = CASE WHEN ` + groupLastRunNewer + ` THEN EXCLUDED.last_run_status ELSE c.last_run_status END,
		last_latency_ms = CASE WHEN ` + groupLastRunNewer + ` THEN EXCLUDED.last_latency_ms ELSE c.last_latency_ms END,
		last_run_at = CASE WHEN ` + groupLastRunNewer + ` THEN EXCLUDED.last_run_at ELSE c.last_run_at END,
		seq = c.seq,
		updated_at = EXCLUDED.updated_at`

	groupLastRunNewer = `EXCLUDED.last_run_id IS NOT NULL AND (c.last_run_at IS NULL OR EXCLUDED.last_run_at >= c.last_run_at)`

	// groupInsertEventsSQL inserts many outbox events (in the order given), each at most once.
	groupInsertEventsSQL = `INSERT INTO health_events (system_id, seq, type, payload, idempotency_key, created_at)
	SELECT e.system_id, e.seq, e.type, e.payload, e.idempotency_key, e.created_at
	FROM unnest($1::text[], $2::bigint[], $3::text[], $4::jsonb[], $5::text[], $6::timestamptz[])
		AS e(system_id, seq, type, payload, idempotency_key, created_at)
	ON CONFLICT (idempotency_key) DO NOTHING`
)

// groupBucketKey identifies a bucket row among a group's.
type groupBucketKey struct {
	systemID string
	key      bucketKey
}

// cachedBucket is a bucket row as a group commit last wrote it: the row's xmin after the write
// tells whether anything changed it since.
type cachedBucket struct {
	rowID string
	xmin  uint32
	b     health.Bucket
	used  time.Time // when it was written
}

// Bucket cache bounds: entries not written for bucketCacheIdle are dropped (looked for at most
// every bucketCacheSweep), and the whole cache when it holds more than bucketCacheMax.
const (
	bucketCacheIdle  = 15 * time.Minute
	bucketCacheSweep = time.Minute
	bucketCacheMax   = 100_000
)

// bucketCache holds the hourly buckets a GroupCommitter folded last, so that the next fold into
// the same bucket needs no read: the fold starts from the cached row and its write is made
// conditional on the row's xmin (any other write to the row changes it, and the row is then
// locked, read and folded again). It is used by one commit at a time.
type bucketCache struct {
	entries   map[groupBucketKey]*cachedBucket
	lastSweep time.Time
}

// sweep drops the entries not written lately.
func (c *bucketCache) sweep(now time.Time) {
	if c.entries == nil {
		c.entries = map[groupBucketKey]*cachedBucket{}
	}
	if len(c.entries) > bucketCacheMax {
		clear(c.entries)
	}
	if now.Sub(c.lastSweep) < bucketCacheSweep {
		return
	}
	c.lastSweep = now
	for k, e := range c.entries {
		if now.Sub(e.used) > bucketCacheIdle {
			delete(c.entries, k)
		}
	}
}

// groupBucket is one bucket a group commit folds runs into: the write and bucket group it
// belongs to, where its base comes from (cached, or locked in this transaction), and the fold.
type groupBucket struct {
	key    groupBucketKey
	w      *sessionWrite
	g      *bucketGroup
	cached *cachedBucket // the base was cached (its write is conditional on cachedXmin)
	folded health.Bucket
	xmin   uint32 // the row's xmin after the write
}

// commitGroup writes a group of session writes (at most one per system) in one transaction on
// one connection, in three round trips when every bucket is cached: BEGIN, the fences and the
// runs; the bucket folds, check states and hooks; COMMIT (plus one to lock and read the buckets
// not cached, and one more for cached buckets that changed meanwhile). It sets each write's
// outcome. An error means the transaction failed as a whole: nothing of it is stored (the
// connection is rolled back, or closed) and the outcomes are not set.
func (s *Store) commitGroup(ctx context.Context, batch []*sessionWrite, cache *bucketCache) error {
	// Lock order: systems in id order; within a system, Persist's order.
	sort.Slice(batch, func(i, j int) bool { return batch[i].p.in.SystemID < batch[j].p.in.SystemID })
	for _, w := range batch {
		w.inserted, w.applied, w.err = nil, false, nil
	}
	n := len(batch)
	var (
		fSys, fSession = make([]string, n), make([]string, n)
		fExpires       = make([]time.Time, n)
	)
	nRuns := 0
	for i, w := range batch {
		in := &w.p.in
		fSys[i], fSession[i], fExpires[i] = in.SystemID, in.Session.ID, in.Session.ExpiresAt.UTC()
		nRuns += len(in.Runs)
	}
	var (
		rID, rCfg, rSys, rStatus, rSession = make([]string, 0, nRuns), make([]string, 0, nRuns), make([]string, 0, nRuns), make([]string, 0, nRuns), make([]string, 0, nRuns)
		rLatency                           = make([]*int, 0, nRuns)
		rResult                            = make([][]byte, 0, nRuns)
		rSource, rLabel                    = make([]*string, 0, nRuns), make([]*string, 0, nRuns)
		rAt                                = make([]time.Time, 0, nRuns)
	)
	for _, w := range batch {
		in := &w.p.in
		for _, r := range w.p.byID {
			rID = append(rID, r.ID)
			rCfg = append(rCfg, r.ConfigurationID)
			rSys = append(rSys, in.SystemID)
			rStatus = append(rStatus, string(r.Status))
			rLatency = append(rLatency, r.LatencyMs)
			rResult = append(rResult, rawOrNil(r.Result))
			rSource = append(rSource, r.SourceID)
			rLabel = append(rLabel, r.SourceLabel)
			rAt = append(rAt, r.Timestamp.UTC())
			rSession = append(rSession, in.Session.ID)
		}
	}

	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	committed := false
	defer func() {
		if !committed {
			// Roll the transaction back; a connection that cannot is closed by the pool (it is
			// not idle).
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			_, _ = conn.Exec(rctx, "ROLLBACK")
			cancel()
		}
		conn.Release()
	}()

	// Round trip 1: BEGIN, the fences and the runs.
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	b.Queue(groupPlanSQL)
	b.Queue(groupFenceSQL, fSys, fSession, fExpires)
	b.Queue(groupInsertRunsSQL, rID, rCfg, rSys, rStatus, rLatency, rResult, rSource, rLabel, rAt, rSession)
	live := make(map[string]bool, n)
	inserted := make(map[string]bool, nRuns)
	if err := sendBatch(ctx, conn.Conn(), b, func(br pgx.BatchResults) error {
		for range 2 { // BEGIN, groupPlanSQL
			if _, err := br.Exec(); err != nil {
				return err
			}
		}
		if err := collectStrings(br, live); err != nil {
			return err
		}
		return collectStrings(br, inserted)
	}); err != nil {
		return err
	}
	var applied []*sessionWrite
	for _, w := range batch {
		if !live[w.p.in.SystemID] {
			w.err = ErrSessionFenced
			continue
		}
		for _, r := range w.p.in.Runs {
			if inserted[r.ID] {
				if w.inserted == nil {
					w.inserted = map[string]bool{}
				}
				w.inserted[r.ID] = true
			}
		}
		// None of its runs is new: stored before, nothing more to write (Persist: not applied).
		if len(w.inserted) > 0 {
			w.applied = true
			applied = append(applied, w)
		}
	}

	// The buckets of the new runs: from the cache, else locked and read.
	now := time.Now()
	cache.sweep(now)
	var buckets []*groupBucket
	var toLock []*groupBucket
	for _, w := range applied {
		for _, g := range w.p.groups {
			if !groupHasAny(g, w.inserted) {
				continue
			}
			gb := &groupBucket{key: groupBucketKey{w.p.in.SystemID, g.key}, w: w, g: g}
			if c := cache.entries[gb.key]; c != nil {
				gb.cached = c
				g.rowID, g.b = c.rowID, c.b
			} else {
				toLock = append(toLock, gb)
			}
			buckets = append(buckets, gb)
		}
	}
	if err := lockGroupBuckets(ctx, conn.Conn(), toLock); err != nil {
		return err
	}

	// Round trip 2: bucket folds (conditional on the cached rows' xmin), check states, hooks.
	var (
		cSys, cCfg                                   []string
		cStatus, cRunID, cRunStatus                  []*string
		cConsidered, cSuccesses, cFailures, cLatency []*int
		cRunAt                                       []*time.Time
		cAt                                          []time.Time
		cSeq                                         []int64
		eSys, eType, eKey                            []string
		eSeq                                         []int64
		ePayload                                     [][]byte
		eAt                                          []time.Time
	)
	folded := map[*bucketGroup]health.Bucket{}
	for _, w := range applied {
		in := &w.p.in
		at := w.p.at
		folds, checks := s.foldWrite(w.p, w.inserted)
		for _, f := range folds {
			folded[f.g] = f.b
		}
		for _, c := range checks {
			cSys = append(cSys, in.SystemID)
			cCfg = append(cCfg, c.cfg)
			cStatus = append(cStatus, c.status())
			cConsidered = append(cConsidered, c.considered())
			cSuccesses = append(cSuccesses, c.successes())
			cFailures = append(cFailures, c.failures())
			cRunID = append(cRunID, c.runID())
			cRunAt = append(cRunAt, c.runAt())
			cRunStatus = append(cRunStatus, c.runStatus())
			cLatency = append(cLatency, c.latency())
			cSeq = append(cSeq, in.Seq)
			cAt = append(cAt, at)
		}
		for _, e := range in.Events {
			payload, err := e.payload()
			if err != nil {
				return err
			}
			eSys = append(eSys, in.SystemID)
			eSeq = append(eSeq, in.Seq)
			eType = append(eType, e.Type)
			ePayload = append(ePayload, payload)
			eKey = append(eKey, e.key(in.SystemID, in.Seq))
			eAt = append(eAt, at)
		}
	}
	for _, gb := range buckets {
		gb.folded = folded[gb.g]
	}
	upd, err := bucketUpdateArgs(buckets)
	if err != nil {
		return err
	}
	b = &pgx.Batch{}
	if len(buckets) > 0 {
		b.Queue(groupUpdateBucketsSQL, upd...)
	}
	if len(cSys) > 0 {
		b.Queue(groupUpsertChecksSQL, cSys, cCfg, cStatus, cConsidered, cSuccesses, cFailures, cRunID, cRunAt, cRunStatus, cLatency, cSeq, cAt)
	}
	if len(eSys) > 0 {
		b.Queue(groupInsertEventsSQL, eSys, eSeq, eType, ePayload, eKey, eAt)
	}
	written := map[string]uint32{}
	if b.Len() > 0 {
		if err := sendBatch(ctx, conn.Conn(), b, func(br pgx.BatchResults) error {
			if len(buckets) > 0 {
				if err := collectXmins(br, written); err != nil {
					return err
				}
			}
			for range b.Len() - min(len(buckets), 1) {
				if _, err := br.Exec(); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return err
		}
	}
	// Cached buckets another transaction changed meanwhile: lock, read, fold and write again.
	var stale []*groupBucket
	for _, gb := range buckets {
		if x, ok := written[gb.g.rowID]; ok {
			gb.xmin = x
			continue
		}
		if gb.cached == nil {
			return errors.New("group commit: a locked bucket was not written")
		}
		delete(cache.entries, gb.key)
		gb.cached = nil
		stale = append(stale, gb)
	}
	if len(stale) > 0 {
		if err := lockGroupBuckets(ctx, conn.Conn(), stale); err != nil {
			return err
		}
		for _, gb := range stale {
			gb.folded = s.refold(gb)
		}
		upd, err := bucketUpdateArgs(stale)
		if err != nil {
			return err
		}
		rows, err := conn.Query(ctx, groupUpdateBucketsSQL, upd...)
		if err != nil {
			return err
		}
		clear(written)
		if err := collectXminRows(rows, written); err != nil {
			return err
		}
		for _, gb := range stale {
			x, ok := written[gb.g.rowID]
			if !ok {
				return errors.New("group commit: a locked bucket was not written")
			}
			gb.xmin = x
		}
	}

	// Round trip 3: COMMIT.
	if _, err := conn.Exec(ctx, "COMMIT"); err != nil {
		// The outcome is unknown: the cache may be wrong either way.
		clear(cache.entries)
		return err
	}
	committed = true
	for _, gb := range buckets {
		cache.entries[gb.key] = &cachedBucket{rowID: gb.g.rowID, xmin: gb.xmin, b: gb.folded, used: now}
	}
	return nil
}

// refold folds the bucket's new runs again into its freshly locked row.
func (s *Store) refold(gb *groupBucket) health.Bucket {
	bk := gb.g.b
	for _, r := range gb.g.runs {
		if !gb.w.inserted[r.ID] {
			continue
		}
		sample := health.RunSample{Status: r.Status, LatencyMs: r.LatencyMs}
		if s.merge != nil {
			sample.Collectors = runCollectors(r.Result)
		}
		bk = health.FoldRun(bk, sample, s.merge)
	}
	return bk
}

// lockGroupBuckets inserts the buckets' rows if missing and locks and reads them (one round
// trip), setting each group's rowID and b.
func lockGroupBuckets(ctx context.Context, conn *pgx.Conn, buckets []*groupBucket) error {
	if len(buckets) == 0 {
		return nil
	}
	var (
		kCfg, kSys      = make([]string, len(buckets)), make([]string, len(buckets))
		kStart          = make([]time.Time, len(buckets))
		kSource, kLabel = make([]*string, len(buckets)), make([]*string, len(buckets))
	)
	byKey := make(map[groupBucketKey]*groupBucket, len(buckets))
	for i, gb := range buckets {
		byKey[gb.key] = gb
		kCfg[i], kSys[i], kStart[i] = gb.key.key.configurationID, gb.key.systemID, gb.key.key.start.UTC()
		kSource[i], kLabel[i] = gb.g.source(), gb.g.label
	}
	rows, err := conn.Query(ctx, groupLockBucketsSQL, kCfg, kSys, kStart, kSource, kLabel)
	if err != nil {
		return err
	}
	defer rows.Close()
	locked := 0
	for rows.Next() {
		var k groupBucketKey
		var src *string
		var start time.Time
		var id string
		var bk bucketRow
		if err := rows.Scan(append([]any{&k.key.configurationID, &k.systemID, &start, &src, &id}, bk.dest()...)...); err != nil {
			return err
		}
		k.key.start = start.UTC()
		if src != nil {
			k.key.source, k.key.hasSource = *src, true
		}
		gb := byKey[k]
		if gb == nil {
			return errors.New("group commit: a locked bucket matches no run")
		}
		b, err := bk.bucket(id)
		if err != nil {
			return err
		}
		gb.g.rowID, gb.g.b = id, b
		locked++
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if locked != len(buckets) {
		return errors.New("group commit: a bucket was not locked")
	}
	return nil
}

// bucketUpdateArgs are groupUpdateBucketsSQL's arguments for the buckets' folds: cached ones
// are written only if their row's xmin is still the cached one. The documents are decoded
// back into the folds, so that a cached fold is what reading the row would give.
func bucketUpdateArgs(buckets []*groupBucket) ([]any, error) {
	n := len(buckets)
	var (
		id                                 = make([]string, n)
		runs, healthy, degraded, unhealthy = make([]int, n), make([]int, n), make([]int, n), make([]int, n)
		sum, avg, minL, maxL, p95          = make([]*int, n), make([]*int, n), make([]*int, n), make([]*int, n), make([]*int, n)
		ar, td                             = make([][]byte, n), make([][]byte, n)
		label                              = make([]*string, n)
		xmin                               = make([]*uint32, n)
	)
	for i, gb := range buckets {
		f := gb.folded
		a, t, err := bucketDocs(f)
		if err != nil {
			return nil, err
		}
		// What a read of the row gives back (the cache must not hold other Go types).
		r := bucketRow{b: f, ar: a, td: t}
		r.b.AggregatedResult, r.b.TDigest = nil, nil
		if gb.folded, err = r.bucket(gb.g.rowID); err != nil {
			return nil, err
		}
		id[i] = gb.g.rowID
		runs[i], healthy[i], degraded[i], unhealthy[i] = f.RunCount, f.HealthyCount, f.DegradedCount, f.UnhealthyCount
		sum[i], avg[i], minL[i], maxL[i], p95[i] = f.LatencySumMs, f.AvgLatencyMs, f.MinLatencyMs, f.MaxLatencyMs, f.P95LatencyMs
		ar[i], td[i], label[i] = a, t, gb.g.label
		if gb.cached != nil {
			x := gb.cached.xmin
			xmin[i] = &x
		}
	}
	return []any{id, runs, healthy, degraded, unhealthy, sum, avg, minL, maxL, p95, ar, td, label, xmin}, nil
}

// sendBatch sends b on conn and hands its results to read; the batch is closed (its last error
// returned) before sendBatch returns.
func sendBatch(ctx context.Context, conn *pgx.Conn, b *pgx.Batch, read func(pgx.BatchResults) error) error {
	br := conn.SendBatch(ctx, b)
	if err := read(br); err != nil {
		_ = br.Close()
		return err
	}
	return br.Close()
}

// collectXmins reads the batch's next result: groupUpdateBucketsSQL's rows.
func collectXmins(br pgx.BatchResults, into map[string]uint32) error {
	rows, err := br.Query()
	if err != nil {
		return err
	}
	return collectXminRows(rows, into)
}

// collectXminRows reads groupUpdateBucketsSQL's rows (id, xmin) into into and closes them.
func collectXminRows(rows pgx.Rows, into map[string]uint32) error {
	defer rows.Close()
	for rows.Next() {
		var id string
		var x uint32
		if err := rows.Scan(&id, &x); err != nil {
			return err
		}
		into[id] = x
	}
	return rows.Err()
}

// collectStrings adds the first column of the batch's next result rows to set.
func collectStrings(br pgx.BatchResults, set map[string]bool) error {
	rows, err := br.Query()
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return err
		}
		set[v] = true
	}
	return rows.Err()
}

// groupHasAny tells whether one of the group's runs is in ids.
func groupHasAny(g *bucketGroup, ids map[string]bool) bool {
	for _, r := range g.runs {
		if ids[r.ID] {
			return true
		}
	}
	return false
}
