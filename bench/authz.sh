#!/usr/bin/env bash
# Gatehouse authorization benchmark: an organization with BENCH_MEMBERS members (default 100,000)
# and a role given to as many users, in a fresh database; measures in one run:
#   health        GET  /healthz                                        (the ceiling)
#   members_deep  GET  /api/v2/organizations/{id}/members?from=…&take=50  a page deep in the list
#   role_users    GET  /api/v2/roles/{id}/users?from=…&take=50         a page deep in the list
#   user_roles    GET  /api/v2/users/{id}/roles                        the sample user: 3 roles
#   user_perms    GET  /api/v2/users/{id}/permissions?per_page=100&include_totals=true
#                                                                      3 roles × 50 permissions
#   token_plain   POST /oauth/token  client_credentials to an RBAC API (enforce_policies,
#                                    token_dialect access_token_authz)
#   token_org     POST /oauth/token  the same with `organization` (the grant: organization_usage
#                                    allow, allow_any_organization true, associated with the org)
# each as requests/s, p50/p99 and its ratio to health. Targets:
#   p99 < 20 ms for the member page, the role's users page and the user's roles and permissions;
#   token_org ≥ 90 % of token_plain's requests/s.
#
# The API, the 3 roles, the organization, the client, its grant and the grant's association
# with the organization are made through the Management API (a few calls); the users, the
# members, the role's users and the roles' permissions by `gatehouse-seed authz` (multi-row
# INSERTs). The deep cursors are the API's own `next`, reached by walking the list with take=100.
#
# Usage: bench/authz.sh [--postgres]
# Environment (all optional):
#   BENCH_MEMBERS=100000     members of the organization (users 0..N)
#   BENCH_ROLE_USERS=        users given the role (default: BENCH_MEMBERS)
#   BENCH_DEEP=              how far into the lists the measured page starts (default: 90 %)
#   BENCH_GRANT_SCOPES=10    scopes of the client grant (the tokens' `permissions`)
#   BENCH_DURATION=10        seconds measured per scenario
#   BENCH_WARMUP=2           seconds of warm-up per scenario (not measured)
#   BENCH_CONCURRENCY=8      connections kept busy by the load generator (as bench/users.sh)
#   BENCH_PG_URL=postgres://postgres@127.0.0.1:5432/test   (with --postgres)
#   BENCH_NO_BUILD=1         use the existing release binaries as they are
#   BENCH_STRICT=1           exit 3 when a target is missed or a scenario could not run
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH_DIR="$ROOT/bench"
RESULTS_DIR="$BENCH_DIR/results"

MEMBERS="${BENCH_MEMBERS:-100000}"
ROLE_USERS="${BENCH_ROLE_USERS:-$MEMBERS}"
GRANT_SCOPES="${BENCH_GRANT_SCOPES:-10}"
DURATION="${BENCH_DURATION:-10}"
WARMUP="${BENCH_WARMUP:-2}"
CONC="${BENCH_CONCURRENCY:-8}"
PG_URL="${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432/test}"
STRICT="${BENCH_STRICT:-0}"
NO_BUILD="${BENCH_NO_BUILD:-0}"
ROLES=3
PERMS_PER_ROLE=50
READ_P99_MS=20
TOKEN_RATIO=0.90

USE_PG=0
for arg in "$@"; do
  case "$arg" in
    --postgres) USE_PG=1 ;;
    -h|--help) sed -n '2,34p' "$0"; exit 0 ;;
    *) echo "unknown argument: $arg (try --help)" >&2; exit 2 ;;
  esac
done
for v in MEMBERS ROLE_USERS GRANT_SCOPES DURATION WARMUP CONC; do
  [[ "${!v}" =~ ^[0-9]+$ && "${!v}" -gt 0 ]] || { echo "BENCH_$v must be a positive integer" >&2; exit 2; }
done
DEEP="${BENCH_DEEP:-$((MEMBERS * 9 / 10))}"
[[ "$DEEP" =~ ^[0-9]+$ && "$DEEP" -gt 0 ]] || { echo "BENCH_DEEP must be a positive integer" >&2; exit 2; }
# The sample user (every role, 150 permissions) must be a member and a user of the role.
SAMPLE=$((MEMBERS < ROLE_USERS ? MEMBERS : ROLE_USERS))
SAMPLE=$((SAMPLE * 7 / 9))

# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh"
build_release gatehouse gatehouse-seed

setup_database
start_server
get_token
AUTH=(-H "Authorization: Bearer $ACCESS_TOKEN")

enc() { python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"; }

# try_api METHOD PATH [JSON]: calls the Management API; the answer in $WORK/api.out, the
# status in $WORK/api.code; fails (without a word) on anything but 2xx.
try_api() {
  local method="$1" path="$2" body="${3:-}" code
  local args=(-sS --max-time 30 -o "$WORK/api.out" -w '%{http_code}' -X "$method" "${AUTH[@]}")
  [[ -n "$body" ]] && args+=(-H 'content-type: application/json' --data-binary "$body")
  code="$(curl "${args[@]}" "$BASE/api/v2$path" || echo 000)"
  echo "$code" >"$WORK/api.code"
  [[ "$code" == 2* ]]
}
# why: what the last call answered, in one line.
why() { echo "$1 answered HTTP $(cat "$WORK/api.code"): $(head -c 200 "$WORK/api.out" | tr '\n' ' ')"; }
# api METHOD PATH [JSON]: the Management API's answer; stops the run on anything but 2xx.
api() {
  if ! try_api "$@"; then
    echo "setup: $(why "$1 /api/v2$2")" >&2
    echo "(the authorization handlers are needed to set the scenario up)" >&2
    exit 1
  fi
  cat "$WORK/api.out"
}

# ---------------------------------------------------------------- setup through the API
API_ID="https://authz-bench.gatehouse.test/"
log "setup through the Management API: an RBAC API with $((ROLES * PERMS_PER_ROLE)) scopes, $ROLES roles, an organization, a client and its grant"
scopes="$(jq -c --argjson n "$((ROLES * PERMS_PER_ROLE))" -n \
  '[range($n) | {value: ("bench:perm:\(.)"), description: "benchmark permission \(.)"}]')"
api POST /resource-servers "$(jq -cn --arg id "$API_ID" --argjson s "$scopes" \
  '{name: "Authorization benchmark", identifier: $id, scopes: $s, enforce_policies: true,
    token_dialect: "access_token_authz", signing_alg: "RS256"}')" >/dev/null
ROLE_IDS=()
for k in $(seq 1 "$ROLES"); do
  ROLE_IDS+=("$(api POST /roles "$(jq -cn --arg k "$k" '{name: "bench-role-\($k)", description: "benchmark role \($k)"}')" | jq -r .id)")
done
# Without the organizations family the organization's scenarios are skipped, the others run.
ORG_ID="" ORG_MISSING=""
if try_api POST /organizations '{"name":"bench-org","display_name":"Benchmark organization"}'; then
  ORG_ID="$(jq -r '.id // empty' "$WORK/api.out")"
else
  ORG_MISSING="setup: $(why "POST /organizations")"
  log "$ORG_MISSING: the organization's scenarios are skipped"
fi
client="$(api POST /clients '{"name":"Authorization benchmark M2M","app_type":"non_interactive","grant_types":["client_credentials"],"token_endpoint_auth_method":"client_secret_post"}')"
M2M_ID="$(jq -r .client_id <<<"$client")"
M2M_SECRET="$(jq -r .client_secret <<<"$client")"
grant_scopes="$(jq -c --argjson n "$GRANT_SCOPES" '[.[:$n][] | .value]' <<<"$scopes")"
GRANT_ID="$(api POST /client-grants "$(jq -cn --arg c "$M2M_ID" --arg a "$API_ID" --argjson s "$grant_scopes" \
  '{client_id: $c, audience: $a, scope: $s, organization_usage: "allow", allow_any_organization: true}')" | jq -r .id)"
if [[ -n "$ORG_ID" ]]; then
  api POST "/organizations/$ORG_ID/client-grants" "$(jq -cn --arg g "$GRANT_ID" '{grant_id: $g}')" >/dev/null
fi
for v in M2M_ID M2M_SECRET GRANT_ID; do
  [[ -n "${!v}" && "${!v}" != null ]] || { echo "setup: no $v in the API's answer" >&2; exit 1; }
done
log "organization $ORG_ID, roles ${ROLE_IDS[*]}, client $M2M_ID, grant $GRANT_ID"
stop_server

# ---------------------------------------------------------------- bulk seeding
log "seeding $MEMBERS members, $ROLE_USERS role users, $ROLES × $PERMS_PER_ROLE permissions ($BACKEND)"
seed_t0="$(date +%s.%N)"
ORG_ARG=()
[[ -n "$ORG_ID" ]] && ORG_ARG=(--organization "$ORG_ID")
"$ROOT/target/release/gatehouse-seed" --database-url "$DB_URL" authz \
  --members "$MEMBERS" --role-users "$ROLE_USERS" "${ORG_ARG[@]}" \
  --roles "$(IFS=,; echo "${ROLE_IDS[*]}")" --api "$API_ID" \
  --permissions-per-role "$PERMS_PER_ROLE" --sample "$SAMPLE" >"$WORK/seed.txt"
if [[ "$BACKEND" == postgres ]]; then
  # As autovacuum would after a bulk load (see bench/users.sh).
  log "VACUUM (ANALYZE) after the bulk load"
  psql "$PG_URL" -q -v ON_ERROR_STOP=1 -c "SET search_path TO $PG_SCHEMA" \
    -c "VACUUM (ANALYZE) users, user_identities, user_keys, user_attrs, organization_members, user_roles, role_permissions"
fi
seed_t1="$(date +%s.%N)"
seed() { awk -F= -v k="SEED $1" '$1 == k { print $2 }' "$WORK/seed.txt"; }
SAMPLE_ID="$(seed sample_user_id)"
SEED_SECONDS="$(awk -v a="$seed_t0" -v b="$seed_t1" 'BEGIN { printf "%.1f", b - a }')"
DB_SIZE_MB=null
[[ "$BACKEND" == sqlite ]] && DB_SIZE_MB="$(du -cm "$DB_URL"* | awk 'END { print $1 }')"
log "seeded in ${SEED_SECONDS}s; sample user $SAMPLE_ID"

start_server
get_token
AUTH=(-H "Authorization: Bearer $ACCESS_TOKEN")

# ---------------------------------------------------------------- deep cursors
# walk PATH KEY: follows `next` with take=100 (one keep-alive connection) until DEEP items are
# behind; prints a JSON {cursor, skipped, pages, seconds, error}.
walk() {
  python3 - "$BASE" "$ACCESS_TOKEN" "$1" "$2" "$DEEP" <<'PY'
import http.client, json, sys, time, urllib.parse
base, token, path, key, deep = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
u = urllib.parse.urlsplit(base)
conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
cursor, skipped, pages, t0, err = None, 0, 0, time.monotonic(), None
try:
    while skipped < deep:
        take = min(100, deep - skipped)
        q = {"take": str(take)}
        if cursor:
            q["from"] = cursor
        conn.request("GET", f"{path}?{urllib.parse.urlencode(q)}", headers={"Authorization": f"Bearer {token}"})
        r = conn.getresponse()
        body = r.read()
        pages += 1
        if r.status != 200:
            err = f"HTTP {r.status} after {skipped} items: {body[:200].decode(errors='replace')}"
            break
        page = json.loads(body)
        items = page.get(key) if isinstance(page, dict) else None
        if not isinstance(items, list):
            err = f"no '{key}' list in the answer: {body[:200].decode(errors='replace')}"
            break
        skipped += len(items)
        cursor = page.get("next")
        if not items or not cursor:
            if skipped < deep:
                err = f"the list ended (no next) after {skipped} items"
            break
except Exception as e:  # a refused connection, a time-out, not JSON: reported, not fatal
    err = f"{type(e).__name__}: {e}"
if err:
    cursor = None
print(json.dumps({"cursor": cursor, "skipped": skipped, "pages": pages,
                  "seconds": round(time.monotonic() - t0, 2), "error": err}))
PY
}
log "walking to item $DEEP of the member list and of the role's users (take=100)"
MEMBERS_WALK="$(jq -cn --arg e "${ORG_MISSING:-}" '{cursor: null, skipped: 0, pages: 0, seconds: 0, error: $e}')"
[[ -n "$ORG_ID" ]] && MEMBERS_WALK="$(walk "/api/v2/organizations/$ORG_ID/members" members)"
ROLE_WALK="$(walk "/api/v2/roles/${ROLE_IDS[0]}/users" users)"
log "members: $MEMBERS_WALK"
log "role users: $ROLE_WALK"
cursor_of() { jq -r '.cursor // empty' <<<"$1"; }

declare -A URLS LABELS KINDS
add() { URLS[$1]="$2"; LABELS[$1]="$3"; KINDS[$1]="$4"; }
add members_deep "$BASE/api/v2/organizations/$ORG_ID/members?take=50&from=$(enc "$(cursor_of "$MEMBERS_WALK")")" \
  "GET /organizations/{id}/members" read
add role_users "$BASE/api/v2/roles/${ROLE_IDS[0]}/users?take=50&from=$(enc "$(cursor_of "$ROLE_WALK")")" \
  "GET /roles/{id}/users" read
add user_roles "$BASE/api/v2/users/$(enc "$SAMPLE_ID")/roles" "GET /users/{id}/roles" read
add user_perms "$BASE/api/v2/users/$(enc "$SAMPLE_ID")/permissions?per_page=100&page=0&include_totals=true" \
  "GET /users/{id}/permissions" read
add token_plain "$BASE/oauth/token" "POST /oauth/token" token
add token_org "$BASE/oauth/token" "POST /oauth/token +organization" token
READS=(members_deep role_users user_roles user_perms)
PLAIN_BODY="$(jq -cn --arg id "$M2M_ID" --arg s "$M2M_SECRET" --arg a "$API_ID" \
  '{grant_type: "client_credentials", client_id: $id, client_secret: $s, audience: $a}')"
ORG_BODY="$(jq -c --arg o "$ORG_ID" '. + {organization: $o}' <<<"$PLAIN_BODY")"

LOAD_BEFORE="$(cut -d' ' -f1 /proc/loadavg)"
run_scenario health "$BASE/healthz"
for k in "${READS[@]}"; do
  w=""
  [[ "$k" == members_deep ]] && w="$MEMBERS_WALK"
  [[ "$k" == role_users ]] && w="$ROLE_WALK"
  if [[ -n "$w" && -z "$(cursor_of "$w")" ]]; then
    jq -n --arg n "$k" --arg u "${URLS[$k]}" --argjson w "$w" \
      '{name:$n, url:$u, status:"skipped", reason:("no deep cursor: " + ($w.error // "?"))}' >"$WORK/$k.json"
    continue
  fi
  run_scenario "$k" "${URLS[$k]}" "${AUTH[@]}"
done
run_scenario token_plain "${URLS[token_plain]}" -m POST -T application/json -d "$PLAIN_BODY"
if [[ -n "$ORG_ID" ]]; then
  run_scenario token_org "${URLS[token_org]}" -m POST -T application/json -d "$ORG_BODY"
else
  jq -n --arg u "${URLS[token_org]}" --arg r "$ORG_MISSING" '{name:"token_org", url:$u, status:"skipped", reason:$r}' >"$WORK/token_org.json"
fi
SERVER_ALIVE=true; kill -0 "$SERVER_PID" 2>/dev/null || SERVER_ALIVE=false

# What each probe answered: items on the page (reads), the token's claims (tokens).
probe_facts() {
  python3 - "$WORK/$1.probe" "$1" <<'PY'
import base64, json, sys
path, name = sys.argv[1], sys.argv[2]
try:
    d = json.load(open(path))
except Exception:
    print("{}"); sys.exit(0)
out = {}
if name.startswith("token"):
    try:
        p = d["access_token"].split(".")[1]
        c = json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
        out = {"org_id": c.get("org_id"), "permissions": len(c.get("permissions") or []),
               "token_bytes": len(d["access_token"])}
    except Exception as e:
        out = {"claims_error": str(e)}
else:
    items = d if isinstance(d, list) else next((v for v in d.values() if isinstance(v, list)), [])
    out = {"items": len(items)}
    if isinstance(d, dict) and "total" in d:
        out["total"] = d["total"]
print(json.dumps(out))
PY
}

# ---------------------------------------------------------------- report
mkdir -p "$RESULTS_DIR"
OUT="$RESULTS_DIR/authz-$BACKEND-latest.json"
{
  for k in "${READS[@]}" token_plain token_org; do
    jq -c --arg k "$k" --arg lbl "${LABELS[$k]}" --arg kind "${KINDS[$k]}" \
      --argjson facts "$(probe_facts "$k")" '. + {key: $k, label: $lbl, kind: $kind, probe: $facts}' "$WORK/$k.json"
  done
} | jq -s \
  --slurpfile h "$WORK/health.json" \
  --argjson members "$MEMBERS" --argjson role_users "$ROLE_USERS" --argjson deep "$DEEP" \
  --argjson grant_scopes "$GRANT_SCOPES" --argjson mwalk "$MEMBERS_WALK" --argjson rwalk "$ROLE_WALK" \
  --arg seed_s "$SEED_SECONDS" --argjson db_mb "$DB_SIZE_MB" --argjson alive "$SERVER_ALIVE" \
  --arg org "$ORG_ID" --arg sample "$SAMPLE_ID" \
  --argjson read_p99 "$READ_P99_MS" --argjson token_ratio "$TOKEN_RATIO" \
  --argjson cores "$CORES" --argjson dur "$DURATION" --argjson warm "$WARMUP" --argjson conc "$CONC" \
  --arg load_before "$LOAD_BEFORE" --arg load_after "$(cut -d' ' -f1 /proc/loadavg)" \
  --arg backend "$BACKEND" --arg oha "$OHA_VERSION" --arg when "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
  --arg commit "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)" \
  --arg dirty "$([[ -n "$(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null)" ]] && echo true || echo false)" \
  --arg cpu "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')" '
  def r3: if . == null then null else (. * 1000 | round) / 1000 end;
  ($h[0]) as $h
  | (if $h.status == "ok" then $h.rps else null end) as $ceil
  | (map(select(.key == "token_plain"))[0]) as $plain
  | {
    when: $when, commit: $commit, dirty_tree: ($dirty == "true"),
    machine: {cores: $cores, cpu: $cpu, loadavg_1m_before: ($load_before | tonumber),
              loadavg_1m_after: ($load_after | tonumber)},
    config: {backend: $backend, members: $members, role_users: $role_users, deep: $deep,
             roles_of_sample: 3, permissions_per_role: 50, grant_scopes: $grant_scopes,
             duration_s: $dur, warmup_s: $warm, concurrency: $conc, load_generator: $oha},
    setup: {organization: $org, sample_user: $sample, seed_seconds: ($seed_s | tonumber),
            database_mb: $db_mb, members_walk: $mwalk, role_users_walk: $rwalk},
    health: $h,
    scenarios: [ .[] | . + {
      ratio_to_health: (if .status == "ok" and $ceil != null and $ceil > 0 then .rps / $ceil else null end | r3)}
      | if .kind == "read" then . + {target: {p99_ms_below: $read_p99,
            verdict: (if .status != "ok" then "n/a" elif .p99_ms < $read_p99 then "PASS" else "MISS" end)}}
        elif .key == "token_org" then
          (if .status == "ok" and $plain.status == "ok" and $plain.rps > 0 then .rps / $plain.rps else null end) as $r
          | . + {ratio_to_plain: ($r | r3), target: {ratio_to_plain_at_least: $token_ratio,
            verdict: (if $r == null then "n/a" elif $r >= $token_ratio then "PASS" else "MISS" end)}}
        else . end ],
    server_alive_after_run: $alive
  }' >"$OUT"

python3 - "$OUT" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
c, s, h = d["config"], d["setup"], d["health"]
f = lambda v, spec: "-" if v is None else format(v, spec)
print()
print(f"Gatehouse authorization benchmark  backend={c['backend']}  members={c['members']:,}  role users={c['role_users']:,}"
      f"  {c['duration_s']}s x {c['concurrency']} conns  ({c['load_generator']}, {d['machine']['cores']} cores,"
      f" commit {d['commit']}{'+dirty' if d['dirty_tree'] else ''})")
print(f"seeded in {s['seed_seconds']} s" + (f", database {s['database_mb']} MB" if s['database_mb'] else "")
      + f"; deep pages start at item {c['deep']:,} (walked: members {s['members_walk'].get('pages')} pages in"
      f" {s['members_walk'].get('seconds')} s, role users {s['role_users_walk'].get('pages')} pages in {s['role_users_walk'].get('seconds')} s)")
for w in ("members_walk", "role_users_walk"):
    if s[w].get("error"):
        print(f"  {w}: {s[w]['error']}")
hdr = f"{'scenario':<36} {'answer':>14} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'of health':>9}  {'target':>16}  verdict"
print(hdr); print("-" * len(hdr))
print(f"{'GET /healthz':<36} {'':>14} {f(h.get('rps'), '8.0f')} {f(h.get('p50_ms'), '7.2f')} {f(h.get('p99_ms'), '7.2f')} {'1.000':>9}  {'(ceiling)':>16}")
for x in d["scenarios"]:
    if x["status"] == "skipped":
        print(f"{x['label']:<36} SKIPPED: {x['reason']}  {x.get('body', '')[:120]}")
        continue
    p = x.get("probe", {})
    if x["kind"] == "token":
        ans = f"{p.get('permissions', '?')} perms" + (" +org_id" if p.get("org_id") else "")
    else:
        ans = f"{p.get('items', '?')} items" + (f"/{p['total']}" if "total" in p else "")
    t = x.get("target")
    if t is None:
        tgt, verdict = "(reference)", ""
    elif "p99_ms_below" in t:
        tgt, verdict = f"p99 < {t['p99_ms_below']} ms", t["verdict"]
    else:
        tgt, verdict = f"≥ {t['ratio_to_plain_at_least']:.2f} of plain", f"{t['verdict']} ({f(x.get('ratio_to_plain'), '.3f')})"
    note = "" if x["status"] == "ok" else "  (non-200: " + json.dumps(x["status_codes"]) + ")"
    print(f"{x['label']:<36} {ans:>14} {f(x['rps'], '8.0f')} {f(x['p50_ms'], '7.2f')} {f(x['p99_ms'], '7.2f')}"
          f" {f(x['ratio_to_health'], '9.3f')}  {tgt:>16}  {verdict}{note}")
org = next((x for x in d["scenarios"] if x["key"] == "token_org"), {})
if org.get("status") not in (None, "skipped") and not org.get("probe", {}).get("org_id"):
    print("NOTE: the organization token carries no org_id: the organization was not applied")
busy = {x["key"]: x.get("other_processes_cpu_share") for x in d["scenarios"] if x.get("other_processes_cpu_share") is not None}
if any(v > 0.10 for v in busy.values()):
    print("NOTE: other processes used " + ", ".join(f"{k} {v:.0%}" for k, v in busy.items())
          + " of the machine during the runs: figures are low and noisy")
if not d["server_alive_after_run"]:
    print("WARNING: the server was not running at the end of the run")
print(f"results: {sys.argv[1]}")
PY

if [[ "$STRICT" == 1 ]]; then
  jq -e '[.scenarios[] | .target.verdict // empty] | all(. == "PASS")' "$OUT" >/dev/null || exit 3
fi
