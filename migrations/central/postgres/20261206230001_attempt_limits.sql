-- Attempt limits shared by every app server (issue 15, item 2): sign-in, sign-up, reset and invitation
-- attempts are counted here, so N servers enforce the same limit as one. One row per limited key (an
-- account key or a client address) and fixed window; one atomic upsert per attempt counts it and answers
-- with the count (backend::platform::limits).
--
-- key_hash: hex HMAC-SHA256 under a key derived from the data key (platform::crypto::keyed_hash). Emails
-- and addresses are never stored in clear; all servers share the data key, so they agree on the names.
-- window_start: when the key's current window began (ms since the Unix epoch); a later attempt more than a
-- window after it starts a new window at 1.
-- Rows whose window has ended are deleted by a periodic pass (the index finds them).
CREATE TABLE attempt_limits (
    key_hash      TEXT NOT NULL PRIMARY KEY,
    window_start  BIGINT NOT NULL,
    attempts      BIGINT NOT NULL
);
CREATE INDEX attempt_limits_window ON attempt_limits (window_start);
