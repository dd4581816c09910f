"""A counting OTLP/HTTP trace receiver for bench/soak.sh: keeps no span, only counts.

    python counter.py 127.0.0.1:4399

POST /v1/traces (protobuf) is counted per (service.name, span name), and per trace: which
of the three spans of a traced db-server call arrived (the host's CLIENT span
`mcp-tool-query_database`, db-server's SERVER span `tool-query_database`, its database
span `SELECT sales`), and whether each span's parent arrived too. POST /v1/metrics is
accepted. GET /counts answers JSON; POST /reset starts over. Not part of the test suite.
"""

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

CALL = ("mcp-host", "mcp-tool-query_database", 1)
SERVER = ("db-server", "tool-query_database", 2)
DATABASE = ("db-server", "SELECT sales", 4)

lock = threading.Lock()
state = {}


def reset():
    state.clear()
    state.update(by_name={}, traces={}, spans=0, requests=0, span_ids=set(), parents=set())


reset()


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self, code, body=b"", kind="application/x-protobuf"):
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path == "/reset":
            with lock:
                reset()
            return self.answer(200, b"{}", "application/json")
        if self.path == "/v1/metrics":
            return self.answer(200)
        if self.path != "/v1/traces":
            return self.answer(404)
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        with lock:
            state["requests"] += 1
            for resource in request.resource_spans:
                service = next(
                    (a.value.string_value for a in resource.resource.attributes if a.key == "service.name"),
                    "",
                )
                for scope in resource.scope_spans:
                    for span in scope.spans:
                        state["spans"] += 1
                        key = f"{service}/{span.name}"
                        state["by_name"][key] = state["by_name"].get(key, 0) + 1
                        state["span_ids"].add(span.span_id)
                        if span.parent_span_id:
                            state["parents"].add(span.parent_span_id)
                        for who, name, bit in (CALL, SERVER, DATABASE):
                            if service == who and span.name == name:
                                trace = span.trace_id
                                state["traces"][trace] = state["traces"].get(trace, 0) | bit
        self.answer(200)

    def do_GET(self):
        if self.path != "/counts":
            return self.answer(404)
        with lock:
            traces = state["traces"]
            complete = sum(1 for bits in traces.values() if bits == 7)
            body = {
                "spans": state["spans"],
                "export_requests": state["requests"],
                "by_name": state["by_name"],
                "call_traces": len(traces),
                "complete_call_traces": complete,
                "parents_missing": len(state["parents"] - state["span_ids"]),
            }
        self.answer(200, json.dumps(body).encode(), "application/json")


if __name__ == "__main__":
    host, port = sys.argv[1].rsplit(":", 1)
    ThreadingHTTPServer((host, int(port)), Handler).serve_forever()
