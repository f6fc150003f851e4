-- Reboots that come back (issue 15, part 1). A reboot is over when the machine's
-- agent reports a boot id other than the one it had when the reboot was claimed.

-- The kernel's id of the boot the agent last reported from (NULL: an agent too old
-- to say, which cannot be rebooted: its return could not be told).
ALTER TABLE servers ADD COLUMN boot_id TEXT;
-- For a reboot: the boot it leaves, taken from the server's row when it is claimed.
ALTER TABLE actions ADD COLUMN boot_id_before TEXT;
-- When the server recorded the end of an action, by its own clock (the agent's
-- `finished_at_ms` is by the machine's): a fleet run reads the machine's
-- reboot-required flag from a heartbeat received after this.
ALTER TABLE actions ADD COLUMN reported_at_ms BIGINT;
-- "Reboot if required": after each server's upgrade, a reboot when it reports that
-- it needs one; the item follows that reboot until it ends.
ALTER TABLE runs ADD COLUMN reboot_if_required INTEGER NOT NULL DEFAULT 0
    CHECK (reboot_if_required IN (0, 1));
ALTER TABLE run_items ADD COLUMN reboot_action_id BIGINT REFERENCES actions (id);
CREATE INDEX run_items_by_reboot ON run_items (reboot_action_id);
