#!/usr/bin/env bash
# A throwaway PostgreSQL 15 for bench/postgres/run.sh. Not part of the test suite.
#   eval "$(bash bench/postgres/pg.sh)"        start; prints `export DATABASE_URL=...` and
#                                             `export PG_BENCH_DIR=...` (progress goes to stderr)
#   bash bench/postgres/pg.sh stop "$PG_BENCH_DIR"   stop it and remove the folder
#
# The server: Debian's postgresql-15 binaries (/usr/lib/postgresql/15/bin, or PG_BIN), run as the
# `postgres` OS user (PostgreSQL refuses root), data in a fresh mktemp folder, listening on
# 127.0.0.1 only on a free port, its unix socket in that folder (never /var/run/postgresql).
# shared_preload_libraries=pg_stat_statements (Debian ships it in postgresql-15 itself; the
# postgresql-contrib package is only a metapackage), log_statement=none (PG_LOG_STATEMENT=all
# logs every statement, as the trace check wants; off for the timings), log in
# DIR/data/log/postgresql.log.
# Database `sales` holds table `sales`, loaded from examples/data/sales.csv (288 rows). Role
# `mcp_reader` (password `reader`, scram-sha-256 over TCP) has CONNECT on sales, USAGE on schema
# public and SELECT on sales, nothing else.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
bin=${PG_BIN:-/usr/lib/postgresql/15/bin}
as_pg() { runuser -u postgres -- "$@"; }

if [ "${1:-start}" = stop ]; then
  dir=${2:?usage: pg.sh stop DIR}
  [ -f "$dir/data/PG_VERSION" ] || { echo "pg.sh: $dir holds no data/ cluster" >&2; exit 1; }
  as_pg "$bin/pg_ctl" -D "$dir/data" -m fast -t 30 stop >&2 || true
  rm -rf -- "$dir"
  exit 0
fi

[ -x "$bin/postgres" ] || { echo "pg.sh: no $bin/postgres (apt-get install postgresql-15)" >&2; exit 1; }
id postgres >/dev/null 2>&1 || { echo "pg.sh: no postgres OS user (apt-get install postgresql-15)" >&2; exit 1; }

# A free loopback port: the kernel picks one, we release it, PostgreSQL binds it right after.
port=${PG_PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
dir=$(mktemp -d /tmp/mcp-bench-pg.XXXXXX)
chmod 755 "$dir"
chown postgres: "$dir"
trap 'echo "pg.sh: failed; see $dir" >&2' ERR

as_pg "$bin/initdb" -D "$dir/data" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
  --encoding=UTF8 --locale=C.UTF-8 >"$dir/initdb.log"
as_pg tee -a "$dir/data/postgresql.conf" >/dev/null <<EOF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
shared_preload_libraries = 'pg_stat_statements'
log_statement = '${PG_LOG_STATEMENT:-none}'
logging_collector = on
log_directory = 'log'
log_filename = 'postgresql.log'
log_line_prefix = '%m [%p] %u@%d %a: '
fsync = off
max_connections = 200
EOF
as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/startup.log" -w -t 30 start >&2

psql() { as_pg /usr/bin/psql -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "$port" -U postgres "$@"; }
psql -d postgres -c 'CREATE DATABASE sales' \
  -c 'REVOKE ALL ON DATABASE sales FROM PUBLIC' -c 'REVOKE CONNECT ON DATABASE postgres FROM PUBLIC' \
  -c "CREATE ROLE mcp_reader LOGIN PASSWORD 'reader'" \
  -c 'GRANT CONNECT ON DATABASE sales TO mcp_reader'
psql -d sales <<'EOF'
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
CREATE TABLE sales (
  year int NOT NULL, month int NOT NULL, quarter text NOT NULL, region text NOT NULL,
  product text NOT NULL, units int NOT NULL, revenue numeric NOT NULL
);
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO mcp_reader;
GRANT SELECT ON sales TO mcp_reader;
EOF
# Through stdin: the postgres user need not be able to read the work tree.
psql -d sales -c '\copy sales FROM STDIN WITH (FORMAT csv, HEADER true)' <"$repo/examples/data/sales.csv"
psql -d sales -c 'ANALYZE sales'
rows=$(psql -d sales -At -c 'SELECT count(*) FROM sales')
echo "pg.sh: PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port, $rows rows in sales.sales; log $dir/data/log/postgresql.log" >&2
echo "export DATABASE_URL=postgres://mcp_reader:reader@127.0.0.1:$port/sales"
echo "export PG_BENCH_DIR=$dir"
