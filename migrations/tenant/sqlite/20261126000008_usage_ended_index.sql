-- The billing run finds the customers with usage in a period from the sessions that ended after it began
-- (plus the open ones): an index on the end time keeps that to recent rows instead of all history.
CREATE INDEX usage_sessions_ended ON usage_sessions (ended_at);
