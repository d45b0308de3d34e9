-- Every key starts with tenant_id.
CREATE TABLE tenants (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    created_at  TEXT NOT NULL
);

CREATE TABLE signing_keys (
    tenant_id   TEXT NOT NULL,
    kid         TEXT NOT NULL,
    private_der TEXT NOT NULL,
    cert_pem    TEXT,
    current     BOOLEAN NOT NULL DEFAULT FALSE,
    revoked     BOOLEAN NOT NULL DEFAULT FALSE,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (tenant_id, kid)
);

CREATE TABLE clients (
    tenant_id      TEXT NOT NULL,
    client_id      TEXT NOT NULL,
    name           TEXT NOT NULL,
    app_type       TEXT,
    is_global      BOOLEAN NOT NULL DEFAULT FALSE,
    is_first_party BOOLEAN NOT NULL DEFAULT TRUE,
    client_secret  TEXT,
    body           JSON NOT NULL,
    seq            BIGINT NOT NULL,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    PRIMARY KEY (tenant_id, client_id)
);
CREATE INDEX clients_seq ON clients (tenant_id, seq);

CREATE TABLE client_credentials (
    tenant_id   TEXT NOT NULL,
    client_id   TEXT NOT NULL,
    id          TEXT NOT NULL,
    body        JSON NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (tenant_id, client_id, id)
);

CREATE TABLE resource_servers (
    tenant_id   TEXT NOT NULL,
    id          TEXT NOT NULL,
    identifier  TEXT NOT NULL,
    is_system   BOOLEAN NOT NULL DEFAULT FALSE,
    token_lifetime BIGINT,
    body        JSON NOT NULL,
    seq         BIGINT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, identifier)
);

CREATE TABLE client_grants (
    tenant_id   TEXT NOT NULL,
    id          TEXT NOT NULL,
    client_id   TEXT NOT NULL,
    audience    TEXT NOT NULL,
    subject_type TEXT NOT NULL DEFAULT 'client',
    default_for TEXT,
    allow_any_organization BOOLEAN NOT NULL DEFAULT FALSE,
    body        JSON NOT NULL,
    seq         BIGINT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, client_id, audience)
);
CREATE INDEX client_grants_audience ON client_grants (tenant_id, audience);

-- Generic documents for the many simple configuration resources.
CREATE TABLE docs (
    tenant_id   TEXT NOT NULL,
    kind        TEXT NOT NULL,
    id          TEXT NOT NULL,
    body        JSON NOT NULL,
    seq         BIGINT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (tenant_id, kind, id)
);
