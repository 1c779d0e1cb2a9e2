-- The cycle reviews the changed households whose review the policy decides as a set (issue 18,
-- services/intake/cycle_review.py); only households that need a person get a renewal case of their own.
-- A gradual exit started by such a review is roster state: status 'gradual_exit' until ``exit_on`` (the
-- first period not paid), its months as rows with their dates, paid by the cycle's roll and ended by it.
ALTER TABLE enrolments ADD COLUMN exit_on text CHECK (exit_on ~ '^\d{4}-(0[1-9]|1[0-2])$');

CREATE TABLE enrolment_exit_months (
    household_id  text NOT NULL REFERENCES enrolments (household_id),
    period        text NOT NULL,                -- a month of the gradual exit, paid at level_fen
    level_fen     bigint NOT NULL CHECK (level_fen >= 0),
    due_on        date NOT NULL,                -- the month's first day
    review_cycle  text NOT NULL,                -- the cycle whose review started the exit
    case_id       text NOT NULL,                -- the review case (set-based) that records it
    paid_by_cycle text,                         -- the cycle whose roll paid the month
    PRIMARY KEY (household_id, period)
);

ALTER TABLE review_cycles ADD COLUMN reviewed integer NOT NULL DEFAULT 0;     -- reviewed as a set
ALTER TABLE review_cycles ADD COLUMN exits_ended integer NOT NULL DEFAULT 0;  -- gradual exits ended
