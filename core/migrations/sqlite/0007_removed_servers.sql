-- A removed server keeps its row, so that its actions (ON DELETE CASCADE) and their
-- history stay readable; its token hash is replaced, so its agent is refused at once.
-- Adding a server with the same id later brings the row back.
ALTER TABLE servers ADD COLUMN removed_at_ms BIGINT;
ALTER TABLE servers ADD COLUMN removed_by TEXT;
