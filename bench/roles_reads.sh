#!/usr/bin/env bash
# Latency of the authorization reads at scale: a role assigned to 100,000 users, one of whom
# has 3 roles × 50 permissions of one API.
#   - GET /roles/{id}/users?take=50&from=<cursor deep in the list>  (keyset page)
#   - GET /users/{id}/roles
#   - GET /users/{id}/permissions                                    (3 roles × 50 + sources)
# Prints p50/p99 (ms) per read over sequential keep-alive requests, and checks p99 < 20 ms.
# Usage: bench/roles_reads.sh [path/to/gatehouse] [postgres://…/db]   (SQLite in a temp file
# without the second argument; with it, a fresh schema there, dropped at the end).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=tests/lib.sh
source tests/lib.sh
BIN="${1:-target/debug/gatehouse}"
PG="${2:-}"
N="${ROLES_BENCH_USERS:-100000}"
REQS="${ROLES_BENCH_REQUESTS:-400}"

work=$(mktemp -d)
port=$(free_port)
if [ -n "$PG" ]; then
  schema="gh_roles_bench_$$"
  psql -q "$PG" -c "CREATE SCHEMA $schema"
  sep='?'; case "$PG" in *\?*) sep='&';; esac
  db_url="${PG}${sep}options=-c%20search_path%3D${schema}"
else
  db_url="$work/gatehouse.db"
fi
GATEHOUSE_ADMIN_CLIENT_ID=bench-admin GATEHOUSE_ADMIN_CLIENT_SECRET=bench-secret \
  "$BIN" serve --listen "127.0.0.1:$port" --database-url "$db_url" >"$work/server.log" 2>&1 &
pid=$!
cleanup() {
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  [ -n "$PG" ] && psql -q "$PG" -c "DROP SCHEMA $schema CASCADE" || true
  rm -rf "$work"
}
trap cleanup EXIT
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break
  sleep 0.1
done

python3 - "$port" "$N" "$REQS" "$db_url" "${PG:+pg}" "$PG" "${schema:-}" <<'PY'
import base64, http.client, json, subprocess, sys, time

port, n, reqs, db_url, kind, pg, schema = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), *sys.argv[4:8]
conn = http.client.HTTPConnection("127.0.0.1", int(port))

def call(method, path, body=None, token=None):
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
    r = conn.getresponse()
    data = r.read()
    return r.status, (json.loads(data) if data else None)

st, tok = call("POST", "/oauth/token", {"grant_type": "client_credentials", "client_id": "bench-admin",
    "client_secret": "bench-secret", "audience": f"http://127.0.0.1:{port}/api/v2/"})
assert st == 200, tok
t = tok["access_token"]
api = "https://bench.example/api"
scopes = [{"value": f"do:thing{i}", "description": f"Thing {i}"} for i in range(150)]
st, rs = call("POST", "/api/v2/resource-servers", {"identifier": api, "name": "bench", "scopes": scopes}, t)
assert st == 201, rs
roles = []
for r in range(3):
    st, role = call("POST", "/api/v2/roles", {"name": f"bench role {r}"}, t)
    assert st == 200, role
    perms = [{"resource_server_identifier": api, "permission_name": f"do:thing{50 * r + i}"} for i in range(50)]
    st, e = call("POST", f"/api/v2/roles/{role['id']}/permissions", {"permissions": perms}, t)
    assert st == 201, e
    roles.append(role["id"])

# The 100,000 users and the role's assignments, written straight into the database.
def sql(text):
    if kind == "pg":
        subprocess.run(["psql", "-q", pg, "-c", f"SET search_path TO {schema}; {text}"], check=True)
    else:
        subprocess.run(["sqlite3", db_url, text], check=True)

series = ("SELECT generate_series AS i FROM generate_series(1, %d)" % n) if kind == "pg" else \
    ("WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < %d) SELECT i FROM s" % n)
pad = "lpad(i::text, 6, '0')" if kind == "pg" else "printf('%06d', i)"
tenant = "(SELECT tenant_id FROM roles LIMIT 1)"
t0 = time.time()
sql(f"INSERT INTO users (tenant_id, user_id, connection_id, connection, provider, email, name, body, seq, created_at, updated_at) "
    f"SELECT {tenant}, 'auth0|bench' || {pad}, 'con_bench', 'Username-Password-Authentication', 'auth0', "
    f"'bench' || {pad} || '@example.com', 'bench' || {pad}, '{{\"picture\":\"https://example.com/p.png\"}}', i, '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z' FROM ({series}) s")
sql(f"INSERT INTO user_roles (tenant_id, user_id, organization_id, role_id, seq) "
    f"SELECT {tenant}, 'auth0|bench' || {pad}, '', '{roles[0]}', i FROM ({series}) s")
me = "auth0|bench000042"
sql(f"INSERT INTO user_roles (tenant_id, user_id, organization_id, role_id, seq) VALUES "
    f"({tenant}, '{me}', '', '{roles[1]}', 1), ({tenant}, '{me}', '', '{roles[2]}', 1)")
if kind == "pg":
    sql("ANALYZE")
print(f"seeded {n} users in {time.time() - t0:.1f}s")

deep = base64.urlsafe_b64encode(f"auth0|bench{int(n * 0.9):06d}".encode()).decode().rstrip("=")
checks = [
    ("role users, take=50 deep (keyset)", f"/api/v2/roles/{roles[0]}/users?take=50&from={deep}",
     lambda v: len(v["users"]) == 50),
    ("user roles", f"/api/v2/users/{me.replace('|', '%7C')}/roles", lambda v: len(v) == 3),
    ("user permissions (3 roles x 50)", f"/api/v2/users/{me.replace('|', '%7C')}/permissions?per_page=100&include_totals=true",
     lambda v: v["total"] == 150),
]
failed = False
for name, path, ok in checks:
    st, v = call("GET", path, token=t)
    assert st == 200 and ok(v), (name, st, str(v)[:300])
    for _ in range(20):
        call("GET", path, token=t)
    times = []
    for _ in range(reqs):
        s = time.perf_counter()
        st, _ = call("GET", path, token=t)
        times.append((time.perf_counter() - s) * 1000)
        assert st == 200
    times.sort()
    p50, p99 = times[len(times) // 2], times[int(len(times) * 0.99) - 1]
    verdict = "ok" if p99 < 20 else "SLOW"
    failed |= p99 >= 20
    print(f"{name:40s} p50 {p50:6.2f} ms   p99 {p99:6.2f} ms   {verdict}")
sys.exit(1 if failed else 0)
PY
