-- Monthly benefits of enrolled households paid by a region's cycle (services/payment/periods.py):
-- the roll intake took for the cycle, COPYed in once, then paid in set-based chunks into the ledger
-- with the key dibao:<household>:<period> (the same key a household's own renewal case pays with).
CREATE TABLE period_roll (
    cycle_id      text NOT NULL DEFAULT current_setting('doudi.loading_cycle'),
    ordinal       integer NOT NULL,
    household_id  text NOT NULL,
    enrolment_id  text NOT NULL,
    person_id     text NOT NULL,
    region_code   text NOT NULL,
    measure       text NOT NULL,
    amount_fen    bigint NOT NULL CHECK (amount_fen > 0),
    PRIMARY KEY (cycle_id, ordinal)
);

CREATE TABLE period_cycles (
    cycle_id      text PRIMARY KEY,
    period        text NOT NULL,
    rows          integer NOT NULL,
    loaded_at     timestamptz NOT NULL DEFAULT now(),
    paid_count    bigint NOT NULL DEFAULT 0,
    paid_fen      bigint NOT NULL DEFAULT 0,
    finished_at   timestamptz
);

CREATE TABLE period_chunks (
    cycle_id    text NOT NULL,
    chunk       integer NOT NULL,
    paid_count  integer NOT NULL,
    paid_fen    bigint NOT NULL,
    PRIMARY KEY (cycle_id, chunk)
);
