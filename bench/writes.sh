#!/usr/bin/env bash
# Gatehouse write benchmark: concurrent PATCHes of one hot row, the worst case for the
# read-modify-write rule (every PATCH locks the same row, so they run one after another):
#   patch_user    PATCH /api/v2/users/{id}     {"app_metadata": {...}}   (metadata merge + search rows)
#   patch_client  PATCH /api/v2/clients/{id}   {"description": ...}
# each as requests/s and p50/p99, on a fresh SQLite file or PostgreSQL schema. No target: the
# figures say what the lock costs (compare a build before the rule with BENCH_BIN).
#
# Usage: bench/writes.sh [--postgres]
# Environment (all optional):
#   BENCH_DURATION=10  BENCH_WARMUP=2  BENCH_CONCURRENCY=32
#   BENCH_PG_URL=postgres://postgres@127.0.0.1:5432/test   (with --postgres)
#   BENCH_BIN=path/to/gatehouse   measure another build (implies BENCH_NO_BUILD=1)
#   BENCH_NO_BUILD=1              use target/release/gatehouse as it is
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DURATION="${BENCH_DURATION:-10}"
WARMUP="${BENCH_WARMUP:-2}"
CONC="${BENCH_CONCURRENCY:-32}"
PG_URL="${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432/test}"
NO_BUILD="${BENCH_NO_BUILD:-0}"
[[ -n "${BENCH_BIN:-}" ]] && NO_BUILD=1

USE_PG=0
for arg in "$@"; do
  case "$arg" in
    --postgres) USE_PG=1 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "unknown argument: $arg (try --help)" >&2; exit 2 ;;
  esac
done

# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
if [[ -n "${BENCH_BIN:-}" ]]; then
  BIN="$(cd "$(dirname "$BENCH_BIN")" && pwd)/$(basename "$BENCH_BIN")"
else
  build_release gatehouse
fi

setup_database
start_server
get_token
auth=(-H "authorization: Bearer $ACCESS_TOKEN")

user="$(curl -sS "${auth[@]}" -H 'content-type: application/json' "$BASE/api/v2/users" \
  -d '{"connection":"Username-Password-Authentication","email":"hot@example.com","password":"Very-str0ng-passw0rd!"}' | jq -r .user_id)"
client="$(curl -sS "${auth[@]}" -H 'content-type: application/json' "$BASE/api/v2/clients" \
  -d '{"name":"hot client"}' | jq -r .client_id)"
[[ "$user" == auth0* && -n "$client" && "$client" != null ]] || { echo "could not create the rows to patch" >&2; exit 1; }

run_scenario patch_user "$BASE/api/v2/users/${user/|/%7C}" -m PATCH "${auth[@]}" -T application/json \
  -d '{"app_metadata":{"plan":"gold","n":1}}'
run_scenario patch_client "$BASE/api/v2/clients/$client" -m PATCH "${auth[@]}" -T application/json \
  -d '{"description":"patched"}'

printf '%-14s %9s %8s %8s  %s\n' scenario req/s p50_ms p99_ms statuses
for name in patch_user patch_client; do
  jq -r --arg n "$name" '
    if .summary then
      [$n, (.summary.requestsPerSec | floor), ((.latencyPercentiles.p50 // 0) * 1000 | . * 100 | floor / 100),
       ((.latencyPercentiles.p99 // 0) * 1000 | . * 100 | floor / 100), (.statusCodeDistribution | tostring)] | @tsv
    else [$n, "skipped"] | @tsv end' "$WORK/$name.oha.json" 2>/dev/null \
    | awk -F'\t' '{ printf "%-14s %9s %8s %8s  %s\n", $1, $2, $3, $4, $5 }' || echo "$name skipped"
done
log "backend $BACKEND, binary $BIN, $CONC connections, ${DURATION}s each"
