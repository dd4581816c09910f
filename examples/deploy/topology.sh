#!/usr/bin/env bash
# Replicas of an MCP server behind HAProxy, on loopback, in one command.
#
#   examples/deploy/topology.sh up [-n REPLICAS] [-p PORT] [-d DIR] -- SERVER_CMD [ARGS...]
#   examples/deploy/topology.sh down [-d DIR]
#   examples/deploy/topology.sh status [-d DIR]
#
# `up` starts REPLICAS (default 3) copies of SERVER_CMD, each with
# `--http 127.0.0.1:PORT+i --trusted-proxy 127.0.0.1` and service.instance.id=replica-i in
# OTEL_RESOURCE_ATTRIBUTES, then HAProxy on 127.0.0.1:PORT (default 8930) with
# examples/deploy/haproxy.cfg, and prints the balancer's MCP URL. Every process's pid and
# log are in DIR (default /tmp/mcp-topology): replica-i.pid/.log, haproxy.pid/.log.
# The servers inherit the environment: OTEL_EXPORTER_OTLP_ENDPOINT, MCP_SERVER_TOKEN,
# DATABASE_URL... Extra flags for each replica go in REPLICA_FLAGS (e.g. "--shutdown-grace 5").
# `down` stops HAProxy, then each replica with SIGTERM (it drains and flushes its spans),
# SIGKILL after 15 s.
#
# Example (db-server replicas on one PostgreSQL):
#   DATABASE_URL=postgres://reader:pw@127.0.0.1/sales examples/deploy/topology.sh up -- target/release/db-server
#   mcp-host load --url http://127.0.0.1:8930/mcp --calls 10000
#   examples/deploy/topology.sh down
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
action=${1:-}
[ $# -gt 0 ] && shift
replicas=3 port=8930 dir=/tmp/mcp-topology
while [ $# -gt 0 ]; do
  case $1 in
    -n) replicas=$2; shift 2 ;;
    -p) port=$2; shift 2 ;;
    -d) dir=$2; shift 2 ;;
    --) shift; break ;;
    *) echo "topology.sh: unknown option $1 (see the comment at the top of $0)" >&2; exit 2 ;;
  esac
done

stop_pid() { # stop_pid FILE GRACE_SECONDS: SIGTERM, then SIGKILL after the grace
  local file=$1 grace=$2 pid
  [ -f "$file" ] || return 0
  pid=$(cat "$file")
  if kill -TERM "$pid" 2>/dev/null; then
    for _ in $(seq $((grace * 10))); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$file"
}

healthy() { # healthy PORT: GET /healthz answers 200 (bash's /dev/tcp: no curl needed)
  (
    exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
    printf 'GET /healthz HTTP/1.0\r\n\r\n' >&3
    head -n 1 <&3 | grep -q ' 200 '
  ) 2>/dev/null
}

wait_healthy() { # wait_healthy PORT NAME LOG PIDFILE: its /healthz answers, or it exited
  for _ in $(seq 100); do
    healthy "$1" && return 0
    kill -0 "$(cat "$4")" 2>/dev/null || break
    sleep 0.1
  done
  echo "topology.sh: $2 did not answer /healthz on 127.0.0.1:$1; its log ($3):" >&2
  tail -n 20 "$3" >&2 || true
  return 1
}

case $action in
  up)
    [ $# -gt 0 ] || { echo "topology.sh up: give the server command after --" >&2; exit 2; }
    command -v haproxy >/dev/null || { echo "topology.sh: haproxy is not installed (apt-get install haproxy)" >&2; exit 1; }
    mkdir -p "$dir"
    for i in $(seq "$replicas"); do
      if [ -f "$dir/replica-$i.pid" ] && kill -0 "$(cat "$dir/replica-$i.pid")" 2>/dev/null; then
        echo "topology.sh: already up in $dir (topology.sh down -d $dir first)" >&2; exit 1
      fi
    done
    cp "$here/haproxy.cfg" "$dir/haproxy.cfg"
    for i in $(seq "$replicas"); do
      replica_port=$((port + i))
      # shellcheck disable=SC2086 # REPLICA_FLAGS is a list of flags
      OTEL_RESOURCE_ATTRIBUTES="service.instance.id=replica-$i${OTEL_RESOURCE_ATTRIBUTES:+,$OTEL_RESOURCE_ATTRIBUTES}" \
        "$@" --http "127.0.0.1:$replica_port" --trusted-proxy 127.0.0.1 ${REPLICA_FLAGS:-} \
        </dev/null >/dev/null 2>"$dir/replica-$i.log" &
      echo $! > "$dir/replica-$i.pid"
      echo "    server replica-$i 127.0.0.1:$replica_port" >> "$dir/haproxy.cfg"
    done
    # Whatever fails from here stops what was started, so nothing is left running.
    undo() { bash "$0" down -d "$dir"; exit 1; }
    for i in $(seq "$replicas"); do
      wait_healthy $((port + i)) "replica-$i" "$dir/replica-$i.log" "$dir/replica-$i.pid" || undo
    done
    if ! LB_PORT=$port haproxy -c -q -f "$dir/haproxy.cfg"; then
      echo "topology.sh: HAProxy refuses $dir/haproxy.cfg (above)" >&2; undo
    fi
    LB_PORT=$port haproxy -db -f "$dir/haproxy.cfg" </dev/null >"$dir/haproxy.log" 2>&1 &
    echo $! > "$dir/haproxy.pid"
    wait_healthy "$port" haproxy "$dir/haproxy.log" "$dir/haproxy.pid" || undo
    echo "http://127.0.0.1:$port/mcp"
    ;;
  down)
    stop_pid "$dir/haproxy.pid" 5
    for file in "$dir"/replica-*.pid; do
      [ -e "$file" ] && stop_pid "$file" 15 &
    done
    wait
    ;;
  status)
    for file in "$dir"/haproxy.pid "$dir"/replica-*.pid; do
      [ -e "$file" ] || continue
      name=$(basename "$file" .pid)
      if kill -0 "$(cat "$file")" 2>/dev/null; then echo "$name: running (pid $(cat "$file"))"; else echo "$name: gone"; fi
    done
    ;;
  *)
    sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
