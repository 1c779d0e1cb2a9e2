-- 提标 (a raised standard) reaches enrolled households: the roster records the standard each level is
-- priced at (shared/policy/standards.py), so the region's cycle can reprice the set when a newer entry
-- of the standards register is in force and pay back-pay (补发) for months already paid at the old level.
ALTER TABLE enrolments ADD COLUMN standard_fen bigint;      -- per person per month the level is priced at
ALTER TABLE enrolments ADD COLUMN standard_version text;    -- the register entry: <pack_id>@<version>
ALTER TABLE enrolments ADD COLUMN standard_from date;       -- that entry's effective date

-- A roll row with its own key (back-pay); NULL: the period's payment, dibao:<household>:<period>.
ALTER TABLE period_rolls ADD COLUMN idempotency_key text;

-- Every back-paid month, shown on the household's history (GET /api/enrolments/{household}).
CREATE TABLE enrolment_back_pay (
    household_id      text NOT NULL,
    period            text NOT NULL,           -- the month already paid at the old level
    standard_version  text NOT NULL,           -- the register entry in force for that month
    old_fen           bigint NOT NULL,         -- per person, as paid
    new_fen           bigint NOT NULL,         -- per person, as owed
    persons           integer NOT NULL,
    amount_fen        bigint NOT NULL CHECK (amount_fen > 0),
    idempotency_key   text NOT NULL UNIQUE,    -- dibao-topup:<household>:<period>:<standard_version>
    cycle_id          text NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (household_id, period, standard_version)
);

ALTER TABLE review_cycles ADD COLUMN repriced integer NOT NULL DEFAULT 0;
ALTER TABLE review_cycles ADD COLUMN back_pay_rows integer NOT NULL DEFAULT 0;
ALTER TABLE review_cycles ADD COLUMN back_pay_fen bigint NOT NULL DEFAULT 0;
