-- Multi-location quorum (issue 16): a check assigned with two or more locations is probed from
-- every location each interval and stored as one run, failing when at least `quorum` locations
-- fail. NULL: a majority of the locations (cardinality/2 + 1). A quorum is only set on an
-- assignment with at least two locations and is at most their number (the store says so with
-- the field's name before this constraint is ever reached).
ALTER TABLE system_health_checks
    ADD COLUMN quorum integer,
    ADD CONSTRAINT system_health_checks_quorum_check CHECK (
        quorum IS NULL OR (cardinality(locations) >= 2 AND quorum BETWEEN 1 AND cardinality(locations)));

---- create above / drop below ----

ALTER TABLE system_health_checks
    DROP CONSTRAINT system_health_checks_quorum_check,
    DROP COLUMN quorum;
