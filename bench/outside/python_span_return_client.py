#!/usr/bin/env python3
# Install: python3.11 -m venv /tmp/arcade-venv && /tmp/arcade-venv/bin/pip install mcp   # verified: mcp 2.3.0
# Build:   cd /work/main && cargo build -p file-server -p db-server
# Run:     /tmp/arcade-venv/bin/python bench/outside/python_span_return_client.py [REPO_ROOT]
#          (REPO_ROOT defaults to the repository this file sits in; add -v to print raw JSON)
"""Outside check of SEP-2448 span return ("server execution telemetry") with the official
Python MCP SDK as the client, against the debug builds of db-server and file-server.

The SDK's `Client` is given a transport whose streams are tapped, so the raw JSON-RPC messages
(requests as sent, results as received, before the SDK's typed parsing) are recorded by id.

Cases
  1a  db-server, stdio, --return-spans, detailed=true   -> full tree, lineage to our span
  1b  db-server, stdio, --return-spans, detailed=false  -> SERVER span + direct children only
  1c  same connection as 1a/1b: capabilities the SDK saw (initialize or server/discover)
      list `extensions["io.modelcontextprotocol/server-execution-telemetry"]`
  2a  file-server, Streamable HTTP, --return-spans, detailed=true
  2b  file-server, Streamable HTTP, --return-spans, detailed=false
  3   db-server, stdio, WITHOUT --return-spans: asked, but no `otel` under result._meta
      (and no capability entry)
  4   db-server, stdio, --return-spans, unsampled traceparent (flags 00): reported only
Every server runs with OTEL_* / TRACE_META_* / MCP_SERVER_TOKEN removed from its environment,
so it exports nowhere and `io.github.mcp-trace/exportedTo` must be absent.
All traffic is loopback; the whole run is bounded by a 45 s deadline; children are always
stopped. Exit status is 1 if any check FAILs.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import threading
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

ARGS = [a for a in sys.argv[1:] if not a.startswith("-")]
VERBOSE = "-v" in sys.argv[1:]
ROOT = Path(ARGS[0]).resolve() if ARGS else Path(__file__).resolve().parents[2]
BIN = ROOT / "target" / "debug"
DATA = ROOT / "examples" / "data"
SEP_ID = "io.modelcontextprotocol/server-execution-telemetry"
EXPORTED_KEY = "io.github.mcp-trace/exportedTo"
HEX16, HEX32 = re.compile(r"^[0-9a-f]{16}$"), re.compile(r"^[0-9a-f]{32}$")
DEADLINE_S = 45
SERVER_KIND = 2  # OTLP SPAN_KIND_SERVER


def server_env() -> dict[str, str]:
    drop = ("OTEL_", "TRACE_META_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop) and k != "MCP_SERVER_TOKEN"}
    env["RUST_LOG"] = "warn"
    return env


# ---------------------------------------------------------------- raw taps on the transport


class _TapRead:
    """Wraps the transport read stream; records every raw JSON-RPC response by id."""

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


class Wire:
    """The raw JSON-RPC log of one connection."""

    def __init__(self) -> None:
        self.sent: dict[Any, dict] = {}
        self.received: dict[Any, dict] = {}

    def last(self, method: str) -> tuple[dict, dict]:
        rid = max(i for i, r in self.sent.items() if r["method"] == method)
        return self.sent[rid], self.received.get(rid, {})

    def handshake(self) -> tuple[str, dict] | None:
        for method in ("server/discover", "initialize"):
            ids = [i for i, r in self.sent.items() if r["method"] == method and "result" in self.received.get(i, {})]
            if ids:
                return method, self.received[ids[-1]]["result"]
        return None


@asynccontextmanager
async def tapped(inner: Any, wire: Wire):
    async with inner as (read, write):
        yield _TapRead(read, wire.received), _TapWrite(write, wire.sent)


@asynccontextmanager
async def stdio_server(binary: str, args: list[str], wire: Wire):
    params = StdioServerParameters(command=str(BIN / binary), args=args, env=server_env(), cwd=str(ROOT))
    with open(os.devnull, "w") as devnull:  # stdio_client stops the child on exit
        async with Client(tapped(stdio_client(params, errlog=devnull), wire), mode="auto",
                          cache=None, read_timeout_seconds=15) as client:
            yield client


@asynccontextmanager
async def http_server(binary: str, args: list[str], wire: Wire):
    proc = subprocess.Popen([str(BIN / binary), "--http", "127.0.0.1:0", *args], env=server_env(), cwd=str(ROOT),
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        first: list[str] = []
        got = threading.Event()

        def drain() -> None:  # first line is the address; the rest is drained so the pipe never fills
            for n, line in enumerate(proc.stderr):
                if n == 0:
                    first.append(line.strip())
                    got.set()
            got.set()

        threading.Thread(target=drain, daemon=True).start()
        if not await anyio.to_thread.run_sync(lambda: got.wait(10)) or not first:
            raise RuntimeError(f"{binary} printed no address (exit={proc.poll()})")
        m = re.fullmatch(r"listening on (http://127\.0\.0\.1:\d+/mcp)", first[0])
        if not m:
            raise RuntimeError(f"{binary}: unexpected first stderr line {first[0]!r}")
        async with Client(tapped(streamable_http_client(m.group(1)), wire), mode="auto",
                          cache=None, read_timeout_seconds=15) as client:
            yield client
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


# ---------------------------------------------------------------- SEP-2448 helpers


def ask(detailed: bool, flags: str = "01") -> tuple[dict[str, Any], str, str]:
    trace_id, span_id = secrets.token_hex(16), secrets.token_hex(8)
    meta = {"traceparent": f"00-{trace_id}-{span_id}-{flags}",
            "otel": {"traces": {"request": True, "detailed": detailed}}}
    return meta, trace_id, span_id


def spans_of(traces: dict) -> list[tuple[dict, dict]]:
    """(resource, span) pairs of an OTLP/JSON traces object."""
    return [(rs.get("resource") or {}, s)
            for rs in traces.get("resourceSpans") or []
            for ss in rs.get("scopeSpans") or []
            for s in ss.get("spans") or []]


def service_name(resource: dict) -> Any:
    for a in resource.get("attributes") or []:
        if a.get("key") == "service.name":
            return (a.get("value") or {}).get("stringValue")
    return None


def tree(spans: list[dict], root_parent: str) -> str:
    """`name[kind]` lines, children indented under parents; the client span is `<client>`."""
    by_parent: dict[Any, list[dict]] = {}
    for s in spans:
        by_parent.setdefault(s.get("parentSpanId") or None, []).append(s)
    ids = {s.get("spanId") for s in spans}
    out: list[str] = []

    def walk(parent: Any, depth: int) -> None:
        for s in by_parent.get(parent, []):
            out.append(f"{'  ' * depth}{s.get('name')} [kind={s.get('kind')} span={s.get('spanId')} parent={s.get('parentSpanId')}]")
            if s.get("spanId") != parent:
                walk(s.get("spanId"), depth + 1)

    out.append(f"<client span {root_parent}>")
    walk(root_parent, 1)
    for p, ss in by_parent.items():  # orphans (parent neither ours nor returned)
        if p != root_parent and p not in ids:
            for s in ss:
                out.append(f"  !! orphan {s.get('name')} [span={s.get('spanId')} parent={p}]")
    return "\n".join(out)


def check_spans(result: dict, trace_id: str, span_id: str, service: str, want_names: list[str],
                detailed: bool) -> tuple[list[str], str]:
    """Return (problems, tree) for a result that should carry returned spans."""
    problems: list[str] = []
    meta = result.get("_meta")
    if not isinstance(meta, dict) or not isinstance(meta.get("otel"), dict):
        return [f"result._meta.otel missing (result._meta = {json.dumps(meta)[:300]})"], "(no spans)"
    traces = meta["otel"].get("traces")
    if not isinstance(traces, dict) or not isinstance(traces.get("resourceSpans"), list):
        return [f"result._meta.otel.traces.resourceSpans missing/not a list: {json.dumps(meta['otel'])[:300]}"], "(no spans)"
    if EXPORTED_KEY in meta:
        problems.append(f"{EXPORTED_KEY} present although the server exports nowhere: {meta[EXPORTED_KEY]!r}")
    pairs = spans_of(traces)
    spans = [s for _, s in pairs]
    if not spans:
        return ["resourceSpans holds no spans"], "(no spans)"
    for res in {json.dumps(r, sort_keys=True) for r, _ in pairs}:
        if service_name(json.loads(res)) != service:
            problems.append(f"resource service.name = {service_name(json.loads(res))!r}, want {service!r}")
    by_id: dict[str, dict] = {}
    for s in spans:
        name = s.get("name")
        if s.get("traceId") != trace_id:
            problems.append(f"{name}: traceId {s.get('traceId')!r} != ours {trace_id}")
        if not (isinstance(s.get("traceId"), str) and HEX32.match(s["traceId"])):
            problems.append(f"{name}: traceId {s.get('traceId')!r} is not 32 lower-hex")
        if not (isinstance(s.get("spanId"), str) and HEX16.match(s["spanId"])):
            problems.append(f"{name}: spanId {s.get('spanId')!r} is not 16 lower-hex")
        if not (isinstance(s.get("parentSpanId"), str) and HEX16.match(s["parentSpanId"])):
            problems.append(f"{name}: parentSpanId {s.get('parentSpanId')!r} is not 16 lower-hex")
        if type(s.get("kind")) is not int:
            problems.append(f"{name}: kind {s.get('kind')!r} is not an integer")
        st = s.get("status")
        if isinstance(st, dict) and "code" in st and type(st["code"]) is not int:
            problems.append(f"{name}: status.code {st['code']!r} is not an integer")
        if s.get("spanId") in by_id:
            problems.append(f"{name}: duplicate spanId {s.get('spanId')}")
        by_id[s.get("spanId")] = s
    # Every span's parent chain must end at the client's span id.
    for s in spans:
        seen, cur = set(), s
        while True:
            parent = cur.get("parentSpanId")
            if parent == span_id:
                break
            if parent not in by_id or parent in seen:
                problems.append(f"{s.get('name')}: parent chain ends at {parent!r}, not at our span {span_id}")
                break
            seen.add(parent)
            cur = by_id[parent]
    roots = [s for s in spans if s.get("parentSpanId") == span_id]
    if len(roots) != 1 or roots[0].get("kind") != SERVER_KIND:
        problems.append(f"want exactly one SERVER span (kind 2) under our span, got "
                        f"{[(r.get('name'), r.get('kind')) for r in roots]}")
    names = [s.get("name") for s in spans]
    for want in want_names:
        if want not in names:
            problems.append(f"span name {want!r} missing (got {names})")
    if not detailed and roots:
        server_id = roots[0].get("spanId")
        deeper = [s.get("name") for s in spans if s.get("parentSpanId") not in (span_id, server_id)]
        if deeper:
            problems.append(f"detailed=false returned spans below the SERVER span's direct children: {deeper}")
    return problems, tree(spans, span_id)


def caps_summary(client: Client, wire: Wire) -> tuple[bool, str]:
    caps = client.server_capabilities
    ext = caps.extensions
    hs = wire.handshake()
    raw_caps = (hs[1].get("capabilities") if hs else None)
    listed = bool(ext) and SEP_ID in ext
    text = (f"handshake={hs[0] if hs else '?'} protocol={client.protocol_version}\n"
            f"SDK server_capabilities.extensions = {json.dumps(ext if ext is None else {k: v for k, v in ext.items()}, default=str)}\n"
            f"raw result.capabilities = {json.dumps(raw_caps)}\n"
            f"{SEP_ID} listed: {listed}")
    return listed, text


# ---------------------------------------------------------------- cases

RESULTS: list[tuple[str, str, str]] = []  # (case, PASS/FAIL/INFO, detail)


def record(case: str, problems: list[str] | None, detail: str, raw: dict | None = None) -> None:
    status = "INFO" if problems is None else ("PASS" if not problems else "FAIL")
    body = detail if not problems else "\n".join(["problems:", *(f"  - {p}" for p in problems), detail])
    if raw is not None and (VERBOSE or status == "FAIL"):
        body += "\nraw result:\n" + json.dumps(raw, indent=1)[:6000]
    RESULTS.append((case, status, body))


async def db_query(client: Client, wire: Wire, meta: dict) -> tuple[dict, dict]:
    await client.call_tool("query_database", {"sql": "SELECT count(*) FROM sales"}, meta=meta)
    req, resp = wire.last("tools/call")
    return req, resp


async def case1() -> None:
    wire = Wire()
    async with stdio_server("db-server", ["--load", f"sales={DATA}/sales.csv", "--return-spans"], wire) as c:
        listed, text = caps_summary(c, wire)
        record("1c db-server stdio capabilities", [] if listed else [f"{SEP_ID} not in capabilities.extensions"], text)
        for case, detailed in (("1a db-server stdio detailed=true", True), ("1b db-server stdio detailed=false", False)):
            meta, tid, sid = ask(detailed)
            req, resp = await db_query(c, wire, meta)
            if "result" not in resp:
                record(case, [f"no result: {json.dumps(resp)[:500]}"], "", resp)
                continue
            if req["params"].get("_meta", {}).get("traceparent") != meta["traceparent"]:
                record(case, ["the SDK did not send our _meta unchanged: " + json.dumps(req["params"].get("_meta"))], "")
                continue
            problems, t = check_spans(resp["result"], tid, sid, "db-server",
                                      ["tool-query_database", "SELECT sales"], detailed)
            if resp["result"].get("isError"):
                problems.append("tool call returned isError=true")
            record(case, problems, t, resp["result"])
        # 4: unsampled traceparent, same span-returning server.
        meta, tid, sid = ask(True, flags="00")
        _, resp = await db_query(c, wire, meta)
        m = (resp.get("result") or {}).get("_meta")
        otel = m.get("otel") if isinstance(m, dict) else None
        if otel is None:
            what = f"no otel key (result._meta = {json.dumps(m)})"
        else:
            n = len(spans_of(otel.get("traces") or {}))
            what = f"otel present with {n} span(s): {json.dumps(otel)[:400]}"
        record("4  db-server stdio unsampled (flags 00)", None, f"traceparent {meta['traceparent']} -> {what}")


async def case2() -> None:
    wire = Wire()
    async with http_server("file-server", ["--root", str(DATA), "--return-spans"], wire) as c:
        listed, text = caps_summary(c, wire)
        record("2c file-server http capabilities", [] if listed else [f"{SEP_ID} not in capabilities.extensions"], text)
        for case, detailed in (("2a file-server http detailed=true", True), ("2b file-server http detailed=false", False)):
            meta, tid, sid = ask(detailed)
            await c.call_tool("read_file", {"path": "sales.csv"}, meta=meta)
            _, resp = wire.last("tools/call")
            if "result" not in resp:
                record(case, [f"no result: {json.dumps(resp)[:500]}"], "", resp)
                continue
            problems, t = check_spans(resp["result"], tid, sid, "file-server", ["tool-read_file"], detailed)
            if resp["result"].get("isError"):
                problems.append("tool call returned isError=true")
            record(case, problems, t, resp["result"])


async def case3() -> None:
    wire = Wire()
    async with stdio_server("db-server", ["--load", f"sales={DATA}/sales.csv"], wire) as c:
        listed, text = caps_summary(c, wire)
        meta, _, _ = ask(True)
        _, resp = await db_query(c, wire, meta)
        result = resp.get("result")
        problems = []
        if not isinstance(result, dict):
            problems.append(f"no result: {json.dumps(resp)[:500]}")
        else:
            m = result.get("_meta")
            if isinstance(m, dict) and "otel" in m:
                problems.append("result._meta.otel present although the server runs without --return-spans")
            if isinstance(m, dict) and EXPORTED_KEY in m:
                problems.append(f"result._meta[{EXPORTED_KEY!r}] present")
        if listed:
            problems.append(f"{SEP_ID} listed in capabilities although span return is off")
        detail = (f"asked with {json.dumps(meta)}\n"
                  f"result._meta = {json.dumps((result or {}).get('_meta'))}\n{text}")
        record("3  db-server stdio without --return-spans", problems, detail, result)


async def main() -> None:
    for b in ("db-server", "file-server"):
        if not (BIN / b).exists():
            sys.exit(f"{BIN / b} missing: run `cargo build -p file-server -p db-server` in {ROOT}")
    with anyio.fail_after(DEADLINE_S):
        for case in (case1, case2, case3):
            try:
                await case()
            except Exception as e:  # a crash in one case is a FAIL of that case, the others still run
                record(f"{case.__name__} (crashed)", [f"{type(e).__name__}: {e}"], "")


if __name__ == "__main__":
    try:
        anyio.run(main)
    except TimeoutError:
        RESULTS.append(("deadline", "FAIL", f"did not finish within {DEADLINE_S}s"))
    print("=" * 72)
    for case, status, body in RESULTS:
        print(f"[{status}] {case}")
        for line in body.splitlines():
            print("    " + line)
    failed = [c for c, s, _ in RESULTS if s == "FAIL"]
    print("=" * 72)
    print(f"SUMMARY: {sum(s == 'PASS' for _, s, _ in RESULTS)} pass, {len(failed)} fail, "
          f"{sum(s == 'INFO' for _, s, _ in RESULTS)} info" + (f"  FAILED: {', '.join(failed)}" if failed else ""))
    sys.exit(1 if failed else 0)
