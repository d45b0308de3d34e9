#!/usr/bin/env bash
# Gatehouse user benchmark: seeds BENCH_USERS users (default 1,000,000: bulk, one pre-computed
# bcrypt hash) into a fresh database, restarts the server on it and measures, in one run:
#   health      GET /healthz                                   (the ceiling: HTTP stack alone)
#   get_user    GET /api/v2/users/{id}                         exact
#   by_email    GET /api/v2/users-by-email?email=…             exact
#   q_email     GET /api/v2/users?q=email:"…"                  exact (search)
#   q_prefix    GET /api/v2/users?q=name:jo*                   prefix
#   q_range     GET /api/v2/users?q=logins_count:[100 TO 200]  range
#   q_metadata  GET /api/v2/users?q=app_metadata.plan:"gold"   metadata
# (searches with search_engine=v3, Auth0's default page of 50, include_totals=true), each as
# requests/s, p50/p99 and its ratio to health, plus the server's resident memory. Targets:
#   p99 < 20 ms for exact lookups, < 100 ms for prefix, range and metadata queries,
#   server RSS (peak, VmHWM) < 200 MB with the users loaded.
#
# Usage: bench/users.sh [--postgres]
# Environment (all optional):
#   BENCH_USERS=1000000     users to seed
#   BENCH_DURATION=10       seconds measured per scenario
#   BENCH_WARMUP=2          seconds of warm-up per scenario (not measured)
#   BENCH_CONCURRENCY=8     connections kept busy by the load generator (latency is judged
#                           under this load: on 2 cores, 8 keeps both busy without queueing
#                           dominating p99)
#   BENCH_PG_URL=postgres://postgres@127.0.0.1:5432/test   (with --postgres)
#   BENCH_NO_BUILD=1        use the existing release binaries as they are
#   BENCH_STRICT=1          exit 3 when a target is missed or a scenario could not run
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH_DIR="$ROOT/bench"
RESULTS_DIR="$BENCH_DIR/results"

USERS="${BENCH_USERS:-1000000}"
DURATION="${BENCH_DURATION:-10}"
WARMUP="${BENCH_WARMUP:-2}"
CONC="${BENCH_CONCURRENCY:-8}"
PG_URL="${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432/test}"
STRICT="${BENCH_STRICT:-0}"
NO_BUILD="${BENCH_NO_BUILD:-0}"

USE_PG=0
for arg in "$@"; do
  case "$arg" in
    --postgres) USE_PG=1 ;;
    -h|--help) sed -n '2,28p' "$0"; exit 0 ;;
    *) echo "unknown argument: $arg (try --help)" >&2; exit 2 ;;
  esac
done
for v in USERS DURATION WARMUP CONC; do
  [[ "${!v}" =~ ^[0-9]+$ && "${!v}" -gt 0 ]] || { echo "BENCH_$v must be a positive integer" >&2; exit 2; }
done

# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh"
build_release gatehouse gatehouse-seed

setup_database
# One start creates the schema, the tenant and its Username-Password-Authentication connection.
start_server
stop_server

log "seeding $USERS users ($BACKEND)"
seed_t0="$(date +%s.%N)"
"$ROOT/target/release/gatehouse-seed" --database-url "$DB_URL" --count "$USERS" >"$WORK/seed.txt"
if [[ "$BACKEND" == postgres ]]; then
  # What autovacuum does after a bulk load (PostgreSQL >= 13 vacuums tables after many inserts):
  # until the visibility map is set, index-only scans still read the table.
  log "VACUUM (ANALYZE) after the bulk load"
  psql "$PG_URL" -q -v ON_ERROR_STOP=1 -c "SET search_path TO $PG_SCHEMA" \
    -c "VACUUM (ANALYZE) users, user_identities, user_keys, user_attrs"
fi
seed_t1="$(date +%s.%N)"
seed() { awk -F= -v k="SEED $1" '$1 == k { print $2 }' "$WORK/seed.txt"; }
SAMPLE_ID="$(seed sample_user_id)"
SAMPLE_EMAIL="$(seed sample_email)"
SEED_SECONDS="$(awk -v a="$seed_t0" -v b="$seed_t1" 'BEGIN { printf "%.1f", b - a }')"
DB_SIZE_MB=null
[[ "$BACKEND" == sqlite ]] && DB_SIZE_MB="$(du -cm "$DB_URL"* | awk 'END { print $1 }')"
log "seeded in ${SEED_SECONDS}s; sample user $SAMPLE_ID"

start_server
RSS_START_KB="$(server_rss_kb)"
get_token
AUTH=(-H "Authorization: Bearer $ACCESS_TOKEN")

enc() { python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"; }
search_url() { echo "$BASE/api/v2/users?search_engine=v3&include_totals=true&q=$(enc "$1")"; }

declare -A URLS LABELS KINDS
add() { URLS[$1]="$2"; LABELS[$1]="$3"; KINDS[$1]="$4"; }
add get_user "$BASE/api/v2/users/$(enc "$SAMPLE_ID")" "GET /users/{id}" exact
add by_email "$BASE/api/v2/users-by-email?email=$(enc "$SAMPLE_EMAIL")" "GET /users-by-email" exact
add q_email "$(search_url "email:\"$SAMPLE_EMAIL\"")" "q=email:\"…\"" exact
add q_prefix "$(search_url 'name:jo*')" "q=name:jo*" prefix
add q_range "$(search_url 'logins_count:[100 TO 200]')" "q=logins_count:[100 TO 200]" range
add q_metadata "$(search_url 'app_metadata.plan:"gold"')" "q=app_metadata.plan:\"gold\"" metadata
ORDER=(get_user by_email q_email q_prefix q_range q_metadata)

# How many users each query matches (the search's total), from the probe.
declare -A MATCHES
for k in q_email q_prefix q_range q_metadata; do
  MATCHES[$k]="$(curl -sS --max-time 30 "${AUTH[@]}" "${URLS[$k]}" | jq -r '.total // "?"' 2>/dev/null || echo '?')"
done

LOAD_BEFORE="$(cut -d' ' -f1 /proc/loadavg)"
run_scenario health "$BASE/healthz"
declare -A RSS_AFTER
for k in "${ORDER[@]}"; do
  run_scenario "$k" "${URLS[$k]}" "${AUTH[@]}"
  RSS_AFTER[$k]="$(server_rss_kb)"
done
RSS_PEAK_KB="$(server_hwm_kb)"
SERVER_ALIVE=true; kill -0 "$SERVER_PID" 2>/dev/null || SERVER_ALIVE=false

# ---------------------------------------------------------------- report
mkdir -p "$RESULTS_DIR"
OUT="$RESULTS_DIR/users-$BACKEND-latest.json"
{
  for k in "${ORDER[@]}"; do
    jq -c --arg k "$k" --arg lbl "${LABELS[$k]}" --arg kind "${KINDS[$k]}" \
      --arg matches "${MATCHES[$k]:-1}" --arg rss "${RSS_AFTER[$k]}" \
      '. + {key: $k, label: $lbl, kind: $kind, matches: $matches, rss_kb_after: ($rss | tonumber? // null)}' \
      "$WORK/$k.json"
  done
} | jq -s \
  --slurpfile h "$WORK/health.json" \
  --argjson users "$USERS" --arg seed_s "$SEED_SECONDS" --argjson db_mb "$DB_SIZE_MB" \
  --arg rss_start "$RSS_START_KB" --arg rss_peak "$RSS_PEAK_KB" --argjson alive "$SERVER_ALIVE" \
  --argjson cores "$CORES" --argjson dur "$DURATION" --argjson warm "$WARMUP" --argjson conc "$CONC" \
  --arg load_before "$LOAD_BEFORE" --arg load_after "$(cut -d' ' -f1 /proc/loadavg)" \
  --arg backend "$BACKEND" --arg oha "$OHA_VERSION" --arg when "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
  --arg commit "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)" \
  --arg dirty "$([[ -n "$(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null)" ]] && echo true || echo false)" \
  --arg cpu "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')" '
  def r3: if . == null then null else (. * 1000 | round) / 1000 end;
  ($h[0]) as $h
  | (if $h.status == "ok" then $h.rps else null end) as $ceil
  | def p99_limit($kind): if $kind == "exact" then 20 else 100 end;
  {
    when: $when, commit: $commit, dirty_tree: ($dirty == "true"),
    machine: {cores: $cores, cpu: $cpu, loadavg_1m_before: ($load_before | tonumber),
              loadavg_1m_after: ($load_after | tonumber)},
    config: {backend: $backend, users: $users, duration_s: $dur, warmup_s: $warm,
             concurrency: $conc, load_generator: $oha},
    seed: {seconds: ($seed_s | tonumber), database_mb: $db_mb},
    memory: {rss_mb_at_start: (($rss_start | tonumber? // 0) / 1024 | r3),
             rss_mb_peak: (($rss_peak | tonumber? // 0) / 1024 | r3),
             target_mb: 200,
             verdict: (if ($rss_peak | tonumber? // null) == null then "n/a"
                       elif ($rss_peak | tonumber) / 1024 < 200 then "PASS" else "MISS" end)},
    health: $h,
    scenarios: [ .[] | . + {
      ratio_to_health: (if .status == "ok" and $ceil != null and $ceil > 0 then .rps / $ceil else null end | r3),
      target: {p99_ms_below: p99_limit(.kind),
               verdict: (if .status != "ok" then "n/a" elif .p99_ms < p99_limit(.kind) then "PASS" else "MISS" end)}} ],
    server_alive_after_run: $alive
  }' >"$OUT"

python3 - "$OUT" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
c, m, h = d["config"], d["memory"], d["health"]
f = lambda v, spec: "-" if v is None else format(v, spec)
print()
print(f"Gatehouse user benchmark  backend={c['backend']}  users={c['users']:,}  {c['duration_s']}s x {c['concurrency']} conns"
      f"  ({c['load_generator']}, {d['machine']['cores']} cores, commit {d['commit']}{'+dirty' if d['dirty_tree'] else ''})")
print(f"seeded in {d['seed']['seconds']} s" + (f", database {d['seed']['database_mb']} MB" if d['seed']['database_mb'] else ""))
hdr = f"{'scenario':<34} {'matches':>8} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'of health':>9}  {'target p99':>10}  verdict"
print(hdr); print("-" * len(hdr))
print(f"{'GET /healthz':<34} {'':>8} {f(h.get('rps'), '9.0f')} {f(h.get('p50_ms'), '8.2f')} {f(h.get('p99_ms'), '8.2f')} {'1.000':>9}  {'(ceiling)':>10}")
for s in d["scenarios"]:
    if s["status"] == "skipped":
        print(f"{s['label']:<34} SKIPPED: {s['reason']}  {s.get('body', '')[:120]}")
        continue
    note = "" if s["status"] == "ok" else "  (non-200: " + json.dumps(s["status_codes"]) + ")"
    print(f"{s['label']:<34} {s['matches']:>8} {f(s['rps'], '9.0f')} {f(s['p50_ms'], '8.2f')} {f(s['p99_ms'], '8.2f')}"
          f" {f(s['ratio_to_health'], '9.3f')}  {'< ' + str(s['target']['p99_ms_below']) + ' ms':>10}  {s['target']['verdict']}{note}")
print(f"server RSS: {m['rss_mb_at_start']:.1f} MB after start, {m['rss_mb_peak']:.1f} MB peak (target < 200 MB): {m['verdict']}")
busy = {s["key"]: s.get("other_processes_cpu_share") for s in d["scenarios"] if s.get("other_processes_cpu_share") is not None}
if any(v > 0.10 for v in busy.values()):
    print("NOTE: other processes used " + ", ".join(f"{k} {v:.0%}" for k, v in busy.items())
          + " of the machine during the runs: figures are low and noisy")
if not d["server_alive_after_run"]:
    print("WARNING: the server was not running at the end of the run")
print(f"results: {sys.argv[1]}")
PY

if [[ "$STRICT" == 1 ]]; then
  jq -e '([.scenarios[].target.verdict] + [.memory.verdict]) | all(. == "PASS")' "$OUT" >/dev/null || exit 3
fi
