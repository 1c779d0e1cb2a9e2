-- A dead letter is redelivered once: one row per DLQ sequence (the primary key refuses a second). The
-- corrected body is kept sealed (AES-GCM, the Temporal payload codec) in the audit log and here until it
-- is published; a correction that changes a person or an amount waits for a second official (four eyes).
CREATE TABLE dlq_redeliveries (
    dlq_seq        bigint PRIMARY KEY,
    subject        text NOT NULL,             -- the inbound subject it returns to
    status         text NOT NULL CHECK (status IN ('awaiting_second_official', 'publishing', 'redelivered')),
    body_sha256    text NOT NULL,
    sealed_body    text NOT NULL,             -- base64 of the sealed payload
    changes        text[] NOT NULL,           -- what the correction changes: person, amount
    requested_by   text NOT NULL,
    reason         text NOT NULL,
    approved_by    text,
    published_seq  bigint,
    requested_at   timestamptz NOT NULL DEFAULT now(),
    redelivered_at timestamptz
);
