"""The official auth0-python SDK against a running Gatehouse over HTTPS.

Usage: SSL_CERT_FILE=<gatehouse cert.pem> python3 auth0_python_smoke.py DOMAIN CLIENT_ID CLIENT_SECRET
Exits non-zero on the first reply that differs from what Auth0 would give.
"""
import sys
import uuid

from auth0.authentication import GetToken
from auth0.management import ManagementClient


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
    print("auth0-python smoke: 2 passed, 0 failed")


if __name__ == "__main__":
    main()
