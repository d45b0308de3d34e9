#!/usr/bin/env bash
# auth0-deploy-cli round trip: seed a Gatehouse (A) through `a0deploy import`, export it as a
# directory and as YAML, import the YAML export into a fresh Gatehouse (B), export B, and check
# that both exports say the same (modulo ids). Both servers over HTTPS (self-signed).
# Usage: tests/deploy/run.sh [path/to/gatehouse]   (default: target/debug/gatehouse)
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=tests/lib.sh
source tests/lib.sh
BIN="${1:-target/debug/gatehouse}"
ROOT="$(pwd)"
DEPLOY_CLI_VERSION=8.44.0
CLI_DIR="$ROOT/target/deploy-cli"

# Resource types whose families are not built yet (each a 501 today), and why others are out.
# This list is printed so that it visibly shrinks as families land.
EXCLUDED=(
  eventStreams                         # an export cannot carry a webhook's write-only token, so
                                       # importing it into a fresh tenant is refused (as on Auth0)
  rateLimitPolicies                    # not among the spec's 406 operations
)

python3 -c 'import yaml' 2>/dev/null ||
  python3 -m pip install --quiet --disable-pip-version-check pyyaml 2>&1 | grep -v "Running pip as the 'root' user" || true
if [[ ! -x "$CLI_DIR/node_modules/.bin/a0deploy" ]]; then
  mkdir -p "$CLI_DIR"
  (cd "$CLI_DIR" && npm install --silent --no-audit --no-fund "auth0-deploy-cli@$DEPLOY_CLI_VERSION" >/dev/null)
fi
A0DEPLOY="$CLI_DIR/node_modules/.bin/a0deploy"

work=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"' EXIT

# start NAME: a fresh server over HTTPS; sets PORT_<NAME>.
start() {
  local name=$1 port
  port=$(free_port)
  mkdir -p "$work/$name"
  GATEHOUSE_ADMIN_CLIENT_ID=deploy-admin GATEHOUSE_ADMIN_CLIENT_SECRET=deploy-admin-secret-0123456789 \
    "$BIN" serve --listen "127.0.0.1:$port" --database-url "$work/$name/gatehouse.db" \
    --tls-self-signed --tls-dir "$work/$name/tls" >"$work/$name/server.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 50); do
    [ -f "$work/$name/tls/cert.pem" ] &&
      curl -sf --cacert "$work/$name/tls/cert.pem" "https://127.0.0.1:$port/healthz" >/dev/null && break
    sleep 0.2
  done
  local excluded
  excluded=$(printf '"%s",' "${EXCLUDED[@]}")
  cat >"$work/$name/config.json" <<EOC
{"AUTH0_DOMAIN": "127.0.0.1:$port", "AUTH0_CLIENT_ID": "deploy-admin",
 "AUTH0_CLIENT_SECRET": "deploy-admin-secret-0123456789",
 "AUTH0_EXCLUDED": [${excluded%,}], "AUTH0_ALLOW_DELETE": false,
 "AUTH0_KEYWORD_REPLACE_MAPPINGS": {"SMTP_PASS": "not-a-real-password", "LOGSTREAMS_HTTP_SECRET": "Bearer deploy-siem-token"}}
EOC
}

# a0 NAME ARGS...: a0deploy against server NAME.
a0() {
  local name=$1
  shift
  NODE_EXTRA_CA_CERTS="$work/$name/tls/cert.pem" timeout 180 "$A0DEPLOY" "$@" -c "$work/$name/config.json" \
    >"$work/$name/a0deploy.log" 2>&1 || {
    echo "a0deploy $* against $name failed:" >&2
    tail -40 "$work/$name/a0deploy.log" >&2
    echo "--- server log (last requests):" >&2
    grep -E 'status=(4|5)[0-9][0-9]' "$work/$name/server.log" | tail -15 >&2 || true
    exit 1
  }
}

echo "== auth0-deploy-cli $DEPLOY_CLI_VERSION round trip; AUTH0_EXCLUDED (${#EXCLUDED[@]}): ${EXCLUDED[*]}"
start a
a0 a import --input_file tests/deploy/seed.yaml
a0 a export --format directory --output_folder "$work/a-dir"
a0 a export --format yaml --output_folder "$work/a-yaml"
start b
a0 b import --input_file "$work/a-yaml/tenant.yaml"
a0 b export --format yaml --output_folder "$work/b-yaml"

python3 tests/deploy/compare.py "$work/a-yaml/tenant.yaml" "$work/b-yaml/tenant.yaml" "$work/a-dir"
