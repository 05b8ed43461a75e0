-- Heartbeat (push) checks (issue 16): a check of the heartbeat strategy has a ping token, the
-- credential of POST|GET /api/v1/ping/{token}. Only its SHA-256 (the lookup key) and the token
-- sealed with the secret key (internal/secretbox, shown to callers with config:read) are stored.
ALTER TABLE health_check_configurations
    ADD COLUMN ping_token_hash bytea,
    ADD COLUMN ping_token_sealed text,
    ADD CONSTRAINT health_check_configurations_ping_token_check CHECK (
        (ping_token_hash IS NULL) = (ping_token_sealed IS NULL)
        AND (ping_token_hash IS NULL OR octet_length(ping_token_hash) = 32)
        AND (ping_token_sealed IS NULL OR ping_token_sealed LIKE 'cfenc:v1:%'));
CREATE UNIQUE INDEX health_check_configurations_ping_token_idx
    ON health_check_configurations (ping_token_hash) WHERE ping_token_hash IS NOT NULL;

---- create above / drop below ----

DROP INDEX health_check_configurations_ping_token_idx;
ALTER TABLE health_check_configurations
    DROP CONSTRAINT health_check_configurations_ping_token_check,
    DROP COLUMN ping_token_sealed,
    DROP COLUMN ping_token_hash;
