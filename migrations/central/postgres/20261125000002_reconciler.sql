-- When the reconciler last completed a pass against each Kasm server. A session found gone is billed
-- until the last pass that still saw it running (at most one interval late, never later).
CREATE TABLE reconciler_passes (
    kasm_server  TEXT PRIMARY KEY,
    last_ok_at   BIGINT NOT NULL
);
