#!/usr/bin/env bash
# Installs the benchmark peers. Not part of the test suite; nothing outside bench/peers/ is touched.
#
# What it installs, exactly:
#   bench/peers/.venv                    a Python venv (python3 -m venv, Python >= 3.10) with
#                                        mcp==2.3.0, the official Python MCP SDK, and its
#                                        dependencies, every one pinned in python/requirements.txt
#                                        (pip install --require-virtualenv -r, from PyPI).
#   bench/peers/typescript/node_modules  `npm ci` from typescript/package-lock.json (Node >= 20):
#                                          @modelcontextprotocol/sdk 1.32.2              (official TypeScript SDK)
#                                          @modelcontextprotocol/server-filesystem 2026.8.31 (reference filesystem server)
#                                          better-sqlite3 12.11.1                         (SQLite for the TS SDK peer's query_database)
#                                          zod 4.6.7
#                                        and their dependencies as locked (142 packages in all).
#                                        better-sqlite3 is compiled from its bundled SQLite source
#                                        by node-gyp (needs make and a C++ compiler, about 1-2 min)
#                                        instead of downloading a prebuilt binary (typescript/.npmrc).
#
# Idempotent: an existing venv is reused (pip only installs what is missing or differs), and npm ci
# runs only when node_modules is absent or older than package.json / package-lock.json.
#   bash bench/peers/install.sh
set -euo pipefail
cd "$(dirname "$0")"

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check --require-virtualenv \
  -r python/requirements.txt
echo "python peer: $(.venv/bin/python --version), mcp $(.venv/bin/python -c 'import importlib.metadata as m; print(m.version("mcp"))')"

stamp=typescript/node_modules/.bench-peers-installed
if [ ! -f "$stamp" ] || [ typescript/package.json -nt "$stamp" ] || [ typescript/package-lock.json -nt "$stamp" ]; then
  (cd typescript && npm ci --no-audit --no-fund)
  touch "$stamp"
fi
(cd typescript && echo "typescript peers: node $(node --version)" &&
  npm ls --depth=0 2>/dev/null | tail -n +2)
