-- When the server gave up waiting for an executing action's result (its lease ran
-- out). Kept when the real result arrives later, so the history shows both.
ALTER TABLE actions ADD COLUMN lease_lost_at_ms INTEGER;
