-- The durable work queue: jobs, log-stream and event-stream deliveries, e-mail. Any instance
-- claims due items by leasing them (`locked_until`); a crashed instance's lease runs out and
-- the item is claimed again, so every item is handled at least once. Times are microseconds
-- since the epoch.
CREATE TABLE queue (
    tenant_id    TEXT NOT NULL,
    id           TEXT NOT NULL,
    kind         TEXT NOT NULL,
    target       TEXT NOT NULL DEFAULT '',
    payload      TEXT NOT NULL,
    run_at       BIGINT NOT NULL,
    locked_until BIGINT NOT NULL DEFAULT 0,
    attempts     BIGINT NOT NULL DEFAULT 0,
    last_error   TEXT,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX queue_due ON queue (kind, run_at);
CREATE INDEX queue_target ON queue (tenant_id, kind, target);

-- Tenant logs (`GET /logs`): the entry as Auth0 shows it in `body`, the searchable fields in
-- columns. `log_id` sorts by time.
CREATE TABLE logs (
    tenant_id   TEXT NOT NULL,
    log_id      TEXT NOT NULL,
    date        TEXT NOT NULL,
    type        TEXT NOT NULL,
    user_id     TEXT,
    client_id   TEXT,
    ip          TEXT,
    connection  TEXT,
    user_name   TEXT,
    client_name TEXT,
    description TEXT,
    user_agent  TEXT,
    strategy    TEXT,
    strategy_type TEXT,
    body        TEXT NOT NULL,
    PRIMARY KEY (tenant_id, log_id)
);
CREATE INDEX logs_user ON logs (tenant_id, user_id, log_id);
CREATE INDEX logs_type ON logs (tenant_id, type, log_id);
CREATE INDEX logs_client ON logs (tenant_id, client_id, log_id);
