-- Patching the fleet (issue 14): tags group servers; a fleet run applies one action
-- kind to a set of servers in batches, each step an ordinary action that names its
-- run. A schedule's firing is one run: the unique index on (schedule_id, fire_at_ms)
-- makes several replicas, or a restart, start it once.
CREATE TABLE server_tags (
    server_id TEXT NOT NULL REFERENCES servers (id) ON DELETE CASCADE,
    tag       TEXT NOT NULL,
    PRIMARY KEY (server_id, tag)
);
CREATE INDEX server_tags_by_tag ON server_tags (tag, server_id);

CREATE TABLE runs (
    id             BIGSERIAL PRIMARY KEY,
    action_type    TEXT    NOT NULL,
    parameters     TEXT,
    tag            TEXT,
    batch_size     INTEGER NOT NULL CHECK (batch_size >= 1),
    max_failures   INTEGER NOT NULL CHECK (max_failures >= 0),
    status         TEXT    NOT NULL CHECK (status IN ('running', 'completed', 'failed', 'cancelled')),
    created_at_ms  BIGINT  NOT NULL,
    created_by     TEXT    NOT NULL,
    schedule_id    BIGINT,
    fire_at_ms     BIGINT,
    late           INTEGER NOT NULL DEFAULT 0 CHECK (late IN (0, 1)),
    finished_at_ms BIGINT,
    cancelled_by   TEXT
);
CREATE UNIQUE INDEX runs_one_per_firing ON runs (schedule_id, fire_at_ms)
    WHERE schedule_id IS NOT NULL;
CREATE INDEX runs_by_status ON runs (status, id);
CREATE INDEX runs_by_schedule ON runs (schedule_id, id);

CREATE TABLE run_items (
    run_id    BIGINT  NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    position  INTEGER NOT NULL,
    server_id TEXT    NOT NULL REFERENCES servers (id) ON DELETE CASCADE,
    state     TEXT    NOT NULL CHECK (state IN
        ('waiting', 'queued', 'completed', 'failed', 'skipped', 'cancelled')),
    action_id BIGINT REFERENCES actions (id),
    reason    TEXT,
    PRIMARY KEY (run_id, position)
);
CREATE INDEX run_items_by_action ON run_items (action_id);

ALTER TABLE actions ADD COLUMN run_id BIGINT REFERENCES runs (id);
CREATE INDEX actions_by_run ON actions (run_id, id);
