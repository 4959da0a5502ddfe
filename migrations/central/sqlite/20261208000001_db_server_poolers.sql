-- A PgBouncer in transaction pooling mode in front of a database server (optional): the app servers send
-- their queries to a tenant's database through it, and use the server's own url only for what needs a
-- session (migrations, CREATE/DROP DATABASE, moves). Same rules as url: no password in it.
ALTER TABLE db_servers ADD COLUMN pooler_url TEXT;
