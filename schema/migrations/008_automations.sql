-- Automations (issue 13): "when these events happen (this often), do that". The API writes
-- automations; the automation's own workflow (automation/<id>) writes its occurrences and fires.

-- An automation. config holds the rest of the API document, {"trigger", "cooldownSeconds",
-- "actions"} (a webhook action's secret sealed with the secret box, never plain text);
-- trigger_event repeats config.trigger.event for the dispatcher's lookup (a CHECK keeps them
-- equal). revision counts the writes, so a workflow can tell which version it compiled. GitOps
-- provenance: gitops_provenance (kind 'Automation', entity_id = id), like the other config tables.
CREATE TABLE automations (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name          text NOT NULL,
    enabled       boolean NOT NULL DEFAULT true,
    trigger_event text NOT NULL,
    config        jsonb NOT NULL,
    revision      bigint NOT NULL DEFAULT 1,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT automations_name_check CHECK (length(name) BETWEEN 1 AND 200),
    CONSTRAINT automations_event_check CHECK (length(trigger_event) BETWEEN 1 AND 200),
    CONSTRAINT automations_config_check CHECK (
        jsonb_typeof(config) = 'object' AND config -> 'trigger' ->> 'event' = trigger_event),
    CONSTRAINT automations_revision_check CHECK (revision >= 1)
);
-- The dispatcher reads the enabled automations of an event type.
CREATE INDEX automations_event_idx ON automations (trigger_event, id) WHERE enabled;

-- One qualifying occurrence of an automation's windowed trigger (reference §8.4's
-- automation_window_events): the event passed the filter. Recorded once per (automation, event
-- key), so a redelivered event is not counted twice. occurred_at is the event's time.
CREATE TABLE automation_occurrences (
    automation_id uuid NOT NULL REFERENCES automations (id) ON DELETE CASCADE,
    event_key     text NOT NULL,
    partition_key text NOT NULL,
    occurred_at   timestamptz NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (automation_id, event_key),
    CONSTRAINT automation_occurrences_event_key_check CHECK (length(event_key) BETWEEN 1 AND 600),
    CONSTRAINT automation_occurrences_partition_check CHECK (length(partition_key) <= 600)
);
-- "The occurrences of this partition since now − minutes", newest first.
CREATE INDEX automation_occurrences_window_idx ON automation_occurrences (automation_id, partition_key, occurred_at DESC);
-- The sweep of occurrences older than 24 h.
CREATE INDEX automation_occurrences_sweep_idx ON automation_occurrences (occurred_at);

-- One action of one fire. id is the action's idempotency key "<event key>:<automation id>:<action
-- index>" (a CHECK ties it to the columns): the row is written once, and its outcome goes from
-- pending to succeeded or failed once.
CREATE TABLE automation_fires (
    id            text PRIMARY KEY,
    automation_id uuid NOT NULL REFERENCES automations (id) ON DELETE CASCADE,
    event_key     text NOT NULL,
    event_type    text NOT NULL,
    partition_key text NOT NULL,
    action_index  integer NOT NULL,
    action_type   text NOT NULL,
    outcome       text NOT NULL DEFAULT 'pending',
    detail        text,
    result        jsonb,
    fired_at      timestamptz NOT NULL,
    finished_at   timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT automation_fires_id_check CHECK (
        id = event_key || ':' || automation_id::text || ':' || action_index::text),
    CONSTRAINT automation_fires_event_key_check CHECK (length(event_key) BETWEEN 1 AND 600),
    CONSTRAINT automation_fires_event_type_check CHECK (length(event_type) BETWEEN 1 AND 200),
    CONSTRAINT automation_fires_partition_check CHECK (length(partition_key) <= 600),
    CONSTRAINT automation_fires_index_check CHECK (action_index BETWEEN 0 AND 99),
    CONSTRAINT automation_fires_action_type_check CHECK (
        action_type IN ('notify', 'run_check', 'set_assignment_enabled', 'webhook')),
    CONSTRAINT automation_fires_outcome_check CHECK (outcome IN ('pending', 'succeeded', 'failed')),
    CONSTRAINT automation_fires_finished_check CHECK ((outcome = 'pending') = (finished_at IS NULL)),
    CONSTRAINT automation_fires_result_check CHECK (result IS NULL OR jsonb_typeof(result) = 'object')
);
-- GET /automations/{id}/runs: newest fires first.
CREATE INDEX automation_fires_list_idx ON automation_fires (automation_id, fired_at DESC, id);
-- Pruning finished fires by age.
CREATE INDEX automation_fires_finished_idx ON automation_fires (finished_at) WHERE finished_at IS NOT NULL;

---- create above / drop below ----

DROP TABLE automation_fires;
DROP TABLE automation_occurrences;
DROP TABLE automations;
