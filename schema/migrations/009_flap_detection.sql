-- Flap detection (issue 13): a system's flapping thresholds, {"startPercent", "stopPercent"}
-- (percent state change over the last 21 evaluated states; NULL: the defaults 50 / 25).
ALTER TABLE systems
    ADD COLUMN flap_thresholds jsonb,
    ADD CONSTRAINT systems_flap_thresholds_check CHECK (flap_thresholds IS NULL OR jsonb_typeof(flap_thresholds) = 'object');

---- create above / drop below ----

ALTER TABLE systems
    DROP CONSTRAINT systems_flap_thresholds_check,
    DROP COLUMN flap_thresholds;
