-- The office's records read the ledger by month (exports, the monthly report) and by household (家庭档案).
CREATE INDEX ledger_created_at ON ledger (created_at);
CREATE INDEX ledger_household ON ledger (household_id) WHERE household_id IS NOT NULL;
