#!/usr/bin/env python3
# Run: python3 -m venv /tmp/v && /tmp/v/bin/pip install mcp opentelemetry-proto &&
#      cargo build -p db-server &&
#      DATABASE_URL=postgres://reader:...@host/sales PG_LOG=/path/to/postgresql.log \
#      /tmp/v/bin/python bench/outside/python_postgres_client.py "$PWD"
# DATABASE_URL names a PostgreSQL database with the `sales` table (year, month, quarter,
# region, product, units, revenue); it reaches db-server through the environment only.
# PG_LOG (optional; default $PG_BENCH_DIR/data/log/postgresql.log) is that server's statement
# log, written with log_statement=all; without it the statement-log check is skipped.
"""Outside check: the official Python MCP SDK (2.x) drives db-server against real PostgreSQL.

Over stdio and over Streamable HTTP (bearer token), in the SDK's default mode="auto":
list_tools, list_tables, describe_table sales, and a parameterised query_database, with a
W3C traceparent in the call's _meta. The server exports to a tiny OTLP/HTTP receiver here;
the check is that the tool-query_database SERVER span's parent is the span id sent, that the
`SELECT sales` CLIENT span is its child in the same trace, and that PostgreSQL's statement log
shows that CLIENT span's context as a sqlcommenter comment. Hostile SQL (DELETE, COMMIT) must
come back as tool errors, with the server still answering afterwards.
"""
import asyncio, json, os, secrets, signal, subprocess, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx2
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

SPANS = []  # (name, kind, trace_id, span_id, parent_span_id)
KINDS = {1: "INTERNAL", 2: "SERVER", 3: "CLIENT", 4: "PRODUCER", 5: "CONSUMER"}

class Otlp(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        req = ExportTraceServiceRequest(); req.ParseFromString(body)
        for rs in req.resource_spans:
            for ss in rs.scope_spans:
                for s in ss.spans:
                    SPANS.append((s.name, KINDS.get(s.kind, s.kind), s.trace_id.hex(),
                                  s.span_id.hex(), s.parent_span_id.hex()))
        self.send_response(200); self.send_header("content-type", "application/x-protobuf"); self.end_headers()
    def log_message(self, *a): pass

otlp = ThreadingHTTPServer(("127.0.0.1", 0), Otlp)
threading.Thread(target=otlp.serve_forever, daemon=True).start()
ENDPOINT = f"http://127.0.0.1:{otlp.server_address[1]}/v1/traces"

ROOT = sys.argv[1]
BIN = f"{ROOT}/target/debug/db-server"
DB_URL = os.environ["DATABASE_URL"]
PG_LOG = os.environ.get("PG_LOG") or (
    os.path.join(os.environ["PG_BENCH_DIR"], "data/log/postgresql.log") if "PG_BENCH_DIR" in os.environ else None)
TOKEN = "py-pg-check-" + secrets.token_hex(8)
SQL = "SELECT region, sum(revenue) FROM sales WHERE year = $1 GROUP BY region"
OK = True

def check(label, good, detail=""):
    global OK
    OK &= bool(good)
    print(f"  {label}: {detail} -> {'OK' if good else 'FAIL'}")

def server_env(extra=None):
    env = {"DATABASE_URL": DB_URL, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": ENDPOINT,
           "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf", "OTEL_METRICS_EXPORTER": "none"}
    return env | (extra or {})

async def session(c, transport):
    """The calls every transport makes; returns the (trace, span) sent with query_database."""
    trace, parent = secrets.token_hex(16), secrets.token_hex(8)
    print(f"[{transport}] protocol {c.session.protocol_version}")
    tools = sorted(t.name for t in (await c.list_tools()).tools)
    check("tools/list", tools == ["describe_table", "list_tables", "query_database"], tools)
    r = await c.call_tool("list_tables", {})
    check("list_tables", not r.is_error and "sales" in r.content[0].text, r.content[0].text[:80])
    r = await c.call_tool("describe_table", {"table": "sales"})
    text = r.content[0].text
    check("describe_table sales", not r.is_error and all(col in text for col in
          ("year", "month", "quarter", "region", "product", "units", "revenue")), text[:80] + "...")
    r = await c.call_tool("query_database", {"sql": SQL, "params": [2024]},
                          meta={"traceparent": f"00-{trace}-{parent}-01"})
    rows = json.loads(r.content[0].text).get("rows") if not r.is_error else None
    check("query_database $1=2024", not r.is_error and rows and len(rows) == 4, rows)
    for bad in ("DELETE FROM sales", "COMMIT"):
        r = await c.call_tool("query_database", {"sql": bad})
        check(f"hostile {bad!r}", r.is_error, f"isError={r.is_error} {r.content[0].text!r}")
    r = await c.call_tool("query_database", {"sql": "SELECT count(*) AS n FROM sales"})
    check("still serving", not r.is_error, r.content[0].text[:80])
    return trace, parent

def check_trace(trace, parent, deadline=10.0):
    end = time.time() + deadline
    while time.time() < end:
        srv = [s for s in SPANS if s[0] == "tool-query_database" and s[2] == trace]
        cli = [s for s in SPANS if s[1] == "CLIENT" and srv and s[4] == srv[0][3]]
        if srv and cli: break
        time.sleep(0.2)
    check("SERVER span tool-query_database", len(srv) == 1 and srv[0][1] == "SERVER" and srv[0][4] == parent,
          f"trace {srv[0][2] if srv else None} parent {srv[0][4] if srv else None} (sent {parent})")
    check("CLIENT span child of SERVER", len(cli) == 1 and cli[0][0] == "SELECT sales" and cli[0][2] == trace,
          f"{cli[0][0]!r} {cli[0][1]} span {cli[0][3]}, parent {cli[0][4]} = SERVER span {srv[0][3]}" if cli else "none")
    if not cli: return
    want = f"traceparent='00-{trace}-{cli[0][3]}-01'"
    if PG_LOG is None:
        print(f"  statement log: no PG_LOG/PG_BENCH_DIR, skipped ({want})"); return
    line = next((l for l in open(PG_LOG, errors="replace") if want in l), None)
    check("statement log", line is not None, (line or want).strip()[-140:])

async def over_stdio():
    params = StdioServerParameters(command=BIN, env=server_env())  # merged over the SDK's safe defaults
    async with Client(params) as c:
        return await session(c, "stdio")

async def over_http(url):
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}) as http:
        async with Client(streamable_http_client(url, http_client=http)) as c:
            result = await session(c, "http")
    try:  # Without the token the SDK's client is refused.
        async with Client(url) as c:
            await c.list_tools()
        check("without the token", False, "accepted")
    except Exception as e:
        while isinstance(e, BaseExceptionGroup) and len(e.exceptions) == 1: e = e.exceptions[0]
        check("without the token", True, f"refused: {type(e).__name__}: {str(e)[:60]} {getattr(e, 'error', '')!r:.120}")
    async with httpx2.AsyncClient() as http:  # The SDK hides the status; ask directly.
        resp = await http.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                               headers={"Accept": "application/json, text/event-stream"})
    check("tokenless POST", resp.status_code == 401, f"{resp.status_code} {resp.text.strip()!r}")
    return result

stdio_ids = asyncio.run(over_stdio())
check_trace(*stdio_ids)

env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_") and k != "MCP_SERVER_TOKEN"}
http_srv = subprocess.Popen([BIN, "--http", "127.0.0.1:0"], env=env | server_env({"MCP_SERVER_TOKEN": TOKEN}),
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
line = http_srv.stderr.readline().strip()
assert line.startswith("listening on "), line
try:
    http_ids = asyncio.run(over_http(line.removeprefix("listening on ")))
finally:
    http_srv.send_signal(signal.SIGTERM); http_srv.wait(timeout=10)
check_trace(*http_ids)
print("RESULT", "OK" if OK else "FAIL")
sys.exit(0 if OK else 1)
