-- The secret store: named values that collectors' secretEnv references by name (reference §9).
-- Only the value sealed with the secret key (internal/secretbox, "cfenc:v1:…") is stored; the
-- plain value exists only in the API request that sets it and in the worker's memory during a
-- run. Names follow health.ValidSecretName (a letter, then letters, digits, _ or -; ≤ 63).
CREATE TABLE secrets (
    name         text PRIMARY KEY,
    sealed_value text NOT NULL,
    description  text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT secrets_name_check CHECK (name ~ '^[a-zA-Z][a-zA-Z0-9_-]{0,62}$'),
    CONSTRAINT secrets_sealed_check CHECK (sealed_value LIKE 'cfenc:v1:%'),
    CONSTRAINT secrets_description_check CHECK (length(description) <= 1000)
);

---- create above / drop below ----

DROP TABLE secrets;
