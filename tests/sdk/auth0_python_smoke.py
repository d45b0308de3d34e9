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
    mgmt.clients.delete(created.client_id)
    print("auth0-python smoke: 1 passed, 0 failed")


if __name__ == "__main__":
    main()
