#!/usr/bin/env bash
# Gatehouse Actions benchmark: what a bound credentials-exchange action costs /oauth/token.
# One run, on a fresh database, measures:
#   token_plain   POST /oauth/token client_credentials, no action bound: with BENCH_CLIENT=m2m
#                 (the default) a machine-to-machine client granted 3 scopes of an API of its
#                 own, as a service's client usually is; with BENCH_CLIENT=admin the admin client
#                 for the Management API (221 scopes: the largest event an action can get);
#   token_action  the same after an action that sets one custom claim is created, deployed and
#                 bound to the credentials-exchange trigger through the Management API (one token
#                 is checked to carry the claim before measuring: the script fails otherwise).
# and prints requests/s, p50/p99, the server's CPU per request, the ratio
# token_action/token_plain (target ≥ 0.70) and the server's RSS after each run.
#
# Usage: bench/actions.sh [--postgres]
# Environment (all optional): BENCH_CLIENT=m2m|admin, BENCH_DURATION=10, BENCH_WARMUP=2, BENCH_CONCURRENCY=16,
#   BENCH_PG_URL, BENCH_NO_BUILD=1, BENCH_STRICT=1 (exit 3 when the target is missed).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DURATION="${BENCH_DURATION:-10}"
WARMUP="${BENCH_WARMUP:-2}"
CONC="${BENCH_CONCURRENCY:-16}"
PG_URL="${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432/test}"
STRICT="${BENCH_STRICT:-0}"
NO_BUILD="${BENCH_NO_BUILD:-0}"
TARGET=0.70
CLAIM='https://example.com/tier'
BENCH_CLIENT="${BENCH_CLIENT:-m2m}"

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

# token_claim: the value of $CLAIM in a fresh token for $TOKEN_BODY (empty when absent).
token_claim() {
  local resp tok
  resp="$(curl -sS --max-time 10 -H 'content-type: application/json' -d "$TOKEN_BODY" "$BASE/oauth/token" || true)"
  tok="$(jq -r '.access_token // empty' <<<"$resp" 2>/dev/null || true)"
  [[ -n "$tok" ]] || { echo "no token: $(head -c 300 <<<"$resp")" >&2; return 0; }
  python3 - "$tok" "$CLAIM" <<'EOF'
import base64, json, sys
p = sys.argv[1].split(".")[1]
claims = json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
v = claims.get(sys.argv[2])
print("" if v is None else v)
EOF
}

if [[ "$BENCH_CLIENT" == m2m ]]; then
  log "creating an API with 3 scopes and a machine-to-machine client granted them"
  mgmt POST /resource-servers '{"name":"bench api","identifier":"https://bench.example/","scopes":[{"value":"read:a"},{"value":"write:a"},{"value":"delete:a"}]}'
  mgmt POST /clients '{"name":"bench m2m","app_type":"non_interactive","grant_types":["client_credentials"]}'
  M2M_ID="$(jq -r .client_id "$WORK/mgmt.out")"
  M2M_SECRET="$(jq -r .client_secret "$WORK/mgmt.out")"
  mgmt POST /client-grants "$(jq -cn --arg c "$M2M_ID" '{client_id: $c, audience: "https://bench.example/", scope: ["read:a","write:a","delete:a"]}')"
  TOKEN_BODY="$(jq -cn --arg id "$M2M_ID" --arg s "$M2M_SECRET" \
    '{grant_type: "client_credentials", client_id: $id, client_secret: $s, audience: "https://bench.example/"}')"
fi

[[ -z "$(token_claim)" ]] || { echo "a token carries $CLAIM before any action is bound" >&2; exit 1; }

run_scenario token_plain "$BASE/oauth/token" -m POST -T application/json -d "$TOKEN_BODY"
RSS_PLAIN="$(server_rss_kb)"

log "creating, deploying and binding a credentials-exchange action"
mgmt POST /actions/actions "$(jq -cn --arg c "exports.onExecuteCredentialsExchange = async (event, api) => { api.accessToken.setCustomClaim('$CLAIM', 'gold'); };" \
  '{name: "bench claim", supported_triggers: [{id: "credentials-exchange", version: "v2"}], code: $c}')"
ACTION_ID="$(jq -r '.id // empty' "$WORK/mgmt.out")"
[[ -n "$ACTION_ID" ]] || { echo "the created action has no id: $(cat "$WORK/mgmt.out")" >&2; exit 1; }
mgmt POST "/actions/actions/$ACTION_ID/deploy" ""
mgmt PATCH /actions/triggers/credentials-exchange/bindings \
  "$(jq -cn --arg id "$ACTION_ID" '{bindings: [{ref: {type: "action_id", value: $id}, display_name: "bench"}]}')"

got="$(token_claim)"
if [[ "$got" != gold ]]; then
  echo "FAIL: after binding the action, a token carries $CLAIM=\"$got\", not \"gold\"" >&2
  tail -n 20 "$WORK/server.log" >&2
  exit 1
fi
log "a token carries $CLAIM=gold"

run_scenario token_action "$BASE/oauth/token" -m POST -T application/json -d "$TOKEN_BODY"
RSS_ACTION="$(server_rss_kb)"
HWM="$(server_hwm_kb)"

RESULTS_DIR="$ROOT/bench/results"
mkdir -p "$RESULTS_DIR"
OUT="$RESULTS_DIR/actions-$BACKEND-latest.json"
jq -n --arg backend "$BACKEND" --arg client "$BENCH_CLIENT" --argjson target "$TARGET" --arg oha "$OHA_VERSION" \
  --arg when "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --arg commit "$(git -C "$ROOT" rev-parse --short HEAD)" \
  --argjson conc "$CONC" --argjson duration "$DURATION" --argjson cores "$CORES" \
  --argjson rss_plain "$RSS_PLAIN" --argjson rss_action "$RSS_ACTION" --argjson hwm "$HWM" \
  --slurpfile p "$WORK/token_plain.json" --slurpfile a "$WORK/token_action.json" '
  {when: $when, commit: $commit, backend: $backend, client: $client, oha: $oha, cores: $cores,
   concurrency: $conc, duration_s: $duration, target_ratio: $target,
   token_plain: $p[0], token_action: $a[0],
   ratio: (if $p[0].status == "ok" and $a[0].status == "ok" and $p[0].rps > 0
           then ($a[0].rps / $p[0].rps * 1000 | round) / 1000 else null end),
   server_rss_kb: {after_plain: $rss_plain, after_action: $rss_action, peak: $hwm}}' >"$OUT"

python3 - "$OUT" "$STRICT" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
print(f"actions at /oauth/token, {d['backend']}, client {d['client']}, {d['concurrency']} connections, {d['duration_s']} s, "
      f"{d['cores']} cores (commit {d['commit']})")
print(f"{'scenario':<13} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'server µs/req':>14} {'gen µs/req':>11}  status")
for name in ("token_plain", "token_action"):
    s = d[name]
    if s.get("status") == "skipped":
        print(f"{name:<13} skipped: {s.get('reason')}")
        continue
    print(f"{name:<13} {s['rps']:>8.0f} {s['p50_ms'] or 0:>8.2f} {s['p99_ms'] or 0:>8.2f} "
          f"{s.get('server_cpu_us_per_req') or 0:>14} {s.get('load_generator_cpu_us_per_req') or 0:>11}  {s['status']}")
r = d["ratio"]
ok = r is not None and r >= d["target_ratio"]
print(f"ratio token_action/token_plain: {(r if r is not None else float('nan')):.3f}  "
      f"{'PASS' if ok else 'MISS'} (target ≥ {d['target_ratio']})")
rss = d["server_rss_kb"]
mb = lambda k: f"{k / 1024:.1f} MB" if isinstance(k, (int, float)) else "n/a"
print(f"server RSS: {mb(rss['after_plain'])} after token_plain, {mb(rss['after_action'])} after token_action "
      f"(peak {mb(rss['peak'])})")
sys.exit(3 if not ok and sys.argv[2] == "1" else 0)
EOF
