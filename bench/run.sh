#!/usr/bin/env bash
# One sitting: the floor, file-server and db-server, and (when bench/peers/install.sh has run)
# the Python SDK, TypeScript SDK and reference filesystem servers, all measured by
# `mcp-host bench` with the same calls: read_file of a 1 KiB text file, and a GROUP BY query
# over the sales table. Three fresh processes each; one JSON line per run on stdout.
# Not part of the test suite.
#   bash bench/run.sh [CALLS]        (default 2000)
set -euo pipefail
cd "$(dirname "$0")/.."
calls=${1:-2000}
cargo build --release -q -p mcp-host -p file-server -p db-server -p floor-server

data=$(mktemp -d)
trap 'rm -rf "$data"' EXIT
cp examples/data/sales.csv "$data/"
head -c 1024 examples/data/sales.csv > "$data/bench-1k.txt"
file=bench-1k.txt
sql='{"sql": "SELECT region, SUM(revenue) FROM sales WHERE year = 2024 GROUP BY region"}'

bench() { ./target/release/mcp-host bench --calls "$calls" --concurrency 16 "$@" | tail -n 1; }
for run in 1 2 3; do
  bench -- ./target/release/floor-server
  bench --args "{\"path\": \"$file\"}" -- ./target/release/file-server --root "$data"
  bench --tool query_database --args "$sql" -- ./target/release/db-server --load "sales=$data/sales.csv"
done
if [ -d bench/peers/typescript/node_modules ] && [ -x bench/peers/.venv/bin/python ]; then
  BENCH_DATA=$data BENCH_FILE=$file bash bench/peers/run.sh "$calls"
else
  echo "bench/peers not installed (bash bench/peers/install.sh): peers skipped" >&2
fi
