-- Sending moved to the job queue (connectors/jobs): the letter's own retry
-- time and its index (from the core's 0007_letters.sql) are no longer used.
-- Pending letters of such a database get their jobs when the connector starts.
ALTER TABLE letters DROP COLUMN IF EXISTS next_attempt_at;
