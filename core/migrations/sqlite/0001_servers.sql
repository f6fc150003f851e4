-- The managed machines. Timestamps are Unix milliseconds (BIGINT) so that the same
-- queries run on SQLite and PostgreSQL. Flags are 0/1 INTEGERs: sqlx's Any driver
-- cannot decode SQLite's BOOLEAN (db::flag reads both forms).
CREATE TABLE servers (
    id                 TEXT    NOT NULL PRIMARY KEY,
    name               TEXT    NOT NULL,
    agent_token_hash   TEXT    NOT NULL UNIQUE,
    hostname           TEXT,
    os                 TEXT,
    agent_version      TEXT,
    last_seen_ms       BIGINT,
    reboot_required    INTEGER NOT NULL DEFAULT 0 CHECK (reboot_required IN (0, 1)),
    paused             INTEGER NOT NULL DEFAULT 0 CHECK (paused IN (0, 1)),
    paused_at_ms       BIGINT,
    created_at_ms      BIGINT  NOT NULL
);
