-- Periodic loops shared by every app server (the reconciler, the meter, the billing scheduler, the domain
-- checks): one row per loop. A server runs a pass only when it claims the row, which it can do once the
-- next pass is due and no other server holds a pass's lease; the claim moves next_due one interval on, so
-- the cluster runs each loop once per interval. The holder renews its lease while its pass runs; a server
-- that dies mid-pass stops renewing, and another claims the loop once the lease has lapsed.
--
-- token: the running pass's claim (NULL between passes); renewals and the finish name it, so a pass that
-- lost its lease cannot touch the next one's row.
-- All times are ms since the Unix epoch on the servers' clock.
CREATE TABLE loop_leases (
    name              TEXT NOT NULL PRIMARY KEY,
    next_due          BIGINT NOT NULL,
    token             TEXT,
    holder            TEXT,
    lease_until       BIGINT,
    passes            BIGINT NOT NULL DEFAULT 0,
    last_server       TEXT,
    last_started_at   BIGINT,
    last_finished_at  BIGINT
);

-- Replaced by loop_leases (its rows named the billing and domain-check loops' sticky owner).
DROP TABLE scheduler_leases;
