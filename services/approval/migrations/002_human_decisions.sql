-- Human decisions carried to workflows as updates, recorded for audit (who, role, why).
ALTER TABLE decisions ADD COLUMN role text NOT NULL DEFAULT 'system';
ALTER TABLE decisions DROP CONSTRAINT decisions_decision_check;
ALTER TABLE decisions ADD CONSTRAINT decisions_decision_check
    CHECK (decision IN ('approved', 'needs_county', 'rejected', 'recover', 'good_faith_correction'));
