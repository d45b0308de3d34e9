-- Jobs (users imports and exports, verification e-mails), their per-user errors, the files they
-- read and write, and tickets (e-mail verification, password change). Every key starts with
-- tenant_id.

-- A job as GET /jobs/{id} shows it: `body` holds what the request set (connection, format,
-- fields, limit, external_id, upsert, …); the progress columns are written by the worker.
CREATE TABLE jobs (
    tenant_id         TEXT NOT NULL,
    id                TEXT NOT NULL,
    type              TEXT NOT NULL,
    status            TEXT NOT NULL,
    body              JSON NOT NULL,
    summary           JSON,
    percentage_done   BIGINT NOT NULL DEFAULT 0,
    time_left_seconds BIGINT,
    status_details    TEXT,
    -- An export's download token: its SHA-256 (hex); the file expires at `expires_at`.
    location_hash     TEXT,
    expires_at        BIGINT,
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX jobs_location ON jobs (location_hash);

-- One row per user an import could not take: `body` is {user, errors}.
CREATE TABLE job_errors (
    tenant_id TEXT NOT NULL,
    job_id    TEXT NOT NULL,
    n         BIGINT NOT NULL,
    body      JSON NOT NULL,
    PRIMARY KEY (tenant_id, job_id, n)
);

-- A job's files in chunks: 'input' (an import's upload, deleted when the job ends) and
-- 'output' (an export's file, base64 of its bytes).
CREATE TABLE job_files (
    tenant_id TEXT NOT NULL,
    job_id    TEXT NOT NULL,
    kind      TEXT NOT NULL,
    n         BIGINT NOT NULL,
    data      TEXT NOT NULL,
    PRIMARY KEY (tenant_id, job_id, kind, n)
);

-- Tickets: only the SHA-256 (hex) of the secret is kept; single-use (`used_at`), expiring.
CREATE TABLE tickets (
    tenant_id  TEXT NOT NULL,
    token_hash TEXT NOT NULL,
    kind       TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    body       JSON NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    TEXT,
    created_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, token_hash)
);
CREATE INDEX tickets_user ON tickets (tenant_id, user_id);
