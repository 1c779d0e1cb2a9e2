-- A case keeps what starts its workflow, so a start interrupted by a crash can be re-driven from here.
ALTER TABLE cases ADD COLUMN workflow_type text;
ALTER TABLE cases ADD COLUMN workflow_input jsonb;

-- Facts that opened no case, and why (a job loss of an insured person, a medical self-pay under the
-- threshold): the audit trail of proactive discovery (主动发现).
CREATE TABLE screenings (
    event_id    text PRIMARY KEY,
    measure     text NOT NULL,
    person_id   text,
    reason      text NOT NULL,
    screened_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX screenings_person ON screenings (person_id);
