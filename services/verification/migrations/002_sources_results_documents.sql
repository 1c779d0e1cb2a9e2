-- The local reference data source (development and tests): one record per department source and person,
-- validated by the source's payload model before it is stored. Production adapters call the departments.
CREATE TABLE reference_records (
    source     text NOT NULL,
    person_id  text NOT NULL,
    payload    jsonb NOT NULL,
    loaded_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, person_id)
);
CREATE INDEX reference_records_person ON reference_records (person_id);

-- What a check was asked and what it found (the 001 columns keep outcome and evidence).
ALTER TABLE checks
    ADD COLUMN region_code           text,
    ADD COLUMN business_date         date,
    ADD COLUMN request               jsonb,
    ADD COLUMN household_income_fen  bigint,
    ADD COLUMN per_capita_income_fen bigint,
    ADD COLUMN limit_fen_per_capita  bigint,
    ADD COLUMN result                jsonb;
ALTER TABLE checks ADD CONSTRAINT checks_outcome
    CHECK (outcome IS NULL OR outcome IN ('eligible', 'ineligible'));
ALTER TABLE checks ADD CONSTRAINT checks_completed
    CHECK ((completed_at IS NULL) = (result IS NULL));

-- Supplementary documents and explanations (一证一书, 先行救助后补齐说明). A submission is one POST;
-- its id is also the Temporal update id, so a retried submission is one update and one set of rows.
CREATE TABLE documents (
    document_id   text PRIMARY KEY,
    submission_id text NOT NULL,
    case_id       text NOT NULL,
    kind          text NOT NULL CHECK (kind IN ('explanation', 'id_card', 'authorisation', 'hospital_record',
                                                'quarantine_notice', 'disaster_certificate', 'other')),
    reference     text NOT NULL,
    note          text NOT NULL DEFAULT '',
    received_at   timestamptz NOT NULL DEFAULT now(),
    received_by   text NOT NULL,
    received_role text NOT NULL
);
CREATE INDEX documents_case ON documents (case_id, received_at);
CREATE INDEX documents_submission ON documents (submission_id);
