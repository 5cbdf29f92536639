#!/usr/bin/env bash
# Build the sandbox agent (`sockt-agent`) as a static executable, so it runs
# in any sandbox image whatever its C library, and print its path.
# Usage: scripts/build-agent.sh [--release|--debug]   (release by default)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/sockt-target}"
host="$(rustc -vV | sed -n 's/^host: //p')"
# With an explicit --target, RUSTFLAGS reach only the target's artefacts
# (not build scripts or proc macros), and the workspace's other builds keep
# their own cache.
RUSTFLAGS="-C target-feature=+crt-static" cargo build -q -p sockt-agent --release --target "$host" >&2
echo "$CARGO_TARGET_DIR/$host/release/sockt-agent"
