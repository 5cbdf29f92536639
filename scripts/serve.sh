#!/usr/bin/env bash
# Run the Sockt server on this machine: embedded SQLite store in ./.data,
# local Docker, the default sandbox image built from Debian packages on first
# start. Flags after the script name go to `sockt serve` (see --help).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/common.sh

require_docker
ensure_mmdebstrap
ensure_iptables
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/sockt-target}"
echo "building sockt (release)..." >&2
cargo build --release --bin sockt >&2
SOCKT_AGENT_BINARY="${SOCKT_AGENT_BINARY:-$(scripts/build-agent.sh)}"
export SOCKT_AGENT_BINARY
if [ -z "${SOCKT_ADMIN_TOKEN:-}" ]; then
  echo "note: SOCKT_ADMIN_TOKEN is unset, so the admin endpoints are off; create accounts with" >&2
  echo "      $CARGO_TARGET_DIR/release/sockt accounts create --credits-cents 500" >&2
fi
exec "$CARGO_TARGET_DIR/release/sockt" serve --log-format "${SOCKT_LOG_FORMAT:-text}" "$@"
