"""The official auth0-python SDK against a running Gatehouse over HTTPS.

Usage: SSL_CERT_FILE=<gatehouse cert.pem> python3 auth0_python_smoke.py DOMAIN CLIENT_ID CLIENT_SECRET
Exits non-zero on the first reply that differs from what Auth0 would give.
"""
import sys
import uuid

from auth0.authentication import GetToken
from auth0.management import ManagementClient, PermissionRequestPayload, ResourceServerScope


def organizations(mgmt: ManagementClient, suffix: str) -> None:
    """Organization create, members paged with `take` to the end, member roles, an enabled
    connection and an invitation."""
    org = mgmt.organizations.create(name=f"sdk-org-{suffix}", display_name=f"SDK Org {suffix}")
    assert org.id.startswith("org_") and len(org.id) == 20 and org.name == f"sdk-org-{suffix}", org
    assert mgmt.organizations.get_by_name(f"sdk-org-{suffix}").id == org.id

    conn = mgmt.connections.create(name=f"sdk-org-db-{suffix}", strategy="auth0")
    users = [
        mgmt.users.create(
            connection=f"sdk-org-db-{suffix}",
            email=f"member{i}.{suffix}@example.com",
            password=f"Correct-Horse-{suffix}-{i}",
        ).user_id
        for i in range(5)
    ]
    mgmt.organizations.members.create(org.id, members=users)
    seen, cursor, pages = [], None, 0
    while True:
        page = mgmt.organizations.members.list(org.id, take=2, from_=cursor)
        pages += 1
        seen += [m.user_id for m in page.items or []]
        if not page.response.next:
            break
        cursor = page.response.next
    assert sorted(seen) == sorted(users) and len(seen) == 5 and pages >= 3, (seen, pages)
    # The SDK's own pager follows `next` the same way.
    assert sorted(m.user_id for m in mgmt.organizations.members.list(org.id, take=2)) == sorted(users)

    role = mgmt.roles.create(name=f"sdk-org-role-{suffix}", description="member role")
    mgmt.organizations.members.roles.assign(org.id, users[0], roles=[role.id])
    roles = list(mgmt.organizations.members.roles.list(org.id, users[0]))
    assert [(r.id, r.name) for r in roles] == [(role.id, f"sdk-org-role-{suffix}")], roles
    mgmt.organizations.members.roles.delete(org.id, users[0], roles=[role.id])
    assert list(mgmt.organizations.members.roles.list(org.id, users[0])) == []

    enabled = mgmt.organizations.enabled_connections.add(
        org.id, connection_id=conn.id, assign_membership_on_login=True, is_signup_enabled=True
    )
    assert enabled.connection_id == conn.id and enabled.show_as_button is True, enabled
    assert enabled.connection.name == f"sdk-org-db-{suffix}", enabled
    listed = list(mgmt.organizations.enabled_connections.list(org.id))
    assert [c.connection_id for c in listed] == [conn.id], listed

    app = mgmt.clients.create(
        name=f"sdk-org-app-{suffix}",
        app_type="spa",
        organization_usage="allow",
        initiate_login_uri=f"https://app-{suffix}.example.com/login",
    )
    inv = mgmt.organizations.invitations.create(
        org.id,
        inviter={"name": "SDK"},
        invitee={"email": f"invitee.{suffix}@example.com"},
        client_id=app.client_id,
        ttl_sec=3600,
    )
    prefix = f"https://app-{suffix}.example.com/login?invitation="
    assert inv.id.startswith("uinv_") and inv.invitation_url.startswith(prefix), inv
    assert inv.invitation_url.endswith(f"&organization={org.id}&organization_name=sdk-org-{suffix}"), inv
    got = mgmt.organizations.invitations.get(org.id, inv.id)
    assert got.invitee.email == f"invitee.{suffix}@example.com", got
    mgmt.organizations.invitations.delete(org.id, inv.id)

    mgmt.organizations.delete(org.id)
    assert mgmt.users.get(users[0]).user_id == users[0], "members outlive their organization"
    mgmt.roles.delete(role.id)
    mgmt.clients.delete(app.client_id)
    mgmt.connections.delete(conn.id)


def main() -> None:
    domain, client_id, client_secret = sys.argv[1:4]
    token = GetToken(domain, client_id, client_secret=client_secret).client_credentials(
        f"https://{domain}/api/v2/"
    )
    assert token["token_type"] == "Bearer" and token["expires_in"] == 86400, token

    mgmt = ManagementClient(domain=domain, client_id=client_id, client_secret=client_secret)
    suffix = uuid.uuid4().hex[:8]

    created = mgmt.clients.create(name=f"sdk-{suffix}", app_type="non_interactive")
    assert created.client_id and created.app_type == "non_interactive", created
    fetched = mgmt.clients.get(created.client_id)
    assert fetched.name == f"sdk-{suffix}", fetched
    assert "client_credentials" in (fetched.grant_types or []), fetched
    names = [c.name for c in mgmt.clients.list()]
    assert f"sdk-{suffix}" in names, names

    api = mgmt.resource_servers.create(identifier=f"https://sdk-{suffix}.example/", name=f"sdk api {suffix}")
    assert api.token_lifetime == 86400 and api.signing_alg == "RS256", api
    grant = mgmt.client_grants.create(
        client_id=created.client_id, audience=f"https://sdk-{suffix}.example/", scope=[]
    )
    assert grant.id.startswith("cgr_"), grant
    mgmt.client_grants.delete(grant.id)
    mgmt.resource_servers.delete(api.id)

    # Connections and users.
    conn = mgmt.connections.create(
        name=f"sdk-db-{suffix}", strategy="auth0", enabled_clients=[created.client_id]
    )
    assert conn.id.startswith("con_") and conn.strategy == "auth0", conn
    assert created.client_id in (conn.enabled_clients or []), conn
    assert mgmt.connections.get(conn.id).name == f"sdk-db-{suffix}"
    email = f"Sdk.User.{suffix}@Example.com"
    user = mgmt.users.create(
        connection=f"sdk-db-{suffix}",
        email=email,
        password=f"Correct-Horse-{suffix}-9",
        user_metadata={"lang": "en"},
        app_metadata={"plan": "gold"},
    )
    assert user.user_id.startswith("auth0|") and user.email == email.lower(), user
    assert user.identities and user.identities[0].connection == f"sdk-db-{suffix}", user
    updated = mgmt.users.update(user.user_id, user_metadata={"lang": "fr", "theme": "dark"})
    assert updated.user_metadata == {"lang": "fr", "theme": "dark"}, updated
    by_email = mgmt.users.list_users_by_email(email=email)
    assert [u.user_id for u in by_email] == [user.user_id], by_email
    found = mgmt.users.list(q=f'app_metadata.plan:"gold" AND email:"{email.lower()}"', search_engine="v3")
    assert [u.user_id for u in found] == [user.user_id], found
    blocks = mgmt.user_blocks.list(user.user_id)
    assert blocks.blocked_for == [], blocks
    mgmt.users.delete(user.user_id)
    mgmt.connections.delete(conn.id)
    mgmt.clients.delete(created.client_id)

    roles_and_permissions(mgmt, suffix)
    organizations(mgmt, suffix)
    tenant_configuration(mgmt, suffix)
    tenant_configuration_ii(mgmt, suffix)
    security_and_profiles(mgmt, suffix)
    print("auth0-python smoke: 7 passed, 0 failed")


def tenant_configuration(mgmt: ManagementClient, suffix: str) -> None:
    """Tenant settings, branding, a prompt's custom text, brute-force protection."""
    settings = mgmt.tenants.settings.get()
    assert settings.session_lifetime == 168 and settings.enabled_locales == ["en"], settings
    updated = mgmt.tenants.settings.update(friendly_name=f"SDK {suffix}", session_lifetime=720)
    assert updated.friendly_name == f"SDK {suffix}" and updated.session_lifetime == 720, updated
    assert updated.idle_session_lifetime == 72, updated
    assert mgmt.tenants.settings.get().friendly_name == f"SDK {suffix}"

    branding = mgmt.branding.update(logo_url="https://example.com/logo.png")
    assert branding.logo_url == "https://example.com/logo.png", branding
    assert mgmt.branding.get().logo_url == "https://example.com/logo.png"

    text = {"login": {"title": f"Welcome {suffix}"}}
    mgmt.prompts.custom_text.set("login", "en", request=text)
    assert mgmt.prompts.custom_text.get("login", "en") == text

    bfp = mgmt.attack_protection.brute_force_protection.update(max_attempts=5)
    assert bfp.max_attempts == 5 and bfp.enabled is True, bfp


def tenant_configuration_ii(mgmt: ManagementClient, suffix: str) -> None:
    """A rule and a rules-config, a hook with secrets, a form, a flow and a vault connection."""
    script = "function (user, context, callback) { callback(null, user, context); }"
    rule = mgmt.rules.create(name=f"sdk-rule-{suffix}", script=script)
    assert rule.id.startswith("rul_") and rule.enabled is True and rule.order == 1, rule
    later = mgmt.rules.create(name=f"sdk-rule-2-{suffix}", script=script, enabled=False)
    assert later.order == 2, later
    assert [r.id for r in mgmt.rules.list()] == [rule.id, later.id]
    assert [r.id for r in mgmt.rules.list(enabled=False)] == [later.id]
    assert mgmt.rules.update(later.id, order=7).order == 7
    mgmt.rules_configs.set("SDK_KEY", value="secret")
    assert [c.key for c in mgmt.rules_configs.list()] == ["SDK_KEY"]

    hook = mgmt.hooks.create(name=f"sdk-hook-{suffix}", script=script, trigger_id="post-user-registration")
    assert hook.enabled is False and hook.dependencies == {}, hook
    mgmt.hooks.secrets.create(hook.id, request={"API_KEY": "k1", "OTHER": "k2"})
    mgmt.hooks.secrets.delete(hook.id, request=["OTHER"])
    assert mgmt.hooks.secrets.get(hook.id) == {"API_KEY": "_VALUE_NOT_SHOWN_"}
    assert mgmt.hooks.update(hook.id, enabled=True).enabled is True

    flow = mgmt.flows.create(name=f"sdk-flow-{suffix}")
    assert flow.id.startswith("af_"), flow
    assert list(mgmt.flows.executions.list(flow.id)) == []
    form = mgmt.forms.create(name=f"sdk-form-{suffix}", languages={"primary": "en"})
    assert form.id.startswith("ap_") and form.ending.resume_flow is True, form
    assert [f.id for f in mgmt.forms.list()] == [form.id]
    conn = mgmt.flows.vault.connections.create(
        request={"app_id": "HTTP", "name": f"sdk-vault-{suffix}", "setup": {"type": "BEARER", "token": "sdk-token-value"}}
    )
    assert conn.ready is True and conn.account_name == "Bearer sdk***lue", conn
    assert [c.id for c in mgmt.flows.vault.connections.list()] == [conn.id]
    for delete, id_ in [
        (mgmt.flows.vault.connections.delete, conn.id),
        (mgmt.forms.delete, form.id),
        (mgmt.flows.delete, flow.id),
        (mgmt.hooks.delete, hook.id),
        (mgmt.rules.delete, rule.id),
        (mgmt.rules.delete, later.id),
    ]:
        delete(id_)


def security_and_profiles(mgmt: ManagementClient, suffix: str) -> None:
    """A network ACL (for addresses this test does not come from), risk and signal settings,
    anomaly blocks, stats, a self-service profile and its SSO ticket, a token-exchange profile."""
    mgmt.network_acls.create(
        description=f"sdk acl {suffix}",
        active=True,
        priority=5,
        rule={"action": {"block": True}, "scope": "tenant", "match": {"ipv4_cidrs": ["203.0.113.0/24"]}},
    )
    acls = list(mgmt.network_acls.list())
    assert [a.description for a in acls] == [f"sdk acl {suffix}"], acls
    acl = mgmt.network_acls.get(acls[0].id)
    assert acl.priority == 5 and acl.rule.match.ipv_4_cidrs == ["203.0.113.0/24"], acl
    assert mgmt.network_acls.update(acl.id, active=False).active is False
    mgmt.network_acls.delete(acl.id)

    assert mgmt.risk_assessments.settings.get().enabled is False
    assert mgmt.risk_assessments.settings.update(enabled=True).enabled is True
    assert mgmt.supplemental_signals.get().akamai_enabled is False
    assert mgmt.stats.get_active_users_count() == 0
    try:
        mgmt.anomaly.blocks.check_ip("198.51.100.7")
        raise AssertionError("an IP nobody blocked is reported blocked")
    except Exception as e:  # the SDK raises its NotFoundError
        assert getattr(e, "status_code", None) == 404, e
    mgmt.anomaly.blocks.unblock_ip("198.51.100.7")

    uap = mgmt.user_attribute_profiles.create(
        name=f"sdk uap {suffix}",
        user_attributes={
            "email": {"label": "Email", "description": "E-mail", "auth0_mapping": "email", "profile_required": True}
        },
    )
    assert uap.user_id.oidc_mapping == "sub", uap
    ssp = mgmt.self_service_profiles.create(name=f"sdk-sso-{suffix}", user_attribute_profile_id=uap.id)
    assert ssp.id.startswith("ssp_") and ssp.user_attributes == [], ssp
    ticket = mgmt.self_service_profiles.sso_ticket.create(ssp.id, connection_config={"name": f"sso-{suffix}"})
    assert "/self-service/connections-flow?ticket=" in ticket.ticket, ticket
    mgmt.self_service_profiles.sso_ticket.revoke(ssp.id, ticket.ticket.split("ticket=")[1])
    tep = mgmt.token_exchange_profiles.create(
        name=f"sdk tep {suffix}",
        subject_token_type=f"urn:sdk:{suffix}",
        action_id="9ec9b50c-2bc3-4bdb-9f5b-0e1c5d3b6f10",
        type="custom_authentication",
    )
    assert tep.subject_token_type == f"urn:sdk:{suffix}", tep
    mgmt.token_exchange_profiles.delete(tep.id)
    mgmt.self_service_profiles.delete(ssp.id)
    mgmt.user_attribute_profiles.delete(uap.id)


def roles_and_permissions(mgmt: ManagementClient, suffix: str) -> None:
    """A role with permissions of an API, given to users; a user's roles and permissions."""
    identifier = f"https://sdk-rbac-{suffix}.example/"
    api = mgmt.resource_servers.create(
        identifier=identifier,
        name=f"sdk rbac {suffix}",
        scopes=[
            ResourceServerScope(value="read:items", description="Read items"),
            ResourceServerScope(value="write:items", description="Write items"),
        ],
    )
    role = mgmt.roles.create(name=f"sdk-editor-{suffix}", description="Edits items")
    assert role.id.startswith("rol_") and len(role.id) == 20, role
    assert mgmt.roles.get(role.id).description == "Edits items"
    mgmt.roles.permissions.add(
        role.id,
        permissions=[
            PermissionRequestPayload(resource_server_identifier=identifier, permission_name=p)
            for p in ("read:items", "write:items")
        ],
    )
    perms = sorted(p.permission_name for p in mgmt.roles.permissions.list(role.id))
    assert perms == ["read:items", "write:items"], perms

    users = [
        mgmt.users.create(
            connection="Username-Password-Authentication",
            email=f"sdk-rbac-{n}-{suffix}@example.com",
            password=f"Correct-Horse-{suffix}-{n}",
        ).user_id
        for n in range(3)
    ]
    mgmt.roles.users.assign(role.id, users=users)
    # Checkpoint pages of one: the pager follows `next` to the end.
    members = [u.user_id for u in mgmt.roles.users.list(role.id, take=1)]
    assert sorted(members) == sorted(users), members

    reader = mgmt.roles.create(name=f"sdk-reader-{suffix}")
    mgmt.users.roles.assign(users[0], roles=[reader.id])
    mgmt.users.permissions.create(
        users[0],
        permissions=[PermissionRequestPayload(resource_server_identifier=identifier, permission_name="read:items")],
    )
    names = sorted(r.name for r in mgmt.users.roles.list(users[0]))
    assert names == [f"sdk-editor-{suffix}", f"sdk-reader-{suffix}"], names
    granted = {p.permission_name: p for p in mgmt.users.permissions.list(users[0])}
    assert sorted(granted) == ["read:items", "write:items"], granted
    assert granted["read:items"].description == "Read items", granted
    assert granted["write:items"].resource_server_name == f"sdk rbac {suffix}", granted

    mgmt.users.roles.delete(users[0], roles=[role.id])
    left = sorted(p.permission_name for p in mgmt.users.permissions.list(users[0]))
    assert left == ["read:items"], left
    mgmt.roles.delete(role.id)
    mgmt.roles.delete(reader.id)
    assert list(mgmt.users.roles.list(users[0])) == []
    for u in users:
        mgmt.users.delete(u)
    mgmt.resource_servers.delete(api.id)


if __name__ == "__main__":
    main()
