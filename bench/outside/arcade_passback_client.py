"""Drive arcade_passback_server.py with the official MCP Python SDK and print raw JSON.

Sends SEP-2448 requests (`params._meta = {"traceparent": ..., "otel": {"traces":
{"request": true, "detailed": <bool>}}}`) and prints, verbatim, the JSON-RPC
`result` objects the server returns (taken off the transport before the SDK's
typed parsing, so nothing is dropped), plus a short lineage check.

Install:
    python3.11 -m venv /tmp/arcade-venv
    /tmp/arcade-venv/bin/pip install arcade-mcp-server mcp     # verified: 1.32.1 / mcp 2.3.0

Run (spawns the server over stdio):
    /tmp/arcade-venv/bin/python bench/outside/arcade_passback_client.py
    /tmp/arcade-venv/bin/python bench/outside/arcade_passback_client.py --only add --detailed
Against a server started with `... arcade_passback_server.py http 8765`:
    /tmp/arcade-venv/bin/python bench/outside/arcade_passback_client.py --http http://127.0.0.1:8765/mcp

--only {init,add,add-nopassback,divide-error,resource}: print just that exchange.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

HERE = Path(__file__).resolve().parent
SERVER = HERE / "arcade_passback_server.py"


class _TapRead:
    """Wraps the transport read stream; records every raw JSON-RPC message by id."""

    def __init__(self, inner: Any, log: dict[Any, dict]) -> None:
        self._inner, self._log = inner, log

    def _record(self, item: Any) -> Any:
        msg = getattr(item, "message", None)
        if msg is not None:
            raw = msg.model_dump(by_alias=True, mode="json", exclude_unset=True)
            if "id" in raw and ("result" in raw or "error" in raw):
                self._log[raw["id"]] = raw
        return item

    async def receive(self) -> Any:
        return self._record(await self._inner.receive())

    def __aiter__(self) -> _TapRead:
        return self

    async def __anext__(self) -> Any:
        return self._record(await self._inner.__anext__())

    async def __aenter__(self) -> _TapRead:
        await self._inner.__aenter__()
        return self

    async def __aexit__(self, *exc: Any) -> Any:
        return await self._inner.__aexit__(*exc)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class _TapWrite:
    """Wraps the transport write stream; records every request we send by id."""

    def __init__(self, inner: Any, log: dict[Any, dict]) -> None:
        self._inner, self._log = inner, log

    async def send(self, item: Any) -> None:
        raw = item.message.model_dump(by_alias=True, mode="json", exclude_unset=True)
        if "id" in raw and "method" in raw:
            self._log[raw["id"]] = raw
        await self._inner.send(item)

    async def __aenter__(self) -> _TapWrite:
        await self._inner.__aenter__()
        return self

    async def __aexit__(self, *exc: Any) -> Any:
        return await self._inner.__aexit__(*exc)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


@asynccontextmanager
async def _transport(http_url: str | None):
    if http_url:
        from mcp.client.streamable_http import streamable_http_client

        async with streamable_http_client(http_url) as streams:
            yield streams
    else:
        params = StdioServerParameters(
            command=sys.executable,
            args=[str(SERVER)],
            env={"ARCADE_USAGE_TRACKING": "0", **{k: v for k, v in os.environ.items() if k.startswith("OTEL_")}},
        )
        with open(os.devnull, "w") as devnull:
            async with stdio_client(params, errlog=devnull) as streams:
                yield streams


def _otel_meta(detailed: bool) -> tuple[dict[str, Any], str, str]:
    trace_id, span_id = secrets.token_hex(16), secrets.token_hex(8)
    meta = {
        "traceparent": f"00-{trace_id}-{span_id}-01",
        "otel": {"traces": {"request": True, "detailed": detailed}},
    }
    return meta, trace_id, span_id


def _lineage(result: dict[str, Any], trace_id: str, span_id: str) -> str:
    traces = (result.get("_meta") or {}).get("otel", {}).get("traces")
    if not traces:
        return "no _meta.otel in result"
    spans = [s for rs in traces.get("resourceSpans", []) for ss in rs.get("scopeSpans", []) for s in ss.get("spans", [])]
    ids = {s["spanId"] for s in spans}
    roots = [s for s in spans if s.get("parentSpanId") not in ids]
    ok = all(s["traceId"] == trace_id for s in spans) and [s.get("parentSpanId") for s in roots] == [span_id]
    names = ", ".join(f"{s['name']}(parent={s.get('parentSpanId')})" for s in spans)
    return (
        f"{len(spans)} span(s): {names}; truncated={traces.get('truncated')} "
        f"droppedSpanCount={traces.get('droppedSpanCount')}; lineage {'OK' if ok else 'MISMATCH'} "
        f"(client trace={trace_id} span={span_id})"
    )


def _show(title: str, req: dict | None, resp: dict | None, note: str | None = None) -> None:
    print(f"===== {title} =====")
    if req is not None:
        print("--- request (as sent) ---")
        print(json.dumps(req, indent=2))
    print("--- response (raw JSON-RPC) ---")
    print(json.dumps(resp, indent=2))
    if note:
        print(f"--- check: {note}")
    print()


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--http", metavar="URL", help="streamable HTTP endpoint instead of spawning stdio server")
    ap.add_argument("--detailed", action="store_true", help="send detailed=true on the add call")
    ap.add_argument("--only", choices=["init", "add", "add-nopassback", "divide-error", "resource"])
    args = ap.parse_args()
    want = (lambda k: args.only in (None, k))

    sent: dict[Any, dict] = {}
    received: dict[Any, dict] = {}
    async with _transport(args.http) as (read, write):
        async with ClientSession(_TapRead(read, received), _TapWrite(write, sent)) as session:
            await session.initialize()
            init_id = next(i for i, r in sent.items() if r["method"] == "initialize")
            if want("init"):
                _show("initialize", None, received[init_id],
                      "capabilities.serverExecutionTelemetry = "
                      + json.dumps(received[init_id]["result"]["capabilities"].get("serverExecutionTelemetry")))

            # Arcade exposes tools as "<ToolkitName>_<FuncName>" (here ArcadePassbackPeer_Add).
            tools = {t.name.split("_")[-1].lower(): t.name for t in (await session.list_tools()).tools}

            def last(method: str) -> Any:
                return max(i for i, r in sent.items() if r["method"] == method)

            if want("add"):
                meta, tid, sid = _otel_meta(args.detailed)
                await session.call_tool(tools["add"], {"a": 2, "b": 3}, meta=meta)
                rid = last("tools/call")
                _show(f"tools/call add (detailed={args.detailed})", sent[rid], received[rid],
                      _lineage(received[rid].get("result", {}), tid, sid))
            if want("add-nopassback"):
                await session.call_tool(tools["add"], {"a": 1, "b": 1}, meta={"traceparent": _otel_meta(False)[0]["traceparent"]})
                rid = last("tools/call")
                _show("tools/call add (traceparent only, no otel request)", sent[rid], received[rid])
            if want("divide-error"):
                meta, tid, sid = _otel_meta(False)
                await session.call_tool(tools["divide"], {"a": 1, "b": 0}, meta=meta)
                rid = last("tools/call")
                _show("tools/call divide b=0 (tool error)", sent[rid], received[rid],
                      _lineage(received[rid].get("result", {}), tid, sid))
            if want("resource"):
                meta, tid, sid = _otel_meta(False)
                await session.read_resource("note://hello", meta=meta)
                rid = last("resources/read")
                _show("resources/read note://hello", sent[rid], received[rid],
                      _lineage(received[rid].get("result", {}), tid, sid))


if __name__ == "__main__":
    anyio.run(main)
