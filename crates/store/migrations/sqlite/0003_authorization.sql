-- Authorization (issue 8): roles and permissions, organizations. Every key starts with tenant_id.
-- Permissions are kept by the API's identifier and the scope's value, as Auth0 names them.

-- ## Roles
CREATE TABLE roles (
    tenant_id   TEXT NOT NULL,
    id          TEXT NOT NULL,
    name        TEXT NOT NULL,
    body        TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX roles_seq ON roles (tenant_id, seq);
-- A role's name is unique in its tenant (a duplicate is Auth0's 409).
CREATE UNIQUE INDEX roles_name ON roles (tenant_id, name);

CREATE TABLE role_permissions (
    tenant_id                  TEXT NOT NULL,
    role_id                    TEXT NOT NULL,
    resource_server_identifier TEXT NOT NULL,
    permission_name            TEXT NOT NULL,
    seq                        INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, role_id, resource_server_identifier, permission_name)
);
CREATE INDEX role_permissions_api ON role_permissions (tenant_id, resource_server_identifier, permission_name);

-- A user's roles: `organization_id` is '' for the tenant's roles, an organization's id for the
-- roles a member has in that organization.
CREATE TABLE user_roles (
    tenant_id       TEXT NOT NULL,
    user_id         TEXT NOT NULL,
    organization_id TEXT NOT NULL DEFAULT '',
    role_id         TEXT NOT NULL,
    seq             INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, user_id, organization_id, role_id)
);
CREATE INDEX user_roles_role ON user_roles (tenant_id, role_id, organization_id, user_id);

-- Permissions given to a user directly (not through a role).
CREATE TABLE user_permissions (
    tenant_id                  TEXT NOT NULL,
    user_id                    TEXT NOT NULL,
    resource_server_identifier TEXT NOT NULL,
    permission_name            TEXT NOT NULL,
    seq                        INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, user_id, resource_server_identifier, permission_name)
);
CREATE INDEX user_permissions_api ON user_permissions (tenant_id, resource_server_identifier, permission_name);

-- ## Organizations
CREATE TABLE organizations (
    tenant_id    TEXT NOT NULL,
    id           TEXT NOT NULL,
    name         TEXT NOT NULL,
    -- Copied from the body: what `sort=display_name:1` orders by.
    display_name TEXT,
    body        TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, name)
);
CREATE INDEX organizations_seq ON organizations (tenant_id, seq, id);

CREATE TABLE organization_members (
    tenant_id       TEXT NOT NULL,
    organization_id TEXT NOT NULL,
    user_id         TEXT NOT NULL,
    seq             INTEGER NOT NULL,
    created_at      TEXT NOT NULL,
    PRIMARY KEY (tenant_id, organization_id, user_id)
);
CREATE INDEX organization_members_user ON organization_members (tenant_id, user_id, organization_id);

-- Connections enabled for an organization; `body` holds their settings
-- (assign_membership_on_login, show_as_button, is_signup_enabled, …).
CREATE TABLE organization_connections (
    tenant_id       TEXT NOT NULL,
    organization_id TEXT NOT NULL,
    connection_id   TEXT NOT NULL,
    body            TEXT NOT NULL,
    -- false: associated but not enabled (`is_enabled` of /organizations/{id}/connections).
    is_enabled      INTEGER NOT NULL DEFAULT 1,
    seq             INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, organization_id, connection_id)
);
CREATE INDEX organization_connections_connection ON organization_connections (tenant_id, connection_id);

-- Client grants associated with an organization.
CREATE TABLE organization_client_grants (
    tenant_id       TEXT NOT NULL,
    organization_id TEXT NOT NULL,
    grant_id        TEXT NOT NULL,
    seq             INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, organization_id, grant_id)
);
CREATE INDEX organization_client_grants_grant ON organization_client_grants (tenant_id, grant_id, organization_id);

-- Invitations: only the SHA-256 (hex) of the ticket's random token is kept.
CREATE TABLE organization_invitations (
    tenant_id       TEXT NOT NULL,
    organization_id TEXT NOT NULL,
    id              TEXT NOT NULL,
    ticket_hash     TEXT NOT NULL,
    body            TEXT NOT NULL,
    expires_at      TEXT NOT NULL,
    seq             INTEGER NOT NULL,
    created_at      TEXT NOT NULL,
    PRIMARY KEY (tenant_id, organization_id, id)
);
CREATE UNIQUE INDEX organization_invitations_ticket ON organization_invitations (ticket_hash);
CREATE INDEX organization_invitations_seq ON organization_invitations (tenant_id, organization_id, seq);

CREATE TABLE organization_discovery_domains (
    tenant_id       TEXT NOT NULL,
    organization_id TEXT NOT NULL,
    id              TEXT NOT NULL,
    domain          TEXT NOT NULL,
    body            TEXT NOT NULL,
    seq             INTEGER NOT NULL,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    PRIMARY KEY (tenant_id, organization_id, id),
    UNIQUE (tenant_id, organization_id, domain)
);

-- ## Groups (a connection's directory groups; `directory_` because GROUPS is an SQL keyword)
CREATE TABLE directory_groups (
    tenant_id     TEXT NOT NULL,
    id            TEXT NOT NULL,
    connection_id TEXT NOT NULL,
    name          TEXT NOT NULL,
    external_id   TEXT,
    body          TEXT NOT NULL,
    seq           INTEGER NOT NULL,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
-- A group's name is unique in its connection (SCIM's displayName uniqueness).
CREATE UNIQUE INDEX directory_groups_connection ON directory_groups (tenant_id, connection_id, name);
CREATE INDEX directory_groups_seq ON directory_groups (tenant_id, seq);
CREATE INDEX directory_groups_external ON directory_groups (tenant_id, external_id);

-- Members of a group: users (`member_type` 'user') or other groups ('group').
CREATE TABLE directory_group_members (
    tenant_id   TEXT NOT NULL,
    group_id    TEXT NOT NULL,
    member_id   TEXT NOT NULL,
    member_type TEXT NOT NULL DEFAULT 'user',
    seq         INTEGER NOT NULL,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (tenant_id, group_id, member_id)
);
CREATE INDEX directory_group_members_member ON directory_group_members (tenant_id, member_id, group_id);
CREATE INDEX directory_group_members_seq ON directory_group_members (tenant_id, group_id, seq);

-- ## Tokens: what the token endpoint reads of an API as typed columns (RBAC), so that issuing a
-- token never parses an API's body. Existing rows are filled from their bodies.
ALTER TABLE resource_servers ADD COLUMN enforce_policies INTEGER NOT NULL DEFAULT 0;
ALTER TABLE resource_servers ADD COLUMN token_dialect TEXT;
UPDATE resource_servers SET
    enforce_policies = CASE WHEN json_type(body, '$.enforce_policies') = 'true' THEN 1 ELSE 0 END,
    token_dialect = CASE WHEN json_type(body, '$.token_dialect') = 'text'
                         THEN json_extract(body, '$.token_dialect') END;
