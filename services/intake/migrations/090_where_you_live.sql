-- Applying where you live (issue 17 item 5): a graduate 「由户籍所在地或经常居住地」, a migrant worker who
-- lost their job 「由务工地或经常居住地」 applies where they live or work; the deciding office owns the case and
-- its payment, the registration office is informed (one notice per case it can read).
CREATE TABLE registration_notices (
    case_id                  text PRIMARY KEY REFERENCES cases (case_id),
    person_id                text NOT NULL,
    kind                     text NOT NULL,            -- the application's kind (graduate, job_loss, ...)
    basis                    text NOT NULL,            -- habitual_residence | work_place | emergency_place
    registered_region_code   text NOT NULL,            -- the household registration's county: informed
    deciding_region_code     text NOT NULL,            -- the office that decides and pays
    evidence                 text NOT NULL DEFAULT '',
    noticed_at               timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX registration_notices_region ON registration_notices (registered_region_code, noticed_at);

-- One-off aid a person is paid once wherever they apply: the claim's key comes from the cause (the measure
-- and the person, the unemployment spell for job loss), held by the case that took it. A case closed without
-- a payment releases it (the person may apply again, there or elsewhere).
CREATE TABLE once_claims (
    claim_key    text PRIMARY KEY,
    case_id      text NOT NULL REFERENCES cases (case_id),
    region_code  text NOT NULL,
    claimed_at   timestamptz NOT NULL DEFAULT now()
);
