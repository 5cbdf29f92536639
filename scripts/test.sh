#!/usr/bin/env bash
# Run every test: unit and property tests, the store suite on SQLite and a
# real PostgreSQL, HTTP integration tests against real Docker containers, the
# kill -9 restart test, Lightning billing against a live LNbits, and the
# contract tests with the official `sockt` Python SDK 0.2.0 from PyPI, and
# our TypeScript and Go clients (sdks/) against a live server.
# Installs and starts what it needs (PostgreSQL, LNbits, the sandbox image).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/common.sh

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/sockt-target}"
venv="${SOCKT_TEST_VENV:-/var/tmp/sockt-test-venv}"
require_docker
ensure_mmdebstrap
ensure_iptables

echo "== build" >&2
cargo build --bin sockt
cargo test --workspace --no-run
sockt="$CARGO_TARGET_DIR/debug/sockt"
# Every test server runs its sandboxes with the agent (tests/agent.rs fails without it).
SOCKT_AGENT_BINARY="$(scripts/build-agent.sh)"
export SOCKT_AGENT_BINARY

echo "== sandbox image (built once from Debian packages, then reused)" >&2
"$sockt" image build --data-dir "$CARGO_TARGET_DIR/sockt-image-build"

echo "== gVisor (runsc), for the lifecycle test under it" >&2
ensure_gvisor "${SOCKT_SANDBOX_IMAGE:-sockt-sandbox:bookworm}"

echo "== PostgreSQL" >&2
SOCKT_TEST_DATABASE_URL="$(scripts/postgres.sh)"
export SOCKT_TEST_DATABASE_URL

echo "== LNbits (FakeWallet)" >&2
eval "$(scripts/lnbits.sh)"
export SOCKT_TEST_LNBITS_URL SOCKT_TEST_LNBITS_TOKEN
stop_lnbits() { kill "$SOCKT_TEST_LNBITS_PID" 2>/dev/null || true; }
trap stop_lnbits EXIT

echo "== Rust tests" >&2
unset SOCKT_DATABASE_URL SOCKT_DATA_DIR SOCKT_LISTEN SOCKT_SANDBOX_IMAGE SOCKT_ADMIN_TOKEN
# Test servers leave their instance ids here: one dropped while a
# provision was in flight may see that container made after its own
# clean-up (a restart would reconcile it; a test server never restarts).
export SOCKT_TEST_INSTANCES_DIR="$(mktemp -d /tmp/sockt-test-instances.XXXXXX)"
cargo test --workspace -- --test-threads 4
swept=0
for instance in $(ls "$SOCKT_TEST_INSTANCES_DIR"); do
  for id in $(docker ps -aq --filter "label=sockt.instance=$instance"); do
    docker rm -f -v "$id" >/dev/null && swept=$((swept + 1))
  done
done
rm -rf "$SOCKT_TEST_INSTANCES_DIR"
echo "containers left by test servers, removed: $swept" >&2

echo "== a server for the Python clients" >&2
if [ ! -x "$venv/bin/pytest" ] || ! "$venv/bin/python" -c "import sockt, mcp, playwright" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "sockt==0.2.0" "mcp>=1.20,<2" "pytest>=8" "playwright>=1.40"
fi
# The dashboard test drives Debian's Chromium (no browser download).
command -v chromium >/dev/null 2>&1 || apt_install chromium " (the dashboard test's browser)"
data_dir="$(mktemp -d /tmp/sockt-sdk-test.XXXXXX)"
log="$data_dir/server.log"
sockt_wallet_key="$(curl -fsS -X POST "$SOCKT_TEST_LNBITS_URL/api/v1/account" -H 'content-type: application/json' -d '{"name":"sockt"}' \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["adminkey"])')"
admin_token="$(head -c 24 /dev/urandom | base64 | tr -d '/+=')"
SOCKT_ADMIN_TOKEN="$admin_token" SOCKT_LNBITS_ADMIN_KEY="$sockt_wallet_key" "$sockt" serve --listen 127.0.0.1:0 --data-dir "$data_dir" --log-format text \
  --lnbits-url "$SOCKT_TEST_LNBITS_URL" --lnurl-allow-http true --lnurl-allow-private-hosts true --lightning-min-sats 1 2>"$log" &
server_pid=$!
cleanup() {
  stop_lnbits
  kill "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  instance="$(cat "$data_dir/instance" 2>/dev/null || true)"
  if [ -n "$instance" ]; then
    docker ps -aq --filter "label=sockt.instance=$instance" | xargs -r docker rm -f -v >/dev/null
  fi
  rm -rf "$data_dir"
}
trap cleanup EXIT
for _ in $(seq 600); do
  url="$(sed -n 's/^sockt listening on //p' "$log" | head -n 1)"
  [ -n "$url" ] && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$log" >&2; exit 1; }
  sleep 0.2
done
[ -n "$url" ] || { echo "the server did not start" >&2; cat "$log" >&2; exit 1; }
curl -fsS "$url/healthz" | python3 -c 'import json,sys; print(json.load(sys.stdin)["instance"])' > "$data_dir/instance"
key="$("$sockt" accounts create --data-dir "$data_dir" --credits-cents 1000 --name sdk-contract | tail -n 1)"
echo "== SDK, MCP and dashboard tests (sockt==0.2.0, mcp from PyPI; headless Chromium)" >&2
artefacts="$CARGO_TARGET_DIR/test-artefacts"
mkdir -p "$artefacts"
SOCKT_API_URL="$url" SOCKT_API_KEY="$key" SOCKT_ADMIN_TOKEN="$admin_token" SOCKT_ARTEFACTS="$artefacts" \
  "$venv/bin/pytest" -q -p no:cacheprovider tests/sdk tests/mcp tests/dashboard
echo "dashboard screenshot: $artefacts/sockt-dashboard.png" >&2

# Our own clients against the same server: TypeScript (node --test) and Go (go test).
SOCKT_API_URL="$url" SOCKT_API_KEY="$key" SOCKT_ADMIN_TOKEN="$admin_token" scripts/test-sdks.sh

echo "== audit of the clients' server: every chain intact, every msat accounted for" >&2
"$sockt" audit --data-dir "$data_dir"
