-- What each inbound event id carried (a digest of subject and CloudEvent): the same id again with the
-- same content is a redelivery (no-op), with different content a conflicting duplicate (dead letter + alert).
-- Named so that it sorts after 000_messaging.sql and before every service's 001_*.
CREATE TABLE inbound_content (
    event_id    text PRIMARY KEY,
    subject     text NOT NULL,
    digest      text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);
