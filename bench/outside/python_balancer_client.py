#!/usr/bin/env python3
# Run (with the topology up: examples/deploy/topology.sh up -- target/release/db-server ...):
#   python3 -m venv /tmp/v && /tmp/v/bin/pip install mcp &&
#   /tmp/v/bin/python bench/outside/python_balancer_client.py http://127.0.0.1:8930/mcp
"""Outside check: the official Python MCP SDK through HAProxy to db-server replicas.

Four clients, each making 100 calls: two in mode="legacy" (initialize, a 2025-11-25 session
that must stay on the replica that created it) and two in mode="auto" (server/discover,
2026-07-28, stateless, any replica). Every call must be answered with the sales tables.
"""
import asyncio
import sys

from mcp import Client


async def one(url: str, mode: str, calls: int) -> int:
    answered = 0
    async with Client(url, mode=mode) as client:
        for _ in range(calls):
            result = await client.call_tool("list_tables", {})
            assert not result.is_error, result
            assert "sales" in result.content[0].text, result
            answered += 1
    return answered


async def main(url: str) -> None:
    modes = ["legacy", "legacy", "auto", "auto"]
    counts = await asyncio.gather(*(one(url, mode, 100) for mode in modes))
    for mode, count in zip(modes, counts):
        print(f"{mode}: {count} of 100 calls answered")
    assert counts == [100] * 4
    print("ok: every call of every session answered through the balancer")


asyncio.run(main(sys.argv[1]))
