#!/usr/bin/env bash
# Starts MCP Toolbox over stdio for `mcp-host bench`, which opens with rmcp's `initialize` at
# protocolVersion 2026-07-28 and has no fallback. Toolbox 1.12 does not negotiate an unknown version
# down (as the spec asks), it answers -32601 "invalid method initialize". This shim reads that first
# line, rewrites the version to 2025-11-25 (the newest toolbox 1.12 knows), and execs toolbox with
# the same pid, so the bench's RSS and CPU figures are toolbox's own. Toolbox's stdin is then a pipe
# fed by `cat` (the rest of the bench's requests: one more pipe hop per request, outside toolbox's
# CPU figure); its stdout goes straight to the bench.
#   toolbox-stdio.sh TOOLBOX_BINARY [TOOLBOX_ARGS...]
set -euo pipefail
IFS= read -r first || exit 0
first=${first/\"protocolVersion\":\"2026-07-28\"/\"protocolVersion\":\"2025-11-25\"}
exec < <(printf '%s\n' "$first"; exec cat)
exec "$@"
