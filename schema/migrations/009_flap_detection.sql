-- Flap detection (issue 13): a system's flapping thresholds, {"startPercent", "stopPercent"}
-- (percent state change over the last 21 evaluated states; NULL: the defaults 50 / 25), and the
-- "flapping" notification (a system started or stopped flapping).
ALTER TABLE systems
    ADD COLUMN flap_thresholds jsonb,
    ADD CONSTRAINT systems_flap_thresholds_check CHECK (flap_thresholds IS NULL OR jsonb_typeof(flap_thresholds) = 'object');
ALTER TABLE notification_deliveries
    DROP CONSTRAINT notification_deliveries_event_check,
    ADD CONSTRAINT notification_deliveries_event_check CHECK (
        event IN ('escalation', 'de-escalation', 'recovery', 'reminder', 'test', 'check_failed', 'flapping'));

---- create above / drop below ----

DELETE FROM notification_deliveries WHERE event = 'flapping';
ALTER TABLE notification_deliveries
    DROP CONSTRAINT notification_deliveries_event_check,
    ADD CONSTRAINT notification_deliveries_event_check CHECK (
        event IN ('escalation', 'de-escalation', 'recovery', 'reminder', 'test', 'check_failed'));
ALTER TABLE systems
    DROP CONSTRAINT systems_flap_thresholds_check,
    DROP COLUMN flap_thresholds;
