-- The packages that asked for the pending reboot (/run/reboot-required.pkgs), as a
-- JSON array of names.
ALTER TABLE servers ADD COLUMN reboot_required_pkgs TEXT NOT NULL DEFAULT '[]';
