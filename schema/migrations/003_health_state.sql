-- checkflow's own tables: the current view per system and per check (so reads are O(1)), the
-- outbox of events, platform settings and GitOps provenance. Only the system's entity writes
-- system_health_state, check_health_state and health_events (design.md invariant 1).

-- The current view of a system: {status, healthyChecks, totalChecks}, fenced by the entity's seq.
-- status NULL = the system has no view (no enabled checks: tombstone); the row and its seq stay so
-- that a restarted entity continues the seq (probe run ids are "<systemId>:<seq>").
CREATE TABLE system_health_state (
    system_id       text PRIMARY KEY REFERENCES systems (id) ON DELETE CASCADE,
    status          health_check_status,
    healthy_checks  integer NOT NULL DEFAULT 0,
    total_checks    integer NOT NULL DEFAULT 0,
    in_status_since timestamptz,
    seq             bigint NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT system_health_state_counts_check CHECK (
        healthy_checks >= 0 AND total_checks >= 0 AND healthy_checks <= total_checks),
    CONSTRAINT system_health_state_seq_check CHECK (seq >= 0),
    CONSTRAINT system_health_state_view_check CHECK (
        (status IS NULL) = (in_status_since IS NULL) AND (status IS NOT NULL OR total_checks = 0))
);

-- The evaluated state of one assignment. Removed with the assignment.
CREATE TABLE check_health_state (
    system_id             text NOT NULL,
    configuration_id      uuid NOT NULL,
    status                health_check_status,
    runs_considered       integer NOT NULL DEFAULT 0,
    consecutive_successes integer NOT NULL DEFAULT 0,
    consecutive_failures  integer NOT NULL DEFAULT 0,
    last_run_id           text,
    last_run_at           timestamptz,
    last_run_status       health_check_status,
    last_latency_ms       integer,
    seq                   bigint NOT NULL,
    updated_at            timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (system_id, configuration_id),
    FOREIGN KEY (system_id, configuration_id)
        REFERENCES system_health_checks (system_id, configuration_id) ON DELETE CASCADE,
    CONSTRAINT check_health_state_counts_check CHECK (
        runs_considered >= 0 AND consecutive_successes >= 0 AND consecutive_failures >= 0)
);

-- Outbox: trigger events and hooks written by Persist, delivered at least once by a dispatcher.
-- idempotency_key = "<systemId>:<seq>:<type>[:<discriminator>]" makes a replayed write a no-op and
-- lets receivers dedupe.
CREATE TABLE health_events (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    system_id       text NOT NULL REFERENCES systems (id) ON DELETE CASCADE,
    seq             bigint NOT NULL,
    type            text NOT NULL,
    payload         jsonb NOT NULL DEFAULT '{}'::jsonb,
    idempotency_key text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz,
    CONSTRAINT health_events_idempotency_key_unique UNIQUE (idempotency_key),
    CONSTRAINT health_events_type_check CHECK (length(type) BETWEEN 1 AND 200),
    CONSTRAINT health_events_payload_check CHECK (jsonb_typeof(payload) = 'object')
);
CREATE INDEX health_events_system_idx ON health_events (system_id, id);
CREATE INDEX health_events_type_idx ON health_events (type, id);
CREATE INDEX health_events_created_idx ON health_events (created_at);
CREATE INDEX health_events_undelivered_idx ON health_events (id) WHERE delivered_at IS NULL;

-- Platform-wide settings (e.g. "healthcheck.notification-defaults"), one JSON document per key.
CREATE TABLE platform_settings (
    key        text PRIMARY KEY,
    value      jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT platform_settings_key_check CHECK (length(key) BETWEEN 1 AND 200)
);

-- Which entities are managed by GitOps (the lock of reference §12.3).
CREATE TABLE gitops_provenance (
    kind       text NOT NULL,
    entity_id  text NOT NULL,
    source     text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, entity_id),
    CONSTRAINT gitops_provenance_kind_check CHECK (length(kind) BETWEEN 1 AND 100),
    CONSTRAINT gitops_provenance_entity_check CHECK (length(entity_id) BETWEEN 1 AND 200),
    CONSTRAINT gitops_provenance_source_check CHECK (length(source) BETWEEN 1 AND 1000)
);

---- create above / drop below ----

DROP TABLE gitops_provenance;
DROP TABLE platform_settings;
DROP TABLE health_events;
DROP TABLE check_health_state;
DROP TABLE system_health_state;
