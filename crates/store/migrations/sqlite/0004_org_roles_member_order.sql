-- Organization roles: a role owned by one organization (`type` "organization", `owner_id` the
-- organization); '' for the tenant's own roles.
ALTER TABLE roles ADD COLUMN owner_id TEXT NOT NULL DEFAULT '';
CREATE INDEX roles_owner ON roles (tenant_id, owner_id, name, id);

-- Members in the order Auth0 pages them: when they joined, then user id (the checkpoint cursor
-- carries both), one index range however deep the page.
CREATE INDEX organization_members_seq ON organization_members (tenant_id, organization_id, seq, user_id);
