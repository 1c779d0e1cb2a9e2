-- Township reserve funds (乡镇临时救助备用金), their replenishment by the county, payments waiting for a
-- reserve, and recovery claims (追回). Seed 000 (Xinjiang): township-approved temporary assistance is
-- paid first from the township reserve; when it runs short the township applies and the county
-- civil-affairs and finance departments replenish it.
--
-- Ledger sign convention: every row's amount_fen is positive; its `kind` says which way it moves
-- money relative to its `account`:
--   disbursement    money OUT of `account` to person_id (a township reserve or the county fund)
--   reserve_credit  money INTO `account` (a township reserve), from the county's funds
--   recovery_claim  a claim that person_id owes `account` amount_fen back (a receivable, not cash:
--                   it moves no balance until money is actually recovered)
-- So for every reserve: balance_fen = sum(reserve_credit) - sum(disbursement) on its account.

-- Rows that are not payments to a person carry no case, pathway, person or measure.
ALTER TABLE ledger ALTER COLUMN case_id DROP NOT NULL;
ALTER TABLE ledger ALTER COLUMN pathway DROP NOT NULL;
ALTER TABLE ledger ALTER COLUMN person_id DROP NOT NULL;
ALTER TABLE ledger ALTER COLUMN measure DROP NOT NULL;
ALTER TABLE ledger ADD COLUMN reference text;      -- replenishment request id, original payment id
ALTER TABLE ledger ADD COLUMN note text;           -- why (a credit's reason, a claim's reason)
ALTER TABLE ledger ADD COLUMN recorded_by text;    -- who caused a manual movement
ALTER TABLE ledger ADD CONSTRAINT ledger_kind
    CHECK (kind IN ('disbursement', 'reserve_credit', 'recovery_claim'));
ALTER TABLE ledger ADD CONSTRAINT ledger_person_movements_name_the_case
    CHECK (kind = 'reserve_credit'
           OR (case_id IS NOT NULL AND pathway IS NOT NULL AND person_id IS NOT NULL AND measure IS NOT NULL));
CREATE INDEX ledger_account ON ledger (account, entry_seq);

-- One reserve per township (9-digit region code) or, where the county keeps one, per county (6 digits).
CREATE TABLE reserve_accounts (
    township_code  text PRIMARY KEY CHECK (township_code ~ '^[0-9]{6}([0-9]{3})?$'),
    county_code    text NOT NULL CHECK (county_code ~ '^[0-9]{6}$'),
    balance_fen    bigint NOT NULL DEFAULT 0 CHECK (balance_fen >= 0),
    threshold_fen  bigint NOT NULL DEFAULT 0 CHECK (threshold_fen >= 0),  -- ask the county below this
    target_fen     bigint NOT NULL DEFAULT 0 CHECK (target_fen >= 0),     -- ... to bring it back to this
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CHECK (left(township_code, 6) = county_code),
    CHECK (target_fen >= threshold_fen)
);
CREATE INDEX reserve_accounts_county ON reserve_accounts (county_code);

-- The township's application to the county to replenish its reserve; at most one open at a time.
CREATE TABLE replenishment_requests (
    request_id           text PRIMARY KEY,
    township_code        text NOT NULL REFERENCES reserve_accounts (township_code),
    amount_fen           bigint NOT NULL CHECK (amount_fen > 0),   -- what the township asks for
    status               text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'approved', 'rejected')),
    requested_at         timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    approved_amount_fen  bigint CHECK (approved_amount_fen > 0),   -- what the county granted
    decided_by           text,
    decided_role         text,
    decided_at           timestamptz,
    reason               text,
    CHECK ((status = 'open') = (decided_at IS NULL)),
    CHECK ((status = 'approved') = (approved_amount_fen IS NOT NULL))
);
CREATE UNIQUE INDEX replenishment_one_open_per_township
    ON replenishment_requests (township_code) WHERE status = 'open';
CREATE INDEX replenishment_by_township ON replenishment_requests (township_code, requested_at);

-- Payments the reserve could not cover yet: nothing is in the ledger for them. The row goes when the
-- payment is made; signalled_at records that the case's workflow was told the reserve was credited.
CREATE TABLE reserve_waits (
    idempotency_key           text PRIMARY KEY,
    case_id                   text NOT NULL,
    township_code             text NOT NULL REFERENCES reserve_accounts (township_code),
    amount_fen                bigint NOT NULL CHECK (amount_fen > 0),
    since                     timestamptz NOT NULL DEFAULT now(),   -- first time it had to wait
    last_attempt_at           timestamptz NOT NULL DEFAULT now(),   -- latest attempt that had to wait
    replenishment_request_id  text REFERENCES replenishment_requests (request_id),
    signalled_at              timestamptz,
    signal_attempts           integer NOT NULL DEFAULT 0,
    last_signal_error         text
);
CREATE INDEX reserve_waits_township ON reserve_waits (township_code, since);

-- 追回: one claim per case against the person who received aid they were not entitled to.
CREATE TABLE recovery_claims (
    claim_id             text PRIMARY KEY,
    case_id              text NOT NULL UNIQUE,
    pathway              text NOT NULL,
    person_id            text NOT NULL,
    region_code          text NOT NULL,
    amount_fen           bigint NOT NULL CHECK (amount_fen > 0),
    original_payment_id  text NOT NULL,
    account              text NOT NULL,        -- the account the money is owed back to
    reason               text NOT NULL,
    decided_by           text NOT NULL,
    status               text NOT NULL DEFAULT 'open' CHECK (status IN ('open')),
    opened_at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX recovery_claims_person ON recovery_claims (person_id);
