"""An unmodified OIDC relying-party library (authlib) against Gatehouse: discovery, the
authorization-code flow with PKCE (the hosted login form driven with plain HTTP: a cookie jar,
the CSRF token read from the page), ID-token validation against the JWKS, refresh, userinfo.

Usage: authlib_rp.py HOST:PORT ADMIN_ID ADMIN_SECRET  (HTTPS; REQUESTS_CA_BUNDLE names the CA)
"""
import re
import secrets
import sys
from urllib.parse import parse_qs, urljoin, urlparse

import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.jose import JsonWebKey, jwt
from authlib.oidc.core import CodeIDToken

host, admin_id, admin_secret = sys.argv[1:4]
base = f"https://{host}"
CALLBACK = "https://rp.example.com/callback"

# Set-up through the Management API: an application, a database connection, a user.
t = requests.post(f"{base}/oauth/token", data={"grant_type": "client_credentials", "client_id": admin_id,
                  "client_secret": admin_secret, "audience": f"{base}/api/v2/"}).json()["access_token"]
H = {"authorization": f"Bearer {t}"}
def mgmt(method, path, body):
    r = requests.request(method, f"{base}/api/v2{path}", json=body, headers=H)
    assert r.ok, (path, r.status_code, r.text)
    return r.json() if r.text else None
c = mgmt("POST", "/clients", {"name": "authlib RP", "app_type": "regular_web", "callbacks": [CALLBACK],
         "grant_types": ["authorization_code", "refresh_token"]})
mgmt("POST", "/connections", {"name": "rp-users", "strategy": "auth0", "enabled_clients": [c["client_id"]]})
mgmt("PATCH", "/tenants/settings", {"default_directory": "rp-users"})
mgmt("POST", "/users", {"connection": "rp-users", "email": "rp.user@example.com", "password": "Rp-Passw0rd!x"})

# 1. Discovery.
meta = requests.get(f"{base}/.well-known/openid-configuration").json()
assert meta["issuer"] == f"{base}/", meta["issuer"]
for k in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri"):
    assert k in meta, k
jwks = JsonWebKey.import_key_set(requests.get(meta["jwks_uri"]).json())

# 2. Authorization code + PKCE, the login form submitted like a browser without JavaScript.
rp = OAuth2Session(c["client_id"], c["client_secret"], scope="openid profile email offline_access",
                   redirect_uri=CALLBACK, code_challenge_method="S256")
verifier = secrets.token_urlsafe(48)
nonce = secrets.token_urlsafe(16)
url, state = rp.create_authorization_url(meta["authorization_endpoint"], code_verifier=verifier, nonce=nonce)
browser = requests.Session()
r = browser.get(url, allow_redirects=False)
assert r.status_code == 302, (r.status_code, r.text)
login_url = urljoin(base, r.headers["location"])
page = browser.get(login_url)
assert page.status_code == 200, page.text
fields = dict(re.findall(r'name="(state|csrf)" value="([^"]*)"', page.text))
r = browser.post(login_url, data={**fields, "username": "rp.user@example.com", "password": "Rp-Passw0rd!x"},
                 allow_redirects=False)
assert r.status_code == 302, (r.status_code, r.text)
callback = r.headers["location"]
assert callback.startswith(CALLBACK), callback
assert parse_qs(urlparse(callback).query)["state"] == [state]

token = rp.fetch_token(meta["token_endpoint"], authorization_response=callback, code_verifier=verifier)
assert {"access_token", "id_token", "refresh_token"} <= token.keys(), token.keys()

# 3. ID token validation (signature by the JWKS, iss, aud, exp, nonce).
claims = jwt.decode(token["id_token"], jwks, claims_cls=CodeIDToken,
                    claims_options={"iss": {"essential": True, "value": meta["issuer"]},
                                    "aud": {"essential": True, "value": c["client_id"]}},
                    claims_params={"nonce": nonce, "client_id": c["client_id"]})
claims.validate()
assert claims["email"] == "rp.user@example.com", dict(claims)

# 4. Refresh.
refreshed = rp.refresh_token(meta["token_endpoint"], refresh_token=token["refresh_token"])
# (The new access token may equal the old one byte for byte when minted in the same second.)
assert refreshed["access_token"] and refreshed["token_type"].lower() == "bearer", refreshed
if "id_token" in refreshed:
    jwt.decode(refreshed["id_token"], jwks).validate()

# 5. Userinfo with the refreshed access token.
info = rp.get(meta["userinfo_endpoint"]).json()
assert info["sub"] == claims["sub"] and info["email"] == "rp.user@example.com", info
print("authlib RP: discovery, code + PKCE, ID token, refresh, userinfo: ok")
