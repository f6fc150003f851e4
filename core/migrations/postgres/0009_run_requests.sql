-- A fleet run started from the dashboard's form carries the form's request id, so
-- the same form sent twice (a double click without JavaScript, a resent POST)
-- starts one run. One per person and request id, as for actions.
ALTER TABLE runs ADD COLUMN request_id TEXT;
CREATE UNIQUE INDEX runs_one_per_request ON runs (created_by, request_id)
    WHERE request_id IS NOT NULL;
