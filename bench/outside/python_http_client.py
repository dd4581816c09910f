#!/usr/bin/env python3
# Run: python3 -m venv /tmp/v && /tmp/v/bin/pip install mcp opentelemetry-proto &&
#      cargo build -p file-server -p db-server && /tmp/v/bin/python bench/outside/python_http_client.py "$PWD"
"""Outside check: the official Python MCP SDK's Streamable HTTP client calls both --http servers.

file-server: mode="auto" (server/discover, 2026-07-28), trace context in _meta only.
db-server:   mode="legacy" (initialize, 2025-11-25 session), bearer token, context in the
             traceparent HTTP header only.
The servers export to a tiny OTLP/HTTP receiver here; the check is that each SERVER span's
parent is the span id the Python client sent, in one trace.
"""
import asyncio, os, signal, subprocess, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

SPANS = []

class Otlp(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        req = ExportTraceServiceRequest(); req.ParseFromString(body)
        for rs in req.resource_spans:
            svc = next((a.value.string_value for a in rs.resource.attributes if a.key == "service.name"), "")
            for ss in rs.scope_spans:
                for s in ss.spans:
                    attrs = {a.key: (a.value.string_value or a.value.int_value) for a in s.attributes}
                    SPANS.append((svc, s.name, s.trace_id.hex(), s.parent_span_id.hex(), attrs))
        self.send_response(200); self.send_header("content-type", "application/x-protobuf"); self.end_headers()
    def log_message(self, *a): pass

otlp = ThreadingHTTPServer(("127.0.0.1", 0), Otlp)
threading.Thread(target=otlp.serve_forever, daemon=True).start()
endpoint = f"http://127.0.0.1:{otlp.server_address[1]}/v1/traces"

ROOT = sys.argv[1]
TOKEN = "py-check-token-93c1"
def start(binary, args, token=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] = endpoint
    env.pop("MCP_SERVER_TOKEN", None)
    if token: env["MCP_SERVER_TOKEN"] = token
    p = subprocess.Popen([f"{ROOT}/target/debug/{binary}", "--http", "127.0.0.1:0", *args],
                         env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    line = p.stderr.readline().strip()
    assert line.startswith("listening on "), line
    return p, line.removeprefix("listening on ")

files, files_url = start("file-server", ["--root", f"{ROOT}/examples/data"])
db, db_url = start("db-server", ["--load", f"sales={ROOT}/examples/data/sales.csv"], TOKEN)

TRACE = "5b8efff798038103d269b633813fc60c"
META_SPAN, HEADER_SPAN = "eee19b7ec3c1b174", "1a2b3c4d5e6f7a8b"

async def main():
    async with Client(files_url, mode="auto") as c:
        tools = await c.list_tools()
        print("file-server tools:", [t.name for t in tools.tools])
        r = await c.call_tool("read_file", {"path": "sales.csv", "head": 2},
                              meta={"traceparent": f"00-{TRACE}-{META_SPAN}-01"})
        print("read_file:", r.content[0].text.splitlines()[0], "| isError:", r.is_error)
    headers = {"Authorization": f"Bearer {TOKEN}", "traceparent": f"00-{TRACE}-{HEADER_SPAN}-01"}
    async with httpx2.AsyncClient(headers=headers) as http:
        async with Client(streamable_http_client(db_url, http_client=http), mode="legacy") as c:
            tools = await c.list_tools()
            print("db-server tools:", [t.name for t in tools.tools])
            r = await c.call_tool("query_database", {"sql": "SELECT COUNT(*) AS n FROM sales"})
            print("query_database:", r.content[0].text[:80], "| isError:", r.is_error)
    # Without the token the SDK's client is refused.
    try:
        async with Client(db_url, mode="legacy") as c:
            await c.list_tools()
        print("UNEXPECTED: no token accepted")
    except Exception as e:
        print("without the token:", type(e).__name__)

asyncio.run(main())
for p in (files, db):
    p.send_signal(signal.SIGTERM); p.wait(timeout=5)
time.sleep(0.3)
ok = True
for svc, name, want_parent in [("file-server", "tool-read_file", META_SPAN), ("db-server", "tool-query_database", HEADER_SPAN)]:
    found = [s for s in SPANS if s[0] == svc and s[1] == name]
    good = len(found) == 1 and found[0][2] == TRACE and found[0][3] == want_parent
    ok &= good
    print(f"{name}: trace {found[0][2] if found else None} parent {found[0][3] if found else None} "
          f"transport {found[0][4].get('network.transport') if found else None} "
          f"session {found[0][4].get('mcp.session.id', '-') if found else None} -> {'OK' if good else 'FAIL'}")
print("RESULT", "OK" if ok else "FAIL")
