-- The Checkstack 1.5.0 health-check tables (reference §1.1–1.5), same names and meaning, with
-- checkflow's deliberate differences:
--   * every timestamp is timestamptz; hourly/daily buckets start on UTC boundaries;
--   * system_id references systems(id) (checkflow has no separate catalog) with ON DELETE CASCADE;
--   * assignments carry `locations text[]` (where the check is probed) instead of satellite_ids /
--     include_local: an empty array means the default probe task queue;
--   * run ids are text: stable ids chosen by the writer, always "<systemId>:<key>" (see
--     internal/store/doc.go), so a retried write is recognised by its primary key;
--   * aggregates keep one row per (check, bucket, source) — runs from a location aggregate under
--     their own source_id (the reference put satellite runs into the local bucket) — and
--     latency_sum_ms is bigint (a daily sum overflows integer);
--   * a state transition may have no configuration (a transition caused by a configuration change,
--     not by a run) and records the entity seq that wrote it.

CREATE TYPE health_check_status AS ENUM ('healthy', 'unhealthy', 'degraded');
CREATE TYPE bucket_size AS ENUM ('hourly', 'daily');

-- A health check definition, reusable across systems.
CREATE TABLE health_check_configurations (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name             text NOT NULL,
    strategy_id      text NOT NULL,
    config           jsonb NOT NULL DEFAULT '{}'::jsonb,
    collectors       jsonb,
    interval_seconds integer NOT NULL,
    is_template      boolean DEFAULT false,
    paused           boolean NOT NULL DEFAULT false,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT health_check_configurations_name_check CHECK (length(name) BETWEEN 1 AND 200),
    CONSTRAINT health_check_configurations_strategy_check CHECK (length(strategy_id) BETWEEN 1 AND 200),
    CONSTRAINT health_check_configurations_config_check CHECK (jsonb_typeof(config) = 'object'),
    CONSTRAINT health_check_configurations_collectors_check CHECK (collectors IS NULL OR jsonb_typeof(collectors) = 'array'),
    CONSTRAINT health_check_configurations_interval_check CHECK (interval_seconds BETWEEN 1 AND 31536000)
);

-- Assignment of a configuration to a system.
CREATE TABLE system_health_checks (
    system_id           text NOT NULL REFERENCES systems (id) ON DELETE CASCADE,
    configuration_id    uuid NOT NULL REFERENCES health_check_configurations (id) ON DELETE CASCADE,
    enabled             boolean NOT NULL DEFAULT true,
    state_thresholds    jsonb,
    retention_config    jsonb,
    locations           text[] NOT NULL DEFAULT '{}',
    notification_policy jsonb,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (system_id, configuration_id),
    CONSTRAINT system_health_checks_thresholds_check CHECK (state_thresholds IS NULL OR jsonb_typeof(state_thresholds) = 'object'),
    CONSTRAINT system_health_checks_retention_check CHECK (retention_config IS NULL OR jsonb_typeof(retention_config) = 'object'),
    CONSTRAINT system_health_checks_policy_check CHECK (notification_policy IS NULL OR jsonb_typeof(notification_policy) = 'object'),
    CONSTRAINT system_health_checks_locations_check CHECK (
        cardinality(locations) <= 32
        AND array_position(locations, NULL) IS NULL
        AND (cardinality(locations) = 0
             OR array_to_string(locations, ' ') ~ '^[a-z0-9][a-z0-9-]{0,62}( [a-z0-9][a-z0-9-]{0,62})*$'))
);
CREATE INDEX system_health_checks_configuration_idx ON system_health_checks (configuration_id);

-- One row per executed run (raw tier).
CREATE TABLE health_check_runs (
    id               text PRIMARY KEY,
    configuration_id uuid NOT NULL REFERENCES health_check_configurations (id) ON DELETE CASCADE,
    system_id        text NOT NULL REFERENCES systems (id) ON DELETE CASCADE,
    status           health_check_status NOT NULL,
    latency_ms       integer,
    result           jsonb,
    source_id        text,
    source_label     text,
    "timestamp"      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT health_check_runs_id_check CHECK (
        starts_with(id, system_id || ':') AND length(id) > length(system_id) + 1 AND length(id) <= 512),
    CONSTRAINT health_check_runs_latency_check CHECK (latency_ms IS NULL OR latency_ms >= 0)
);
-- The index the reference lacked (history of one check, newest runs per check, raw retention).
-- status is included so that status-filtered counts and the newest statuses per check are
-- index-only scans.
CREATE INDEX health_check_runs_system_config_time_idx ON health_check_runs (system_id, configuration_id, "timestamp" DESC) INCLUDE (status);
-- History of a whole system.
CREATE INDEX health_check_runs_system_time_idx ON health_check_runs (system_id, "timestamp" DESC) INCLUDE (status);
-- History of one configuration across systems, and the ON DELETE CASCADE from configurations.
CREATE INDEX health_check_runs_configuration_time_idx ON health_check_runs (configuration_id, "timestamp" DESC);
-- Unfiltered history.
CREATE INDEX health_check_runs_time_idx ON health_check_runs ("timestamp" DESC);

-- Hourly and daily buckets.
CREATE TABLE health_check_aggregates (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    configuration_id  uuid NOT NULL REFERENCES health_check_configurations (id) ON DELETE CASCADE,
    system_id         text NOT NULL REFERENCES systems (id) ON DELETE CASCADE,
    bucket_start      timestamptz NOT NULL,
    bucket_size       bucket_size NOT NULL,
    run_count         integer NOT NULL DEFAULT 0,
    healthy_count     integer NOT NULL DEFAULT 0,
    degraded_count    integer NOT NULL DEFAULT 0,
    unhealthy_count   integer NOT NULL DEFAULT 0,
    latency_sum_ms    bigint,
    avg_latency_ms    integer,
    min_latency_ms    integer,
    max_latency_ms    integer,
    p95_latency_ms    integer,
    aggregated_result jsonb,
    tdigest_state     jsonb,
    source_id         text,
    source_label      text,
    CONSTRAINT health_check_aggregates_bucket_unique
        UNIQUE NULLS NOT DISTINCT (configuration_id, system_id, bucket_start, bucket_size, source_id),
    CONSTRAINT health_check_aggregates_counts_check CHECK (
        healthy_count >= 0 AND degraded_count >= 0 AND unhealthy_count >= 0
        AND run_count = healthy_count + degraded_count + unhealthy_count),
    CONSTRAINT health_check_aggregates_bucket_start_check CHECK (
        bucket_start = date_trunc(CASE bucket_size WHEN 'hourly' THEN 'hour' ELSE 'day' END, bucket_start, 'UTC'))
);
-- Health-state metrics (a system's hourly rows of the last 24 h) and per-system tier reads.
CREATE INDEX health_check_aggregates_system_idx ON health_check_aggregates (system_id, bucket_size, bucket_start);

-- Aggregate status transitions of a system.
CREATE TABLE health_check_state_transitions (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    system_id        text NOT NULL REFERENCES systems (id) ON DELETE CASCADE,
    configuration_id uuid REFERENCES health_check_configurations (id) ON DELETE CASCADE,
    from_status      health_check_status,
    to_status        health_check_status NOT NULL,
    transitioned_at  timestamptz NOT NULL DEFAULT now(),
    seq              bigint
);
CREATE INDEX health_check_state_transitions_lookup_idx ON health_check_state_transitions (system_id, to_status, transitioned_at);
CREATE INDEX health_check_state_transitions_system_recent_idx ON health_check_state_transitions (system_id, transitioned_at);

---- create above / drop below ----

DROP TABLE health_check_state_transitions;
DROP TABLE health_check_aggregates;
DROP TABLE health_check_runs;
DROP TABLE system_health_checks;
DROP TABLE health_check_configurations;
DROP TYPE bucket_size;
DROP TYPE health_check_status;
