"""Minimal Arcade MCP server with SEP-2448 telemetry passback enabled.

Interop peer for the SEP-2448 "MCP server execution telemetry" draft
(modelcontextprotocol/modelcontextprotocol PR #2448) as implemented by
ArcadeAI/arcade-mcp PR #797 (`TelemetryPassbackMiddleware`, PyPI
`arcade-mcp-server`, verified with 1.32.1).

What it does
  * Advertises `capabilities.serverExecutionTelemetry` in the initialize result
    (top level of `capabilities`, NOT under `experimental`).
  * On `tools/call` / `resources/read` whose `params._meta.otel.traces.request`
    is true, opens a SERVER span parented to `params._meta.traceparent`, collects
    every span ended during the request, and returns them in
    `result._meta.otel.traces = {resourceSpans, truncated, droppedSpanCount}`.
  * Tools:
      add(a, b)     -> opens child span "add.compute" and grandchild "add.validate"
                       (so detailed=false drops the grandchild, detailed=true keeps it)
      divide(a, b)  -> raises on b == 0 (shows error behaviour: isError result)
    Resource: note://hello (for resources/read passback).

Install (no Arcade account / API key needed for these tools):
    python3.11 -m venv /tmp/arcade-venv
    /tmp/arcade-venv/bin/pip install arcade-mcp-server mcp   # mcp only for the client

Run over stdio (default; logs go to stderr):
    ARCADE_USAGE_TRACKING=0 /tmp/arcade-venv/bin/python bench/outside/arcade_passback_server.py

Run over streamable HTTP (endpoint http://127.0.0.1:8765/mcp, no auth):
    ARCADE_USAGE_TRACKING=0 /tmp/arcade-venv/bin/python bench/outside/arcade_passback_server.py http 8765

Drive it / capture raw JSON:
    /tmp/arcade-venv/bin/python bench/outside/arcade_passback_client.py [--detailed] [--http URL]

No env var or flag is needed to turn passback on: adding the middleware is the
switch (it emits a FutureWarning "draft SEP" on construction). The client opts
in per request with `_meta.otel.traces.request = true`.
"""

# NB: no `from __future__ import annotations` -- Arcade inspects real Annotated types.
import os
import sys
import warnings
from typing import Annotated, cast

# Anonymous Arcade usage tracking is on by default; turn it off for a local peer.
os.environ.setdefault("ARCADE_USAGE_TRACKING", "0")

from arcade_mcp_server import MCPApp  # noqa: E402
from arcade_mcp_server.mcp_app import TransportType  # noqa: E402
from arcade_mcp_server.middleware.telemetry import TelemetryPassbackMiddleware  # noqa: E402
from opentelemetry import trace  # noqa: E402
from opentelemetry.sdk.resources import Resource  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402

SERVICE_NAME = "arcade-passback-peer"

# Server-internal tracer provider: no exporter, spans only flow back in-band.
provider = TracerProvider(resource=Resource.create({"service.name": SERVICE_NAME}))
with warnings.catch_warnings():
    warnings.simplefilter("ignore", FutureWarning)  # "implements a draft SEP" warning
    telemetry_mw = TelemetryPassbackMiddleware(service_name=SERVICE_NAME, tracer_provider=provider)
trace.set_tracer_provider(provider)
tracer = trace.get_tracer("arcade_passback_peer")

app = MCPApp(
    name="arcade_passback_peer",
    version="0.1.0",
    instructions="SEP-2448 telemetry passback interop peer",
    log_level="WARNING",
    middleware=[telemetry_mw],
)


@app.tool
def add(
    a: Annotated[int, "first addend"],
    b: Annotated[int, "second addend"],
) -> Annotated[int, "a + b"]:
    """Add two integers (opens a child span and a grandchild span)."""
    with tracer.start_as_current_span("add.compute") as span:
        span.set_attribute("add.a", a)
        span.set_attribute("add.b", b)
        with tracer.start_as_current_span("add.validate") as inner:
            inner.set_attribute("add.valid", True)
        return a + b


@app.tool
def divide(
    a: Annotated[float, "dividend"],
    b: Annotated[float, "divisor"],
) -> Annotated[float, "a / b"]:
    """Divide a by b; fails when b == 0 (to observe error-path passback)."""
    with tracer.start_as_current_span("divide.compute") as span:
        span.set_attribute("divide.b", b)
        if b == 0:
            raise ValueError("division by zero")
        return a / b


@app.resource("note://hello", name="hello", mime_type="text/plain")
def hello_note(uri: str) -> str:
    """A static note (for resources/read passback)."""
    with tracer.start_as_current_span("note.load"):
        return "hello from arcade passback peer"


if __name__ == "__main__":
    transport = sys.argv[1] if len(sys.argv) > 1 else "stdio"
    port = int(sys.argv[2]) if len(sys.argv) > 2 else 8765
    app.run(transport=cast(TransportType, transport), host="127.0.0.1", port=port)
