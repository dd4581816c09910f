#!/usr/bin/env bash
# The soak: CALLS (default 100,000) traced query_database calls to db-server over stdio,
# then CALLS through HAProxy to three db-server replicas on one PostgreSQL
# (examples/deploy/topology.sh, bench/postgres/pg.sh), with export on: every process sends
# its spans to a counting OTLP receiver (bench/soak/counter.py). `mcp-host load` samples the
# resident memory, open descriptors and threads of itself, the stdio server, the replicas
# and HAProxy every second; the receiver says whether every call's three spans arrived.
# Reports in bench/soak/results/. Not part of the test suite (about 10 minutes here).
#   bash bench/soak.sh [CALLS]
set -euo pipefail
cd "$(dirname "$0")/.."
calls=${1:-100000}
out=bench/soak/results
mkdir -p "$out"
cargo build --release -q -p mcp-host -p db-server
if [ ! -x bench/soak/.venv/bin/python ]; then
  python3 -m venv bench/soak/.venv
  bench/soak/.venv/bin/pip install -q -r bench/soak/requirements.txt
fi

port=4399
bench/soak/.venv/bin/python bench/soak/counter.py "127.0.0.1:$port" &
counter=$!
topo=$(mktemp -d)
pg_dir=
cleanup() {
  examples/deploy/topology.sh down -d "$topo" 2>/dev/null || true
  [ -n "$pg_dir" ] && bash bench/postgres/pg.sh stop "$pg_dir" 2>/dev/null || true
  kill "$counter" 2>/dev/null || true
  rm -rf "$topo"
}
trap cleanup EXIT
export OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:$port
sleep 1

counts() { # counts FILE: wait until the receiver's count stops moving, then save it
  local last=-1 now
  while :; do
    now=$(python3 -c 'import json,sys,urllib.request; print(json.load(urllib.request.urlopen(sys.argv[1]))["spans"])' "http://127.0.0.1:$port/counts")
    [ "$now" = "$last" ] && break
    last=$now; sleep 3
  done
  python3 -c 'import sys,urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1]).read().decode())' "http://127.0.0.1:$port/counts" > "$1"
  python3 -c 'import urllib.request; urllib.request.urlopen(urllib.request.Request("http://127.0.0.1:'"$port"'/reset", data=b""))'
  cat "$1"; echo
}

echo "== stdio: $calls calls" >&2
target/release/mcp-host load --calls "$calls" --concurrency 8 --sample-every 1 \
  --report "$out/stdio.json" -- target/release/db-server --load sales=examples/data/sales.csv >/dev/null
counts "$out/stdio-spans.json"

echo "== http through HAProxy to 3 replicas on PostgreSQL: $calls calls" >&2
eval "$(bash bench/postgres/pg.sh)"
pg_dir=$PG_BENCH_DIR
examples/deploy/topology.sh up -d "$topo" -p 18930 -- target/release/db-server >/dev/null
watch=()
for name in replica-1 replica-2 replica-3 haproxy; do watch+=(--watch-pid "$name=$(cat "$topo/$name.pid")"); done
target/release/mcp-host load --url http://127.0.0.1:18930/mcp --calls "$calls" --concurrency 8 \
  --sample-every 1 "${watch[@]}" --report "$out/http.json" >/dev/null
examples/deploy/topology.sh down -d "$topo"
counts "$out/http-spans.json"
