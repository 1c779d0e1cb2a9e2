-- Task inboxes: every step that waits for a person, by role and jurisdiction, with its deadline.
CREATE TABLE tasks (
    task_id      text PRIMARY KEY,                 -- <case_id>:<kind>
    case_id      text NOT NULL,
    pathway      text NOT NULL,
    kind         text NOT NULL,                    -- county_decision | approval | resolve_ineligible | documents | outreach
    role         text NOT NULL,                    -- who may act on it
    region_code  text NOT NULL,
    amount_fen   bigint,
    summary      text NOT NULL DEFAULT '',
    due_at       timestamptz,
    opened_at    timestamptz NOT NULL DEFAULT now(),
    closed_at    timestamptz,
    closed_by    text,
    outcome      text
);
CREATE INDEX tasks_open ON tasks (role, region_code) WHERE closed_at IS NULL;
