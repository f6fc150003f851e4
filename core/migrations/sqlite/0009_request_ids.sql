-- A form carries a request id: the same form sent twice (a double click, a resent
-- POST) is the same request, and its second answer is the first action.
ALTER TABLE actions ADD COLUMN request_id TEXT;
CREATE UNIQUE INDEX actions_one_per_request ON actions (created_by, request_id)
    WHERE request_id IS NOT NULL;
