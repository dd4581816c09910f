#!/usr/bin/env bash
# A/B in one sitting: the floor, and file-server and db-server built from two commits, all
# driven by the same `mcp-host bench` (the current build), interleaved round by round.
# One JSON line per run on stdout, prefixed with its label. Not part of the test suite.
#   [EXPORT=local|otlp|none] bash bench/ab.sh BASE_BIN_DIR [CALLS] [ROUNDS]
# EXPORT is `mcp-host bench --export`: spans to the bench's receiver as a host's second
# destination (local, the default), spans and metrics to it as the user's OTLP backend
# (otlp), or nothing (none).
# BASE_BIN_DIR holds the `file-server` and `db-server` release binaries of the base commit
# (e.g. `git worktree add /tmp/base <commit> && cargo build --release` there, then copy).
set -euo pipefail
cd "$(dirname "$0")/.."
base=${1:?usage: bash bench/ab.sh BASE_BIN_DIR [CALLS] [ROUNDS]}
calls=${2:-2000}
rounds=${3:-3}
export_mode=${EXPORT:-local}
cargo build --release -q -p mcp-host -p file-server -p db-server -p floor-server

data=$(mktemp -d)
trap 'rm -rf "$data"' EXIT
cp examples/data/sales.csv "$data/"
head -c 1024 examples/data/sales.csv > "$data/bench-1k.txt"
sql='{"sql": "SELECT region, SUM(revenue) FROM sales WHERE year = 2024 GROUP BY region"}'

bench() { label=$1; shift; echo "$label $(./target/release/mcp-host bench --calls "$calls" --concurrency 16 --export "$export_mode" "$@" | tail -n 1)"; }
for _ in $(seq "$rounds"); do
  bench floor -- ./target/release/floor-server
  bench file-base --args '{"path": "bench-1k.txt"}' -- "$base/file-server" --root "$data"
  bench file-new --args '{"path": "bench-1k.txt"}' -- ./target/release/file-server --root "$data"
  bench db-base --tool query_database --args "$sql" -- "$base/db-server" --load "sales=$data/sales.csv"
  bench db-new --tool query_database --args "$sql" -- ./target/release/db-server --load "sales=$data/sales.csv"
done
