#!/usr/bin/env bash
# Gatehouse jobs benchmark: imports BENCH_USERS users (default 1,000,000, each with the same
# pre-computed bcrypt `password_hash`, an e-mail, a name and small metadata) through
# POST /api/v2/jobs/users-imports as one file, waits for the job, then exports the same users
# (POST /api/v2/jobs/users-exports, ndjson, gzip) and downloads the file. Reports the import's
# and the export's wall time (from the request to the job's completion), users/s, the file
# sizes and the server's peak memory. Target: the import in <= 60 s on SQLite.
#
# Auth0 limits an import file to 500 KB; the server's --import-max-bytes raises the limit for
# this run (GATEHOUSE_IMPORT_MAX_BYTES, set here to the file's size).
#
# Usage: bench/jobs.sh [--postgres]
# Environment (all optional):
#   BENCH_USERS=1000000     users in the import file
#   BENCH_PG_URL=postgres://postgres@127.0.0.1:5432/test   (with --postgres)
#   BENCH_NO_BUILD=1        use the existing release binary as it is
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH_DIR="$ROOT/bench"
RESULTS_DIR="$BENCH_DIR/results"

USERS="${BENCH_USERS:-1000000}"
PG_URL="${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432/test}"
NO_BUILD="${BENCH_NO_BUILD:-0}"
DURATION=1 WARMUP=1 CONC=1 NEEDS_OHA=0

USE_PG=0
for arg in "$@"; do
  case "$arg" in
    --postgres) USE_PG=1 ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "unknown argument: $arg (try --help)" >&2; exit 2 ;;
  esac
done
[[ "$USERS" =~ ^[0-9]+$ && "$USERS" -gt 0 ]] || { echo "BENCH_USERS must be a positive integer" >&2; exit 2; }

# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh"
build_release gatehouse

log "writing $USERS users to the import file"
python3 - "$USERS" "$WORK/users.json" <<'EOF'
import json, sys
n, path = int(sys.argv[1]), sys.argv[2]
# One well-formed bcrypt hash (cost 10) for every user: its password does not matter here.
h = "$2b$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"
first = ["James", "Mary", "John", "Linda", "Robert", "Ana", "Wei", "Fatima"]
last = ["Smith", "Garcia", "Chen", "Müller", "Rossi", "Khan", "Silva", "Dubois"]
with open(path, "w") as f:
    f.write("[")
    for i in range(n):
        a, b = first[i % 8], last[(i // 8) % 8]
        u = {"email": f"{a.lower()}.{i}@bench.example.com", "email_verified": i % 3 == 0,
             "name": f"{a} {b}", "given_name": a, "family_name": b, "password_hash": h,
             "user_metadata": {"lang": ["en", "fr", "de"][i % 3]}, "app_metadata": {"plan": ["free", "gold"][i % 2]}}
        if i:
            f.write(",")
        f.write(json.dumps(u, ensure_ascii=False, separators=(",", ":")))
    f.write("]")
EOF
FILE_BYTES="$(stat -c %s "$WORK/users.json")"
log "import file: $FILE_BYTES bytes"
export GATEHOUSE_IMPORT_MAX_BYTES="$FILE_BYTES"

setup_database
start_server
get_token
AUTH=(-H "authorization: Bearer $ACCESS_TOKEN")
CONN_ID="$(curl -sS "${AUTH[@]}" "$BASE/api/v2/connections?name=Username-Password-Authentication" | jq -r '.[0].id')"
[[ "$CONN_ID" == con_* ]] || { echo "no Username-Password-Authentication connection" >&2; exit 1; }

# wait_job ID: polls until the job is completed or failed; prints its final JSON.
wait_job() {
  local j
  while true; do
    j="$(curl -sS "${AUTH[@]}" "$BASE/api/v2/jobs/$1")"
    case "$(jq -r .status <<<"$j")" in
      completed|failed) echo "$j"; return 0 ;;
    esac
    sleep 0.5
  done
}

now() { date +%s.%N; }

log "importing"
T0="$(now)"
JOB="$(curl -sS "${AUTH[@]}" -F "connection_id=$CONN_ID" -F "send_completion_email=false" \
  -F "users=@$WORK/users.json;type=application/json" "$BASE/api/v2/jobs/users-imports")"
T_ACCEPTED="$(now)"
JOB_ID="$(jq -r .id <<<"$JOB")"
[[ "$JOB_ID" == job_* ]] || { echo "import refused: $JOB" >&2; exit 1; }
DONE="$(wait_job "$JOB_ID")"
T1="$(now)"
log "import: $(jq -c '{status, summary, status_details}' <<<"$DONE")"
IMPORT_S="$(awk -v a="$T0" -v b="$T1" 'BEGIN { printf "%.1f", b - a }')"
UPLOAD_S="$(awk -v a="$T0" -v b="$T_ACCEPTED" 'BEGIN { printf "%.1f", b - a }')"

log "exporting"
T2="$(now)"
EJOB="$(curl -sS "${AUTH[@]}" -H 'content-type: application/json' \
  -d "{\"connection_id\":\"$CONN_ID\",\"format\":\"json\"}" "$BASE/api/v2/jobs/users-exports")"
EDONE="$(wait_job "$(jq -r .id <<<"$EJOB")")"
T3="$(now)"
LOCATION="$(jq -r .location <<<"$EDONE")"
curl -sS -o "$WORK/export.json.gz" "$LOCATION"
T4="$(now)"
EXPORT_S="$(awk -v a="$T2" -v b="$T3" 'BEGIN { printf "%.1f", b - a }')"
DOWNLOAD_S="$(awk -v a="$T3" -v b="$T4" 'BEGIN { printf "%.1f", b - a }')"
EXPORT_BYTES="$(stat -c %s "$WORK/export.json.gz")"
EXPORTED="$(gzip -dc "$WORK/export.json.gz" | wc -l)"
HWM="$(server_hwm_kb)"

mkdir -p "$RESULTS_DIR"
OUT="$RESULTS_DIR/jobs-$BACKEND-$(date +%Y%m%d-%H%M%S).json"
jq -n --arg backend "$BACKEND" --argjson users "$USERS" --argjson file "$FILE_BYTES" \
  --argjson import_s "$IMPORT_S" --argjson upload_s "$UPLOAD_S" --argjson export_s "$EXPORT_S" \
  --argjson download_s "$DOWNLOAD_S" --argjson export_bytes "$EXPORT_BYTES" --argjson exported "$EXPORTED" \
  --argjson summary "$(jq -c .summary <<<"$DONE")" --arg hwm "$HWM" \
  '{backend:$backend, users:$users, import_file_bytes:$file, import_s:$import_s, upload_s:$upload_s,
    import_users_per_s:(($users / $import_s) | floor), summary:$summary,
    export_s:$export_s, export_download_s:$download_s, export_gz_bytes:$export_bytes, exported:$exported,
    server_peak_rss_mb:(($hwm | tonumber? // 0) / 1024 | floor), target_import_s:60,
    import_met:($import_s <= 60)}' | tee "$OUT"
