#!/usr/bin/env python3
"""Measures what the model agent loop costs outside model time.

Starts bench/agent/fake_openai.py (instant answers: a turn with two parallel tool calls,
then the answer), runs `mcp-host --model fake` RUNS times with --trace-json, and reports
medians over the runs, from the spans:
  wall       the whole command, start to exit (servers started and stopped included)
  agent      the mcp-agent span
  startup    from mcp-agent's start to the first chat span: servers started and listed
  model      the chat spans (the fake's time plus HTTP)
  tools      the mcp-tool-* spans (the two calls of a turn overlap: their union)
  loop       from the first chat span to the end of mcp-agent, minus model and tools:
             the agent loop's own work (encoding, decoding, bookkeeping)

    cargo build --release -p mcp-host
    python3 bench/agent/overhead.py target/release/mcp-host [RUNS]
"""

import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spans(path):
    data = json.load(open(path))
    for resource in data["resourceSpans"]:
        for scope in resource["scopeSpans"]:
            for span in scope["spans"]:
                yield span["name"], int(span["startTimeUnixNano"]), int(span["endTimeUnixNano"])


def union(intervals):
    total, end = 0, None
    for start, stop in sorted(intervals):
        if end is None or start > end:
            total += stop - start
            end = stop
        elif stop > end:
            total += stop - end
            end = stop
    return total


def main():
    host = sys.argv[1]
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    port = free_port()
    fake = subprocess.Popen([sys.executable, os.path.join(HERE, "fake_openai.py"), "--port", str(port)])
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "OPENAI_", "TRACE"))}
    rows = []
    try:
        time.sleep(0.5)
        with tempfile.TemporaryDirectory() as tmp:
            for i in range(runs + 1):
                trace = os.path.join(tmp, f"{i}.json")
                began = time.perf_counter()
                subprocess.run([host, "--model", "fake", "--base-url", f"http://127.0.0.1:{port}/v1",
                                "--no-trace-view", "--trace-json", trace, "How many 2024 rows?"],
                               check=True, env=env, stdout=subprocess.DEVNULL)
                wall = time.perf_counter() - began
                if i == 0:
                    continue  # warm-up: page cache, the fake's first connection
                all_spans = list(spans(trace))
                root = [(s, e) for n, s, e in all_spans if n == "mcp-agent"][0]
                chat = [(s, e) for n, s, e in all_spans if n.startswith("chat ")]
                tools = [(s, e) for n, s, e in all_spans if n.startswith("mcp-tool-")]
                first_chat = min(s for s, _ in chat)
                rows.append({
                    "wall": wall * 1e3,
                    "agent": (root[1] - root[0]) / 1e6,
                    "startup": (first_chat - root[0]) / 1e6,
                    "model": union(chat) / 1e6,
                    "tools": union(tools) / 1e6,
                    "loop": (root[1] - first_chat - union(chat + tools)) / 1e6,
                })
    finally:
        fake.kill()
    print(f"{runs} runs of `mcp-host --model fake` (2 model requests, 2 parallel tool calls), medians in ms:")
    for key in ["wall", "agent", "startup", "model", "tools", "loop"]:
        values = [r[key] for r in rows]
        print(f"  {key:<6} {statistics.median(values):8.2f}   (min {min(values):.2f}, max {max(values):.2f})")


if __name__ == "__main__":
    main()
