#!/usr/bin/env bash
# The benchmark run recorded in docs/benchmarks.md: a release server on
# 127.0.0.1:18081 with a scratch store in /tmp/bench-data, every `sockt bench`
# scenario against it (with the docker CLI and engine API baselines), then
# the bursts again without a pool, then the store benchmark. Takes ~12–20 min
# and removes every container labelled sockt.managed on this machine.
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
start() { # $1 pool
  pkill -f "sockt serve --listen 127.0.0.1:18081"; sleep 2
  docker ps -aq --filter label=sockt.managed | xargs -r docker rm -f >/dev/null 2>&1
  rm -rf /tmp/bench-data; mkdir /tmp/bench-data
  $R serve --listen 127.0.0.1:18081 --data-dir /tmp/bench-data --rate-limit-per-minute 100000000 \
    --max-sandboxes 700 --max-sandboxes-per-account 700 --pool "$1" --pool-memory-mib 200000 --log-format text > /tmp/bench-server.log 2>&1 &
  echo $! > /tmp/bench-server.pid
  sleep 3
  $R accounts create --data-dir /tmp/bench-data --credits-cents 10000000 | tail -1 > /tmp/bench.key
  for i in $(seq 120); do
    r=$(curl -s 127.0.0.1:18081/healthz | python3 -c 'import json,sys;print(sum(json.load(sys.stdin)["warm_pool"].values()))')
    [ "$r" -ge "$2" ] && break; sleep 1
  done
}
bench() { SOCKT_API_KEY="$(cat /tmp/bench.key)" $R bench --url http://127.0.0.1:18081 "$@"; }
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
$R projections rebuild --data-dir /tmp/bench-data
# Memory per idle sandbox from a quiet server (after the agents, its heap
# shrinks while the 500 are made, and the difference says nothing).
start "nano=20" 20
bench --scenarios idle --idle 500 --server-pid "$(cat /tmp/bench-server.pid)"
start "0" 0
bench --scenarios burst
pkill -f "sockt serve --listen 127.0.0.1:18081"; sleep 2
docker ps -aq --filter label=sockt.managed | xargs -r docker rm -f >/dev/null 2>&1
$R bench --stream-events 110000 --iterations 50
