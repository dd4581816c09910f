#!/usr/bin/env bash
# Measures the peer MCP servers with the project's driver (`mcp-host bench`), with the same
# parameters as bench/run.sh: read_file on examples/data/sales.csv and query_database
# (where the peer has it), CALLS sequential calls, 16 in flight, three fresh processes each.
# Prints one JSON line per run on stdout. Not part of the test suite.
#   bash bench/peers/install.sh && bash bench/peers/run.sh [CALLS]
# Peers (installed by install.sh):
#   python-sdk     bench/peers/python/server.py         mcp 2.3.0 (MCPServer)    read_file, query_database
#   typescript-sdk bench/peers/typescript/server.mjs    @modelcontextprotocol/sdk 1.32.2    read_file, query_database
#   ts-reference-fs @modelcontextprotocol/server-filesystem 2026.8.31          read_text_file (absolute path)
set -euo pipefail
peers=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$peers/../.." && pwd)
cd "$repo"
calls=${1:-2000}
host=./target/release/mcp-host
[ -x "$host" ] || cargo build --release -q -p mcp-host
[ -x "$peers/.venv/bin/python" ] && [ -d "$peers/typescript/node_modules" ] ||
  { echo "run bash bench/peers/install.sh first" >&2; exit 1; }

# BENCH_DATA: the folder served (it must hold sales.csv); BENCH_FILE: the file read_file reads.
data=${BENCH_DATA:-$repo/examples/data}
file=${BENCH_FILE:-sales.csv}
sql='{"sql": "SELECT region, SUM(revenue) FROM sales WHERE year = 2024 GROUP BY region"}'
python=("$peers/.venv/bin/python" "$peers/python/server.py" "$data")
tssdk=(node "$peers/typescript/server.mjs" "$data")
tsfs=(node "$peers/typescript/node_modules/@modelcontextprotocol/server-filesystem/dist/index.js" "$data")

bench() { "$host" bench --calls "$calls" --concurrency 16 "$@" | tail -n 1; }
for run in 1 2 3; do
  bench --args "{\"path\": \"$file\"}" -- "${python[@]}"
  bench --tool query_database --args "$sql" -- "${python[@]}"
  bench --args "{\"path\": \"$file\"}" -- "${tssdk[@]}"
  bench --tool query_database --args "$sql" -- "${tssdk[@]}"
  # read_text_file is read_file's non-deprecated name in this server (the same handler).
  bench --tool read_text_file --args "{\"path\": \"$data/$file\"}" -- "${tsfs[@]}"
done
