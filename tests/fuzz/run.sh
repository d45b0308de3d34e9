#!/usr/bin/env bash
# Schema-driven fuzzing of the implemented Management API operations with schemathesis, against a
# fresh Gatehouse and the embedded spec. Fails (exit 1) on any 5xx or if the server dies or turns
# unhealthy; 4xx answers to fuzzed input are expected and fine. Prints the server's RSS at the end.
# Usage: tests/fuzz/run.sh [path/to/gatehouse] [postgres://…]
#   (default: a fresh SQLite file; with a PostgreSQL URL, a fresh schema there, dropped afterwards)
# Tunables: FUZZ_EXAMPLES (per operation and phase, default 20), FUZZ_SEED (default 20261205),
#           FUZZ_BUDGET (seconds for the whole run, default 240).
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=tests/lib.sh
source tests/lib.sh
BIN="$(realpath "${1:-target/debug/gatehouse}")"
DB_URL="${2:-}"
EXAMPLES="${FUZZ_EXAMPLES:-20}"
SEED="${FUZZ_SEED:-20261205}"
BUDGET="${FUZZ_BUDGET:-240}"
SPEC="$PWD/crates/spec/management-api.openapi.json"

# Pinned, in a virtualenv of its own (kept under target/ between runs).
VENV="$PWD/target/fuzz-venv"
ST_VERSION=3.39.16
# schemathesis 3.39 breaks with newer hypothesis releases ("'many' object has no attribute 'more'").
HYPOTHESIS_VERSION=6.122.3
if ! "$VENV/bin/st" --version 2>/dev/null | grep -q "$ST_VERSION" \
  || ! "$VENV/bin/pip" show hypothesis 2>/dev/null | grep -q "^Version: $HYPOTHESIS_VERSION$"; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check \
    "schemathesis==$ST_VERSION" "hypothesis==$HYPOTHESIS_VERSION"
fi

work=$(mktemp -d)
fresh_database fuzz
port=$(free_port)
base="http://127.0.0.1:$port"
GATEHOUSE_ADMIN_CLIENT_ID=fuzz-admin GATEHOUSE_ADMIN_CLIENT_SECRET=fuzz-secret-not-for-production \
  "$BIN" serve --listen "127.0.0.1:$port" --database-url "$DB_URL" --log-format json \
  >"$work/server.log" 2>&1 &
pid=$!
cleanup() {
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  drop_database
  rm -rf "$work"
}
trap cleanup EXIT
for _ in $(seq 1 100); do
  curl -sf "$base/healthz" >/dev/null && break
  sleep 0.2
done
curl -sf "$base/healthz" >/dev/null || { echo "FAIL: the server did not start"; cat "$work/server.log"; exit 1; }

TOKEN=$(curl -sf -X POST "$base/oauth/token" -H 'content-type: application/json' \
  -d "{\"grant_type\":\"client_credentials\",\"client_id\":\"fuzz-admin\",\"client_secret\":\"fuzz-secret-not-for-production\",\"audience\":\"$base/api/v2/\"}" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')

# Only the implemented operations (the rest answer 501 whatever they get).
ops=()
while read -r state _ _ id; do
  [ "$state" = done ] && ops+=(--include-operation-id "$id")
done < <("$BIN" ops --list)
echo "== schemathesis $ST_VERSION: $(( ${#ops[@]} / 2 )) operations, $EXAMPLES examples each, seed $SEED, budget ${BUDGET}s"

set +e
timeout "$BUDGET" "$VENV/bin/st" run "$SPEC" \
  --experimental=openapi-3.1 \
  --base-url "$base/api/v2" \
  -H "Authorization: Bearer $TOKEN" \
  "${ops[@]}" \
  --checks not_a_server_error \
  --data-generation-method all \
  --hypothesis-max-examples "$EXAMPLES" \
  --hypothesis-seed "$SEED" \
  --hypothesis-deadline none \
  --hypothesis-suppress-health-check all \
  --request-timeout 20000 \
  --workers 2 \
  --no-color >"$work/st.log" 2>&1
st_rc=$?
set -e
grep -v "returned only 4xx responses" "$work/st.log" | tail -n 25 | cut -c1-300
[ "$st_rc" = 124 ] && echo "NOTE: the time budget (${BUDGET}s) ran out; judging the requests made so far"

# The verdict comes from the server: its log has one line per request with the status.
python3 - "$work/server.log" <<'PY' || fail=1
import json, sys
total = errors = 0
causes = []
for line in open(sys.argv[1], errors="replace"):
    try:
        ev = json.loads(line)
    except ValueError:
        continue
    fields, span = ev.get("fields", {}), ev.get("span", {})
    status = fields.get("status")
    if isinstance(status, int):
        total += 1
        if status >= 500:
            errors += 1
            if errors <= 20:
                print(f"5xx: {status} {span.get('method')} {span.get('path', '')[:150]}")
    elif ev.get("level") == "ERROR" and len(causes) < 10:
        text = str(fields.get("error", fields.get("message", "")))
        causes.append(" | ".join(l.strip() for l in text.splitlines() if l.strip() and not l.strip().startswith(("at ", "Stack")))[:300])
for c in causes:
    print(f"error logged: {c}")
print(f"== {total} requests answered, {errors} with a 5xx")
sys.exit(1 if errors or total == 0 else 0)
PY
if grep -q "not_a_server_error" "$work/st.log" && grep -qiE "Server error|not_a_server_error +[0-9]+ / [0-9]+ +FAILED|not_a_server_error.*failed" "$work/st.log"; then
  echo "FAIL: schemathesis saw a server error"; fail=1
fi
if ! kill -0 "$pid" 2>/dev/null; then echo "FAIL: the server died"; tail -n 20 "$work/server.log"; fail=1; fi
if ! curl -sf "$base/healthz" >/dev/null; then echo "FAIL: /healthz does not answer 200 after the run"; fail=1; fi
rss=$(awk '/VmRSS/ {print $2, $3}' "/proc/$pid/status" 2>/dev/null || echo "unknown")
hwm=$(awk '/VmHWM/ {print $2, $3}' "/proc/$pid/status" 2>/dev/null || echo "unknown")
echo "== server RSS after the run: $rss (peak $hwm)"
if [ "${fail:-0}" = 1 ]; then
  echo "== FAIL"
  exit 1
fi
echo "== OK: no 5xx, server healthy"
