#!/usr/bin/env bash
# Test the TypeScript (@sockt/client) and Go clients in sdks/ against a live
# server: `node --test` and `go test`. scripts/test.sh runs this with the
# server and LNbits it started; by hand, export SOCKT_API_URL, SOCKT_API_KEY,
# SOCKT_ADMIN_TOKEN, SOCKT_TEST_LNBITS_URL and SOCKT_TEST_LNBITS_TOKEN first.
# Installs Node, TypeScript and Go from Debian's packages when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/common.sh

for name in SOCKT_API_URL SOCKT_API_KEY SOCKT_ADMIN_TOKEN SOCKT_TEST_LNBITS_URL SOCKT_TEST_LNBITS_TOKEN; do
  [ -n "${!name:-}" ] || { echo "$name is not set: the SDK tests need a live server and LNbits (scripts/test.sh starts both)" >&2; exit 1; }
done
command -v node >/dev/null 2>&1 || apt_install nodejs " (the TypeScript client's tests)"
command -v tsc >/dev/null 2>&1 || apt_install node-typescript " (compiles the TypeScript client)"
command -v go >/dev/null 2>&1 || apt_install golang-go " (the Go client's tests)"

echo "== TypeScript client (sdks/typescript): tsc $(tsc --version | cut -d' ' -f2), node $(node --version)" >&2
# Node 22+ has WebSocket (the shell) built in; Node 20 behind a flag.
node_flags=()
if ! node -e 'process.exit(typeof WebSocket === "function" ? 0 : 1)' 2>/dev/null \
   && node --experimental-websocket -e '' 2>/dev/null; then
  node_flags=(--experimental-websocket)
fi
(cd sdks/typescript && rm -rf dist && tsc -p . && node "${node_flags[@]}" --test test/*.test.mjs)

echo "== Go client (sdks/go): $(go version | cut -d' ' -f3)" >&2
export GOPROXY=off GOCACHE="${GOCACHE:-/var/tmp/sockt-go-cache}"
(cd sdks/go && go vet ./... && go test -count=1 ./...)
