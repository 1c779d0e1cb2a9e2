-- A timeline entry's message code and its parameters (issue 16): the case view renders them in Chinese and
-- English (services/operations/timeline_text.py), amounts in yuan and times in Beijing time. Entries projected
-- before this migration have none: they show their note.
ALTER TABLE timeline ADD COLUMN code text;
ALTER TABLE timeline ADD COLUMN params jsonb NOT NULL DEFAULT '{}'::jsonb;
