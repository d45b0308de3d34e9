-- Event streams (the streams themselves are documents of kind `event_stream`): the events the
-- tenant's writes emitted, each stream's delivery of each event, and the attempts of each
-- delivery. `seq` (microseconds since the epoch) orders events and deliveries.
CREATE TABLE events (
    tenant_id  TEXT NOT NULL,
    id         TEXT NOT NULL,
    seq        BIGINT NOT NULL,
    type       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    body       JSON NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX events_seq ON events (tenant_id, seq);

-- status: pending (not tried yet, or being retried after no failure was recorded), delivered,
-- failed (its last attempt failed; retried while attempts remain, listed by the deliveries).
CREATE TABLE event_deliveries (
    tenant_id  TEXT NOT NULL,
    stream_id  TEXT NOT NULL,
    event_id   TEXT NOT NULL,
    seq        BIGINT NOT NULL,
    event_type TEXT NOT NULL,
    created_at TEXT NOT NULL,
    status     TEXT NOT NULL,
    PRIMARY KEY (tenant_id, stream_id, event_id)
);
CREATE INDEX event_deliveries_status ON event_deliveries (tenant_id, stream_id, status, seq);

CREATE TABLE event_delivery_attempts (
    tenant_id     TEXT NOT NULL,
    stream_id     TEXT NOT NULL,
    event_id      TEXT NOT NULL,
    seq           BIGINT NOT NULL,
    status        TEXT NOT NULL,
    at            TEXT NOT NULL,
    error_message TEXT,
    PRIMARY KEY (tenant_id, stream_id, event_id, seq)
);

-- Consecutive failed deliveries of a stream (a success sets it back to 0): Auth0 disables a
-- stream after 500 of them.
CREATE TABLE event_stream_health (
    tenant_id            TEXT NOT NULL,
    stream_id            TEXT NOT NULL,
    consecutive_failures BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, stream_id)
);
