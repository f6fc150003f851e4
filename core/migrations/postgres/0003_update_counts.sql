-- Each server's update counts, stored with it when its package list changes, so
-- that the fleet reads one row per server instead of grouping every pending package
-- (issue 13: the fleet page at 1,000 servers). The rule is `homelab_protocol::UpdateCounts::of`.
ALTER TABLE servers ADD COLUMN updates_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE servers ADD COLUMN security_updates_count INTEGER NOT NULL DEFAULT 0;

UPDATE servers SET
    updates_count = (SELECT COUNT(*) FROM pending_packages p
                     WHERE p.server_id = servers.id AND p.held = 0 AND p.kept_back = 0),
    security_updates_count = (SELECT COUNT(*) FROM pending_packages p
                              WHERE p.server_id = servers.id AND p.held = 0 AND p.is_security = 1);
