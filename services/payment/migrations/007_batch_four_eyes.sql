-- Four eyes (NIST AC-3(2)) on a batch whose amount the policy leaves open: it waits, registered but not
-- started, until a second official (another subject than who asked) approves it; both are recorded.
ALTER TABLE batches DROP CONSTRAINT IF EXISTS batches_status_check;
ALTER TABLE batches ADD CONSTRAINT batches_status_check CHECK (status IN
    ('awaiting_second_approval', 'planned', 'loading', 'paying', 'waiting', 'paused', 'cancelled', 'completed',
     'rejected'));
ALTER TABLE batches ADD COLUMN second_approved_by text;
ALTER TABLE batches ADD COLUMN second_approved_at timestamptz;
