-- Webhooks (issue 15): notifications to the admin's own services. Numbered 0008:
-- 0007 belongs to the reboot action, built beside this; sqlx applies a gap in any
-- order.
--
-- webhook_deliveries is a durable outbox: the change that causes a notification
-- inserts its rows in the same transaction (so a notification is never lost, nor
-- sent for a change that rolled back), and a delivery job on every replica sends
-- them. Only the oldest unfinished delivery of a webhook may be claimed, under a
-- lease (lease_until_ms), so one webhook has at most one request in flight across
-- replicas, and a lease that runs out (a replica died mid-send) is claimed again.
CREATE TABLE webhooks (
    id            BIGSERIAL PRIMARY KEY,
    name          TEXT    NOT NULL UNIQUE,
    url           TEXT    NOT NULL,
    format        TEXT    NOT NULL CHECK (format IN ('json', 'ntfy', 'gotify', 'chat')),
    -- A JSON array of event names.
    events        TEXT    NOT NULL,
    -- The key of the json format's signature: it must be kept to sign with.
    secret        TEXT,
    created_at_ms BIGINT  NOT NULL,
    created_by    TEXT    NOT NULL,
    CHECK (format <> 'json' OR secret IS NOT NULL)
);

CREATE TABLE webhook_deliveries (
    id                 BIGSERIAL PRIMARY KEY,
    webhook_id         BIGINT  NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event              TEXT    NOT NULL,
    -- The notification (protocol::Notification) as JSON; each format is made
    -- from it when sent.
    payload            TEXT    NOT NULL,
    status             TEXT    NOT NULL
        CHECK (status IN ('pending', 'in_flight', 'delivered', 'failed')),
    attempts           BIGINT  NOT NULL DEFAULT 0,
    next_attempt_at_ms BIGINT  NOT NULL,
    lease_until_ms     BIGINT,
    last_status        BIGINT,
    last_error         TEXT,
    created_at_ms      BIGINT  NOT NULL,
    finished_at_ms     BIGINT
);
CREATE INDEX webhook_deliveries_by_webhook ON webhook_deliveries (webhook_id, id);
CREATE INDEX webhook_deliveries_unfinished ON webhook_deliveries (status, next_attempt_at_ms)
    WHERE status IN ('pending', 'in_flight');

-- What was last notified of each server's presence ('online' or 'offline'), so that
-- each transition is notified once whichever replica sees it first: flipped by a
-- conditional update.
ALTER TABLE servers ADD COLUMN presence_notified TEXT
    CHECK (presence_notified IN ('online', 'offline'));
