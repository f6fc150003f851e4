-- What agents report: metrics on the server row, pending packages in their own table.
ALTER TABLE servers ADD COLUMN cpu_percent REAL;
ALTER TABLE servers ADD COLUMN memory_percent REAL;
ALTER TABLE servers ADD COLUMN disk_percent REAL;
ALTER TABLE servers ADD COLUMN load_1 REAL;
ALTER TABLE servers ADD COLUMN load_5 REAL;
ALTER TABLE servers ADD COLUMN load_15 REAL;
ALTER TABLE servers ADD COLUMN uptime_s BIGINT;
-- SHA-256 of the last package list stored: a heartbeat with the same list writes no
-- package rows.
ALTER TABLE servers ADD COLUMN packages_digest TEXT;
-- When the agent last sent a package list (the packages' "last seen").
ALTER TABLE servers ADD COLUMN packages_seen_at_ms BIGINT;

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

-- Tokens for the JSON API (`homelab-cmd api-token create NAME`); hashes only.
CREATE TABLE api_tokens (
    name          TEXT   NOT NULL PRIMARY KEY,
    token_hash    TEXT   NOT NULL UNIQUE,
    created_at_ms BIGINT NOT NULL
);

-- Dashboard accounts; argon2 password hashes in PHC string form.
CREATE TABLE users (
    name          TEXT   NOT NULL PRIMARY KEY,
    password_hash TEXT   NOT NULL,
    created_at_ms BIGINT NOT NULL
);
