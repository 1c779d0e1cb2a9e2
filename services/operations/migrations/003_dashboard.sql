-- The dashboard's payments-per-day chart reads a window of recent paid_at values.
CREATE INDEX rm_payments_paid_at ON payments (paid_at);
-- The attention list and the overview count stalled cases.
CREATE INDEX rm_cases_stalled ON cases (updated_at) WHERE stalled;
