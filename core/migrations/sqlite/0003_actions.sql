-- The remediation engine: every action, its approval, its run and its output.

-- Per server: `auto` approves actions unless the server is in maintenance;
-- `always_ask` makes every action wait for a person.
ALTER TABLE servers ADD COLUMN approval_policy TEXT NOT NULL DEFAULT 'auto'
    CHECK (approval_policy IN ('auto', 'always_ask'));

CREATE TABLE actions (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    server_id           TEXT    NOT NULL REFERENCES servers (id) ON DELETE CASCADE,
    action_type         TEXT    NOT NULL CHECK (action_type IN
        ('restart_service', 'clear_logs', 'apt_update', 'apt_upgrade_all', 'apt_upgrade_security')),
    -- The unit of a restart_service, for the one-restart-per-unit rule.
    unit                TEXT,
    parameters          TEXT,             -- JSON object, or NULL
    argv                TEXT    NOT NULL, -- JSON array of strings
    status              TEXT    NOT NULL CHECK (status IN
        ('pending', 'approved', 'executing', 'completed', 'failed', 'rejected', 'cancelled')),
    timeout_s           INTEGER NOT NULL,
    created_at_ms       BIGINT  NOT NULL,
    created_by          TEXT    NOT NULL,
    approved_at_ms      BIGINT,
    approved_by         TEXT,
    rejected_at_ms      BIGINT,
    rejected_by         TEXT,
    reject_reason       TEXT,
    cancelled_at_ms     BIGINT,
    cancelled_by        TEXT,
    started_at_ms       BIGINT,
    -- While executing: when the server gives up on the agent (timeout + grace).
    lease_expires_at_ms BIGINT,
    finished_at_ms      BIGINT,
    exit_code           INTEGER,
    failure             TEXT CHECK (failure IN
        ('exit_code', 'timed_out', 'not_whitelisted', 'interrupted', 'spawn_error', 'agent_lost')),
    stdout              TEXT    NOT NULL DEFAULT '',
    stderr              TEXT    NOT NULL DEFAULT ''
);

-- At most one apt action in flight per server, enforced by the database so that
-- concurrent requests can never both succeed.
CREATE UNIQUE INDEX actions_one_apt_in_flight ON actions (server_id)
    WHERE status IN ('pending', 'approved', 'executing')
      AND action_type IN ('apt_update', 'apt_upgrade_all', 'apt_upgrade_security');

-- At most one waiting restart per (server, unit).
CREATE UNIQUE INDEX actions_one_restart_waiting ON actions (server_id, unit)
    WHERE status IN ('pending', 'approved') AND action_type = 'restart_service';

-- History pages are keyset scans over id (newest first), optionally filtered.
CREATE INDEX actions_by_server ON actions (server_id, id);
CREATE INDEX actions_by_status ON actions (status, id);
CREATE INDEX actions_by_type ON actions (action_type, id);
-- The dispatcher's claim and the lease job.
CREATE INDEX actions_queue ON actions (server_id, status, id);
CREATE INDEX actions_leases ON actions (status, lease_expires_at_ms);
-- Two filters at once (server and type; status and type).
CREATE INDEX actions_by_server_type ON actions (server_id, action_type, id);
CREATE INDEX actions_by_status_type ON actions (status, action_type, id);
