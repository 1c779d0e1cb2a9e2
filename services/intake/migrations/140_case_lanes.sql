-- The straight-through lane (docs/adr/0021): intake remembers which lane a case was gathered into, written
-- BEFORE the lane's workflow starts. A redelivery or a restart then re-drives the case's lane (same workflow
-- id, the members' inputs) instead of starting the case's own workflow while the lane may settle it. A case
-- that was gathered alone in its window names itself: its own workflow settles it. NULL: never gathered.
-- A case joins one lane only (the first to claim it); the lane's members are read by lane_id.
ALTER TABLE cases ADD COLUMN lane_id text;
CREATE INDEX cases_lane ON cases (lane_id, case_id) WHERE lane_id IS NOT NULL;
