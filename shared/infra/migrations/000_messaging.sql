-- Transactional outbox and idempotent inbox, one pair per service schema (search_path is the schema).
CREATE TABLE outbox (
    seq          bigserial PRIMARY KEY,
    event_id     text NOT NULL UNIQUE,
    subject      text NOT NULL,
    payload      jsonb NOT NULL,
    headers      jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);
CREATE INDEX outbox_unpublished ON outbox (seq) WHERE published_at IS NULL;

CREATE TABLE inbox (
    event_id    text PRIMARY KEY,
    subject     text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);
