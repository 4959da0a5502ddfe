-- Kasm's connect link carries a session token; it is no longer stored. Launching asks Kasm for a fresh
-- login link each time (get_login).
ALTER TABLE workspaces DROP COLUMN kasm_url;
