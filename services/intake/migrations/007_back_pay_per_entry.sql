-- Back-pay is one row per household and standard entry (the months it covers), not one per month: the
-- ledger then takes one back-payment per household, whatever the number of months (tests/bench/reprice.py).
-- The per-month table of 006 never held data outside tests (created and replaced the same day).
DROP TABLE enrolment_back_pay;
CREATE TABLE enrolment_back_pay (
    household_id      text NOT NULL,
    period            text NOT NULL,           -- the first month back-paid
    last_period       text NOT NULL,           -- the last month back-paid
    months            integer NOT NULL,
    standard_version  text NOT NULL,           -- the register entry in force for those months
    old_fen           bigint NOT NULL,         -- per person per month, as paid
    per_person_fen    bigint NOT NULL,         -- per person, owed over the months (sum of new - old)
    persons           integer NOT NULL,
    amount_fen        bigint NOT NULL CHECK (amount_fen > 0),
    idempotency_key   text NOT NULL,           -- dibao-topup:<household>:<period>:<standard_version>
    cycle_id          text NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (household_id, standard_version, period)
);
