-- Enrolled households (低保/特困 在册对象): the roster the monthly benefit cycle reads and writes
-- (services/intake/enrolment.py). A household is either carried by its region's cycle (reviewed and paid
-- as a set) or, while its data changed or it is being enrolled, by its own renewal case (one workflow).
CREATE TABLE enrolments (
    household_id      text PRIMARY KEY REFERENCES households (household_id),
    enrolment_id      text NOT NULL UNIQUE,   -- the enrolment's case id: ledger rows of the cycle carry it
    person_id         text NOT NULL,          -- the head of household (申请人)
    region_code       text NOT NULL,
    kind              text NOT NULL CHECK (kind IN ('dibao', 'extreme_poverty')),
    status            text NOT NULL DEFAULT 'active'
                      CHECK (status IN ('active', 'gradual_exit', 'exit_suspended', 'terminated')),
    level_fen         bigint NOT NULL CHECK (level_fen >= 0),  -- the monthly benefit currently paid
    cadence           text NOT NULL CHECK (cadence IN ('stable', 'unstable')),  -- yearly / half-yearly (seed 004)
    rural_quarterly   boolean NOT NULL DEFAULT false,  -- rural dibao paid quarterly (seed 003)
    next_review       text CHECK (next_review ~ '^\d{4}-(0[1-9]|1[0-2])$'),  -- NULL: no pack sets a cadence
    paid_through      text,                   -- the last period handed to payment (by the cycle or the case)
    reviewed_version  integer NOT NULL,       -- households.version the last review saw: differs = data changed
    managed_by        text NOT NULL DEFAULT 'cycle' CHECK (managed_by IN ('cycle', 'case')),
    review_case_id    text,                   -- the open renewal case while managed_by = 'case'
    enrolled_from     text NOT NULL,
    source            text NOT NULL CHECK (source IN ('application', 'import')),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX enrolments_region ON enrolments (region_code) WHERE status <> 'terminated';

-- Every review outcome, the set-based ones included (one row per household and period).
CREATE TABLE enrolment_reviews (
    household_id  text NOT NULL,
    period        text NOT NULL,
    kind          text NOT NULL,             -- scheduled | off-cycle | enrolment
    outcome       text NOT NULL,             -- continue | case_opened | adjust | gradual_exit | exit | ...
    level_fen     bigint NOT NULL,
    case_id       text,
    cycle_id      text,
    reviewed_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (household_id, period, kind)
);

-- A cycle's payment roll: who is paid how much for the period, taken once (the cycle's first step);
-- payment streams it (GET /api/enrolments/rolls/{cycle_id}) into its own staging table.
CREATE TABLE period_rolls (
    cycle_id      text NOT NULL,
    ordinal       integer NOT NULL,
    household_id  text NOT NULL,
    enrolment_id  text NOT NULL,
    person_id     text NOT NULL,
    region_code   text NOT NULL,
    measure       text NOT NULL,
    amount_fen    bigint NOT NULL CHECK (amount_fen > 0),
    PRIMARY KEY (cycle_id, ordinal)
);

CREATE TABLE review_cycles (
    cycle_id      text PRIMARY KEY,          -- cycle-<region_prefix>-<YYYY-MM>
    region_prefix text NOT NULL,
    period        text NOT NULL,
    enrolled      integer NOT NULL,
    due           integer NOT NULL,
    continued     integer NOT NULL,
    cases_opened  integer NOT NULL,
    on_roll       integer NOT NULL,
    roll_fen      bigint NOT NULL,
    reviewed_at   timestamptz NOT NULL DEFAULT now()
);

-- Why the income last changed (an income raised by employment leads to the gradual exit, seeds 001/002).
ALTER TABLE households ADD COLUMN income_reason text CHECK (income_reason IN ('employment', 'other'));
ALTER TABLE households ADD COLUMN income_changed_on date;
