#!/usr/bin/env bash
# The per-call cost of `mcp-host proxy`: file-server alone against file-server behind the
# proxy, interleaved, three fresh processes each, measured by `mcp-host bench` with the calls
# of bench/run.sh (read_file of a 1 KiB text file). Twice: with tracing on (every process
# exports to the bench's local receiver; the proxy adds one span per request and edits `_meta`)
# and with OTEL_SDK_DISABLED=true (the proxy is a pure relay). One JSON line per run on stdout.
# Not part of the test suite.
#   bash bench/proxy.sh [CALLS]        (default 2000)
set -euo pipefail
cd "$(dirname "$0")/.."
calls=${1:-2000}
cargo build --release -q -p mcp-host -p file-server

data=$(mktemp -d)
trap 'rm -rf "$data"' EXIT
head -c 1024 examples/data/sales.csv > "$data/bench-1k.txt"
args='{"path": "bench-1k.txt"}'
host=./target/release/mcp-host
server=(./target/release/file-server --root "$data")

bench() { "$host" bench --calls "$calls" --concurrency 16 --args "$args" "$@" | tail -n 1; }
for run in 1 2 3; do
  for disabled in false true; do
    OTEL_SDK_DISABLED=$disabled bench -- "${server[@]}"
    OTEL_SDK_DISABLED=$disabled bench -- "$host" proxy --name file-server -- "${server[@]}"
  done
done
