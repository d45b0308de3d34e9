# Shared by the benchmark scripts (bench/run.sh, bench/users.sh): tools, the release build,
# a database (SQLite file or a fresh PostgreSQL schema), the server's start/stop, a Management API
# token, and run_scenario (oha, CPU accounting). Source it after setting ROOT, USE_PG, PG_URL,
# DURATION, WARMUP, CONC, NO_BUILD.

REQ_TIMEOUT="${REQ_TIMEOUT:-10s}"
CORES="$(nproc)"

log() { printf '[bench] %s\n' "$*" >&2; }

# Busy (user+nice+system+irq+softirq) and steal ticks of the whole machine, from /proc/stat.
machine_ticks() { awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8, $9 }' /proc/stat; }

# ---------------------------------------------------------------- tools
need() { command -v "$1" >/dev/null 2>&1; }

export PATH="$HOME/.cargo/bin:$PATH"
# NEEDS_OHA=0: a script that makes no load (bench/jobs.sh) skips the load generator.
if [[ "${NEEDS_OHA:-1}" == 1 ]] && ! need oha; then
  log "installing oha (cargo install oha --locked; takes a few minutes once)"
  cargo install oha --locked --quiet
fi
need jq || { log "installing jq"; apt-get install -y -qq jq >/dev/null; }
need curl || { log "installing curl"; apt-get install -y -qq curl >/dev/null; }
need python3 || { echo "python3 is needed (free-port lookup, arithmetic)" >&2; exit 2; }
if [[ "$USE_PG" == 1 ]] && ! need psql; then
  log "installing postgresql-client"; apt-get install -y -qq postgresql-client >/dev/null
fi

# oha ≥ 1.5 spells JSON output `--output-format json`; older ones `-j`.
if ! need oha; then
  OHA_JSON=()
elif oha --help 2>/dev/null | grep -q -- '--output-format'; then
  OHA_JSON=(--output-format json)
else
  OHA_JSON=(-j)
fi
OHA_VERSION="$(oha --version 2>/dev/null | head -n1 || true)"


# ---------------------------------------------------------------- build
# build_release BIN...: cargo build --release of the named binaries (unless BENCH_NO_BUILD=1).
build_release() {
  cd "$ROOT"
  if [[ "$NO_BUILD" != 1 ]]; then
    log "building the release binaries: $*"
    local b args=()
    for b in "$@"; do args+=(--bin "$b"); done
    cargo build --release --quiet "${args[@]}"
  fi
  for b in "$@"; do
    [[ -x "$ROOT/target/release/$b" ]] || { echo "missing $ROOT/target/release/$b" >&2; exit 2; }
  done
}
BIN="$ROOT/target/release/gatehouse"

# ---------------------------------------------------------------- cleanup
WORK="$(mktemp -d -t gatehouse-bench.XXXXXX)"
SERVER_PID=""
PG_SCHEMA=""
cleanup() {
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$SERVER_PID" 2>/dev/null || true
  fi
  if [[ -n "$PG_SCHEMA" ]]; then
    psql "$PG_URL" -q -v ON_ERROR_STOP=1 -c "DROP SCHEMA IF EXISTS $PG_SCHEMA CASCADE" >/dev/null 2>&1 || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM


# ---------------------------------------------------------------- database and server
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')"
BASE="http://127.0.0.1:$PORT"
AUDIENCE="$BASE/api/v2/"
ADMIN_ID="benchAdmin$(python3 -c 'import secrets; print(secrets.token_hex(8))')"
ADMIN_SECRET="$(python3 -c 'import secrets; print(secrets.token_urlsafe(48))')"

# setup_database: sets DB_URL and BACKEND (a fresh PostgreSQL schema with --postgres).
setup_database() {
  if [[ "$USE_PG" == 1 ]]; then
    PG_SCHEMA="bench_$$_$(date +%s)"
    psql "$PG_URL" -q -v ON_ERROR_STOP=1 -c "CREATE SCHEMA $PG_SCHEMA" >/dev/null
    local sep='?'; [[ "$PG_URL" == *\?* ]] && sep='&'
    DB_URL="${PG_URL}${sep}options=-c%20search_path%3D${PG_SCHEMA}"
    BACKEND=postgres
  else
    DB_URL="$WORK/gatehouse.db"
    BACKEND=sqlite
  fi
}

# start_server: starts gatehouse on $BASE and waits until /healthz answers; sets SERVER_PID.
start_server() {
  log "starting gatehouse on $BASE ($BACKEND)"
  (
    [[ -n "${BENCH_RUST_LOG:-}" ]] && export RUST_LOG="$BENCH_RUST_LOG"
    [[ -n "${BENCH_SQLITE_SYNCHRONOUS:-}" ]] && export GATEHOUSE_SQLITE_SYNCHRONOUS="$BENCH_SQLITE_SYNCHRONOUS"
    GATEHOUSE_ADMIN_CLIENT_ID="$ADMIN_ID" GATEHOUSE_ADMIN_CLIENT_SECRET="$ADMIN_SECRET" \
      exec "$BIN" serve --listen "127.0.0.1:$PORT" --database-url "$DB_URL" ${BENCH_SERVER_ARGS:-}
  ) >>"$WORK/server.log" 2>&1 &
  SERVER_PID=$!
  local i
  for i in $(seq 300); do
    if curl -fsS -o /dev/null --max-time 1 "$BASE/healthz" 2>/dev/null; then return 0; fi
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      cat "$WORK/server.log" >&2; echo "the server exited" >&2; exit 1
    fi
    sleep 0.2
  done
  cat "$WORK/server.log" >&2; echo "the server did not come up in 60 s" >&2; exit 1
}

# stop_server: SIGTERM, then waits (SIGKILL after 5 s).
stop_server() {
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=""
}

# get_token: a Management API token for the admin client in ACCESS_TOKEN (and TOKEN_BODY).
get_token() {
  TOKEN_BODY="$(jq -cn --arg id "$ADMIN_ID" --arg s "$ADMIN_SECRET" --arg a "$AUDIENCE" \
    '{grant_type:"client_credentials",client_id:$id,client_secret:$s,audience:$a}')"
  local resp
  resp="$(curl -sS --max-time 10 -H 'content-type: application/json' -d "$TOKEN_BODY" "$BASE/oauth/token" || true)"
  ACCESS_TOKEN="$(jq -r '.access_token // empty' <<<"$resp" 2>/dev/null || true)"
  if [[ -z "$ACCESS_TOKEN" ]]; then
    echo "could not get a token: $resp" >&2; tail -n 20 "$WORK/server.log" >&2; exit 1
  fi
}

# Resident memory of the server in kB: current (VmRSS) and peak (VmHWM).
server_rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$SERVER_PID/status" 2>/dev/null || echo null; }
server_hwm_kb() { awk '/^VmHWM:/ {print $2}' "/proc/$SERVER_PID/status" 2>/dev/null || echo null; }

# utime + stime of the PostgreSQL processes (0 with SQLite): part of the system under test.
db_ticks() {
  if [[ "$USE_PG" != 1 ]]; then echo 0; return; fi
  cat /proc/[0-9]*/stat 2>/dev/null | awk '$2 == "(postgres)" { t += $14 + $15 } END { print t + 0 }'
}

# utime + stime of the server, in clock ticks (empty when it is gone).
server_ticks() { awk '{print $14 + $15}' "/proc/$SERVER_PID/stat" 2>/dev/null || true; }

# run_scenario NAME URL [oha args...]: probes once (must answer 200), warms up, measures.
# Writes $WORK/NAME.json: {name, url, status, rps, p50_ms, p99_ms, ...} or a skipped record.
run_scenario() {
  local name="$1" url="$2"; shift 2
  local probe_args=() a
  # Translate the oha request options to curl's for the probe.
  local -a args=("$@")
  for ((i = 0; i < ${#args[@]}; i++)); do
    a="${args[$i]}"
    case "$a" in
      -m) probe_args+=(-X "${args[$((i + 1))]}"); i=$((i + 1)) ;;
      -H) probe_args+=(-H "${args[$((i + 1))]}"); i=$((i + 1)) ;;
      -T) probe_args+=(-H "content-type: ${args[$((i + 1))]}"); i=$((i + 1)) ;;
      -d) probe_args+=(--data-binary "${args[$((i + 1))]}"); i=$((i + 1)) ;;
    esac
  done
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    log "$name: the server is no longer running: skipped (log tail below)"; tail -n 5 "$WORK/server.log" >&2
    jq -n --arg n "$name" --arg u "$url" '{name:$n, url:$u, status:"skipped", reason:"the server is no longer running"}' >"$WORK/$name.json"
    return 0
  fi
  local code
  code="$(curl -sS -o "$WORK/$name.probe" -w '%{http_code}' --max-time 10 "${probe_args[@]}" "$url" || echo 000)"
  if [[ "$code" != 200 ]]; then
    log "$name: probe answered HTTP $code, not 200: skipped ($(head -c 200 "$WORK/$name.probe" 2>/dev/null | tr '\n' ' '))"
    jq -n --arg n "$name" --arg u "$url" --arg c "$code" --arg b "$(head -c 300 "$WORK/$name.probe" 2>/dev/null)" \
      '{name:$n, url:$u, status:"skipped", reason:("probe answered HTTP " + $c + ", expected 200"), body:$b}' >"$WORK/$name.json"
    return 0
  fi
  log "$name: warm-up ${WARMUP}s, then ${DURATION}s at $CONC connections"
  oha --no-tui -w -z "${WARMUP}s" -c "$CONC" -t "$REQ_TIMEOUT" "${OHA_JSON[@]}" "$@" "$url" >/dev/null 2>&1 || true
  # CPU seconds spent by the server (utime+stime from /proc) and by oha during the measured run:
  # on a 2-core machine both share the cores, so this says where the time went.
  local s0 s1 tck oha_cpu
  tck="$(getconf CLK_TCK)"
  local m0 m1 t0 t1 d0 d1 db_cpu
  s0="$(server_ticks)"; m0="$(machine_ticks)"; d0="$(db_ticks)"; t0="$(date +%s.%N)"
  oha_cpu="$( { TIMEFORMAT='%U %S'; time oha --no-tui -w -z "${DURATION}s" -c "$CONC" -t "$REQ_TIMEOUT" \
      "${OHA_JSON[@]}" "$@" "$url" >"$WORK/$name.oha.json" 2>"$WORK/$name.oha.err"; } 2>&1 )" \
    || { cat "$WORK/$name.oha.err" >&2; echo "oha failed" >&2; exit 1; }
  s1="$(server_ticks)"; m1="$(machine_ticks)"; d1="$(db_ticks)"; t1="$(date +%s.%N)"
  oha_cpu="$(awk '{print $1 + $2}' <<<"$oha_cpu")"
  local server_cpu others steal
  server_cpu="$(awk -v a="$s0" -v b="$s1" -v t="$tck" 'BEGIN { if (a == "" || b == "") print "null"; else print (b - a) / t }')"
  db_cpu="$(awk -v a="$d0" -v b="$d1" -v t="$tck" 'BEGIN { x = (b - a) / t; if (x < 0) x = 0; print x }')"
  # Everything else that ran on the machine meanwhile (other builds, tests...), as a share of
  # all cores over the run; and the time the hypervisor took from us (steal).
  read -r others steal < <(awk -v m0="$m0" -v m1="$m1" -v s="$server_cpu" -v o="$oha_cpu" -v db="$db_cpu" -v t="$tck" \
      -v w0="$t0" -v w1="$t1" -v n="$CORES" 'BEGIN {
        split(m0, a, " "); split(m1, b, " ");
        busy = (b[1] - a[1]) / t; st = (b[2] - a[2]) / t; wall = (w1 - w0) * n;
        if (s == "null") s = 0;
        x = (busy - s - o - db) / wall; if (x < 0) x = 0;
        printf "%.3f %.3f\n", x, st / wall }')
  # oha's JSON: summary.total (s), latencyPercentiles.p50/p99 (s), statusCodeDistribution,
  # errorDistribution (connection errors, time-outs: not in statusCodeDistribution).
  # req/s counts 200 answers only, over the whole run.
  jq --arg n "$name" --arg u "$url" --argjson scpu "$server_cpu" --argjson ocpu "$oha_cpu" \
     --argjson others "$others" --argjson steal "$steal" --argjson dbcpu "$db_cpu" '
    def ms: if . == null then null else (. * 1000 * 1000 | round) / 1000 end;
    (.statusCodeDistribution // {}) as $codes
    | (.errorDistribution // {}) as $errs
    | ([$codes | to_entries[] | .value] | add // 0) as $answered
    | ([$errs | to_entries[] | .value] | add // 0) as $failed
    | ($codes["200"] // 0) as $ok
    | {name: $n, url: $u,
       status: (if $ok > 0 and $ok == $answered and $failed == 0 then "ok" else "errors" end),
       rps: (if .summary.total > 0 then $ok / .summary.total else 0 end),
       p50_ms: (.latencyPercentiles.p50 | ms),
       p99_ms: (.latencyPercentiles.p99 | ms),
       p999_ms: (.latencyPercentiles["p99.9"] | ms),
       max_ms: (.summary.slowest | ms),
       requests: ($answered + $failed), ok: $ok, status_codes: $codes, errors: $errs,
       server_cpu_s: $scpu, load_generator_cpu_s: $ocpu,
       database_cpu_s: $dbcpu, other_processes_cpu_share: $others, steal_share: $steal,
       server_cpu_us_per_req: (if $scpu != null and ($answered + $failed) > 0
                               then ($scpu * 1e6 / ($answered + $failed) | round) else null end),
       database_cpu_us_per_req: (if ($answered + $failed) > 0
                               then ($dbcpu * 1e6 / ($answered + $failed) | round) else null end),
       load_generator_cpu_us_per_req: (if ($answered + $failed) > 0
                               then ($ocpu * 1e6 / ($answered + $failed) | round) else null end)}' \
    "$WORK/$name.oha.json" >"$WORK/$name.json"
  if awk -v x="$others" 'BEGIN { exit !(x > 0.10) }'; then
    log "$name: note: other processes used $(awk -v x="$others" 'BEGIN { printf "%.0f", x * 100 }') % of the machine meanwhile: figures are low and noisy"
  fi
  if [[ "$(jq -r .status "$WORK/$name.json")" != ok ]]; then
    log "$name: not every answer was 200: $(jq -c '.status_codes, .errors' "$WORK/$name.json" | tr '\n' ' ')"
  fi
}

# mgmt METHOD PATH BODY: a Management API call that must answer 2xx (Auth0: create 201, deploy
# 202, bindings 200); the reply lands in $WORK/mgmt.out.
mgmt() {
  local method=$1 path=$2 body=$3 code
  local -a data=()
  [[ -n "$body" ]] && data=(-H 'content-type: application/json' --data-binary "$body")
  code="$(curl -sS -o "$WORK/mgmt.out" -w '%{http_code}' --max-time 30 -X "$method" \
    -H "Authorization: Bearer $ACCESS_TOKEN" "${data[@]}" "$BASE/api/v2$path" || echo 000)"
  if [[ "$code" != 2?? ]]; then
    echo "$method $path answered HTTP $code (expected 2xx): $(head -c 500 "$WORK/mgmt.out")" >&2
    tail -n 20 "$WORK/server.log" >&2
    exit 1
  fi
}
