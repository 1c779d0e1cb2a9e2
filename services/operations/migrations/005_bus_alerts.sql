-- Alerts for the operators about the bus (services/operations/bus_health.py): every dead letter (a
-- conflicting duplicate, an invalid or a failed message), a stream near its limits. One row per cause.
CREATE TABLE bus_alerts (
    alert_id    text PRIMARY KEY,            -- dlq:<DLQ stream seq> | stream:<name>
    kind        text NOT NULL,               -- conflicting_duplicate | invalid | failed | stream_near_limit
    subject     text,
    event_id    text,
    reason      text NOT NULL,
    detail      jsonb NOT NULL DEFAULT '{}'::jsonb,
    raised_at   timestamptz NOT NULL DEFAULT now(),
    cleared_at  timestamptz
);
CREATE INDEX bus_alerts_open ON bus_alerts (raised_at) WHERE cleared_at IS NULL;
