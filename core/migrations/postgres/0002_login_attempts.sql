-- The login throttle's memory (see core/src/service/accounts.rs), in the database so
-- that every replica of a PostgreSQL installation throttles the same guesses: per
-- user name, the attempts not yet followed by a success, when the next may start,
-- and when the last did. Bounded by the service: forgotten after 15 minutes, at most
-- 4,096 names.
CREATE TABLE login_attempts (
    name          TEXT   NOT NULL PRIMARY KEY,
    attempts      BIGINT NOT NULL,
    next_start_ms BIGINT NOT NULL,
    last_ms       BIGINT NOT NULL
);
CREATE INDEX login_attempts_by_last ON login_attempts (last_ms);
