#!/usr/bin/env bash
# Installs the PostgreSQL MCP servers that bench/postgres/run.sh measures. Not part of the test
# suite; nothing outside bench/postgres/ is touched. Idempotent: run it again and it only
# installs what is missing or out of date.
#
# What it installs, exactly:
#   bench/postgres/node_modules   `npm ci` from package-lock.json (Node >= 20):
#     @toolbox-sdk/server-linux-x64 1.12.0   Google's MCP Toolbox for Databases: a Go binary
#                                            (node_modules/@toolbox-sdk/server-linux-x64/bin/toolbox,
#                                            300 MB) shipped inside the npm package
#     @modelcontextprotocol/server-postgres 0.6.2   the archived reference server (Node, pg 8)
#   bench/postgres/.venv          a Python >= 3.12 venv (postgres-mcp needs 3.12) with
#     postgres-mcp 0.3.0 (crystaldba, "Postgres MCP Pro") and its dependencies, every one pinned in
#     requirements.txt. postgres-mcp is installed with --no-deps: it pins pglast==7.2.0, which the
#     registry reachable here does not serve, so requirements.txt has pglast 7.22 (same 7.x line,
#     PostgreSQL 17 parser) and mcp 1.30.0 (postgres-mcp imports mcp.server.fastmcp, gone in mcp 2).
#   PYTHON=/path/to/python3.12 overrides the interpreter; by default the first Python >= 3.12 of
#   python3.13, python3.12, python3 on PATH, then pyenv's installed versions.
#   bash bench/postgres/install.sh
set -euo pipefail
cd "$(dirname "$0")"

new_enough() { "$1" -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1; }
if [ ! -x .venv/bin/python ] || ! new_enough .venv/bin/python; then
  python=${PYTHON:-}
  if [ -z "$python" ]; then
    for c in python3.13 python3.12 python3 "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.1[2-9]*/bin/python3; do
      if new_enough "$c"; then python=$c; break; fi
    done
  fi
  [ -n "$python" ] || { echo "install.sh: postgres-mcp needs Python >= 3.12; set PYTHON=" >&2; exit 1; }
  rm -rf .venv
  "$python" -m venv .venv
fi
pipi() { .venv/bin/python -m pip install --quiet --disable-pip-version-check --require-virtualenv "$@"; }
pipi -r requirements.txt
pipi --no-deps postgres-mcp==0.3.0
echo "postgres-mcp: $(.venv/bin/python --version), postgres-mcp $(.venv/bin/python -c 'import importlib.metadata as m; print(m.version("postgres-mcp"), "mcp", m.version("mcp"), "pglast", m.version("pglast"))')"

stamp=node_modules/.bench-postgres-installed
if [ ! -f "$stamp" ] || [ package.json -nt "$stamp" ] || [ package-lock.json -nt "$stamp" ]; then
  npm ci --no-audit --no-fund
  touch "$stamp"
fi
echo "npm peers: node $(node --version)"
npm ls --depth=0 2>/dev/null | tail -n +2
echo "toolbox: $(node_modules/@toolbox-sdk/server-linux-x64/bin/toolbox --version)"
