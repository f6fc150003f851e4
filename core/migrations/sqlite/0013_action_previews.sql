-- Know before you approve (issue 14, part 4): what apt's simulation says an upgrade
-- would do, and upgrades the agent held back because apt would remove packages.

-- A person asked for a preview the agent has not sent yet (NULL: none asked), and
-- when a long-poll last handed that request to the agent (asked again after a
-- while if no preview came: the agent may have died meanwhile).
ALTER TABLE actions ADD COLUMN preview_requested_at_ms BIGINT;
ALTER TABLE actions ADD COLUMN preview_sent_at_ms BIGINT;
-- When and why the agent held an automatically approved upgrade for a person:
-- `held: apt would remove foo, bar`.
ALTER TABLE actions ADD COLUMN held_at_ms BIGINT;
ALTER TABLE actions ADD COLUMN hold_reason TEXT;

-- The idle long-poll looks for waiting preview requests of its server.
CREATE INDEX actions_preview_requests ON actions (server_id, id)
    WHERE preview_requested_at_ms IS NOT NULL;

-- The latest preview of each action: `outcome` is the JSON of
-- homelab_protocol::PreviewOutcome (names and versions checked when the agent's
-- JSON was read, lists bounded), `taken_at_ms` when the server received it.
CREATE TABLE action_previews (
    action_id   BIGINT NOT NULL PRIMARY KEY REFERENCES actions (id) ON DELETE CASCADE,
    taken_at_ms BIGINT NOT NULL,
    outcome     TEXT   NOT NULL
);
