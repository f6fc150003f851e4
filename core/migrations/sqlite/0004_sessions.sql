-- Dashboard sessions: the cookie holds a random token, the table its SHA-256.
CREATE TABLE sessions (
    token_hash    TEXT   NOT NULL PRIMARY KEY,
    user_name     TEXT   NOT NULL REFERENCES users (name) ON DELETE CASCADE,
    created_at_ms BIGINT NOT NULL,
    expires_at_ms BIGINT NOT NULL
);
CREATE INDEX sessions_by_expiry ON sessions (expires_at_ms);
