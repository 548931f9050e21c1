#!/usr/bin/env bash
# Benchmarks sandterm against raw Docker on this host and prints a table.
#
#   bash integration/bench/run.sh [sandterm-bench options, e.g. --concurrent 200 --json out.json]
#
# Starts two release servers on loopback with admission limits raised for load (one with no
# warm pool for cold starts, one with a pool of 4 for warm starts), runs sandterm-bench
# against them, and stops them (SIGTERM: all their containers are removed).
set -euo pipefail
cd "$(dirname "$0")/../.."

cargo build --release --bins --quiet
BIN=target/release/sandterm
COLD_PORT=${COLD_PORT:-3901}
WARM_PORT=${WARM_PORT:-3902}
LOGS=${LOGS:-integration/artifacts}
mkdir -p "$LOGS"
limits=(--max-sessions 260 --max-sessions-per-ip 1000 --session-rate 100000 --input-rate 100000)

RUST_LOG=warn "$BIN" --listen "127.0.0.1:$COLD_PORT" --server-name bench-cold --pool-size 0 \
  --admin-token bench-admin-token-000000 "${limits[@]}" 2>"$LOGS/bench-cold.log" &
cold=$!
RUST_LOG=warn "$BIN" --listen "127.0.0.1:$WARM_PORT" --server-name bench-warm --pool-size 4 \
  --admin-token bench-admin-token-000000 "${limits[@]}" 2>"$LOGS/bench-warm.log" &
warm=$!
stop() {
  kill -TERM "$cold" "$warm" 2>/dev/null || true
  wait "$cold" "$warm" 2>/dev/null || true
}
trap stop EXIT

for port in "$COLD_PORT" "$WARM_PORT"; do
  for _ in $(seq 1 100); do
    curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
    sleep 0.1
  done
done
sleep 1  # idle RSS is read first: let start-up settle

target/release/sandterm-bench --url "ws://127.0.0.1:$COLD_PORT/ws" \
  --warm-url "ws://127.0.0.1:$WARM_PORT/ws" --server-pid "$cold" --server-name bench-cold "$@"
