-- One-window applications (一门受理): who applied for what, with the signed check authorisation.
CREATE TABLE applications (
    application_id  text PRIMARY KEY,
    case_id         text NOT NULL REFERENCES cases (case_id),
    person_id       text NOT NULL,
    region_code     text NOT NULL,
    kind            text NOT NULL,
    consent_given   boolean NOT NULL CHECK (consent_given),
    registered_by   text NOT NULL,
    details         jsonb NOT NULL DEFAULT '{}'::jsonb,
    received_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX applications_person ON applications (person_id);
