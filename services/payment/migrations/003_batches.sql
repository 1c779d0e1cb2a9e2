-- Batch subsidies (批量发放, domain pathway 6): the one-time living subsidy and the price-linkage subsidy
-- to every recipient of a region, paid in chunks by set-based SQL into the ledger (services/payment/batch.py).

-- One row per batch: what was asked, the policy applied, and the progress the view and the CLI show.
CREATE TABLE batches (
    batch_id                text PRIMARY KEY,      -- derived from (measure, region_prefix, occasion)
    measure                 text NOT NULL,
    region_prefix           text NOT NULL CHECK (region_prefix ~ '^[0-9]{2}([0-9]{2}([0-9]{2}([0-9]{3})?)?)?$'),
    occasion                text NOT NULL,         -- the price-linkage month, or the pack of a one-time subsidy
    snapshot_on             date NOT NULL,
    month                   text,
    categories              text[] NOT NULL,
    requested_amount_fen    bigint CHECK (requested_amount_fen > 0),
    params                  jsonb NOT NULL,        -- the request's identity: a repeat must match it
    policy                  jsonb,                 -- pack id and version applied, citations
    amount_note             text NOT NULL DEFAULT '',  -- how the amount was set (e.g. raised to a pack minimum)
    installments            jsonb NOT NULL DEFAULT '[]'::jsonb,  -- [{sequence, month, due_at}]
    cause_event_id          text,
    requested_by            text NOT NULL,
    chunk_size              integer NOT NULL CHECK (chunk_size BETWEEN 100 AND 50000),
    payment_events          boolean NOT NULL DEFAULT true,  -- publish one doudi.payment.disbursed per payment
    status                  text NOT NULL CHECK (status IN
                                ('planned', 'loading', 'paying', 'waiting', 'paused', 'cancelled', 'completed', 'rejected')),
    status_seq              integer NOT NULL DEFAULT 0,
    note                    text NOT NULL DEFAULT '',
    total                   integer,               -- recipients in the cohort
    payable                 integer,               -- of them, paid by the policy
    chunks_per_installment  integer,
    expected_payments       bigint,
    expected_fen            bigint,
    loaded_rows             bigint NOT NULL DEFAULT 0,   -- progress of the load, before it commits
    paid_count              bigint NOT NULL DEFAULT 0,
    paid_fen                bigint NOT NULL DEFAULT 0,
    chunks_done             integer NOT NULL DEFAULT 0,
    created_at              timestamptz NOT NULL DEFAULT now(),
    loaded_at               timestamptz,
    started_at              timestamptz,
    finished_at             timestamptz,
    updated_at              timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX batches_occasion ON batches (measure, occasion);
CREATE INDEX batches_active ON batches (status) WHERE status IN ('loading', 'paying');

-- The cohort as intake exported it at the snapshot, COPYed straight in. batch_id comes from the
-- loading transaction's setting (SET LOCAL doudi.loading_batch), so the export's CSV needs no batch
-- column; a COPY outside a load fails for want of it. A chunk is a range of ordinals.
CREATE TABLE batch_recipients (
    batch_id      text NOT NULL DEFAULT current_setting('doudi.loading_batch'),
    ordinal       integer NOT NULL,      -- the export's line number, 1..total
    person_id     text NOT NULL,
    household_id  text NOT NULL,
    region_code   text NOT NULL,
    categories    text[] NOT NULL,
    urban         boolean NOT NULL,
    PRIMARY KEY (batch_id, ordinal)
);

-- Amounts per (region, urban, categories) group and installment, from the policy pack in force for the
-- group's region; 0 = the group is not paid (reason says why).
CREATE TABLE batch_amounts (
    batch_id      text NOT NULL,
    installment   integer NOT NULL,
    region_code   text NOT NULL,
    urban         boolean NOT NULL,
    categories    text[] NOT NULL,
    recipients    integer NOT NULL,
    amount_fen    bigint NOT NULL CHECK (amount_fen >= 0),
    reason        text NOT NULL,
    PRIMARY KEY (batch_id, installment, region_code, urban, categories)
);

CREATE TABLE batch_installments (
    batch_id      text NOT NULL,
    installment   integer NOT NULL,
    month         text NOT NULL,
    due_at        timestamptz,           -- month start, China time; NULL = at once
    rechecked_on  date,                  -- later installments: the cohort re-checked as of this date
    stopped       integer NOT NULL DEFAULT 0,
    PRIMARY KEY (batch_id, installment)
);

-- Recipients a re-check stopped: no installment from from_installment on pays them.
CREATE TABLE batch_stops (
    batch_id          text NOT NULL,
    person_id         text NOT NULL,
    from_installment  integer NOT NULL,
    reason            text NOT NULL,
    PRIMARY KEY (batch_id, person_id)
);

-- One row per chunk paid, written in the chunk's own transaction with its ledger rows: a retried
-- chunk finds it and pays nothing. events_published_at: its per-payment events are on the bus.
CREATE TABLE batch_chunks (
    batch_id             text NOT NULL,
    installment          integer NOT NULL,
    chunk                integer NOT NULL,
    paid_count           integer NOT NULL,
    paid_fen             bigint NOT NULL,
    done_at              timestamptz NOT NULL DEFAULT now(),
    events_published_at  timestamptz,
    PRIMARY KEY (batch_id, installment, chunk)
);
CREATE INDEX batch_chunks_unpublished ON batch_chunks (done_at) WHERE events_published_at IS NULL;
