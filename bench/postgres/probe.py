#!/usr/bin/env python3
"""One tools/call over stdio, checked, before run.sh measures a server (standard library only).

    python3 probe.py TOOL ARGS_JSON EXPECT -- SERVER_CMD...

Starts SERVER_CMD, initializes, lists the tools, calls TOOL with ARGS_JSON once and exits 0 when
the answer is not an error and its text holds EXPECT. `mcp-host bench` fails on isError results,
but some servers (postgres-mcp) answer a failed query with isError false and the text "Error: ...",
which the bench would measure as a success. Everything is bounded: 60 s in all. Prints one line
saying what was wrong, or the tool's first 200 characters; the server's stderr goes to ours.
"""
import json
import subprocess
import sys
import threading

TIMEOUT_S = 60


def main() -> int:
    if len(sys.argv) < 6 or sys.argv[4] != "--":
        print(__doc__, file=sys.stderr)
        return 2
    tool, args, expect, command = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3], sys.argv[5:]
    try:
        proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    except OSError as e:
        print(f"cannot start {command[0]}: {e}")
        return 1
    timer = threading.Timer(TIMEOUT_S, proc.kill)
    timer.start()

    def send(message: dict) -> None:
        proc.stdin.write(json.dumps(message) + "\n")
        proc.stdin.flush()

    def answer(request_id: int) -> dict:
        for line in proc.stdout:
            line = line.strip()
            if not line:
                continue
            message = json.loads(line)
            if message.get("id") == request_id and "method" not in message:
                return message
        raise EOFError(f"the server closed its stdout (exit {proc.wait()})")

    try:
        send({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "bench-postgres-probe", "version": "0"}}})
        init = answer(1)
        if "error" in init:
            raise RuntimeError(f"initialize: {init['error']}")
        send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        send({"jsonrpc": "2.0", "id": 2, "method": "tools/list"})
        tools = [t["name"] for t in answer(2).get("result", {}).get("tools", [])]
        if tool not in tools:
            raise RuntimeError(f"no tool {tool!r} (tools: {', '.join(tools)})")
        send({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
              "params": {"name": tool, "arguments": args}})
        reply = answer(3)
        if "error" in reply:
            raise RuntimeError(f"tools/call: {reply['error']}")
        result = reply["result"]
        text = " ".join(c.get("text", "") for c in result.get("content", []))
        if result.get("isError") or expect not in text:
            raise RuntimeError(f"unexpected answer (isError {result.get('isError')}): {text[:300]}")
        server = init["result"].get("serverInfo", {})
        print(f"ok: {server.get('name')} {server.get('version')}: {' '.join(text.split())[:200]}")
        return 0
    except Exception as e:  # noqa: BLE001 - one line for the script, whatever went wrong
        print(f"failed: {e}")
        return 1
    finally:
        timer.cancel()
        try:
            proc.stdin.close()
            proc.wait(timeout=5)
        except Exception:  # noqa: BLE001
            proc.kill()
            proc.wait()


if __name__ == "__main__":
    sys.exit(main())
