package store

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// ProbeSessionChannel is the PostgreSQL notification channel on which claims and revocations of
// probe sessions are announced; the payload is "<systemId> <current session id or empty>".
const ProbeSessionChannel = "checkflow_probe_session"

// sessionFenceSQL locks the state row while it still names the session and moves the session's
// expiry. Under READ COMMITTED an UPDATE that meets a concurrent revocation or claim waits for it
// and then re-checks the row: a session fenced meanwhile updates nothing and writes nothing.
const sessionFenceSQL = `UPDATE system_health_state SET probe_session_expires_at = $3
	WHERE system_id = $1 AND probe_session = $2 RETURNING 1`

// ClaimProbeSession makes session the system's probe session (replacing any other: the one it
// replaces is fenced from then on) and announces it on ProbeSessionChannel; what an earlier
// session left to resume is dropped (SuspendProbeSession). It returns the state's seq; ok is
// false when the system has no state row yet (nothing was claimed).
//
// owner is the backend pid of the connection the session's worker holds for its lifetime (0:
// none, the session is then only noticed lost by its activity's timeout).
func (s *Store) ClaimProbeSession(ctx context.Context, systemID, session string, expiresAt time.Time, owner uint32) (seq int64, ok bool, err error) {
	var ownerPID *int32
	if owner != 0 {
		o := int32(owner)
		ownerPID = &o
	}
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `UPDATE system_health_state SET probe_session = $2, probe_session_expires_at = $3,
				probe_session_owner = $4, probe_session_resume = NULL
			WHERE system_id = $1 RETURNING seq`, systemID, session, expiresAt.UTC(), ownerPID).Scan(&seq)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		ok = true
		_, err = tx.Exec(ctx, `SELECT pg_notify($1, $2)`, ProbeSessionChannel, systemID+" "+session)
		return err
	})
	if err != nil {
		return 0, false, wrapErr("claim probe session", err)
	}
	return seq, ok, nil
}

// SuspendProbeSession stores state — what session has done so far, opaque to the store — for
// the attempt of the session that resumes it on another worker (ResumeProbeSession), if session
// is still the system's. It returns false when the session was fenced: nothing is stored.
// Revoking the session keeps what was stored (its resumed attempt reports it as fenced);
// claiming another session drops it.
func (s *Store) SuspendProbeSession(ctx context.Context, systemID, session string, state []byte) (bool, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE system_health_state
		SET probe_session_resume = jsonb_build_object('session', $2::text, 'state', $3::jsonb)
		WHERE system_id = $1 AND probe_session = $2`, systemID, session, state)
	if err != nil {
		return false, wrapErr("suspend probe session", err)
	}
	return tag.RowsAffected() > 0, nil
}

// ResumedSession is what ResumeProbeSession found of a suspended session.
type ResumedSession struct {
	// State is what the suspended attempt stored (nil: nothing was stored for the session, or it
	// was taken already).
	State []byte
	// Current tells whether the session is still the system's: it was claimed again (owner and
	// expiry); otherwise it was fenced meanwhile and must only report what it did.
	Current bool
	// Seq is the state's seq.
	Seq int64
}

// ResumeProbeSession takes what a suspended attempt of session stored (SuspendProbeSession) —
// once: a second call finds nothing — and, when the session is still the system's, claims it
// again for owner until expiresAt (no announcement: the session id does not change).
func (s *Store) ResumeProbeSession(ctx context.Context, systemID, session string, expiresAt time.Time, owner uint32) (ResumedSession, error) {
	var ownerPID *int32
	if owner != 0 {
		o := int32(owner)
		ownerPID = &o
	}
	var r ResumedSession
	err := s.pool.QueryRow(ctx, `WITH old AS (
			SELECT system_id, probe_session_resume->'state' AS state FROM system_health_state
			WHERE system_id = $1 AND probe_session_resume->>'session' = $2 FOR UPDATE)
		UPDATE system_health_state s SET probe_session_resume = NULL,
			probe_session_expires_at = CASE WHEN s.probe_session = $2 THEN $3 ELSE s.probe_session_expires_at END,
			probe_session_owner = CASE WHEN s.probe_session = $2 THEN $4 ELSE s.probe_session_owner END
		FROM old WHERE s.system_id = old.system_id
		RETURNING old.state, s.probe_session IS NOT DISTINCT FROM $2, s.seq`,
		systemID, session, expiresAt.UTC(), ownerPID).Scan(&r.State, &r.Current, &r.Seq)
	if errors.Is(err, pgx.ErrNoRows) {
		return ResumedSession{}, nil
	}
	if err != nil {
		return ResumedSession{}, wrapErr("resume probe session", err)
	}
	return r, nil
}

// RevokeProbeSession clears the system's probe session if it is session (or any session when
// session is "") and announces it; a revoked session writes nothing more and ends. It returns
// whether a session was revoked.
func (s *Store) RevokeProbeSession(ctx context.Context, systemID, session string) (bool, error) {
	revoked := false
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE system_health_state SET probe_session = NULL, probe_session_expires_at = NULL,
				probe_session_owner = NULL
			WHERE system_id = $1 AND probe_session IS NOT NULL AND ($2 = '' OR probe_session = $2)`, systemID, session)
		if err != nil {
			return err
		}
		revoked = tag.RowsAffected() > 0
		// Announced even when nothing was cleared: a session whose claim lost a race ends too.
		_, err = tx.Exec(ctx, `SELECT pg_notify($1, $2)`, ProbeSessionChannel, systemID+" ")
		return err
	})
	if err != nil {
		return false, wrapErr("revoke probe session", err)
	}
	return revoked, nil
}

// ProbeSessionOf returns the system's current probe session id ("" when none).
func (s *Store) ProbeSessionOf(ctx context.Context, systemID string) (string, error) {
	var id *string
	err := s.pool.QueryRow(ctx, `SELECT probe_session FROM system_health_state WHERE system_id = $1`, systemID).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", wrapErr("read probe session", err)
	}
	if id == nil {
		return "", nil
	}
	return *id, nil
}

// ListenProbeSessions calls fn for every claim or revocation announced on ProbeSessionChannel
// (current is the session the system has now, "" after a revocation) until ctx ends. It holds
// one connection of the pool; when the connection breaks it returns the error (the caller
// reconnects: announcements made meanwhile are lost, and sessions then notice at their next
// write, which the fence refuses).
//
// ready is called once listening, with the connection's backend pid (the owner of the sessions
// this process claims from then on; see ClaimProbeSession).
func (s *Store) ListenProbeSessions(ctx context.Context, ready func(pid uint32), fn func(systemID, current string)) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return wrapErr("listen probe sessions", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "LISTEN "+ProbeSessionChannel); err != nil {
		return wrapErr("listen probe sessions", err)
	}
	defer func() {
		// The connection goes back to the pool: stop listening on it (best effort).
		c, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		if _, err := conn.Exec(c, "UNLISTEN "+ProbeSessionChannel); err != nil {
			conn.Conn().Close(c) //nolint:errcheck // a broken connection is discarded
		}
	}()
	if ready != nil {
		ready(conn.Conn().PgConn().PID())
	}
	for {
		n, err := conn.Conn().WaitForNotification(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return wrapErr("listen probe sessions", err)
		}
		system, current, _ := strings.Cut(n.Payload, " ")
		fn(system, current)
	}
}

// SetProbeSessionOwner records owner as the owner of the given sessions (a worker whose
// listening connection was replaced).
func (s *Store) SetProbeSessionOwner(ctx context.Context, sessions []string, owner uint32) error {
	if len(sessions) == 0 {
		return nil
	}
	_, err := s.pool.Exec(ctx, `UPDATE system_health_state SET probe_session_owner = $2 WHERE probe_session = ANY($1)`,
		sessions, int32(owner))
	return wrapErr("set probe session owner", err)
}

// OrphanedSession is a probe session whose worker is gone.
type OrphanedSession struct {
	SystemID string
	Session  string
}

// handedOverOwner marks a probe session that ended because its worker was stopping
// (HandOverProbeSessions): no process owns it any more, and its entity is expected to take the
// cadence back from the session's reported end. A backend pid is never 0.
const handedOverOwner = 0

// HandOverProbeSessions records that the given sessions, owned by owner, ended because their
// worker stopped gracefully and reported their ends to their entities (or suspended themselves
// for another worker to resume): TakeOrphanedProbeSessions reports one lost only if its entity
// (or its resumed attempt) has not replaced it within grace, and only when asked for handed-over
// sessions. Sessions that are no longer their system's, or that another owner claimed meanwhile
// (a resumed attempt), are left alone; a session handed over already is handed over again (its
// grace starts anew). It returns how many it handed over.
func (s *Store) HandOverProbeSessions(ctx context.Context, sessions []string, owner uint32, grace time.Duration) (int64, error) {
	if len(sessions) == 0 {
		return 0, nil
	}
	tag, err := s.pool.Exec(ctx, `UPDATE system_health_state SET probe_session_owner = $2,
			probe_session_expires_at = now() + make_interval(secs => $3)
		WHERE probe_session = ANY($1) AND probe_session_owner IN ($2, $4)`, sessions, handedOverOwner, grace.Seconds(), int32(owner))
	if err != nil {
		return 0, wrapErr("hand over probe sessions", err)
	}
	return tag.RowsAffected(), nil
}

// TakeOrphanedProbeSessions returns the probe sessions whose owner's backend no longer exists
// (their worker died) — and, with handedOver, the sessions handed over at a graceful stop whose
// grace has passed without their entity replacing them — and clears their owner, so that each is
// reported once.
func (s *Store) TakeOrphanedProbeSessions(ctx context.Context, limit int, handedOver bool) ([]OrphanedSession, error) {
	rows, err := s.pool.Query(ctx, `UPDATE system_health_state s SET probe_session_owner = NULL
		WHERE s.system_id IN (
			SELECT system_id FROM system_health_state o
			WHERE o.probe_session IS NOT NULL AND (
				(o.probe_session_owner <> $2
					AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = o.probe_session_owner))
				OR ($3 AND o.probe_session_owner = $2 AND o.probe_session_expires_at < now()))
			LIMIT $1)
		RETURNING s.system_id, s.probe_session`, limit, handedOverOwner, handedOver)
	if err != nil {
		return nil, wrapErr("orphaned probe sessions", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (OrphanedSession, error) {
		var o OrphanedSession
		return o, r.Scan(&o.SystemID, &o.Session)
	})
	if err != nil {
		return nil, wrapErr("orphaned probe sessions", err)
	}
	return out, nil
}
