-- End-user login (the Authentication API and the hosted pages): login sessions, authorization
-- codes, refresh tokens, consent grants, device credentials and failed-login counters. Every
-- key starts with tenant_id. Secrets (session cookies, codes, refresh tokens) are kept only as
-- their SHA-256 (hex); times that expire are unix seconds (BIGINT), times shown are RFC 3339.

-- A login session (Auth0's `sessions`): created when a user authenticates on the hosted page,
-- named by the cookie (whose secret's hash is `cookie_hash`). `body` holds what the API shows
-- beyond the columns: device, clients, authentication methods, session_metadata.
CREATE TABLE sessions (
    tenant_id          TEXT NOT NULL,
    id                 TEXT NOT NULL,
    user_id            TEXT NOT NULL,
    cookie_hash        TEXT NOT NULL,
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL,
    authenticated_at   TEXT NOT NULL,
    last_interacted_at TEXT NOT NULL,
    expires_at         BIGINT NOT NULL,
    idle_expires_at    BIGINT NOT NULL,
    body               JSON NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX sessions_user ON sessions (tenant_id, user_id, created_at);
CREATE UNIQUE INDEX sessions_cookie ON sessions (tenant_id, cookie_hash);

-- An authorization code: single use (`used_at`), short-lived. `body` is everything the token
-- endpoint needs to redeem it (client, redirect_uri, user, scope, audience, nonce, PKCE
-- challenge, session, auth_time, organization) and, once redeemed, what it issued (so that a
-- replay can revoke it).
CREATE TABLE auth_codes (
    tenant_id  TEXT NOT NULL,
    code_hash  TEXT NOT NULL,
    client_id  TEXT NOT NULL,
    body       JSON NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT,
    PRIMARY KEY (tenant_id, code_hash)
);

-- A refresh token. Rotation replaces a token by a new one of the same `family_id`;
-- `rotated_at` marks the replaced one (usable again only within the client's leeway; a later
-- use revokes the family). `body`: device, resource_servers, refresh_token_metadata and what a
-- refresh needs to mint the same claims again (organization, auth_time, amr).
CREATE TABLE refresh_tokens (
    tenant_id         TEXT NOT NULL,
    id                TEXT NOT NULL,
    token_hash        TEXT NOT NULL,
    family_id         TEXT NOT NULL,
    user_id           TEXT NOT NULL,
    client_id         TEXT NOT NULL,
    session_id        TEXT,
    rotating          BOOLEAN NOT NULL DEFAULT FALSE,
    audience          TEXT,
    scope             TEXT NOT NULL,
    created_at        TEXT NOT NULL,
    last_exchanged_at TEXT,
    expires_at        BIGINT,
    idle_expires_at   BIGINT,
    rotated_at        BIGINT,
    body              JSON NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX refresh_tokens_hash ON refresh_tokens (tenant_id, token_hash);
CREATE INDEX refresh_tokens_user ON refresh_tokens (tenant_id, user_id, created_at);
CREATE INDEX refresh_tokens_session ON refresh_tokens (tenant_id, session_id);
CREATE INDEX refresh_tokens_family ON refresh_tokens (tenant_id, family_id);

-- A user's consent to a client for an API (Auth0's `grants`): `scope` is a JSON array.
CREATE TABLE grants (
    tenant_id  TEXT NOT NULL,
    id         TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    client_id  TEXT NOT NULL,
    audience   TEXT NOT NULL,
    scope      JSON NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX grants_key ON grants (tenant_id, user_id, client_id, audience);
CREATE INDEX grants_client ON grants (tenant_id, client_id);

-- Device credentials (`device-credentials`): public keys registered by devices. `value` is the
-- public key (never shown back).
CREATE TABLE device_credentials (
    tenant_id   TEXT NOT NULL,
    id          TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    client_id   TEXT NOT NULL,
    type        TEXT NOT NULL,
    device_name TEXT NOT NULL,
    device_id   TEXT NOT NULL,
    value       TEXT,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX device_credentials_user ON device_credentials (tenant_id, user_id);
CREATE INDEX device_credentials_client ON device_credentials (tenant_id, client_id);

-- Brute-force protection: failed logins of one user from one IP since the last success or
-- unblock; `blocked_at` is set when the tenant's threshold is reached.
CREATE TABLE login_failures (
    tenant_id  TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    ip         TEXT NOT NULL,
    failures   BIGINT NOT NULL,
    last_at    TEXT NOT NULL,
    blocked_at TEXT,
    PRIMARY KEY (tenant_id, user_id, ip)
);
