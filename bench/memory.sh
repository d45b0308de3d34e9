#!/usr/bin/env bash
# Gatehouse memory benchmark (release build, SQLite, loopback only, bounded in time):
#   1. restart-to-ready: the time from process start to the first `/readyz` 200 on an existing
#      database (median of BENCH_RESTARTS starts);
#   2. idle RSS of a freshly started server (VmRSS, after BENCH_SETTLE seconds);
#   3. a hostile, fuzz-like load (bench/fuzzload.py): every implemented operation
#      (`gatehouse ops --list`) with malformed, oversized and wrongly typed bodies, path and
#      query values, 1 MB bodies, many distinct bearer tokens (forged, and valid ones for random
#      scope subsets); then VmRSS (right after, and after BENCH_SETTLE seconds) and VmHWM;
#   4. the same load a second time: RSS must not keep growing (bounded caches).
# Targets: idle ≤ 30 MB, after the load ≤ 100 MB, restart to ready ≤ 200 ms.
#
# Usage: bench/memory.sh
# Environment (all optional):
#   BENCH_ROUNDS=6       passes over every operation per load run (4 threads)
#   BENCH_SETTLE=3       seconds to wait before reading an RSS
#   BENCH_RESTARTS=5     restarts timed for restart-to-ready
#   BENCH_NO_BUILD=1     use the existing target/release/gatehouse as is
#   BENCH_STRICT=1       exit 3 unless every target is met
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH_DIR="$ROOT/bench"
ROUNDS="${BENCH_ROUNDS:-6}"
SETTLE="${BENCH_SETTLE:-3}"
RESTARTS="${BENCH_RESTARTS:-5}"
STRICT="${BENCH_STRICT:-0}"
NO_BUILD="${BENCH_NO_BUILD:-0}"
USE_PG=0 PG_URL="" DURATION=1 WARMUP=1 CONC=1
case "${1:-}" in
  -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
  "") ;;
  *) echo "unknown argument: $1 (try --help)" >&2; exit 2 ;;
esac

# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh"
build_release gatehouse
setup_database

mb() { awk -v k="$1" 'BEGIN { if (k == "null" || k == "") print "null"; else printf "%.1f", k / 1024 }'; }

# ---------------------------------------------------------------- restart to ready
# The first start creates and migrates the database; the timed ones open it as it is.
start_server
stop_server
log "restart to ready: $RESTARTS starts on the existing database"
READY_MS="$(python3 - "$BIN" "$PORT" "$DB_URL" "$ADMIN_ID" "$ADMIN_SECRET" "$RESTARTS" "$WORK/restart.log" <<'PY'
import http.client, os, subprocess, sys, time
binary, port, db, cid, secret, n, logf = sys.argv[1:8]
env = dict(os.environ, GATEHOUSE_ADMIN_CLIENT_ID=cid, GATEHOUSE_ADMIN_CLIENT_SECRET=secret)
times = []
with open(logf, "ab") as log:
    for _ in range(int(n)):
        t0 = time.monotonic()
        p = subprocess.Popen([binary, "serve", "--listen", f"127.0.0.1:{port}", "--database-url", db],
                             env=env, stdout=log, stderr=log)
        ready = None
        while time.monotonic() - t0 < 30 and p.poll() is None:
            try:
                c = http.client.HTTPConnection("127.0.0.1", int(port), timeout=1)
                c.request("GET", "/readyz", headers={"connection": "close"})
                status = c.getresponse().status
                c.close()
                if status == 200:
                    ready = time.monotonic() - t0
                    break
            except OSError:
                pass
            time.sleep(0.001)
        p.terminate()
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        if ready is None:
            sys.exit("the server did not become ready")
        times.append(ready * 1000)
times.sort()
print(f"{times[len(times) // 2]:.0f} {times[0]:.0f} {times[-1]:.0f}")
PY
)"
read -r READY_MED READY_MIN READY_MAX <<<"$READY_MS"

# ---------------------------------------------------------------- idle
start_server
sleep "$SETTLE"
IDLE_KB="$(server_rss_kb)"
log "idle: VmRSS $(mb "$IDLE_KB") MB"

# ---------------------------------------------------------------- hostile load, twice
"$BIN" ops --list >"$WORK/ops.txt"
SPEC="$ROOT/crates/spec/management-api.openapi.json"
load() {
  python3 "$BENCH_DIR/fuzzload.py" "$BASE" "$SPEC" "$WORK/ops.txt" "$ADMIN_ID" "$ADMIN_SECRET" "$ROUNDS" "$1"
}
log "hostile load 1 ($ROUNDS rounds over every implemented operation, then distinct tokens)"
LOAD1="$(load 7)"
AFTER1_NOW="$(server_rss_kb)"; sleep "$SETTLE"; AFTER1_KB="$(server_rss_kb)"
log "load 1: $LOAD1"
log "after load 1: VmRSS $(mb "$AFTER1_NOW") MB, $(mb "$AFTER1_KB") MB after ${SETTLE}s"
log "hostile load 2 (other random values)"
LOAD2="$(load 8)"
AFTER2_NOW="$(server_rss_kb)"; sleep "$SETTLE"; AFTER2_KB="$(server_rss_kb)"
HWM_KB="$(server_hwm_kb)"
log "load 2: $LOAD2"
log "after load 2: VmRSS $(mb "$AFTER2_NOW") MB, $(mb "$AFTER2_KB") MB after ${SETTLE}s; peak (VmHWM) $(mb "$HWM_KB") MB"
FIVE_HUNDREDS="$(jq -s '[.[].status["500"] // 0] | add' <<<"$LOAD1 $LOAD2")"
kill -0 "$SERVER_PID" 2>/dev/null && ALIVE=true || ALIVE=false

mkdir -p "$BENCH_DIR/results"
OUT="$BENCH_DIR/results/memory.json"
COMMIT="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
DIRTY="$( [[ -n "$(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null)" ]] && echo true || echo false)"
jq -n --argjson idle "$IDLE_KB" --argjson a1n "$AFTER1_NOW" --argjson a1 "$AFTER1_KB" \
  --argjson a2n "$AFTER2_NOW" --argjson a2 "$AFTER2_KB" --argjson hwm "$HWM_KB" \
  --argjson rmed "$READY_MED" --argjson rmin "$READY_MIN" --argjson rmax "$READY_MAX" \
  --argjson l1 "$LOAD1" --argjson l2 "$LOAD2" --argjson alive "$ALIVE" --argjson fh "$FIVE_HUNDREDS" \
  --arg commit "$COMMIT" --argjson dirty "$DIRTY" --argjson rounds "$ROUNDS" '
  {commit: $commit, dirty: $dirty, rounds: $rounds,
   restart_to_ready_ms: {median: $rmed, min: $rmin, max: $rmax},
   rss_kb: {idle: $idle, after_load1: $a1n, after_load1_settled: $a1,
            after_load2: $a2n, after_load2_settled: $a2, peak_hwm: $hwm},
   load1: $l1, load2: $l2, answers_500: $fh, server_alive: $alive,
   targets: {idle_mb: 30, after_load_mb: 100, restart_ms: 200},
   verdict: {idle: (if $idle <= 30 * 1024 then "PASS" else "MISS" end),
             after_load: (if ([$a1n, $a1, $a2n, $a2] | max) <= 100 * 1024 then "PASS" else "MISS" end),
             restart: (if $rmed <= 200 then "PASS" else "MISS" end)}}' >"$OUT"

printf '\n%-34s %10s  %8s  %s\n' "measure" "value" "target" "verdict"
printf '%-34s %7s ms  %8s  %s\n' "restart to ready (median)" "$READY_MED" "≤ 200" "$(jq -r .verdict.restart "$OUT")"
printf '%-34s %7s MB  %8s  %s\n' "idle VmRSS" "$(mb "$IDLE_KB")" "≤ 30" "$(jq -r .verdict.idle "$OUT")"
printf '%-34s %7s MB  %8s  %s\n' "after load 1 (settled)" "$(mb "$AFTER1_KB")" "≤ 100" ""
printf '%-34s %7s MB  %8s  %s\n' "after load 2 (settled)" "$(mb "$AFTER2_KB")" "≤ 100" "$(jq -r .verdict.after_load "$OUT")"
printf '%-34s %7s MB\n' "peak VmHWM" "$(mb "$HWM_KB")"
printf 'restart to ready: min %s ms, max %s ms; requests: %s + %s; 500 answers: %s; server alive: %s\n' \
  "$READY_MIN" "$READY_MAX" "$(jq .requests <<<"$LOAD1")" "$(jq .requests <<<"$LOAD2")" "$FIVE_HUNDREDS" "$ALIVE"
echo "results: $OUT"

if [[ "$STRICT" == 1 ]]; then
  jq -e '.verdict | all(. == "PASS")' "$OUT" >/dev/null || exit 3
fi
