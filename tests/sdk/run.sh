#!/usr/bin/env bash
# Runs the official auth0-python SDK against a fresh Gatehouse over HTTPS (self-signed).
# Usage: tests/sdk/run.sh [path/to/gatehouse]   (default: target/debug/gatehouse)
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=tests/lib.sh
source tests/lib.sh
BIN="${1:-target/debug/gatehouse}"
python3 -m pip install --quiet --disable-pip-version-check 'auth0-python==6.8.0' 2>&1 | grep -v "Running pip as the 'root' user" || true

work=$(mktemp -d)
port=$(free_port)
GATEHOUSE_ADMIN_CLIENT_ID=sdk-admin GATEHOUSE_ADMIN_CLIENT_SECRET=sdk-secret \
  "$BIN" serve --listen "127.0.0.1:$port" --database-url "$work/gatehouse.db" \
  --tls-self-signed --tls-dir "$work/tls" >"$work/server.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 50); do
  [ -f "$work/tls/cert.pem" ] && curl -sf --cacert "$work/tls/cert.pem" "https://127.0.0.1:$port/healthz" >/dev/null && break
  sleep 0.2
done
SSL_CERT_FILE="$work/tls/cert.pem" REQUESTS_CA_BUNDLE="$work/tls/cert.pem" \
  timeout 120 python3 tests/sdk/auth0_python_smoke.py "127.0.0.1:$port" sdk-admin sdk-secret
