-- Every approval decision: automatic ones within the township's authority and human ones above it.
CREATE TABLE decisions (
    case_id       text NOT NULL,
    step          text NOT NULL,            -- township | county | committee
    decision      text NOT NULL CHECK (decision IN ('approved', 'needs_county', 'rejected')),
    tier          text NOT NULL,
    amount_fen    bigint NOT NULL CHECK (amount_fen >= 0),
    decided_by    text NOT NULL,
    reason        text NOT NULL,
    measure       text NOT NULL,
    region_code   text NOT NULL,
    township_limit_fen bigint,
    decided_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (case_id, step)
);
CREATE INDEX decisions_region ON decisions (region_code, decided_at);
