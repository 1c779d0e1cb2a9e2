-- 提标 reprices each household exactly (shared/policy/benefit.py::monthly_benefit under the new standard),
-- not linearly: the roster keeps the facts its level was computed from, as the review saw them.
--   benefit_facts: the BenefitHousehold (JSON) of the review that set level_fen; NULL for rows written
--                  before this migration (the cycle derives them from the registry, as the review did)
--   persons .. working_at_home: the coefficients of a plain household's level, read by the cycle's SQL
--   priced_in_python: facts the SQL price table does not cover (单人保, a member working away from home
--                  at another region's standard, care allowance, orphan allowance): monthly_benefit prices them
ALTER TABLE enrolments ADD COLUMN benefit_facts jsonb;
ALTER TABLE enrolments ADD COLUMN persons integer CHECK (persons >= 0);
ALTER TABLE enrolments ADD COLUMN income_fen bigint CHECK (income_fen >= 0);
ALTER TABLE enrolments ADD COLUMN special_members integer CHECK (special_members >= 0);
ALTER TABLE enrolments ADD COLUMN remote boolean;
ALTER TABLE enrolments ADD COLUMN working_at_home integer CHECK (working_at_home >= 0);
ALTER TABLE enrolments ADD COLUMN priced_in_python boolean;

-- A back-payment's months: the level they were paid at and the exact level now owed (the last month's).
ALTER TABLE enrolment_back_pay ADD COLUMN old_level_fen bigint;
ALTER TABLE enrolment_back_pay ADD COLUMN new_level_fen bigint;
