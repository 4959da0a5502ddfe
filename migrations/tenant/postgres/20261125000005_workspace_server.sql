-- The Kasm server a workspace runs on, chosen when it was ordered (plan pin, tenant pin, or the default).
ALTER TABLE workspaces ADD COLUMN kasm_server TEXT NOT NULL DEFAULT 'default';
CREATE INDEX workspaces_server ON workspaces (kasm_server) WHERE kasm_id IS NOT NULL;
