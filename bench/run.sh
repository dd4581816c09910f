#!/usr/bin/env bash
# Measures the project's servers and the floor with the same driver, three fresh processes
# each, and prints one JSON line per run. Not part of the test suite.
#   bash bench/run.sh [CALLS]
set -euo pipefail
cd "$(dirname "$0")/.."
calls=${1:-2000}
cargo build --release -q -p mcp-host -p file-server -p db-server -p floor-server
bench() { ./target/release/mcp-host bench --calls "$calls" --concurrency 16 "$@" | tail -n 1; }
for run in 1 2 3; do
  bench -- ./target/release/floor-server
  bench -- ./target/release/file-server --root examples/data
  bench --tool query_database --args '{"sql": "SELECT region, SUM(revenue) FROM sales WHERE year = 2024 GROUP BY region"}' \
    -- ./target/release/db-server --load sales=examples/data/sales.csv
done
