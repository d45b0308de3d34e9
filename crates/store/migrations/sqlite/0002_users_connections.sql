-- Connections and users (issue 3). Every key starts with tenant_id.

-- ## Connections
CREATE TABLE connections (
    tenant_id   TEXT NOT NULL,
    id          TEXT NOT NULL,
    name        TEXT NOT NULL,
    strategy    TEXT NOT NULL,
    body        TEXT NOT NULL,
    seq         BIGINT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, name)
);
CREATE INDEX connections_seq ON connections (tenant_id, seq);
CREATE INDEX connections_strategy ON connections (tenant_id, strategy);
-- Lists are in case-insensitive name order, as Auth0 lists them.
CREATE INDEX connections_lname ON connections (tenant_id, LOWER(name), id);

-- Which clients a connection is enabled for (both directions are read).
CREATE TABLE connection_clients (
    tenant_id     TEXT NOT NULL,
    connection_id TEXT NOT NULL,
    client_id     TEXT NOT NULL,
    seq           BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, connection_id, client_id)
);
CREATE INDEX connection_clients_client ON connection_clients (tenant_id, client_id);

-- A connection's signing keys (okta / oidc Private Key JWT): `body` is the public view Auth0
-- shows; the private key (PKCS#8 DER, base64) never leaves the server. `state` is 'current',
-- 'next' or 'previous'; older keys are deleted on rotation.
CREATE TABLE connection_keys (
    tenant_id     TEXT NOT NULL,
    connection_id TEXT NOT NULL,
    kid           TEXT NOT NULL,
    state         TEXT NOT NULL,
    body          TEXT NOT NULL,
    private_der   TEXT NOT NULL,
    seq           BIGINT NOT NULL,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    PRIMARY KEY (tenant_id, connection_id, kid)
);

-- SCIM bearer tokens of a connection: only the SHA-256 of the secret is kept (hex).
CREATE TABLE scim_tokens (
    tenant_id     TEXT NOT NULL,
    connection_id TEXT NOT NULL,
    token_id      TEXT NOT NULL,
    token_hash    TEXT NOT NULL,
    body          TEXT NOT NULL,
    seq           BIGINT NOT NULL,
    created_at    TEXT NOT NULL,
    PRIMARY KEY (tenant_id, connection_id, token_id)
);
CREATE UNIQUE INDEX scim_tokens_hash ON scim_tokens (token_hash);

-- ## Users
-- One row per user (the primary identity's profile). `body` is the profile as the API shows
-- it without `identities`, `user_id`, the metadata and the timestamps, which have columns.
CREATE TABLE users (
    tenant_id      TEXT NOT NULL,
    user_id        TEXT NOT NULL,
    connection_id  TEXT NOT NULL,
    connection     TEXT NOT NULL,
    provider       TEXT NOT NULL,
    email          TEXT,
    email_verified INTEGER NOT NULL DEFAULT 0,
    username       TEXT,
    phone_number   TEXT,
    phone_verified INTEGER NOT NULL DEFAULT 0,
    name           TEXT,
    nickname       TEXT,
    given_name     TEXT,
    family_name    TEXT,
    blocked        INTEGER NOT NULL DEFAULT 0,
    logins_count   BIGINT NOT NULL DEFAULT 0,
    last_login     TEXT,
    last_ip        TEXT,
    app_metadata   TEXT,
    user_metadata  TEXT,
    body           TEXT NOT NULL,
    -- The top-level keys of the API object in the order Auth0 shows them (comma-separated);
    -- NULL: Auth0's order for a new user (alphabetical, app_metadata last).
    key_order      TEXT,
    seq            BIGINT NOT NULL,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
);
CREATE INDEX users_seq ON users (tenant_id, seq);
CREATE INDEX users_email ON users (tenant_id, email);
CREATE INDEX users_connection ON users (tenant_id, connection, seq);

-- Identities: every user has its primary identity here; linking moves the secondary user's
-- identity to the primary user (user_id). The key is the account inside its connection.
CREATE TABLE user_identities (
    tenant_id        TEXT NOT NULL,
    connection_id    TEXT NOT NULL,
    identity_user_id TEXT NOT NULL,
    user_id          TEXT NOT NULL,
    connection       TEXT NOT NULL,
    provider         TEXT NOT NULL,
    is_social        INTEGER NOT NULL DEFAULT 0,
    is_primary       INTEGER NOT NULL DEFAULT 0,
    password_hash    TEXT,
    profile_data     TEXT,
    -- Earlier password hashes, newest first (a JSON array), kept for password_history.
    password_history TEXT,
    seq              BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, connection_id, identity_user_id)
);
CREATE INDEX user_identities_user ON user_identities (tenant_id, user_id, seq);
CREATE INDEX user_identities_provider ON user_identities (tenant_id, provider, identity_user_id);

-- What must be unique inside a connection: kind is 'email', 'username' or 'phone_number'.
-- A unique violation here is Auth0's 409 "The user already exists.".
CREATE TABLE user_keys (
    tenant_id        TEXT NOT NULL,
    connection_id    TEXT NOT NULL,
    kind             TEXT NOT NULL,
    value            TEXT NOT NULL,
    identity_user_id TEXT NOT NULL,
    user_id          TEXT NOT NULL,
    PRIMARY KEY (tenant_id, connection_id, kind, value)
);
CREATE INDEX user_keys_user ON user_keys (tenant_id, user_id);

-- Searchable metadata, flattened: one row per leaf of app_metadata / user_metadata
-- (path like 'app_metadata.plan'; array elements share their array's path). Written with the
-- user, in the same transaction; what user search on metadata uses instead of scanning JSON.
CREATE TABLE user_attrs (
    tenant_id  TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    path       TEXT NOT NULL,
    value_text TEXT NOT NULL,
    value_num  REAL
);
-- Covering: a search probing one user's metadata reads the index alone. Unique: each (path,
-- value) once per user, so a lone metadata condition is counted without DISTINCT.
CREATE UNIQUE INDEX user_attrs_user ON user_attrs (tenant_id, user_id, path, value_text);
-- user_id too: a metadata search reads its users (and counts them) from the index alone.
CREATE INDEX user_attrs_text ON user_attrs (tenant_id, path, value_text, user_id);
CREATE INDEX user_attrs_num ON user_attrs (tenant_id, path, value_num);

-- ## Search indexes (user search)
-- What `user_search` compares, as it compares it (see crates/store/src/user_search/translate.rs):
-- exact and prefix (range) searches on these columns and expressions use these indexes; the
-- case-insensitive fields are indexed lower-cased (no extra column for the writer to fill).
-- `email` is stored lower-case and uses `users_email`; `user_id` the primary key.
CREATE INDEX users_search_name ON users (tenant_id, lower(name));
CREATE INDEX users_search_nickname ON users (tenant_id, lower(nickname));
CREATE INDEX users_search_given_name ON users (tenant_id, lower(given_name));
CREATE INDEX users_search_family_name ON users (tenant_id, lower(family_name));
CREATE INDEX users_search_email_domain ON users (tenant_id, substr(email, instr(email, '@') + 1));
CREATE INDEX users_search_username ON users (tenant_id, username);
CREATE INDEX users_search_phone_number ON users (tenant_id, phone_number);
CREATE INDEX users_search_last_ip ON users (tenant_id, last_ip);
CREATE INDEX users_search_logins_count ON users (tenant_id, logins_count);
CREATE INDEX users_search_created_at ON users (tenant_id, created_at);
CREATE INDEX users_search_updated_at ON users (tenant_id, updated_at);
CREATE INDEX users_search_last_login ON users (tenant_id, last_login);
CREATE INDEX user_identities_search_connection ON user_identities (tenant_id, connection, user_id);
CREATE INDEX user_identities_search_provider ON user_identities (tenant_id, provider, user_id);
CREATE INDEX user_identities_search_user_id ON user_identities (tenant_id, identity_user_id);
