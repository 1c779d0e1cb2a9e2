-- Visits to dispersed 特困 persons (分散供养特困人员探视巡访, issue 17 item 3; seed 001 「严格落实分散供养特困人员
-- 探视巡访制度…对履职不到位的照料服务人及时更换」, seed 003 「加强对分散供养特困人员定期探访和照料服务」).
-- Set-based: one row per person with the date the next visit is due; overdue is `next_visit_due < now()`.
--   visit_every_days / cadence_rule: the pack's care_visit_days_<care level> and its citation when set
CREATE TABLE care_recipients (
    person_id        text PRIMARY KEY,
    region_code      text NOT NULL,
    household_id     text,
    name             text,
    care_level       text NOT NULL CHECK (care_level IN ('full_care', 'partial_care', 'self_care')),
    caregiver        text NOT NULL,
    caregiver_phone  text,
    visit_every_days integer NOT NULL CHECK (visit_every_days >= 1),
    cadence_rule     text NOT NULL,
    registered_by    text NOT NULL,
    registered_at    timestamptz NOT NULL DEFAULT now(),
    last_visited_at  timestamptz,
    next_visit_due   timestamptz NOT NULL
);
CREATE INDEX care_recipients_due ON care_recipients (next_visit_due);
CREATE INDEX care_recipients_region ON care_recipients (region_code text_pattern_ops);

-- Each visit: who, when, what was found, whether the caregiver does the job (履职情况).
CREATE TABLE care_visits (
    visit_id             text PRIMARY KEY,
    person_id            text NOT NULL REFERENCES care_recipients (person_id),
    visited_at           timestamptz NOT NULL,
    visited_by           text NOT NULL,
    caregiver            text NOT NULL,
    caregiver_performing boolean NOT NULL,
    findings             text NOT NULL,
    recorded_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX care_visits_person ON care_visits (person_id, visited_at);

-- Replacing a caregiver who does not do the job (及时更换): a recorded decision, who and why.
CREATE TABLE caregiver_changes (
    change_id          text PRIMARY KEY,
    person_id          text NOT NULL REFERENCES care_recipients (person_id),
    previous_caregiver text NOT NULL,
    new_caregiver      text NOT NULL,
    new_caregiver_phone text,
    reason             text NOT NULL,
    visit_id           text REFERENCES care_visits (visit_id),
    decided_by         text NOT NULL,
    role               text NOT NULL,
    decided_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX caregiver_changes_person ON caregiver_changes (person_id, decided_at);
