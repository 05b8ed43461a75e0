-- Notifications: channels and what they subscribe to, one delivery row per (event, channel),
-- maintenance windows, and what was last notified per system.

-- A notification channel. config holds the type's settings; its x-secret fields (URLs with
-- tokens, secrets, passwords, routing keys) are sealed with the secret box, never plain text.
-- systems: '{*}' or system ids; events: kinds the channel wants (escalation, de-escalation,
-- recovery, check_failed). The failure columns make a broken channel visible.
CREATE TABLE notification_channels (
    id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name                 text NOT NULL,
    type                 text NOT NULL,
    config               jsonb NOT NULL DEFAULT '{}'::jsonb,
    systems              text[] NOT NULL DEFAULT ARRAY['*']::text[],
    events               text[] NOT NULL DEFAULT ARRAY['escalation', 'de-escalation', 'recovery']::text[],
    remind_every_seconds integer,
    enabled              boolean NOT NULL DEFAULT true,
    consecutive_failures integer NOT NULL DEFAULT 0,
    failing_since        timestamptz,
    last_error           text,
    last_error_at        timestamptz,
    last_success_at      timestamptz,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT notification_channels_name_check CHECK (length(name) BETWEEN 1 AND 200),
    CONSTRAINT notification_channels_type_check CHECK (
        type IN ('webhook', 'slack', 'discord', 'msteams', 'pagerduty', 'email')),
    CONSTRAINT notification_channels_config_check CHECK (jsonb_typeof(config) = 'object'),
    CONSTRAINT notification_channels_systems_check CHECK (cardinality(systems) BETWEEN 1 AND 1000),
    CONSTRAINT notification_channels_events_check CHECK (
        cardinality(events) BETWEEN 1 AND 4
        AND events <@ ARRAY['escalation', 'de-escalation', 'recovery', 'check_failed']::text[]),
    CONSTRAINT notification_channels_remind_check CHECK (
        remind_every_seconds IS NULL OR remind_every_seconds BETWEEN 1 AND 604800),
    CONSTRAINT notification_channels_failures_check CHECK (consecutive_failures >= 0)
);
CREATE INDEX notification_channels_systems_idx ON notification_channels USING gin (systems);

-- One delivery of one notification to one channel. id = "<event idempotency key>:<channel id>":
-- stable across retries and crashes, sent to receivers as X-Checkflow-Delivery. payload is the
-- message (no secrets). system_id is NULL for test deliveries.
CREATE TABLE notification_deliveries (
    id          text PRIMARY KEY,
    channel_id  uuid NOT NULL REFERENCES notification_channels (id) ON DELETE CASCADE,
    system_id   text REFERENCES systems (id) ON DELETE CASCADE,
    event       text NOT NULL,
    payload     jsonb NOT NULL DEFAULT '{}'::jsonb,
    status      text NOT NULL DEFAULT 'pending',
    attempts    integer NOT NULL DEFAULT 0,
    last_error  text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    sent_at     timestamptz,
    CONSTRAINT notification_deliveries_id_check CHECK (length(id) BETWEEN 1 AND 600),
    CONSTRAINT notification_deliveries_event_check CHECK (
        event IN ('escalation', 'de-escalation', 'recovery', 'reminder', 'test', 'check_failed')),
    CONSTRAINT notification_deliveries_status_check CHECK (status IN ('pending', 'sent', 'failed')),
    CONSTRAINT notification_deliveries_payload_check CHECK (jsonb_typeof(payload) = 'object'),
    CONSTRAINT notification_deliveries_attempts_check CHECK (attempts >= 0),
    CONSTRAINT notification_deliveries_sent_check CHECK ((status = 'sent') = (sent_at IS NOT NULL))
);
-- The list is newest first with a (created_at, id) keyset cursor, optionally by channel or system.
CREATE INDEX notification_deliveries_channel_idx ON notification_deliveries (channel_id, created_at, id);
CREATE INDEX notification_deliveries_system_idx ON notification_deliveries (system_id, created_at, id);
CREATE INDEX notification_deliveries_created_idx ON notification_deliveries (created_at, id);

-- A maintenance window: no notification for its systems between starts_at and ends_at.
-- started_at / ended_at record when the window's workflow handled each edge.
CREATE TABLE maintenance_windows (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    title       text NOT NULL,
    description text NOT NULL DEFAULT '',
    system_ids  text[] NOT NULL,
    starts_at   timestamptz NOT NULL,
    ends_at     timestamptz NOT NULL,
    started_at  timestamptz,
    ended_at    timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT maintenance_windows_title_check CHECK (length(title) BETWEEN 1 AND 200),
    CONSTRAINT maintenance_windows_description_check CHECK (length(description) <= 4000),
    CONSTRAINT maintenance_windows_systems_check CHECK (cardinality(system_ids) BETWEEN 1 AND 1000),
    CONSTRAINT maintenance_windows_range_check CHECK (ends_at > starts_at)
);
CREATE INDEX maintenance_windows_systems_idx ON maintenance_windows USING gin (system_ids);
CREATE INDEX maintenance_windows_ends_idx ON maintenance_windows (ends_at);
-- The reconcile job's list of windows whose end edge was not handled yet.
CREATE INDEX maintenance_windows_unfinished_idx ON maintenance_windows (starts_at) WHERE ended_at IS NULL;

-- What subscribers were last told about a system (written by the system's notifier): a window
-- that ends notifies only when the status differs from it.
CREATE TABLE notification_state (
    system_id            text PRIMARY KEY REFERENCES systems (id) ON DELETE CASCADE,
    last_notified_status health_check_status NOT NULL,
    last_notified_at     timestamptz NOT NULL,
    updated_at           timestamptz NOT NULL DEFAULT now()
);

-- The notifier looks up the transition a seq wrote (which check caused it).
CREATE INDEX health_check_state_transitions_seq_idx ON health_check_state_transitions (system_id, seq);

---- create above / drop below ----

DROP INDEX health_check_state_transitions_seq_idx;
DROP TABLE notification_state;
DROP TABLE maintenance_windows;
DROP TABLE notification_deliveries;
DROP TABLE notification_channels;
