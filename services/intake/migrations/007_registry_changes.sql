-- Who changed a household's membership or its money-carrying categories, and how (issue 14): a person
-- moved from one household to another of the same county (an explicit move, never a silent takeover),
-- and every registration through the authorised roster (the only way categories that carry money are
-- set, beside the decisions that enrol a household).
CREATE TABLE registry_changes (
    change_id          bigserial PRIMARY KEY,
    kind               text NOT NULL CHECK (kind IN ('member_moved', 'roster')),
    household_id       text NOT NULL,
    person_id          text,
    from_household_id  text,
    categories         text[] NOT NULL DEFAULT '{}',
    actor              text NOT NULL,
    role               text NOT NULL,
    recorded_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX registry_changes_household ON registry_changes (household_id);
CREATE INDEX registry_changes_person ON registry_changes (person_id) WHERE person_id IS NOT NULL;
