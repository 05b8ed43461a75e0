-- API bearer tokens. Only a SHA-256 hash of each token is stored (tokens are 256-bit random
-- values, so an unsalted hash is enough); the token itself is shown once when it is created.
-- A token carries scopes; a revoked token (revoked_at set) no longer authenticates.
CREATE TABLE api_tokens (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name         text NOT NULL DEFAULT '',
    token_hash   bytea NOT NULL,
    scopes       text[] NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz,
    CONSTRAINT api_tokens_hash_unique UNIQUE (token_hash),
    CONSTRAINT api_tokens_hash_check CHECK (length(token_hash) = 32),
    CONSTRAINT api_tokens_name_check CHECK (length(name) <= 200),
    CONSTRAINT api_tokens_scopes_check CHECK (
        cardinality(scopes) BETWEEN 1 AND 5
        AND scopes <@ ARRAY['status:read', 'config:read', 'config:manage', 'details:read', 'admin']::text[])
);
-- Active tokens by name (the dev bootstrap token is rotated by name).
CREATE INDEX api_tokens_name_idx ON api_tokens (name) WHERE revoked_at IS NULL;

---- create above / drop below ----

DROP TABLE api_tokens;
