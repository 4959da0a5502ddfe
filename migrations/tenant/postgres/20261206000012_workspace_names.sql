-- A workspace's name, chosen by its customer (orders are named after their plan until then). Empty for
-- workspaces ordered before names existed: the pages show their plan and short id instead.
ALTER TABLE workspaces ADD COLUMN name TEXT NOT NULL DEFAULT '';
