-- The payment ledger: append-only, one row per money movement, unique by idempotency key (the cause:
-- case + installment), so a retried or duplicated disbursement can never pay twice.
CREATE TABLE ledger (
    entry_seq        bigserial PRIMARY KEY,
    payment_id       text NOT NULL UNIQUE,
    idempotency_key  text NOT NULL UNIQUE,
    kind             text NOT NULL DEFAULT 'disbursement',
    case_id          text NOT NULL,
    pathway          text NOT NULL,
    person_id        text NOT NULL,
    household_id     text,
    region_code      text NOT NULL,
    measure          text NOT NULL,
    account          text NOT NULL,
    amount_fen       bigint NOT NULL CHECK (amount_fen > 0),
    installment      integer NOT NULL DEFAULT 1 CHECK (installment >= 1),
    cause_event_id   text,
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ledger_case ON ledger (case_id);
CREATE INDEX ledger_person ON ledger (person_id);

CREATE FUNCTION ledger_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger entries are immutable: correct with a new entry';
END $$;
CREATE TRIGGER ledger_append_only BEFORE UPDATE OR DELETE ON ledger
    FOR EACH ROW EXECUTE FUNCTION ledger_is_append_only();
