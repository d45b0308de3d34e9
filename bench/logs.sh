#!/usr/bin/env bash
# Gatehouse tenant-log benchmark: what writing the tenant log costs the request path.
# One run, on one fresh database, measures with the tenant log on, then again after a restart
# with --no-tenant-logs:
#   token   POST /oauth/token client_credentials for a machine-to-machine client (each token
#           writes a `seccft` entry, committed before the answer, with one active log stream
#           taking it: the entry is queued for delivery in the same transaction);
#   read    GET /api/v2/clients/{id} (reads are not logged, as in Auth0: the control).
# and prints requests/s, p50/p99, the server's CPU per request, and the ratios logs-on/logs-off
# (target ≥ 0.90 each).
#
# Usage: bench/logs.sh [--postgres]
# Environment (all optional): BENCH_DURATION=10, BENCH_WARMUP=2, BENCH_CONCURRENCY=16,
#   BENCH_PG_URL, BENCH_NO_BUILD=1, BENCH_STRICT=1 (exit 3 when a target is missed).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DURATION="${BENCH_DURATION:-10}"
WARMUP="${BENCH_WARMUP:-2}"
CONC="${BENCH_CONCURRENCY:-16}"
PG_URL="${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432/test}"
STRICT="${BENCH_STRICT:-0}"
NO_BUILD="${BENCH_NO_BUILD:-0}"
TARGET=0.90

USE_PG=0
for arg in "$@"; do
  case "$arg" in
    --postgres) USE_PG=1 ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "unknown argument: $arg (try --help)" >&2; exit 2 ;;
  esac
done

# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"

build_release gatehouse
setup_database
# The stream's receiver: a real HTTPS endpoint on loopback that answers 200 (deliveries succeed,
# as they do to a healthy SIEM), its certificate trusted by the server.
RPORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=localhost" -addext "subjectAltName=DNS:localhost" \
  -addext "basicConstraints=critical,CA:FALSE" -keyout "$WORK/rkey.pem" -out "$WORK/rcert.pem" >/dev/null 2>&1
python3 "$ROOT/tests/crash/receiver.py" "$RPORT" "$WORK/rcert.pem" "$WORK/rkey.pem" "$WORK/delivered.txt" &
RECEIVER_PID=$!
trap 'kill "$RECEIVER_PID" 2>/dev/null || true; cleanup' EXIT
STREAM_ARGS="--webhooks-allow-private --webhooks-ca-file $WORK/rcert.pem"
BENCH_SERVER_ARGS="$STREAM_ARGS" start_server
get_token

log "creating an API, a machine-to-machine client granted it, and a log stream taking token exchanges"
mgmt POST /resource-servers '{"name":"bench api","identifier":"https://bench.example/","scopes":[{"value":"read:a"}]}'
mgmt POST /clients '{"name":"bench m2m","app_type":"non_interactive","grant_types":["client_credentials"]}'
M2M_ID="$(jq -r .client_id "$WORK/mgmt.out")"
M2M_SECRET="$(jq -r .client_secret "$WORK/mgmt.out")"
mgmt POST /client-grants "$(jq -cn --arg c "$M2M_ID" '{client_id: $c, audience: "https://bench.example/", scope: ["read:a"]}')"
mgmt POST /log-streams "{\"name\":\"bench\",\"type\":\"http\",\"filters\":[{\"type\":\"category\",\"name\":\"auth.token_exchange.success\"}],\"sink\":{\"httpEndpoint\":\"https://localhost:$RPORT/logs\"}}"
TOKEN_BODY="$(jq -cn --arg id "$M2M_ID" --arg s "$M2M_SECRET" \
  '{grant_type: "client_credentials", client_id: $id, client_secret: $s, audience: "https://bench.example/"}')"
READ_URL="$BASE/api/v2/clients/$M2M_ID"

before="$(curl -sS -H "Authorization: Bearer $ACCESS_TOKEN" "$BASE/api/v2/logs?q=type:seccft&include_totals=true&per_page=1" | jq .total)"
run_scenario token_on "$BASE/oauth/token" -m POST -T application/json -d "$TOKEN_BODY"
run_scenario read_on "$READ_URL" -H "Authorization: Bearer $ACCESS_TOKEN"
after="$(curl -sS -H "Authorization: Bearer $ACCESS_TOKEN" "$BASE/api/v2/logs?q=type:seccft&include_totals=true&per_page=1" | jq .total)"
LOGGED=$((after - before))
DELIVERED="$(sort -u "$WORK/delivered.txt" 2>/dev/null | grep -c . || true)"
log "$LOGGED seccft entries written during the logs-on runs; $DELIVERED entries delivered to the stream so far"
[[ "$LOGGED" -gt 0 ]] || { echo "FAIL: no token exchange was logged" >&2; exit 1; }

log "restarting with --no-tenant-logs"
stop_server
BENCH_SERVER_ARGS="$STREAM_ARGS --no-tenant-logs" start_server
get_token
run_scenario token_off "$BASE/oauth/token" -m POST -T application/json -d "$TOKEN_BODY"
run_scenario read_off "$READ_URL" -H "Authorization: Bearer $ACCESS_TOKEN"

RESULTS_DIR="$ROOT/bench/results"
mkdir -p "$RESULTS_DIR"
OUT="$RESULTS_DIR/logs-$BACKEND-latest.json"
jq -n --arg backend "$BACKEND" --argjson target "$TARGET" --arg oha "$OHA_VERSION" \
  --arg when "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --arg commit "$(git -C "$ROOT" rev-parse --short HEAD)" \
  --argjson conc "$CONC" --argjson duration "$DURATION" --argjson cores "$CORES" --argjson logged "$LOGGED" \
  --slurpfile ton "$WORK/token_on.json" --slurpfile toff "$WORK/token_off.json" \
  --slurpfile ron "$WORK/read_on.json" --slurpfile roff "$WORK/read_off.json" '
  def ratio(a; b): if a.status == "ok" and b.status == "ok" and b.rps > 0 then (a.rps / b.rps * 1000 | round) / 1000 else null end;
  {when: $when, commit: $commit, backend: $backend, oha: $oha, cores: $cores, concurrency: $conc,
   duration_s: $duration, target_ratio: $target, seccft_entries_logged: $logged,
   token_on: $ton[0], token_off: $toff[0], read_on: $ron[0], read_off: $roff[0],
   ratio_token: ratio($ton[0]; $toff[0]), ratio_read: ratio($ron[0]; $roff[0])}' >"$OUT"

python3 - "$OUT" "$STRICT" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
print(f"tenant log cost, {d['backend']}, {d['concurrency']} connections, {d['duration_s']} s, {d['cores']} cores (commit {d['commit']})")
print(f"{'scenario':<10} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'server µs/req':>14}  status")
for name in ("token_on", "token_off", "read_on", "read_off"):
    s = d[name]
    if s.get("status") == "skipped":
        print(f"{name:<10} skipped: {s.get('reason')}")
        continue
    print(f"{name:<10} {s['rps']:>8.0f} {s['p50_ms'] or 0:>8.2f} {s['p99_ms'] or 0:>8.2f} "
          f"{s.get('server_cpu_us_per_req') or 0:>14}  {s['status']}")
miss = False
for k in ("ratio_token", "ratio_read"):
    r = d[k]
    ok = r is not None and r >= d["target_ratio"]
    miss |= not ok
    print(f"{k}: {(r if r is not None else float('nan')):.3f}  {'PASS' if ok else 'MISS'} (target ≥ {d['target_ratio']})")
print(f"seccft entries written while measuring with logs on: {d['seccft_entries_logged']}")
sys.exit(3 if miss and sys.argv[2] == "1" else 0)
PY
