-- Action kinds are described in Rust (protocol/src/kind.rs), not in SQL: the table
-- loses its CHECK list of types (statuses and failures keep theirs) (which every new kind would have had to migrate, by
-- rebuilding the table) and the two partial unique indexes that spelled out types and
-- statuses. The duplicate guard becomes one index over a slot the engine names when
-- it creates an action (`apt`, `unit:nginx.service`) and clears when the action
-- leaves the statuses that hold it. SQLite cannot drop a CHECK: the table is rebuilt.

CREATE TABLE actions_new (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    server_id           TEXT    NOT NULL REFERENCES servers (id) ON DELETE CASCADE,
    action_type         TEXT    NOT NULL,
    unit                TEXT,
    parameters          TEXT,
    argv                TEXT    NOT NULL,
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
    lease_expires_at_ms BIGINT,
    finished_at_ms      BIGINT,
    exit_code           INTEGER,
    failure             TEXT CHECK (failure IN
        ('exit_code', 'timed_out', 'not_whitelisted', 'interrupted', 'spawn_error', 'agent_lost')),
    stdout              TEXT    NOT NULL DEFAULT '',
    stderr              TEXT    NOT NULL DEFAULT '',
    lease_lost_at_ms    BIGINT,
    -- The duplicate-guard slot while the action holds it, else NULL.
    slot                TEXT,
    -- 1 when the slot stays taken while the action runs (the apt kinds).
    slot_while_running  INTEGER NOT NULL DEFAULT 0 CHECK (slot_while_running IN (0, 1))
);

-- The one time the kinds are spelled out in SQL: to name the slots of the actions
-- already in flight.
INSERT INTO actions_new (id, server_id, action_type, unit, parameters, argv, status, timeout_s,
    created_at_ms, created_by, approved_at_ms, approved_by, rejected_at_ms, rejected_by,
    reject_reason, cancelled_at_ms, cancelled_by, started_at_ms, lease_expires_at_ms,
    finished_at_ms, exit_code, failure, stdout, stderr, lease_lost_at_ms, slot,
    slot_while_running)
SELECT id, server_id, action_type,
    -- Units used to be stored as typed; a bare name now means NAME.service, so a
    -- restart still waiting gets the full name (in its slot, its argv and its
    -- parameters), the one the engine and the agent now expect.
    CASE WHEN action_type = 'restart_service' AND status IN ('pending', 'approved')
              AND unit NOT LIKE '%.service'
         THEN unit || '.service' ELSE unit END,
    CASE WHEN action_type = 'restart_service' AND status IN ('pending', 'approved')
              AND unit NOT LIKE '%.service'
         THEN json_object('unit', unit || '.service') ELSE parameters END,
    CASE WHEN action_type = 'restart_service' AND status IN ('pending', 'approved')
              AND unit NOT LIKE '%.service'
         THEN json_array('systemctl', 'restart', unit || '.service') ELSE argv END,
    status, timeout_s,
    created_at_ms, created_by, approved_at_ms, approved_by, rejected_at_ms, rejected_by,
    reject_reason, cancelled_at_ms, cancelled_by, started_at_ms, lease_expires_at_ms,
    finished_at_ms, exit_code, failure, stdout, stderr, lease_lost_at_ms,
    CASE
        WHEN action_type IN ('apt_update', 'apt_upgrade_all', 'apt_upgrade_security')
             AND status IN ('pending', 'approved', 'executing') THEN 'apt'
        WHEN action_type = 'restart_service' AND status IN ('pending', 'approved')
             THEN 'unit:' || CASE WHEN unit LIKE '%.service' THEN unit
                                  ELSE unit || '.service' END
    END,
    CASE WHEN action_type IN ('apt_update', 'apt_upgrade_all', 'apt_upgrade_security')
         THEN 1 ELSE 0 END
FROM actions;

DROP TABLE actions;
ALTER TABLE actions_new RENAME TO actions;

-- At most one action per slot and server, enforced by the database so that
-- concurrent requests can never both succeed.
CREATE UNIQUE INDEX actions_one_per_slot ON actions (server_id, slot) WHERE slot IS NOT NULL;

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
