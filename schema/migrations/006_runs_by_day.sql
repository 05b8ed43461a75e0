-- Raw runs become daily partitions (health_check_runs_YYYYMMDD, UTC days) of a table partitioned
-- by "timestamp", plus a default partition for anything outside the partitions that exist.
-- Retention then drops whole days instead of deleting rows (no bloat, no vacuum storm). The
-- lifecycle jobs create the partitions ahead of time (internal/store/partitions.go).
--
-- A partitioned table's unique keys must contain the partition key, so the primary key is
-- (id, "timestamp"); Persist keeps a run id unique by looking for it within a day of the run's
-- timestamp before inserting (a run is stored once, whatever answered).
--
-- Existing runs are copied into the new table (one partition per day they cover).

ALTER TABLE health_check_runs RENAME TO health_check_runs_unpartitioned;
ALTER TABLE health_check_runs_unpartitioned RENAME CONSTRAINT health_check_runs_pkey TO health_check_runs_unpartitioned_pkey;
ALTER TABLE health_check_runs_unpartitioned RENAME CONSTRAINT health_check_runs_configuration_id_fkey TO health_check_runs_unpartitioned_configuration_id_fkey;
ALTER TABLE health_check_runs_unpartitioned RENAME CONSTRAINT health_check_runs_system_id_fkey TO health_check_runs_unpartitioned_system_id_fkey;
ALTER INDEX health_check_runs_system_config_time_idx RENAME TO health_check_runs_unpartitioned_system_config_time_idx;
ALTER INDEX health_check_runs_system_time_idx RENAME TO health_check_runs_unpartitioned_system_time_idx;
ALTER INDEX health_check_runs_configuration_time_idx RENAME TO health_check_runs_unpartitioned_configuration_time_idx;
ALTER INDEX health_check_runs_time_idx RENAME TO health_check_runs_unpartitioned_time_idx;

CREATE TABLE health_check_runs (
    id               text NOT NULL,
    configuration_id uuid NOT NULL REFERENCES health_check_configurations (id) ON DELETE CASCADE,
    system_id        text NOT NULL REFERENCES systems (id) ON DELETE CASCADE,
    status           health_check_status NOT NULL,
    latency_ms       integer,
    result           jsonb,
    source_id        text,
    source_label     text,
    "timestamp"      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT health_check_runs_pkey PRIMARY KEY (id, "timestamp"),
    CONSTRAINT health_check_runs_id_check CHECK (
        starts_with(id, system_id || ':') AND length(id) > length(system_id) + 1 AND length(id) <= 512),
    CONSTRAINT health_check_runs_latency_check CHECK (latency_ms IS NULL OR latency_ms >= 0)
) PARTITION BY RANGE ("timestamp");
CREATE INDEX health_check_runs_system_config_time_idx ON health_check_runs (system_id, configuration_id, "timestamp" DESC) INCLUDE (status);
CREATE INDEX health_check_runs_system_time_idx ON health_check_runs (system_id, "timestamp" DESC) INCLUDE (status);
CREATE INDEX health_check_runs_configuration_time_idx ON health_check_runs (configuration_id, "timestamp" DESC);
CREATE INDEX health_check_runs_time_idx ON health_check_runs ("timestamp" DESC);
CREATE TABLE health_check_runs_default PARTITION OF health_check_runs DEFAULT;

-- One partition per UTC day from the oldest stored run (or today) to a week ahead.
DO $$
DECLARE
    d date;
BEGIN
    FOR d IN SELECT generate_series(
            coalesce((SELECT min(("timestamp" AT TIME ZONE 'UTC')::date) FROM health_check_runs_unpartitioned),
                     (now() AT TIME ZONE 'UTC')::date),
            (now() AT TIME ZONE 'UTC')::date + 7, interval '1 day')::date
    LOOP
        EXECUTE format('CREATE TABLE %I PARTITION OF health_check_runs FOR VALUES FROM (%L) TO (%L)',
            'health_check_runs_' || to_char(d, 'YYYYMMDD'), d::text || ' 00:00:00+00', (d + 1)::text || ' 00:00:00+00');
    END LOOP;
END $$;

INSERT INTO health_check_runs (id, configuration_id, system_id, status, latency_ms, result, source_id, source_label, "timestamp")
    SELECT id, configuration_id, system_id, status, latency_ms, result, source_id, source_label, "timestamp"
    FROM health_check_runs_unpartitioned;
DROP TABLE health_check_runs_unpartitioned;

---- create above / drop below ----

CREATE TABLE health_check_runs_unpartitioned (
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
INSERT INTO health_check_runs_unpartitioned
    SELECT DISTINCT ON (id) id, configuration_id, system_id, status, latency_ms, result, source_id, source_label, "timestamp"
    FROM health_check_runs ORDER BY id, "timestamp";
DROP TABLE health_check_runs;
ALTER TABLE health_check_runs_unpartitioned RENAME TO health_check_runs;
ALTER TABLE health_check_runs RENAME CONSTRAINT health_check_runs_unpartitioned_pkey TO health_check_runs_pkey;
CREATE INDEX health_check_runs_system_config_time_idx ON health_check_runs (system_id, configuration_id, "timestamp" DESC) INCLUDE (status);
CREATE INDEX health_check_runs_system_time_idx ON health_check_runs (system_id, "timestamp" DESC) INCLUDE (status);
CREATE INDEX health_check_runs_configuration_time_idx ON health_check_runs (configuration_id, "timestamp" DESC);
CREATE INDEX health_check_runs_time_idx ON health_check_runs ("timestamp" DESC);
