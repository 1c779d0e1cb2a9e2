-- Economic status checks (家庭经济状况核对) and the evidence each department source returned.
CREATE TABLE checks (
    check_id     text PRIMARY KEY,
    case_id      text NOT NULL,
    person_id    text NOT NULL,
    requested_at timestamptz NOT NULL DEFAULT now(),
    completed_at timestamptz,
    outcome      text,
    evidence     jsonb NOT NULL DEFAULT '[]'::jsonb
);
CREATE INDEX checks_case ON checks (case_id);
