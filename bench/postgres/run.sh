#!/usr/bin/env bash
# Measures PostgreSQL MCP servers with the project's driver (`mcp-host bench`), with the same
# parameters as bench/run.sh: CALLS sequential calls, 16 in flight, --export none, three fresh
# processes each, all running one query through the server's run-any-SQL tool:
#   SELECT region, SUM(revenue) FROM sales WHERE year = 2024 GROUP BY region
# Prints one JSON line per run on stdout; notes (skips, where the servers' stderr went) on stderr.
# Not part of the test suite.
#   bash bench/postgres/install.sh
#   eval "$(bash bench/postgres/pg.sh)"      # a throwaway PostgreSQL 15; sets DATABASE_URL
#   bash bench/postgres/run.sh [CALLS]       # default 2000
#   bash bench/postgres/pg.sh stop "$PG_BENCH_DIR"
# PEERS="toolbox reference" limits the run to some of: db-server db-server-traced
# db-server-nocomment toolbox reference postgres-mcp.
#
# Servers (each checked once by probe.py first; one that fails is skipped with a note):
#   db-server     target/release/db-server (DATABASE_URL from the environment)  query_database {sql}
#                 exporting nothing, like the peers (no span, so no sqlcommenter comment)
#   db-server-traced     the same, every span exported to the bench's receiver (--export local),
#                 each statement carrying its traceparent comment: what a user runs
#   db-server-nocomment  db-server-traced with DB_SERVER_SQLCOMMENTER=off: the comment's A/B
#   toolbox       MCP Toolbox for Databases 1.12.0, --stdio, tools.yaml   execute_sql {sql}
#                 (started through toolbox-stdio.sh: see there)
#                 (type postgres-execute-sql: arbitrary SQL given as the argument)
#   reference     @modelcontextprotocol/server-postgres 0.6.2, URL as argument   query {sql}
#                 (each call: BEGIN TRANSACTION READ ONLY, the query, ROLLBACK)
#   postgres-mcp  postgres-mcp 0.3.0 --access-mode=restricted, DATABASE_URI   execute_sql {sql}
#                 (restricted: the SQL is parsed by pglast and run in a read-only transaction)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cd "$repo"
calls=${1:-2000}
peers=${PEERS:-db-server db-server-traced db-server-nocomment toolbox reference postgres-mcp}
: "${DATABASE_URL:?set DATABASE_URL (eval \"\$(bash bench/postgres/pg.sh)\")}"
host=./target/release/mcp-host
[ -x "$host" ] || { echo "no $host: cargo build --release -p mcp-host" >&2; exit 1; }
[ -f "$here/node_modules/.bench-postgres-installed" ] && [ -x "$here/.venv/bin/postgres-mcp" ] ||
  { echo "run bash bench/postgres/install.sh first" >&2; exit 1; }

# Toolbox reads its connection from tools.yaml's ${POSTGRES_*}; postgres-mcp from DATABASE_URI.
eval "$(python3 - "$DATABASE_URL" <<'EOF'
import shlex, sys, urllib.parse
u = urllib.parse.urlsplit(sys.argv[1])
for name, value in [("HOST", u.hostname), ("PORT", u.port or 5432), ("DATABASE", u.path.lstrip("/")),
                    ("USER", urllib.parse.unquote(u.username or "")),
                    ("PASSWORD", urllib.parse.unquote(u.password or ""))]:
    print(f"export POSTGRES_{name}={shlex.quote(str(value))}")
EOF
)"
export DATABASE_URI=$DATABASE_URL

sql='SELECT region, SUM(revenue) FROM sales WHERE year = 2024 GROUP BY region'
args=$(python3 -c 'import json, sys; print(json.dumps({"sql": sys.argv[1]}))' "$sql")
expect=2966670 # West's 2024 revenue, in every server's answer
toolbox="$here/node_modules/@toolbox-sdk/server-linux-x64/bin/toolbox"

peer_tool() {
  case $1 in
    db-server*) echo query_database ;; toolbox | postgres-mcp) echo execute_sql ;; reference) echo query ;;
    *) return 1 ;;
  esac
}
peer_cmd() { # the server command, one word a line
  case $1 in
    db-server | db-server-traced) printf '%s\n' ./target/release/db-server ;;
    db-server-nocomment) printf '%s\n' env DB_SERVER_SQLCOMMENTER=off ./target/release/db-server ;;
    # toolbox-stdio.sh: the bench's initialize asks protocol 2026-07-28, which toolbox 1.12 rejects
    # instead of answering with its own version; the shim rewrites it and execs toolbox (same pid).
    # --disable-version-check: otherwise toolbox asks the internet for a newer release at start.
    toolbox) printf '%s\n' "$here/toolbox-stdio.sh" "$toolbox" --stdio --disable-version-check \
      --config "$here/tools.yaml" ;;
    reference) printf '%s\n' node "$here/node_modules/@modelcontextprotocol/server-postgres/dist/index.js" "$DATABASE_URL" ;;
    postgres-mcp) printf '%s\n' "$here/.venv/bin/postgres-mcp" --access-mode=restricted ;;
  esac
}

# The servers' stderr (postgres-mcp logs every request, toolbox its start-up) goes to files.
logs=$(mktemp -d /tmp/bench-postgres-logs.XXXXXX)
echo "servers' stderr: $logs" >&2
ready=()
for peer in $peers; do
  tool=$(peer_tool "$peer") || { echo "unknown peer $peer" >&2; exit 1; }
  mapfile -t cmd < <(peer_cmd "$peer")
  if note=$(python3 "$here/probe.py" "$tool" "$args" "$expect" -- "${cmd[@]}" 2>>"$logs/$peer.stderr"); then
    ready+=("$peer")
  else
    echo "skipped $peer: $note (stderr: $logs/$peer.stderr)" >&2
  fi
done

for run in 1 2 3; do
  for peer in "${ready[@]}"; do
    mapfile -t cmd < <(peer_cmd "$peer")
    export_mode=none
    case $peer in db-server-traced | db-server-nocomment) export_mode=local ;; esac
    "$host" bench --calls "$calls" --concurrency 16 --export "$export_mode" --tool "$(peer_tool "$peer")" \
      --args "$args" -- "${cmd[@]}" 2>>"$logs/$peer.stderr" | tail -n 1 ||
      echo "run $run of $peer failed (stderr: $logs/$peer.stderr)" >&2
  done
done
