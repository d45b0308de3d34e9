#!/usr/bin/env bash
# Gatehouse end-user login benchmark, in one run against the ceilings measured in the same run:
#   ceilings  bcrypt-10 verification alone and RS256 signing alone, every core at once
#             (cargo bench -p gatehouse-core --bench sign), before the server starts;
#   password  POST /oauth/token, grant password-realm, for one user: one bcrypt-10 verification,
#             two signatures (access + ID token). Target ≥ 0.90 of bcrypt-10 alone.
#   refresh   POST /oauth/token, grant refresh_token (a non-rotating token, so that every
#             request may send the same one): two signatures. Target ≥ 0.80 of the signing
#             ceiling / 2.
#   flow      the browser round trip (bench/login_flow.py): GET /authorize → the hosted login page
#             → POST the credentials → the callback's code → POST /oauth/token with the PKCE
#             verifier. Once with a login each time (bcrypt-bound), once riding an SSO session.
#
# Usage: bench/login.sh [--postgres]
# Environment (all optional): BENCH_DURATION=10, BENCH_WARMUP=2, BENCH_CONCURRENCY=16,
#   BENCH_FLOW_WORKERS=8, BENCH_SIGN_TIME=5, BENCH_PG_URL, BENCH_NO_BUILD=1,
#   BENCH_STRICT=1 (exit 3 when a target is missed).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DURATION="${BENCH_DURATION:-10}"
WARMUP="${BENCH_WARMUP:-2}"
CONC="${BENCH_CONCURRENCY:-16}"
FLOW_WORKERS="${BENCH_FLOW_WORKERS:-8}"
SIGN_TIME="${BENCH_SIGN_TIME:-5}"
PG_URL="${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432/test}"
STRICT="${BENCH_STRICT:-0}"
NO_BUILD="${BENCH_NO_BUILD:-0}"

USE_PG=0
for arg in "$@"; do
  case "$arg" in
    --postgres) USE_PG=1 ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "unknown argument: $arg (try --help)" >&2; exit 2 ;;
  esac
done

# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"

build_release gatehouse

# ---------------------------------------------------------------- ceilings (nothing else running)
log "ceilings: cargo bench -p gatehouse-core --bench sign (RS256 signing, bcrypt-10 verification)"
cargo bench -p gatehouse-core --bench sign --quiet --no-run >"$WORK/sign.txt" 2>&1 \
  || { cat "$WORK/sign.txt" >&2; echo "building the sign bench failed" >&2; exit 1; }
cargo bench -p gatehouse-core --bench sign --quiet -- 'rs256_sign_parallel|bcrypt' \
    --warm-up-time 1 --measurement-time "$SIGN_TIME" --noplot >"$WORK/sign.txt" 2>&1 \
  || { cat "$WORK/sign.txt" >&2; echo "the sign bench failed" >&2; exit 1; }
pick() { awk -v n="$1" '$1=="BENCH-OPS" && $2==n {print $3}' "$WORK/sign.txt" | tail -n1; }
SIGN_N="$(pick rs256_sign_parallel)"
BCRYPT_N="$(pick bcrypt/bcrypt10_verify_parallel)"
BCRYPT_1="$(pick bcrypt/bcrypt10_verify)"
[[ -n "$SIGN_N" && -n "$BCRYPT_N" ]] || { cat "$WORK/sign.txt" >&2; echo "no BENCH-OPS ceilings" >&2; exit 1; }
log "ceilings: RS256 signing $SIGN_N/s, bcrypt-10 verification $BCRYPT_N/s (one core: ${BCRYPT_1:-?}/s)"

setup_database
start_server
get_token

# ---------------------------------------------------------------- the tenant
log "creating an API with offline access, a regular web app, a user in Username-Password-Authentication"
CALLBACK="http://127.0.0.1:9/callback"
PASSWORD="Bench-$(python3 -c 'import secrets; print(secrets.token_urlsafe(12))')!"
mgmt POST /resource-servers '{"name":"bench api","identifier":"https://bench.example/","allow_offline_access":true,"scopes":[{"value":"read:a"}]}'
mgmt POST /clients "$(jq -cn --arg cb "$CALLBACK" '{name: "bench web", app_type: "regular_web",
  callbacks: [$cb], grant_types: ["authorization_code", "refresh_token", "password",
  "http://auth0.com/oauth/grant-type/password-realm"],
  refresh_token: {rotation_type: "non-rotating", expiration_type: "non-expiring"}}')"
APP_ID="$(jq -r .client_id "$WORK/mgmt.out")"
APP_SECRET="$(jq -r .client_secret "$WORK/mgmt.out")"
mgmt GET '/connections?name=Username-Password-Authentication' ''
CONN_ID="$(jq -r '.[0].id' "$WORK/mgmt.out")"
mgmt PATCH "/connections/$CONN_ID/clients" "$(jq -cn --arg c "$APP_ID" '[{client_id: $c, status: true}]')"
mgmt POST /users "$(jq -cn --arg p "$PASSWORD" '{connection: "Username-Password-Authentication", email: "bench@example.com", password: $p, email_verified: true}')"

form() { python3 -c 'import sys, urllib.parse; print(urllib.parse.urlencode(dict(a.split("=", 1) for a in sys.argv[1:])))' "$@"; }
PASSWORD_BODY="$(form grant_type=http://auth0.com/oauth/grant-type/password-realm realm=Username-Password-Authentication \
  username=bench@example.com "password=$PASSWORD" "client_id=$APP_ID" "client_secret=$APP_SECRET" \
  "scope=openid offline_access" audience=https://bench.example/)"
curl -sS -X POST "$BASE/oauth/token" -H 'content-type: application/x-www-form-urlencoded' -d "$PASSWORD_BODY" >"$WORK/first.json"
REFRESH="$(jq -r '.refresh_token // empty' "$WORK/first.json")"
[[ -n "$REFRESH" ]] || { cat "$WORK/first.json" >&2; echo "FAIL: no refresh token from password-realm" >&2; exit 1; }
REFRESH_BODY="$(form grant_type=refresh_token "refresh_token=$REFRESH" "client_id=$APP_ID" "client_secret=$APP_SECRET")"
PASSWORD_BODY="$(form grant_type=http://auth0.com/oauth/grant-type/password-realm realm=Username-Password-Authentication \
  username=bench@example.com "password=$PASSWORD" "client_id=$APP_ID" "client_secret=$APP_SECRET" scope=openid \
  audience=https://bench.example/)"

run_scenario password "$BASE/oauth/token" -m POST -T application/x-www-form-urlencoded -d "$PASSWORD_BODY"
run_scenario refresh "$BASE/oauth/token" -m POST -T application/x-www-form-urlencoded -d "$REFRESH_BODY"

flow() {
  BENCH_LOGIN_PASSWORD="$PASSWORD" python3 "$ROOT/bench/login_flow.py" --base "$BASE" --client-id "$APP_ID" \
    --client-secret "$APP_SECRET" --callback "$CALLBACK" --username bench@example.com \
    --workers "$FLOW_WORKERS" --seconds "$DURATION" "$@"
}
log "flow: /authorize → login → code → token, $FLOW_WORKERS workers, ${DURATION}s (a login each time)"
flow >"$WORK/flow_login.json"
log "flow: the same riding an SSO session (no password check)"
flow --sso >"$WORK/flow_sso.json"

RESULTS_DIR="$ROOT/bench/results"
mkdir -p "$RESULTS_DIR"
OUT="$RESULTS_DIR/login-$BACKEND-latest.json"
jq -n --arg backend "$BACKEND" --arg oha "$OHA_VERSION" \
  --arg when "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --arg commit "$(git -C "$ROOT" rev-parse --short HEAD)" \
  --argjson conc "$CONC" --argjson duration "$DURATION" --argjson cores "$CORES" \
  --argjson sign "$SIGN_N" --argjson bcrypt "$BCRYPT_N" \
  --slurpfile pw "$WORK/password.json" --slurpfile rt "$WORK/refresh.json" \
  --slurpfile fl "$WORK/flow_login.json" --slurpfile fs "$WORK/flow_sso.json" '
  def r3: (. * 1000 | round) / 1000;
  {when: $when, commit: $commit, backend: $backend, oha: $oha, cores: $cores, concurrency: $conc,
   duration_s: $duration, ceiling_rs256_sign_per_s: $sign, ceiling_bcrypt10_verify_per_s: $bcrypt,
   password: $pw[0], refresh: $rt[0], flow_login: $fl[0], flow_sso: $fs[0],
   ratio_password: (if $pw[0].status == "ok" then ($pw[0].rps / $bcrypt | r3) else null end),
   target_password: 0.90,
   ratio_refresh: (if $rt[0].status == "ok" then ($rt[0].rps / ($sign / 2) | r3) else null end),
   target_refresh: 0.80}' >"$OUT"

python3 - "$OUT" "$STRICT" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
print(f"end-user login, {d['backend']}, {d['concurrency']} connections, {d['duration_s']} s, {d['cores']} cores (commit {d['commit']})")
print(f"ceilings: bcrypt-10 verification {d['ceiling_bcrypt10_verify_per_s']:.0f}/s, RS256 signing {d['ceiling_rs256_sign_per_s']:.0f}/s")
print(f"{'scenario':<10} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'server µs/req':>14}  status")
for name in ("password", "refresh"):
    s = d[name]
    print(f"{name:<10} {s['rps']:>8.1f} {s['p50_ms'] or 0:>8.2f} {s['p99_ms'] or 0:>8.2f} "
          f"{s.get('server_cpu_us_per_req') or 0:>14}  {s['status']}")
for name in ("flow_login", "flow_sso"):
    s = d[name]
    print(f"{name:<10} {s['per_second']:>8.1f} {s['p50_ms'] or 0:>8.2f} {s['p99_ms'] or 0:>8.2f} "
          f"{'':>14}  {s['round_trips']} round trips, {s['failures']} failures"
          + (f" (first: {s['first_failure']})" if s['failures'] else ""))
miss = False
for k, t in (("ratio_password", "target_password"), ("ratio_refresh", "target_refresh")):
    r = d[k]
    ok = r is not None and r >= d[t]
    miss |= not ok
    print(f"{k}: {(r if r is not None else float('nan')):.3f}  {'PASS' if ok else 'MISS'} (target ≥ {d[t]})")
fails = d["flow_login"]["failures"] + d["flow_sso"]["failures"]
if fails or not d["flow_login"]["round_trips"]:
    print("FAIL: the browser round trip failed"); sys.exit(1)
sys.exit(3 if miss and sys.argv[2] == "1" else 0)
PY
