#!/usr/bin/env bash
# Gatehouse network-ACL benchmark: what the enforcement of network ACLs costs every request.
# One run measures, on a fresh database, each scenario first with no ACL and then with
# BENCH_ACLS (default 10, Auth0's limit with Attack Protection) active tenant-scope ACLs that
# the load generator does not match (so every rule is evaluated and none decides):
#   discovery   GET  /.well-known/openid-configuration   (cheapest Authentication API request)
#   token       POST /oauth/token  client_credentials    (one RS256 signature)
#   read        GET  /api/v2/clients/{admin client id}   (token check, one point read)
# and prints requests/s, p50/p99 and the ratio with/without ACLs. Target: every ratio ≥ 0.90.
#
# Usage: bench/acl.sh [--postgres]
# Environment (all optional): BENCH_ACLS=10, BENCH_DURATION=10, BENCH_WARMUP=2,
#   BENCH_CONCURRENCY=16, BENCH_PG_URL, BENCH_NO_BUILD=1, BENCH_STRICT=1 (exit 3 when missed).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ACLS="${BENCH_ACLS:-10}"
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
start_server
get_token

scenarios() {
  local suffix=$1
  run_scenario "discovery$suffix" "$BASE/.well-known/openid-configuration"
  run_scenario "token$suffix" "$BASE/oauth/token" -m POST -T application/json -d "$TOKEN_BODY"
  run_scenario "read$suffix" "$BASE/api/v2/clients/$ADMIN_ID" -H "Authorization: Bearer $ACCESS_TOKEN"
}

scenarios ""

log "making $ACLS network ACLs that the load generator does not match"
for i in $(seq 1 "$ACLS"); do
  case $((i % 3)) in
    0) match="{\"ipv4_cidrs\": [\"203.0.113.$i/32\", \"198.51.100.0/24\"]}" ;;
    1) match="{\"user_agents\": [\"bad-bot/$i\"], \"ipv6_cidrs\": [\"2001:db8::$i/128\"]}" ;;
    2) match="{\"hostnames\": [\"blocked-$i.example\"]}" ;;
  esac
  code="$(curl -sS -o "$WORK/acl.out" -w '%{http_code}' --max-time 10 -H "Authorization: Bearer $ACCESS_TOKEN" \
    -H 'content-type: application/json' "$BASE/api/v2/network-acls" \
    -d "{\"description\": \"bench $i\", \"active\": true, \"priority\": $i,
         \"rule\": {\"action\": {\"block\": true}, \"scope\": \"tenant\", \"match\": $match}}")"
  [[ "$code" == 201 ]] || { echo "creating ACL $i answered $code: $(cat "$WORK/acl.out")" >&2; exit 1; }
done
# The ACL cache is dropped on writes; one request warms it again.
curl -fsS -o /dev/null "$BASE/.well-known/openid-configuration"

scenarios "_acls"

RESULTS_DIR="$ROOT/bench/results"
mkdir -p "$RESULTS_DIR"
jq -n --arg backend "$BACKEND" --argjson acls "$ACLS" --argjson target "$TARGET" \
  --arg when "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --arg commit "$(git -C "$ROOT" rev-parse --short HEAD)" \
  --slurpfile d "$WORK/discovery.json" --slurpfile da "$WORK/discovery_acls.json" \
  --slurpfile t "$WORK/token.json" --slurpfile ta "$WORK/token_acls.json" \
  --slurpfile r "$WORK/read.json" --slurpfile ra "$WORK/read_acls.json" '
  def pair($a; $b): {without: $a, with: $b,
    ratio: (if $a.status == "ok" and $b.status == "ok" and $a.rps > 0 then ($b.rps / $a.rps * 1000 | round) / 1000 else null end)};
  {when: $when, commit: $commit, backend: $backend, acls: $acls, target_ratio: $target,
   discovery: pair($d[0]; $da[0]), token: pair($t[0]; $ta[0]), read: pair($r[0]; $ra[0])}' \
  >"$RESULTS_DIR/acl-latest.json"

python3 - "$RESULTS_DIR/acl-latest.json" "$STRICT" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
print(f"network ACL enforcement, {d['backend']}, {d['acls']} ACLs evaluated per request (commit {d['commit']})")
print(f"{'scenario':<10} {'req/s without':>14} {'req/s with':>11} {'p99 ms without':>15} {'p99 ms with':>12} {'ratio':>6}  verdict")
missed = False
for name in ("discovery", "token", "read"):
    p = d[name]
    a, b, r = p["without"], p["with"], p["ratio"]
    ok = r is not None and r >= d["target_ratio"]
    missed |= not ok
    print(f"{name:<10} {a.get('rps', 0):>14.0f} {b.get('rps', 0):>11.0f} {a.get('p99_ms') or 0:>15.2f} {b.get('p99_ms') or 0:>12.2f} "
          f"{(r if r is not None else float('nan')):>6.3f}  {'PASS' if ok else 'MISS'} (target ≥ {d['target_ratio']})")
sys.exit(3 if missed and sys.argv[2] == "1" else 0)
EOF
