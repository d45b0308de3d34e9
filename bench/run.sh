#!/usr/bin/env bash
# Gatehouse load benchmark: one run measures requests/s and latency of
#   health  GET  /healthz                      (the ceiling: HTTP stack alone)
#   read    GET  /api/v2/clients/{id}          (bearer token, cached verification, one DB read)
#   token   POST /oauth/token                  (client_credentials: DB reads + one RS256 signature)
#   write   PATCH /api/v2/clients/{id}         (one committed write; SQLite synchronous=FULL, the
#                                               default), then write_normal: the same on a restarted
#                                               server with --sqlite-synchronous normal (SQLite only)
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
    -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
    *) echo "unknown argument: $arg (try --help)" >&2; exit 2 ;;
  esac
done

for v in DURATION WARMUP CONC SIGN_TIME; do
  [[ "${!v}" =~ ^[0-9]+$ && "${!v}" -gt 0 ]] || { echo "BENCH_$v must be a positive integer" >&2; exit 2; }
done

# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh"
build_release gatehouse

# ---------------------------------------------------------------- signing ceiling
# Run before the server starts, so that nothing else competes for the cores.
SIGN_1=null; SIGN_N=null; VERIFY_1=null; SIGN_OTHERS=null
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

setup_database
start_server
get_token
READ_PATH="${BENCH_READ_PATH:-/api/v2/clients/$ADMIN_ID}"

LOAD_BEFORE="$(cut -d' ' -f1 /proc/loadavg)"
run_scenario health "$BASE/healthz"
run_scenario read "$BASE$READ_PATH" -H "Authorization: Bearer $ACCESS_TOKEN"
run_scenario token "$BASE/oauth/token" -m POST -T application/json -d "$TOKEN_BODY"
# Writes: PATCH of a client's description, one committed transaction each; on SQLite with the
# default synchronous=FULL (every commit synced), then again on a restarted server with
# --sqlite-synchronous normal (GATEHOUSE_SQLITE_SYNCHRONOUS), to show what durability costs.
WRITE_URL="$BASE/api/v2/clients/$ADMIN_ID"
WRITE_BODY='{"description":"bench write"}'
run_scenario write "$WRITE_URL" -m PATCH -T application/json -d "$WRITE_BODY" -H "Authorization: Bearer $ACCESS_TOKEN"
if [[ "$USE_PG" != 1 ]]; then
  stop_server
  BENCH_SQLITE_SYNCHRONOUS=normal start_server
  get_token
  run_scenario write_normal "$WRITE_URL" -m PATCH -T application/json -d "$WRITE_BODY" -H "Authorization: Bearer $ACCESS_TOKEN"
else
  jq -n '{name:"write_normal", status:"skipped", reason:"SQLite only"}' >"$WORK/write_normal.json"
fi

# ---------------------------------------------------------------- report
SERVER_ALIVE=true; kill -0 "$SERVER_PID" 2>/dev/null || SERVER_ALIVE=false
mkdir -p "$RESULTS_DIR"
OUT="$RESULTS_DIR/latest.json"
jq -n \
  --slurpfile h "$WORK/health.json" --slurpfile r "$WORK/read.json" --slurpfile t "$WORK/token.json" \
  --slurpfile w "$WORK/write.json" --slurpfile wn "$WORK/write_normal.json" \
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
  ($h[0]) as $h | ($r[0]) as $r | ($t[0]) as $t | ($w[0]) as $w | ($wn[0]) as $wn
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
                    target: {of: "signing", min_ratio: $tt, verdict: verdict(ratio($t; $signceil); $tt)}}),
      write: ($w + {rps: ($w.rps | r2), synchronous: (if $backend == "sqlite" then "FULL" else null end),
                    ratio_to_normal: (if $wn.status == "ok" then ratio($w; $wn.rps) | r3 else null end)}),
      write_normal: ($wn + {rps: ($wn.rps | r2), synchronous: "NORMAL"})
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
        ("token   POST /oauth/token", s["token"], None, "≥ 0.80", s["token"]["target"]["verdict"]),
        ("write   PATCH /api/v2/clients/{id}", s["write"],
         (f(s["write"].get("ratio_to_normal"), ".2f") + " of NORMAL") if c["backend"] == "sqlite" else "-", "", ""),
        ("write   … synchronous=NORMAL", s["write_normal"], "(opt-out)", "", "")]
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
