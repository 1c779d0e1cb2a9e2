-- A batch that pays each recipient household its own monthly level of a given month (Jiangxi seed 001
-- 「按照 6 月份发放标准增发一次性生活补贴」): the level from the ledger, once per household, to the
-- household's first recipient in the cohort (services/payment/batch.py, LEVELS_SQL). A chunk pays
-- coalesce(this level, the group's amount).
CREATE TABLE batch_levels (
    batch_id      text NOT NULL,
    ordinal       integer NOT NULL,
    household_id  text NOT NULL,
    amount_fen    bigint NOT NULL CHECK (amount_fen > 0),
    PRIMARY KEY (batch_id, ordinal)
);
