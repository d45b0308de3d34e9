#!/usr/bin/env bash
# Crash test: kill -9 the server under concurrent write load (POST /clients and POST /users), start
# it again on the same database, and check that every write that was acknowledged (2xx received)
# is there. Fails (exit 1) on a lost acknowledged write, a 5xx under load, or a server that does not
# come back.
# Usage: tests/crash/run.sh [path/to/gatehouse] [postgres://…]
#   (default: a fresh SQLite file; with a PostgreSQL URL, a fresh schema there, dropped afterwards)
# Tunables: CRASH_ROUNDS (kill/restart cycles, default 3), CRASH_THREADS (default 8),
#           CRASH_AFTER (seconds of load before each kill, default 3).
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=tests/lib.sh
source tests/lib.sh
BIN="$(realpath "${1:-target/debug/gatehouse}")"
DB_URL="${2:-}"
ROUNDS="${CRASH_ROUNDS:-3}"
THREADS="${CRASH_THREADS:-8}"
AFTER="${CRASH_AFTER:-3}"

work=$(mktemp -d)
fresh_database crash
pid=""
receiver=""
cleanup() {
  [ -z "$pid" ] || kill "$pid" 2>/dev/null || true
  [ -z "$receiver" ] || kill "$receiver" 2>/dev/null || true
  drop_database
  rm -rf "$work"
}
trap cleanup EXIT

port=$(free_port)
base="http://127.0.0.1:$port"
# A log stream's HTTPS receiver (its certificate trusted by the server): every acknowledged write
# has its log entry, and every entry reaches the stream at least once, across the kills.
rport=$(free_port)
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=localhost" -addext "subjectAltName=DNS:localhost" -addext "basicConstraints=critical,CA:FALSE" \
  -keyout "$work/rkey.pem" -out "$work/rcert.pem" >/dev/null 2>&1
python3 tests/crash/receiver.py "$rport" "$work/rcert.pem" "$work/rkey.pem" "$work/delivered.txt" &
receiver=$!
start() {
  GATEHOUSE_ADMIN_CLIENT_ID=crash-admin GATEHOUSE_ADMIN_CLIENT_SECRET=crash-secret-not-for-production \
    "$BIN" serve --listen "127.0.0.1:$port" --database-url "$DB_URL" \
    --webhooks-allow-private --webhooks-ca-file "$work/rcert.pem" >>"$work/server.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 150); do
    curl -sf "$base/healthz" >/dev/null && return 0
    sleep 0.1
  done
  echo "FAIL: the server did not start"; tail -n 20 "$work/server.log"; exit 1
}
token() {
  curl -sf -X POST "$base/oauth/token" -H 'content-type: application/json' \
    -d "{\"grant_type\":\"client_credentials\",\"client_id\":\"crash-admin\",\"client_secret\":\"crash-secret-not-for-production\",\"audience\":\"$base/api/v2/\"}" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'
}

start
TOKEN=$(token)
curl -sf -X POST "$base/api/v2/log-streams" -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' \
  -d "{\"name\":\"crash\",\"type\":\"http\",\"filters\":[{\"type\":\"category\",\"name\":\"management.success\"}],\"sink\":{\"httpEndpoint\":\"https://localhost:$rport/logs\",\"httpContentFormat\":\"JSONLINES\"}}" >/dev/null
for round in $(seq 1 "$ROUNDS"); do
  TOKEN=$(token)
  python3 tests/crash/load.py "$base" "$TOKEN" "$work/acked.tsv" "$THREADS" >"$work/load.out" 2>&1 &
  load=$!
  sleep "$AFTER"
  kill -9 "$pid"
  wait "$pid" 2>/dev/null || true
  wait "$load" || true
  echo "== round $round ($backend): killed under load; $(cat "$work/load.out"); $(grep -c . "$work/acked.tsv" || true) acknowledged so far"
  start
done

# Every acknowledged write must be there after the restarts.
TOKEN=$(token)
python3 - "$base" "$TOKEN" "$work/acked.tsv" <<'PY'
import http.client, json, sys, urllib.parse
base, token, path = sys.argv[1:4]
u = urllib.parse.urlsplit(base)
conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
acked = [l.rstrip("\n").split("\t") for l in open(path) if l.strip()]
errors = [a for a in acked if a[0] == "5xx"]
missing = []
checked = 0
for kind, key, name in (a for a in acked if a[0] != "5xx"):
    p = f"/api/v2/clients/{key}" if kind == "client" else "/api/v2/users/" + urllib.parse.quote(key, safe="")
    conn.request("GET", p, headers={"authorization": f"Bearer {token}"})
    res = conn.getresponse()
    body = res.read()
    checked += 1
    if res.status != 200:
        missing.append(f"{kind} {key} ({name}): {res.status}")
        continue
    v = json.loads(body)
    if (v.get("name") if kind == "client" else v.get("email")) != name:
        missing.append(f"{kind} {key}: stored as {v.get('name') or v.get('email')!r}, acknowledged as {name!r}")
print(f"== {checked} acknowledged writes checked after the restarts: {len(missing)} missing, {len(errors)} 5xx under load")
for m in (missing + [" ".join(e) for e in errors])[:20]:
    print("   ", m)
sys.exit(1 if missing or errors or checked == 0 else 0)
PY
curl -sf "$base/healthz" >/dev/null || { echo "FAIL: unhealthy after the restarts"; exit 1; }

# Logs: at least one `sapi` entry per acknowledged write, and every `sapi` entry delivered.
python3 - "$base" "$TOKEN" "$work/acked.tsv" "$work/delivered.txt" <<'PY'
import http.client, json, sys, time, urllib.parse
base, token, acked_path, delivered_path = sys.argv[1:5]
u = urllib.parse.urlsplit(base)
conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
def logs():
    out, frm = [], None
    while True:
        q = "/api/v2/logs?take=100" + (f"&from={frm}" if frm else "")
        conn.request("GET", q, headers={"authorization": f"Bearer {token}"})
        page = json.loads(conn.getresponse().read())
        if not page:
            return out
        out.extend(page)
        frm = page[-1]["log_id"]
acked = [l.split("\t")[0] for l in open(acked_path) if l.strip() and not l.startswith("5xx")]
entries = [e for e in logs() if e["type"] == "sapi"]
creates = sum(1 for e in entries if e["description"] in ("Create a client", "Create a User"))
want = {e["log_id"] for e in entries}
missing = want
for _ in range(120):
    got = {l.strip() for l in open(delivered_path) if l.strip()}
    missing = want - got
    if not missing:
        break
    time.sleep(0.5)
print(f"== logs: {len(acked)} acknowledged writes, {creates} create entries, {len(want)} sapi entries, {len(missing)} not delivered to the stream")
sys.exit(1 if creates < len(acked) or missing else 0)
PY
echo "== OK: every acknowledged write survived kill -9 ($backend)"
