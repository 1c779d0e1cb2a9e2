ALTER TABLE cases ADD COLUMN deadlines jsonb NOT NULL DEFAULT '[]'::jsonb;
ALTER TABLE cases ADD COLUMN flags text[] NOT NULL DEFAULT '{}';
ALTER TABLE cases ADD COLUMN escalated_to text;
