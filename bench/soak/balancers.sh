#!/usr/bin/env bash
# The balancer's cost, one sitting: CALLS (default 20,000) traced query_database calls, 8 in
# flight, to one db-server replica directly, through HAProxy (the tested topology) and
# through nginx (round robin), all on one PostgreSQL, export off. Three rounds, interleaved;
# one JSON line per run from `mcp-host load`. Not part of the test suite.
#   bash bench/soak/balancers.sh [CALLS]
set -euo pipefail
cd "$(dirname "$0")/../.."
calls=${1:-20000}
cargo build --release -q -p mcp-host -p db-server
topo=$(mktemp -d)
ngx=$(mktemp -d)
pg_dir=
cleanup() {
  [ -f "$ngx/nginx.pid" ] && kill "$(cat "$ngx/nginx.pid")" 2>/dev/null || true
  examples/deploy/topology.sh down -d "$topo" 2>/dev/null || true
  [ -n "$pg_dir" ] && bash bench/postgres/pg.sh stop "$pg_dir" 2>/dev/null || true
  rm -rf "$topo" "$ngx"
}
trap cleanup EXIT
eval "$(bash bench/postgres/pg.sh)"
pg_dir=$PG_BENCH_DIR
examples/deploy/topology.sh up -d "$topo" -p 18930 -- target/release/db-server >/dev/null
sed -e "s|NGINX_DIR|$ngx|g" -e "s|NGINX_PORT|18940|" -e "s|REPLICA_1|18931|" \
  -e "s|REPLICA_2|18932|" -e "s|REPLICA_3|18933|" bench/soak/nginx.conf > "$ngx/nginx.conf"
nginx -c "$ngx/nginx.conf" -p "$ngx" &
sleep 1
for round in 1 2 3; do
  for target in direct:18931 haproxy:18930 nginx:18940; do
    name=${target%%:*} port=${target##*:}
    printf '%s round %s: ' "$name" "$round"
    target/release/mcp-host load --url "http://127.0.0.1:$port/mcp" --calls "$calls" \
      --concurrency 8 --sample-every 60 2>/dev/null \
      | python3 -c 'import json,sys; r=json.load(sys.stdin); print(json.dumps({"calls_per_second": r["calls_per_second"], "latency_us": r["latency_us"], "failed": r["failed"]}))'
  done
done
