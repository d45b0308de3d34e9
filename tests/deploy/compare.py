"""Compares two auth0-deploy-cli YAML exports (the first server's and the second's, made from an
import of the first's export): they must say the same, modulo what is each server's own (ids,
secrets, the admin client). Also checks that the directory export has the seeded objects.

Usage: compare.py A.yaml B.yaml A-directory-export
"""

import json
import os
import sys

import yaml

# Values that are each server's own: generated ids and secrets, and what a server makes itself.
OWN_KEYS = {
    "id", "client_id", "client_secret", "signing_keys", "custom_login_page_preview", "tenant",
    "custom_domain_id", "created_at", "updated_at", "record", "verification_txt",
}


def normalise(v):
    """Drops the servers' own values and sorts lists of objects by name, so that order and ids
    do not count."""
    if isinstance(v, dict):
        return {k: normalise(x) for k, x in sorted(v.items()) if k not in OWN_KEYS}
    if isinstance(v, list):
        items = [normalise(x) for x in v]
        return sorted(items, key=lambda x: json.dumps(x, sort_keys=True))
    return v


def main() -> None:
    a_path, b_path, a_dir = sys.argv[1:4]
    with open(a_path) as f:
        a = yaml.safe_load(f)
    with open(b_path) as f:
        b = yaml.safe_load(f)
    # The seeded objects are in the first export.
    names = lambda key: sorted(
        x.get("name", x.get("identifier", x.get("domain", ""))) for x in a.get(key) or []
    )
    checks = {
        "clients": ["Deploy Web App", "Deploy Worker"],
        "resourceServers": ["Deploy API"],
        "connections": ["deploy-google"],
        "roles": ["Deploy Reader"],
        "organizations": ["deploy-org"],
        "customDomains": ["login.deploy.example"],
        "phoneProviders": ["twilio"],
        "pages": ["guardian_multifactor", "password_reset"],
    }
    problems = []
    for key, want in checks.items():
        got = names(key)
        for w in want:
            if w not in got:
                problems.append(f"export of A: {key} lacks {w!r} (has {got})")
    tenant = a.get("tenant") or {}
    if tenant.get("friendly_name") != "Deploy Round Trip" or tenant.get("session_lifetime") != 720:
        problems.append(f"export of A: tenant settings not as seeded: {tenant}")
    if not (a.get("themes") or [{}])[0].get("displayName") == "Deploy theme":
        problems.append(f"export of A: theme not as seeded: {a.get('themes')}")
    if not os.path.isdir(os.path.join(a_dir, "clients")):
        problems.append(f"directory export of A has no clients/ folder: {sorted(os.listdir(a_dir))}")
    na, nb = normalise(a), normalise(b)
    for key in sorted(set(na) | set(nb)):
        if na.get(key) != nb.get(key):
            problems.append(
                f"{key} differs:\n  A: {json.dumps(na.get(key), sort_keys=True)[:1500]}\n"
                f"  B: {json.dumps(nb.get(key), sort_keys=True)[:1500]}"
            )
    if problems:
        print("deploy-cli round trip: FAILED")
        for p in problems:
            print(" -", p)
        sys.exit(1)
    print(f"deploy-cli round trip: OK ({', '.join(f'{k}: {len(v) if isinstance(v, list) else 1}' for k, v in sorted(na.items()))})")


if __name__ == "__main__":
    main()
