-- Household registry (户籍/救助对象台账) and the case registry of the one-window intake.
CREATE TABLE households (
    household_id        text PRIMARY KEY,
    region_code         text NOT NULL,
    urban               boolean NOT NULL,
    categories          text[] NOT NULL DEFAULT '{}',
    monthly_income_fen  bigint NOT NULL CHECK (monthly_income_fen >= 0),
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    version             integer NOT NULL DEFAULT 1
);
CREATE INDEX households_region ON households (region_code);

CREATE TABLE members (
    person_id     text PRIMARY KEY,
    household_id  text NOT NULL REFERENCES households (household_id) ON DELETE CASCADE,
    name          text NOT NULL,
    relation      text NOT NULL,
    birth_date    date NOT NULL,
    flags         text[] NOT NULL DEFAULT '{}',
    deceased_on   date
);
CREATE INDEX members_household ON members (household_id);

CREATE TABLE cases (
    case_id             text PRIMARY KEY,
    pathway             text NOT NULL,
    trigger             text NOT NULL,
    person_id           text,
    household_id        text,
    region_code         text NOT NULL,
    business_date       date NOT NULL,
    cause_event_id      text,
    status              text NOT NULL DEFAULT 'open',
    stage               text NOT NULL DEFAULT 'opened',
    opened_at           timestamptz NOT NULL DEFAULT now(),
    workflow_started_at timestamptz,
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX cases_person ON cases (person_id);
CREATE INDEX cases_not_started ON cases (opened_at) WHERE workflow_started_at IS NULL;

-- Each event that pointed at a case (the same incident may be reported more than once).
CREATE TABLE case_causes (
    event_id  text PRIMARY KEY,
    case_id   text NOT NULL REFERENCES cases (case_id),
    received_at timestamptz NOT NULL DEFAULT now()
);

-- Every transition a workflow reported, once per (case, seq).
CREATE TABLE case_transitions (
    case_id     text NOT NULL REFERENCES cases (case_id),
    seq         integer NOT NULL,
    status      text NOT NULL,
    stage       text NOT NULL,
    note        text NOT NULL DEFAULT '',
    detail      jsonb NOT NULL DEFAULT '{}'::jsonb,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (case_id, seq)
);
