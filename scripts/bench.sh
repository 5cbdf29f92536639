#!/usr/bin/env bash
# The benchmark run recorded in docs/benchmarks.md: a release server on
# 127.0.0.1:18081 with a scratch store of its own, every `sockt bench`
# scenario against it (with the docker CLI and engine API baselines), then
# the bursts again without a pool, then the store benchmark. Takes ~12–20 min.
# It stops only the servers it started (by pid) and removes only their
# containers (by their store's instance label): it can run beside a live
# installation.
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/common.sh
# Status reads are also driven by wrk (a load generator in C), beside the bench's own client.
command -v wrk >/dev/null 2>&1 || apt_install wrk " (the status-read load generator)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/sockt-target}"
cargo build -q --release --bin sockt --bin sockt-bench
R=$CARGO_TARGET_DIR/release/sockt
SOCKT_AGENT_BINARY="$(scripts/build-agent.sh)"
export SOCKT_AGENT_BINARY
work="$(mktemp -d /tmp/sockt-bench.XXXXXX)"
data="$work/data"
# Stop the server this script started, and remove its store's containers.
stop() {
  if [ -f "$work/server.pid" ]; then
    kill -TERM "$(cat "$work/server.pid")" 2>/dev/null && wait "$(cat "$work/server.pid")" 2>/dev/null
    rm -f "$work/server.pid"
  fi
  if [ -f "$work/instance" ]; then
    docker ps -aq --filter "label=sockt.instance=$(cat "$work/instance")" | xargs -r docker rm -f -v >/dev/null 2>&1
    rm -f "$work/instance"
  fi
}
trap 'stop; rm -rf "$work"' EXIT
start() { # $1 pool, $2 containers to wait for
  stop
  rm -rf "$data"; mkdir "$data"
  $R serve --listen 127.0.0.1:18081 --data-dir "$data" --rate-limit-per-minute 100000000 \
    --max-sandboxes 700 --max-sandboxes-per-account 700 --pool "$1" --pool-memory-mib 200000 --log-format text > "$work/server.log" 2>&1 &
  echo $! > "$work/server.pid"
  # The first start on a machine builds the sandbox image (minutes).
  for _ in $(seq 3000); do
    curl -fsS 127.0.0.1:18081/healthz > "$work/health" 2>/dev/null && break
    kill -0 "$(cat "$work/server.pid")" 2>/dev/null || { cat "$work/server.log" >&2; exit 1; }
    sleep 0.2
  done
  python3 -c 'import json,sys;print(json.load(open(sys.argv[1]))["instance"])' "$work/health" > "$work/instance"
  $R accounts create --data-dir "$data" --credits-cents 10000000 | tail -1 > "$work/key"
  for i in $(seq 120); do
    r=$(curl -s 127.0.0.1:18081/healthz | python3 -c 'import json,sys;print(sum(json.load(sys.stdin)["warm_pool"].values()))')
    [ "$r" -ge "$2" ] && break; sleep 1
  done
}
bench() { SOCKT_API_KEY="$(cat "$work/key")" $R bench --url http://127.0.0.1:18081 "$@"; }
# Single operations with the pool one agent needs: 120 idle containers
# (the burst's pool) add their shims' wake-ups to every tail.
start "small=4" 4
bench --iterations 60 --scenarios single
start "small=100,nano=20" 120
bench --scenarios burst
sleep 20
# wrk runs flat out: weighted like the server it would take half its CPU.
bench --scenarios reads --seconds 10 --client-cpu-weight 0
bench --scenarios agents --seconds 20
$R projections rebuild --data-dir "$data"
# Memory per idle sandbox from a quiet server (after the agents, its heap
# shrinks while the 500 are made, and the difference says nothing).
start "nano=20" 20
bench --scenarios idle --idle 500 --server-pid "$(cat "$work/server.pid")"
start "0" 0
bench --scenarios burst
stop
$R bench --stream-events 110000 --iterations 50
