#!/usr/bin/env bash
# An unmodified OIDC relying party (Python authlib, pinned) against a fresh Gatehouse (HTTPS,
# self-signed). Usage: tests/rp/run.sh [path/to/gatehouse]   (default: target/debug/gatehouse)
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=tests/lib.sh
source tests/lib.sh
BIN="${1:-target/debug/gatehouse}"
python3 -m pip install --quiet --disable-pip-version-check 'authlib==1.3.2' 'requests' 2>&1 | grep -v "Running pip as the 'root' user" || true
python3 -c 'import authlib, requests' # fails the run when the install did not work

work=$(mktemp -d)
port=$(free_port)
GATEHOUSE_ADMIN_CLIENT_ID=rp-admin GATEHOUSE_ADMIN_CLIENT_SECRET=rp-secret \
  "$BIN" serve --listen "127.0.0.1:$port" --database-url "$work/gatehouse.db" \
  --tls-self-signed --tls-dir "$work/tls" >"$work/server.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 50); do
  [ -f "$work/tls/cert.pem" ] && curl -sf --cacert "$work/tls/cert.pem" "https://127.0.0.1:$port/healthz" >/dev/null && break
  sleep 0.2
done
SSL_CERT_FILE="$work/tls/cert.pem" REQUESTS_CA_BUNDLE="$work/tls/cert.pem" \
  timeout 120 python3 tests/rp/authlib_rp.py "127.0.0.1:$port" rp-admin rp-secret || { tail -n 30 "$work/server.log"; exit 1; }
