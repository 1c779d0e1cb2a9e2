-- Referrals (转介) of a case to another department or to social forces (seeds 001/002/004: charity
-- organisations, social workers, volunteers; street patrol, identity checks and family tracing). One row
-- per referral, its id derived from the cause (case, to whom, for what): a repeated request is the same
-- referral. Tracked to an outcome, or overdue past its due date (read at query time; the sweep notes it
-- once on the case's timeline).
CREATE TABLE referrals (
    referral_id      text PRIMARY KEY,
    case_id          text NOT NULL,
    region_code      text NOT NULL,            -- the case's region: who may see and act on it
    to_kind          text NOT NULL,            -- department | charity_organisation | social_worker | volunteer
    to_name          text NOT NULL,
    service          text NOT NULL,
    reason           text NOT NULL,
    referred_by      text NOT NULL,
    referred_at      timestamptz NOT NULL DEFAULT now(),
    due_at           timestamptz NOT NULL,
    deadline_rule    jsonb NOT NULL,            -- the pack figure the due date comes from (local practice)
    outcome          text,
    outcome_note     text,
    outcome_by       text,
    outcome_at       timestamptz,
    overdue_noted_at timestamptz                -- the sweep wrote "overdue" on the timeline
);
CREATE INDEX referrals_case ON referrals (case_id, referred_at);
CREATE INDEX referrals_open_due ON referrals (due_at) WHERE outcome IS NULL;
