#!/usr/bin/env python3
"""A scripted OpenAI-compatible Chat Completions server on 127.0.0.1, for trying and
measuring the model agent with no model: `--model` runs against it exactly as against a
real endpoint, through the same HTTP client.

It answers each turn from the conversation it is sent (the last user message and the
tool results after it):
  * a question about sales, rows, revenue or data, when tools are offered: first a step
    calling read_file(sales.csv) and query_database(...) at once, then the answer computed
    from the tool results;
  * anything else: an answer that quotes the question and counts the earlier turns, so a
    conversation shows that the history arrived.
It streams when asked (`stream: true`: server-sent `chat.completion.chunk`s, the text a
word at a time, tool-call arguments in fragments, the usage in a last chunk when
`stream_options.include_usage` is set, then `[DONE]`), and answers whole otherwise.

Faults, to see what the host does with them:
  --finish length       stop every answer after --words words with finish_reason "length"
                        ("content_filter" works the same way)
  --break-after N       end every streamed answer after N chunks with an error event
  --chunk-delay SECONDS pause between chunks (a slow model, to try Ctrl-C)

    python3 bench/agent/fake_openai.py --port 8765 &
    mcp-host --model fake --base-url http://127.0.0.1:8765/v1 "How many 2024 rows?"
    mcp-host chat --model fake --base-url http://127.0.0.1:8765/v1

With --port 0 it takes a free port. Either way its first line on stdout is
`listening on http://127.0.0.1:PORT/v1`.
"""

import argparse
import json
import socket
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SQL = "SELECT count(*) AS n, sum(revenue) AS revenue FROM sales WHERE year = 2024"
TOOL_WORDS = ("sales", "rows", "revenue", "data")


def plan(request):
    """The assistant message for `request`: (text or None, tool calls)."""
    messages = request.get("messages") or []
    last_user = max((i for i, m in enumerate(messages) if m.get("role") == "user"),
                    default=None)
    question = (messages[last_user].get("content") or "") if last_user is not None else ""
    this_turn = messages[last_user + 1:] if last_user is not None else []
    results = {m.get("tool_call_id"): m.get("content") or ""
               for m in this_turn if m.get("role") == "tool"}
    offered = {t["function"]["name"] for t in request.get("tools") or []}
    wants_tools = any(word in question.lower() for word in TOOL_WORDS)
    if wants_tools and not results and {"read_file", "query_database"} <= offered:
        calls = [
            {"id": "call_file", "type": "function",
             "function": {"name": "read_file", "arguments": json.dumps({"path": "sales.csv"})}},
            {"id": "call_db", "type": "function",
             "function": {"name": "query_database", "arguments": json.dumps({"sql": SQL})}},
        ]
        return "Let me look at the sales file and the database.", calls
    if results:
        lines = results.get("call_file", "").count("\n")
        try:
            row = (json.loads(results.get("call_db") or "{}").get("rows") or [[None, None]])[0]
            db = f"2024 has {row[0]} rows and ${row[1]:,.0f} revenue"
        except (ValueError, TypeError, IndexError, AttributeError):
            db = "the database did not answer as expected"
        return f"sales.csv has {lines} lines; {db}.", []
    earlier = sum(1 for m in messages[:last_user or 0] if m.get("role") == "user")
    return (f"You asked: {question!r}. This is turn {earlier + 1} of our conversation "
            f"({earlier} earlier {'turn' if earlier == 1 else 'turns'} in the history)."), []


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    options = None  # set in main()

    def setup(self):
        super().setup()
        # Headers and body go out in separate writes: without this, Nagle's algorithm and
        # the client's delayed ACK add 40 ms to every answer.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_POST(self):
        try:
            request = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))))
        except ValueError:
            return self.send_json(400, {"error": {"message": "the body is not JSON"}})
        if not self.path.rstrip("/").endswith("/chat/completions"):
            return self.send_json(404, {"error": {"message": f"no route {self.path}"}})
        text, calls = plan(request)
        finish = "tool_calls" if calls else "stop"
        options = self.options
        if options.finish != "stop" and not calls:
            words = text.split(" ")
            if len(words) > options.words:
                text, finish = " ".join(words[:options.words]), options.finish
        messages = request.get("messages") or []
        usage = {"prompt_tokens": 10 * len(messages), "completion_tokens": len(text.split()),
                 "total_tokens": 10 * len(messages) + len(text.split())}
        answer_id = f"fake-{len(messages)}"
        if request.get("stream"):
            include_usage = bool((request.get("stream_options") or {}).get("include_usage"))
            return self.stream(answer_id, request["model"], text, calls, finish,
                               usage if include_usage else None)
        message = {"role": "assistant", "content": text}
        if calls:
            message["tool_calls"] = calls
        self.send_json(200, {
            "id": answer_id, "object": "chat.completion", "model": request.get("model"),
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": usage,
        })

    def stream(self, answer_id, model, text, calls, finish, usage):
        def chunk(delta, reason=None):
            return {"id": answer_id, "object": "chat.completion.chunk", "model": model,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": reason}]}

        events = [chunk({"role": "assistant", "content": ""})]
        words = text.split(" ") if text else []
        events += [chunk({"content": w if i == 0 else " " + w}) for i, w in enumerate(words)]
        for index, call in enumerate(calls):
            events.append(chunk({"tool_calls": [{
                "index": index, "id": call["id"], "type": "function",
                "function": {"name": call["function"]["name"], "arguments": ""}}]}))
            arguments = call["function"]["arguments"]
            for at in range(0, len(arguments), 8):
                events.append(chunk({"tool_calls": [{
                    "index": index, "function": {"arguments": arguments[at:at + 8]}}]}))
        events.append(chunk({}, finish))
        if usage is not None:
            events.append({"id": answer_id, "object": "chat.completion.chunk", "model": model,
                           "choices": [], "usage": usage})
        broken = self.options.break_after is not None
        if broken:
            events = events[:self.options.break_after]
            events.append({"error": {"message": "the fake model broke off its stream"}})
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.send_header("connection", "close")
        self.end_headers()
        try:
            for event in events:
                if self.options.chunk_delay:
                    time.sleep(self.options.chunk_delay)
                self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
                self.wfile.flush()
            if not broken:
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client cancelled
        self.close_connection = True

    def send_json(self, status, value):
        body = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def main():
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--port", type=int, default=8765, help="0: any free port")
    parser.add_argument("--finish", default="stop", choices=["stop", "length", "content_filter"],
                        help="the finish reason of answers longer than --words")
    parser.add_argument("--words", type=int, default=6,
                        help="words kept of an answer cut by --finish")
    parser.add_argument("--break-after", type=int, metavar="N",
                        help="break every streamed answer after N chunks")
    parser.add_argument("--chunk-delay", type=float, default=0.0, metavar="SECONDS",
                        help="pause before each streamed chunk")
    options = parser.parse_args()
    Handler.options = options
    server = ThreadingHTTPServer(("127.0.0.1", options.port), Handler)
    server.daemon_threads = True
    print(f"listening on http://127.0.0.1:{server.server_address[1]}/v1", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
