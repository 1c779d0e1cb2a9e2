-- What a review must keep applying to an enrolled household: its verified rigid expenditure
-- (seeds 002/003/004) and a single-person inclusion (单人保, seeds 002/003/004).
ALTER TABLE enrolments ADD COLUMN monthly_rigid_expenditure_fen bigint NOT NULL DEFAULT 0
    CHECK (monthly_rigid_expenditure_fen >= 0);
ALTER TABLE enrolments ADD COLUMN single_person boolean NOT NULL DEFAULT false;
