-- Systems: the services a team runs. checkflow has no separate catalog service, so systems live here.
CREATE TABLE systems (
    id          text PRIMARY KEY,
    name        text NOT NULL,
    description text NOT NULL DEFAULT '',
    labels      jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT systems_id_format CHECK (id ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$'),
    CONSTRAINT systems_name_check CHECK (length(name) BETWEEN 1 AND 200),
    CONSTRAINT systems_description_check CHECK (length(description) <= 4000),
    CONSTRAINT systems_labels_check CHECK (jsonb_typeof(labels) = 'object')
);

---- create above / drop below ----

DROP TABLE systems;
