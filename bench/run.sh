#!/usr/bin/env bash
# Gatehouse load benchmark: one run measures requests/s and latency of
#   health  GET  /healthz                      (the ceiling: HTTP stack alone)
#   read    GET  /api/v2/clients/{id}          (bearer token, cached verification, one DB read)
#   token   POST /oauth/token                  (client_credentials: DB reads + one RS256 signature)
# plus RS256 signing alone (criterion, crates/core/benches/sign.rs), and prints each as a ratio
# to its ceiling with PASS/MISS against the targets:
#   read  >= 50 % of health req/s
#   token >= 80 % of the RS256 signing ceiling (one core's signatures/s x cores)
#
# Everything runs on 127.0.0.1 only, for a bounded time, and stops by itself.
#
# Usage: bench/run.sh [--postgres]
# Environment (all optional):
#   BENCH_DURATION=10       seconds measured per scenario
#   BENCH_WARMUP=2          seconds of warm-up per scenario (not measured)
#   BENCH_CONCURRENCY=32    connections kept busy by the load generator
#   BENCH_SIGN_TIME=5       criterion measurement seconds per signing function
#   BENCH_SKIP_SIGN=1       skip the signing bench (reuses none: the token target is then n/a)
#   BENCH_PG_URL=postgres://postgres@127.0.0.1:5432/test   (with --postgres)
#   BENCH_RUST_LOG          RUST_LOG for the server (default: the server's own, i.e. info)
#   BENCH_READ_PATH         override the read target (e.g. /api/v2/clients for a dry run)
#   BENCH_STRICT=1          exit 3 when a target is missed or a scenario could not run
#   BENCH_NO_BUILD=1        use the existing target/release/gatehouse as is
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH_DIR="$ROOT/bench"
RESULTS_DIR="$BENCH_DIR/results"

DURATION="${BENCH_DURATION:-10}"
WARMUP="${BENCH_WARMUP:-2}"
CONC="${BENCH_CONCURRENCY:-32}"
SIGN_TIME="${BENCH_SIGN_TIME:-5}"
SKIP_SIGN="${BENCH_SKIP_SIGN:-0}"
PG_URL="${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432/test}"
STRICT="${BENCH_STRICT:-0}"
NO_BUILD="${BENCH_NO_BUILD:-0}"
# One request to oha never waits longer than this; a whole oha run is bounded by -z.
REQ_TIMEOUT=10s

READ_TARGET=0.50
TOKEN_TARGET=0.80

USE_PG=0
for arg in "$@"; do
  case "$arg" in
    --postgres) USE_PG=1 ;;
    -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
    *) echo "unknown argument: $arg (try --help)" >&2; exit 2 ;;
  esac
done

for v in DURATION WARMUP CONC SIGN_TIME; do
  [[ "${!v}" =~ ^[0-9]+$ && "${!v}" -gt 0 ]] || { echo "BENCH_$v must be a positive integer" >&2; exit 2; }
done

log() { printf '[bench] %s\n' "$*" >&2; }

# Busy (user+nice+system+irq+softirq) and steal ticks of the whole machine, from /proc/stat.
machine_ticks() { awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8, $9 }' /proc/stat; }


# ---------------------------------------------------------------- tools
need() { command -v "$1" >/dev/null 2>&1; }

export PATH="$HOME/.cargo/bin:$PATH"
if ! need oha; then
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
if oha --help 2>/dev/null | grep -q -- '--output-format'; then
  OHA_JSON=(--output-format json)
else
  OHA_JSON=(-j)
fi
OHA_VERSION="$(oha --version 2>/dev/null | head -n1)"

# ---------------------------------------------------------------- build
cd "$ROOT"
if [[ "$NO_BUILD" != 1 ]]; then
  log "building the release binary"
  cargo build --release --quiet --bin gatehouse
fi
BIN="$ROOT/target/release/gatehouse"
[[ -x "$BIN" ]] || { echo "missing $BIN" >&2; exit 2; }

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

# ---------------------------------------------------------------- signing ceiling
# Run before the server starts, so that nothing else competes for the cores.
SIGN_1=null; SIGN_N=null; VERIFY_1=null; SIGN_OTHERS=null
CORES="$(nproc)"
if [[ "$SKIP_SIGN" != 1 ]]; then
  log "RS256 signing alone: cargo bench -p gatehouse-core --bench sign (~$((SIGN_TIME * 3 + 10)) s)"
  cargo bench -p gatehouse-core --bench sign --quiet --no-run >"$WORK/sign.txt" 2>&1 \
    || { cat "$WORK/sign.txt" >&2; echo "building the sign bench failed" >&2; exit 1; }
  sm0="$(machine_ticks)"; sw0="$(date +%s.%N)"
  sign_cpu="$( { TIMEFORMAT='%U %S'; time cargo bench -p gatehouse-core --bench sign --quiet -- \
      --warm-up-time 1 --measurement-time "$SIGN_TIME" --noplot >"$WORK/sign.txt" 2>&1; } 2>&1 )" \
    || { cat "$WORK/sign.txt" >&2; echo "the sign bench failed" >&2; exit 1; }
  sm1="$(machine_ticks)"; sw1="$(date +%s.%N)"
  # Share of the machine that other processes took while signing was measured.
  SIGN_OTHERS="$(awk -v m0="$sm0" -v m1="$sm1" -v c="$sign_cpu" -v t="$(getconf CLK_TCK)" \
      -v w0="$sw0" -v w1="$sw1" -v n="$CORES" 'BEGIN { split(m0, a, " "); split(m1, b, " "); split(c, u, " ");
        x = ((b[1] - a[1]) / t - u[1] - u[2]) / ((w1 - w0) * n); if (x < 0) x = 0; printf "%.3f", x }')"
  if awk -v x="$SIGN_OTHERS" 'BEGIN { exit !(x > 0.10) }'; then
    log "sign bench: note: other processes used $(awk -v x="$SIGN_OTHERS" 'BEGIN { printf "%.0f", x * 100 }') % of the machine meanwhile: the ceiling is low and noisy"
  fi
  pick() { awk -v n="$1" '$1=="BENCH-OPS" && $2==n {print $3}' "$WORK/sign.txt" | tail -n1; }
  SIGN_1="$(pick rs256_sign)"; SIGN_N="$(pick rs256_sign_parallel)"; VERIFY_1="$(pick rs256_verify)"
  [[ -n "$SIGN_1" ]] || { cat "$WORK/sign.txt" >&2; echo "no BENCH-OPS line for rs256_sign" >&2; exit 1; }
  SIGN_N="${SIGN_N:-null}"; VERIFY_1="${VERIFY_1:-null}"
fi

# ---------------------------------------------------------------- server
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')"
BASE="http://127.0.0.1:$PORT"
AUDIENCE="$BASE/api/v2/"
ADMIN_ID="benchAdmin$(python3 -c 'import secrets; print(secrets.token_hex(8))')"
ADMIN_SECRET="$(python3 -c 'import secrets; print(secrets.token_urlsafe(48))')"

if [[ "$USE_PG" == 1 ]]; then
  PG_SCHEMA="bench_$$_$(date +%s)"
  psql "$PG_URL" -q -v ON_ERROR_STOP=1 -c "CREATE SCHEMA $PG_SCHEMA" >/dev/null
  sep='?'; [[ "$PG_URL" == *\?* ]] && sep='&'
  DB_URL="${PG_URL}${sep}options=-c%20search_path%3D${PG_SCHEMA}"
  BACKEND=postgres
else
  DB_URL="$WORK/gatehouse.db"
  BACKEND=sqlite
fi

log "starting gatehouse on $BASE ($BACKEND)"
(
  [[ -n "${BENCH_RUST_LOG:-}" ]] && export RUST_LOG="$BENCH_RUST_LOG"
  GATEHOUSE_ADMIN_CLIENT_ID="$ADMIN_ID" GATEHOUSE_ADMIN_CLIENT_SECRET="$ADMIN_SECRET" \
    exec "$BIN" serve --listen "127.0.0.1:$PORT" --database-url "$DB_URL"
) >"$WORK/server.log" 2>&1 &
SERVER_PID=$!

for i in $(seq 150); do
  if curl -fsS -o /dev/null --max-time 1 "$BASE/healthz" 2>/dev/null; then break; fi
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    cat "$WORK/server.log" >&2; echo "the server exited" >&2; exit 1
  fi
  [[ "$i" == 150 ]] && { cat "$WORK/server.log" >&2; echo "the server did not come up in 30 s" >&2; exit 1; }
  sleep 0.2
done

TOKEN_BODY="$(jq -cn --arg id "$ADMIN_ID" --arg s "$ADMIN_SECRET" --arg a "$AUDIENCE" \
  '{grant_type:"client_credentials",client_id:$id,client_secret:$s,audience:$a}')"
TOKEN_RESP="$(curl -sS --max-time 10 -H 'content-type: application/json' -d "$TOKEN_BODY" "$BASE/oauth/token" || true)"
ACCESS_TOKEN="$(jq -r '.access_token // empty' <<<"$TOKEN_RESP" 2>/dev/null || true)"
if [[ -z "$ACCESS_TOKEN" ]]; then
  echo "could not get a token: $TOKEN_RESP" >&2; tail -n 20 "$WORK/server.log" >&2; exit 1
fi

READ_PATH="${BENCH_READ_PATH:-/api/v2/clients/$ADMIN_ID}"

# ---------------------------------------------------------------- scenarios
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

LOAD_BEFORE="$(cut -d' ' -f1 /proc/loadavg)"
run_scenario health "$BASE/healthz"
run_scenario read "$BASE$READ_PATH" -H "Authorization: Bearer $ACCESS_TOKEN"
run_scenario token "$BASE/oauth/token" -m POST -T application/json -d "$TOKEN_BODY"

# ---------------------------------------------------------------- report
SERVER_ALIVE=true; kill -0 "$SERVER_PID" 2>/dev/null || SERVER_ALIVE=false
mkdir -p "$RESULTS_DIR"
OUT="$RESULTS_DIR/latest.json"
jq -n \
  --slurpfile h "$WORK/health.json" --slurpfile r "$WORK/read.json" --slurpfile t "$WORK/token.json" \
  --argjson signothers "$SIGN_OTHERS" --argjson sign1 "$SIGN_1" --argjson signn "$SIGN_N" --argjson verify1 "$VERIFY_1" \
  --argjson cores "$CORES" --argjson dur "$DURATION" --argjson warm "$WARMUP" --argjson conc "$CONC" \
  --argjson rt "$READ_TARGET" --argjson tt "$TOKEN_TARGET" --argjson alive "$SERVER_ALIVE" \
  --arg load_before "$LOAD_BEFORE" --arg load_after "$(cut -d' ' -f1 /proc/loadavg)" \
  --arg backend "$BACKEND" --arg oha "$OHA_VERSION" --arg when "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
  --arg commit "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)" \
  --arg dirty "$([[ -n "$(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null)" ]] && echo true || echo false)" \
  --arg cpu "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')" '
  def r2: if . == null then null else (. * 100 | round) / 100 end;
  def r3: if . == null then null else (. * 1000 | round) / 1000 end;
  ($h[0]) as $h | ($r[0]) as $r | ($t[0]) as $t
  | (if $h.status == "ok" then $h.rps else null end) as $ceil
  | (if $sign1 != null then $sign1 * $cores else null end) as $signceil
  | def ratio($x; $c): if $x.status == "ok" and $c != null and $c > 0 then $x.rps / $c else null end;
    def verdict($ratio; $target): if $ratio == null then "n/a" elif $ratio >= $target then "PASS" else "MISS" end;
  {
    when: $when, commit: $commit, dirty_tree: ($dirty == "true"),
    machine: {cores: $cores, cpu: $cpu, loadavg_1m_before: ($load_before | tonumber),
              loadavg_1m_after: ($load_after | tonumber)},
    config: {backend: $backend, duration_s: $dur, warmup_s: $warm, concurrency: $conc, load_generator: $oha},
    signing: {rs256_sign_per_core_ops: ($sign1 | r2), rs256_sign_all_cores_ops: ($signn | r2),
              rs256_verify_per_core_ops: ($verify1 | r2), other_processes_cpu_share: $signothers,
              ceiling_ops: ($signceil | r2), ceiling_rule: "rs256_sign per core x cores"},
    scenarios: {
      health: ($h + {rps: ($h.rps | r2), ratio_to_health: (if $ceil then 1 else null end)}),
      read: ($r + {rps: ($r.rps | r2), ratio_to_health: (ratio($r; $ceil) | r3),
                   target: {of: "health", min_ratio: $rt, verdict: verdict(ratio($r; $ceil); $rt)}}),
      token: ($t + {rps: ($t.rps | r2), ratio_to_health: (ratio($t; $ceil) | r3),
                    ratio_to_signing: (ratio($t; $signceil) | r3),
                    ratio_to_signing_all_cores: (ratio($t; $signn) | r3),
                    target: {of: "signing", min_ratio: $tt, verdict: verdict(ratio($t; $signceil); $tt)}})
    },
    server_alive_after_run: $alive
  }' >"$OUT"

# Table.
python3 - "$OUT" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
s, g, c = d["scenarios"], d["signing"], d["config"]
def f(v, spec):
    return "-" if v is None else format(v, spec)
print()
print(f"Gatehouse load benchmark  backend={c['backend']}  {c['duration_s']}s x {c['concurrency']} conns"
      f"  ({c['load_generator']}, {d['machine']['cores']} cores, commit {d['commit']}{'+dirty' if d['dirty_tree'] else ''})")
hdr = (f"{'scenario':<34} {'req/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'srv µs/req':>10} {'gen µs/req':>10}"
       f"  {'ratio':>20}  {'target':>6}  verdict")
print(hdr); print("-" * len(hdr))
rows = [("health  GET /healthz", s["health"], "1.00 (ceiling)", "", ""),
        ("read    GET /api/v2/clients/{id}", s["read"], None, "≥ 0.50", s["read"]["target"]["verdict"]),
        ("token   POST /oauth/token", s["token"], None, "≥ 0.80", s["token"]["target"]["verdict"])]
for label, x, ratio, target, verdict in rows:
    if x["status"] == "skipped":
        print(f"{label:<34} {'SKIPPED: ' + x['reason']}")
        continue
    if ratio is None:
        if x is s["read"]:
            ratio = f"{f(x.get('ratio_to_health'), '.2f')} of health"
        else:
            ratio = f"{f(x.get('ratio_to_signing'), '.2f')} of signing"
    note = "" if x["status"] == "ok" else "  (non-200 answers: " + json.dumps(x["status_codes"]) + ")"
    print(f"{label:<34} {f(x['rps'], '9.0f')} {f(x['p50_ms'], '7.2f')} {f(x['p99_ms'], '7.2f')}"
          f" {f(x.get('server_cpu_us_per_req'), '10.0f')} {f(x.get('load_generator_cpu_us_per_req'), '10.0f')}"
          f"  {ratio:>20}  {target:>6}  {verdict}{note}")
print()
if g["rs256_sign_per_core_ops"] is not None:
    t = s["token"]
    print(f"RS256 signing alone: {g['rs256_sign_per_core_ops']:.0f}/s per core x {d['machine']['cores']} cores"
          f" = {g['ceiling_ops']:.0f}/s ceiling;  measured on all cores at once: {f(g['rs256_sign_all_cores_ops'], '.0f')}/s"
          f";  verify: {f(g['rs256_verify_per_core_ops'], '.0f')}/s per core")
    if t.get("ratio_to_health") is not None:
        print(f"token vs health: {t['ratio_to_health']:.3f};  token vs all-cores signing: {f(t.get('ratio_to_signing_all_cores'), '.2f')}")
    if t.get("server_cpu_us_per_req"):
        sign_us = 1e6 / g["rs256_sign_per_core_ops"]
        print(f"token: one signature is {sign_us:.0f} µs of the server's {t['server_cpu_us_per_req']} µs CPU per request"
              f" ({sign_us / t['server_cpu_us_per_req']:.0%})")
else:
    print("RS256 signing bench skipped (BENCH_SKIP_SIGN=1): token target n/a")
if c["backend"] == "postgres":
    print("PostgreSQL CPU µs/req: " + ", ".join(f"{k} {f(v.get('database_cpu_us_per_req'), '.0f')}" for k, v in s.items()))
print("srv/gen µs/req: CPU time of the server / of the load generator per request during the measured run"
      f" (the {d['machine']['cores']} cores are shared by both)")
busy = {k: v.get("other_processes_cpu_share") for k, v in s.items() if v.get("other_processes_cpu_share") is not None}
if g.get("other_processes_cpu_share") is not None:
    busy["signing"] = g["other_processes_cpu_share"]
if any(v > 0.10 for v in busy.values()):
    print("NOTE: other processes used " + ", ".join(f"{k} {v:.0%}" for k, v in busy.items())
          + " of the machine during the runs: figures are low and noisy; rerun on a quiet machine")
if not d["server_alive_after_run"]:
    print("WARNING: the server was not running at the end of the run")
print(f"results: {sys.argv[1]}")
PY

if [[ "$STRICT" == 1 ]]; then
  if jq -e '[.scenarios.read.target.verdict, .scenarios.token.target.verdict] | all(. == "PASS")' "$OUT" >/dev/null; then
    exit 0
  fi
  exit 3
fi
