-- The operations read model, projected from domain events (doudi.case.*, doudi.payment.*).
CREATE TABLE cases (
    case_id             text PRIMARY KEY,
    pathway             text NOT NULL,
    status              text NOT NULL,
    stage               text NOT NULL,
    person_id           text,
    household_id        text,
    region_code         text,
    cause_event_id      text,
    policy              jsonb,
    approved_amount_fen bigint,
    outcome             text,
    reason              text,
    last_seq            integer NOT NULL DEFAULT -1,
    stalled             boolean NOT NULL DEFAULT false,
    opened_at           timestamptz,
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX rm_cases_person ON cases (person_id);
CREATE INDEX rm_cases_household ON cases (household_id);
CREATE INDEX rm_cases_region ON cases (region_code);
CREATE INDEX rm_cases_status ON cases (pathway, status);

CREATE TABLE payments (
    payment_id   text PRIMARY KEY,
    case_id      text NOT NULL,
    person_id    text,
    amount_fen   bigint NOT NULL,
    status       text NOT NULL,
    installment  integer NOT NULL,
    paid_at      timestamptz
);
CREATE INDEX rm_payments_case ON payments (case_id);

CREATE TABLE timeline (
    event_id  text PRIMARY KEY,
    case_id   text NOT NULL,
    at        timestamptz NOT NULL,
    event     text NOT NULL,
    status    text,
    stage     text,
    note      text NOT NULL DEFAULT ''
);
CREATE INDEX rm_timeline_case ON timeline (case_id, at);
