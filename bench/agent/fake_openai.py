#!/usr/bin/env python3
"""A scripted OpenAI-compatible Chat Completions server on 127.0.0.1, for trying and
measuring the model agent with no model: `--model` runs against it exactly as against a
real endpoint, through the same HTTP client.

Each conversation (one agent run) gets, in turn:
  1. a turn calling read_file(sales.csv) and query_database(...) at once;
  2. the final answer, computed from the tool results it was sent.
It answers instantly, so what a run spends beyond it is the agent's own time.

    python3 bench/agent/fake_openai.py --port 8765 &
    mcp-host --model fake --base-url http://127.0.0.1:8765/v1 "How many 2024 rows?"
"""

import argparse
import json
import socket
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SQL = "SELECT count(*) AS n, sum(revenue) AS revenue FROM sales WHERE year = 2024"


def turn(request):
    messages = request["messages"]
    tool_messages = [m for m in messages if m["role"] == "tool"]
    if not tool_messages:
        calls = [
            {"id": "call_file", "type": "function",
             "function": {"name": "read_file", "arguments": json.dumps({"path": "sales.csv"})}},
            {"id": "call_db", "type": "function",
             "function": {"name": "query_database", "arguments": json.dumps({"sql": SQL})}},
        ]
        message = {"role": "assistant", "content": None, "tool_calls": calls}
        reason = "tool_calls"
    else:
        by_id = {m["tool_call_id"]: m["content"] for m in tool_messages}
        lines = by_id.get("call_file", "").count("\n")
        result = json.loads(by_id.get("call_db", "{}") or "{}")
        row = (result.get("rows") or [[None, None]])[0]
        message = {"role": "assistant",
                   "content": f"sales.csv has {lines} lines; 2024 has {row[0]} rows "
                              f"and ${row[1]:,.0f} revenue."}
        reason = "stop"
    return {
        "id": f"fake-{len(messages)}", "object": "chat.completion", "model": request["model"],
        "choices": [{"index": 0, "message": message, "finish_reason": reason}],
        "usage": {"prompt_tokens": 10 * len(messages), "completion_tokens": 12,
                  "total_tokens": 10 * len(messages) + 12},
    }


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        # Headers and body go out in two writes: without this, Nagle's algorithm and the
        # client's delayed ACK add 40 ms to every answer.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        answer = json.dumps(turn(json.loads(body))).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    ThreadingHTTPServer(("127.0.0.1", args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
