-- A cycle's roll row may carry its own key: back-pay after a raised standard,
-- dibao-topup:<household>:<period>:<standard-version> (services/intake/enrolment.py). NULL: the period's
-- payment, dibao:<household>:<period>.
ALTER TABLE period_roll ADD COLUMN idempotency_key text;
