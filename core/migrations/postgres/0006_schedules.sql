-- Schedules (issue 14): a cron line in a time zone that starts a fleet run at each
-- firing. next_fire_at_ms is the watermark: the firing the schedule waits for. A
-- replica that handles a firing starts its run (the unique index on runs
-- (schedule_id, fire_at_ms) lets one run start per firing) and then moves the
-- watermark only if it still holds the value it read, so replicas and restarts
-- never fire twice and never move it back. Runs keep their schedule_id after the
-- schedule is deleted (history), so there is no foreign key from runs.
CREATE TABLE schedules (
    id                 BIGSERIAL PRIMARY KEY,
    name               TEXT    NOT NULL UNIQUE,
    cron               TEXT    NOT NULL,
    timezone           TEXT    NOT NULL,
    action_type        TEXT    NOT NULL,
    parameters         TEXT,
    tag                TEXT,
    servers            TEXT,
    batch_size         INTEGER NOT NULL CHECK (batch_size >= 1),
    max_failures       INTEGER NOT NULL CHECK (max_failures >= 0),
    reboot_if_required INTEGER NOT NULL DEFAULT 0 CHECK (reboot_if_required IN (0, 1)),
    next_fire_at_ms    BIGINT,
    last_fired_at_ms   BIGINT,
    last_skipped       TEXT,
    created_at_ms      BIGINT  NOT NULL,
    created_by         TEXT    NOT NULL,
    updated_at_ms      BIGINT  NOT NULL,
    updated_by         TEXT    NOT NULL,
    CHECK ((tag IS NULL) <> (servers IS NULL))
);
CREATE INDEX schedules_by_next_firing ON schedules (next_fire_at_ms);
