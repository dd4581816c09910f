"""Medians per label of the JSON lines `bash bench/ab.sh` prints: python3 bench/ab_summary.py FILE"""
import json
import statistics
import sys
from collections import defaultdict

runs = defaultdict(list)
for line in open(sys.argv[1]):
    label, _, payload = line.strip().partition(" ")
    if payload.startswith("{"):
        runs[label].append(json.loads(payload))

fields = [
    ("cold_start_tools_list_ms", "cold start ms", 1),
    ("sequential_p50_us", "seq p50 µs", 1),
    ("sequential_p90_us", "seq p90 µs", 1),
    ("sequential_p99_us", "seq p99 µs", 1),
    ("sequential_calls_per_s", "seq calls/s", 0),
    ("concurrent_calls_per_s", "K=16 calls/s", 0),
    ("p50_with_trace_context_us", "p50 with ctx", 1),
    ("p50_without_trace_context_us", "p50 without", 1),
    ("peak_rss_kib", "peak RSS MB", 1),
    ("server_cpu_per_call_us", "server CPU µs/call", 0),
]
print("| label | runs | " + " | ".join(name for _, name, _ in fields) + " | spans |")
print("|---" * (len(fields) + 3) + "|")
for label, items in runs.items():
    cells = []
    for key, _, digits in fields:
        values = [item[key] for item in items]
        value = statistics.median(values)
        if key == "peak_rss_kib":
            value = value / 1024
        cells.append(f"{value:,.{digits}f}")
    spans = ", ".join(f"{i['spans_received']}/{i['spans_expected']}" for i in items)
    print(f"| {label} | {len(items)} | " + " | ".join(cells) + f" | {spans} |")
