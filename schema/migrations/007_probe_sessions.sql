-- Probe sessions (issue 12, design.md §1 "quiet runs need no workflow task"): the entity of a
-- system hands the cadence of its local checks to one probe session at a time, an activity that
-- probes, stores quiet runs itself and reports them to the entity in batches. probe_session is
-- the id of the session the entity started last: a session's writes are fenced by it (a session
-- the entity replaced or revoked writes nothing), and probe_session_expires_at is when the
-- session's next write is due at the latest (operators: a session past it is lost).
-- probe_session_owner is the backend pid of the connection its worker holds for as long as it
-- lives (the worker's LISTEN connection): when that backend is gone, so is the worker, and the
-- workers still alive tell the entity its session is lost (no wait for the activity's timeout).
ALTER TABLE system_health_state
    ADD COLUMN probe_session text,
    ADD COLUMN probe_session_expires_at timestamptz,
    ADD COLUMN probe_session_owner integer;
-- The workers' watchdog reads the sessions by owner every few seconds.
CREATE INDEX system_health_state_probe_session_owner_idx ON system_health_state (probe_session_owner)
    WHERE probe_session_owner IS NOT NULL;

---- create above / drop below ----

DROP INDEX system_health_state_probe_session_owner_idx;
ALTER TABLE system_health_state
    DROP COLUMN probe_session,
    DROP COLUMN probe_session_expires_at,
    DROP COLUMN probe_session_owner;
