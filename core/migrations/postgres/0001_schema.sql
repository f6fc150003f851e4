-- The whole schema for PostgreSQL, as the SQLite migrations 0001-0009 leave it: the
-- PostgreSQL backend starts here, so it carries no history. The queries are shared,
-- so the types are the ones they bind and read: timestamps are Unix milliseconds
-- (BIGINT), flags 0/1 INTEGERs, JSON as TEXT. Any later change gets a migration in
-- both directories, and the conformance suite (core/tests/db) runs on both.

CREATE TABLE servers (
    id                   TEXT    NOT NULL PRIMARY KEY,
    name                 TEXT    NOT NULL,
    agent_token_hash     TEXT    NOT NULL UNIQUE,
    hostname             TEXT,
    os                   TEXT,
    agent_version        TEXT,
    last_seen_ms         BIGINT,
    reboot_required      INTEGER NOT NULL DEFAULT 0 CHECK (reboot_required IN (0, 1)),
    paused               INTEGER NOT NULL DEFAULT 0 CHECK (paused IN (0, 1)),
    paused_at_ms         BIGINT,
    created_at_ms        BIGINT  NOT NULL,
    cpu_percent          DOUBLE PRECISION,
    memory_percent       DOUBLE PRECISION,
    disk_percent         DOUBLE PRECISION,
    load_1               DOUBLE PRECISION,
    load_5               DOUBLE PRECISION,
    load_15              DOUBLE PRECISION,
    uptime_s             BIGINT,
    packages_digest      TEXT,
    packages_seen_at_ms  BIGINT,
    approval_policy      TEXT    NOT NULL DEFAULT 'auto'
        CHECK (approval_policy IN ('auto', 'always_ask')),
    reboot_required_pkgs TEXT    NOT NULL DEFAULT '[]',
    removed_at_ms        BIGINT,
    removed_by           TEXT
);

CREATE TABLE pending_packages (
    server_id        TEXT    NOT NULL REFERENCES servers (id) ON DELETE CASCADE,
    name             TEXT    NOT NULL,
    current_version  TEXT    NOT NULL,
    new_version      TEXT    NOT NULL,
    repository       TEXT    NOT NULL,
    is_security      INTEGER NOT NULL CHECK (is_security IN (0, 1)),
    security_version TEXT,
    held             INTEGER NOT NULL CHECK (held IN (0, 1)),
    kept_back        INTEGER NOT NULL CHECK (kept_back IN (0, 1)),
    first_seen_ms    BIGINT  NOT NULL,
    PRIMARY KEY (server_id, name)
);

CREATE TABLE api_tokens (
    name          TEXT   NOT NULL PRIMARY KEY,
    token_hash    TEXT   NOT NULL UNIQUE,
    created_at_ms BIGINT NOT NULL
);

CREATE TABLE users (
    name          TEXT   NOT NULL PRIMARY KEY,
    password_hash TEXT   NOT NULL,
    created_at_ms BIGINT NOT NULL
);

CREATE TABLE sessions (
    token_hash    TEXT   NOT NULL PRIMARY KEY,
    user_name     TEXT   NOT NULL REFERENCES users (name) ON DELETE CASCADE,
    created_at_ms BIGINT NOT NULL,
    expires_at_ms BIGINT NOT NULL
);
CREATE INDEX sessions_by_expiry ON sessions (expires_at_ms);

CREATE TABLE actions (
    id                  BIGSERIAL PRIMARY KEY,
    server_id           TEXT    NOT NULL REFERENCES servers (id) ON DELETE CASCADE,
    action_type         TEXT    NOT NULL,
    unit                TEXT,
    parameters          TEXT,
    argv                TEXT    NOT NULL,
    status              TEXT    NOT NULL CHECK (status IN
        ('pending', 'approved', 'executing', 'completed', 'failed', 'rejected', 'cancelled')),
    timeout_s           BIGINT  NOT NULL,
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
    exit_code           BIGINT,
    failure             TEXT CHECK (failure IN
        ('exit_code', 'timed_out', 'not_whitelisted', 'interrupted', 'spawn_error', 'agent_lost')),
    stdout              TEXT    NOT NULL DEFAULT '',
    stderr              TEXT    NOT NULL DEFAULT '',
    lease_lost_at_ms    BIGINT,
    slot                TEXT,
    slot_while_running  INTEGER NOT NULL DEFAULT 0 CHECK (slot_while_running IN (0, 1)),
    request_id          TEXT
);

-- The duplicate guard: at most one action per slot and server, enforced by the
-- database, so concurrent requests on any number of replicas can never both succeed.
CREATE UNIQUE INDEX actions_one_per_slot ON actions (server_id, slot) WHERE slot IS NOT NULL;
CREATE UNIQUE INDEX actions_one_per_request ON actions (created_by, request_id)
    WHERE request_id IS NOT NULL;

CREATE INDEX actions_by_server ON actions (server_id, id);
CREATE INDEX actions_by_status ON actions (status, id);
CREATE INDEX actions_by_type ON actions (action_type, id);
CREATE INDEX actions_queue ON actions (server_id, status, id);
CREATE INDEX actions_leases ON actions (status, lease_expires_at_ms);
CREATE INDEX actions_by_server_type ON actions (server_id, action_type, id);
CREATE INDEX actions_by_status_type ON actions (status, action_type, id);
