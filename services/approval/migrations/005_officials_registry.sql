-- The officials registry: who an authenticated subject is. Conflict of interest (关系保、人情保) and
-- committee membership are checked against the person id recorded here, never a token claim; an official
-- not registered (or no longer active) cannot decide money (shared/assertions.py signs the person id).
CREATE TABLE officials (
    subject        text PRIMARY KEY,          -- the token's sub
    person_id      text NOT NULL,             -- the official's own national ID
    name           text NOT NULL,
    roles          text[] NOT NULL,           -- the roles this official may act in
    jurisdiction   text NOT NULL,             -- region-code prefix; '' = every region (province-wide)
    active         boolean NOT NULL DEFAULT true,
    registered_by  text NOT NULL,
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX officials_by_person ON officials (person_id);
