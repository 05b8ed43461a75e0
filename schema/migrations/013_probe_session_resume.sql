-- Resumable probe sessions (issue 12, "a fresh start probes every check within one interval"):
-- a probe session whose worker stops gracefully stores what it has done so far here (its id, the
-- runs it stored, its checks' windows and due times) and fails retryably; Temporal retries it on
-- the next worker, which resumes from this row without the entity being involved (no workflow
-- task). Only the session it names may read it; claiming a new session clears it.
ALTER TABLE system_health_state
    ADD COLUMN probe_session_resume jsonb;

---- create above / drop below ----

ALTER TABLE system_health_state
    DROP COLUMN probe_session_resume;
