"""Benchmark peer: the official Python MCP SDK (`mcp` 2.x, MCPServer, formerly FastMCP).

The same two tools as the project's servers, over stdio:
  read_file(path)       -- a text file under ROOT (relative to ROOT, or absolute inside it)
  query_database(sql)   -- one read-only statement on an in-memory SQLite database holding
                           CSV's rows as table `sales`; returns
                           {"columns": [...], "rows": [[...]], "row_count": N, "truncated": bool}

Usage: python server.py ROOT [CSV]     (CSV defaults to ROOT/sales.csv)

Not part of the test suite; run through bench/peers/run.sh.
"""

import csv
import json
import os
import sqlite3
import sys

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

MAX_ROWS = 1000
MAX_READ_BYTES = 1 << 20

if len(sys.argv) < 2:
    sys.exit("usage: server.py ROOT [CSV]")
ROOT = os.path.realpath(sys.argv[1])
CSV_PATH = sys.argv[2] if len(sys.argv) > 2 else os.path.join(ROOT, "sales.csv")


def column_type(values):
    """INTEGER when every non-empty value is an integer, REAL when a number, else TEXT."""
    kind = "INTEGER"
    seen = False
    for value in values:
        value = value.strip()
        if not value:
            continue
        seen = True
        if kind == "INTEGER":
            try:
                int(value)
                continue
            except ValueError:
                kind = "REAL"
        try:
            float(value)
        except ValueError:
            return "TEXT"
    return kind if seen else "TEXT"


def convert(kind, value):
    if kind == "TEXT":
        return value
    value = value.strip()
    if not value:
        return None
    return int(value) if kind == "INTEGER" else float(value)


def load_database(path, table="sales"):
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader)
        records = list(reader)
    kinds = [column_type(r[i] for r in records) for i in range(len(header))]
    db = sqlite3.connect(":memory:", check_same_thread=False)
    columns = ", ".join(f'"{name}" {kind}' for name, kind in zip(header, kinds))
    db.execute(f'CREATE TABLE "{table}" ({columns})')
    marks = ", ".join("?" for _ in header)
    db.executemany(
        f'INSERT INTO "{table}" VALUES ({marks})',
        ([convert(k, v) for k, v in zip(kinds, r)] for r in records),
    )
    db.commit()
    db.execute("PRAGMA query_only = ON")
    return db


DB = load_database(CSV_PATH)

server = MCPServer("python-sdk-peer", version="0.1.0")


@server.tool(
    description="Read a UTF-8 text file under the server's root directory. "
    "The path is relative to the root, or absolute inside it.",
    structured_output=False,
)
def read_file(path: str) -> str:
    full = os.path.realpath(os.path.join(ROOT, path))
    if full != ROOT and not full.startswith(ROOT + os.sep):
        raise ToolError(f"refused: {path} is outside the allowed root {ROOT}")
    if os.path.getsize(full) > MAX_READ_BYTES:
        raise ToolError(f"refused: {path} is over the read limit of {MAX_READ_BYTES} bytes")
    with open(full, encoding="utf-8") as f:
        return f.read()


@server.tool(
    description="Run exactly one read-only SQL statement on the SQLite database and return the "
    'result as JSON: {"columns": [...], "rows": [[...], ...], "row_count": N, "truncated": bool}.',
    structured_output=False,
)
def query_database(sql: str) -> str:
    try:
        cursor = DB.execute(sql)
        columns = [d[0] for d in cursor.description or []]
        rows = cursor.fetchmany(MAX_ROWS + 1)
    except sqlite3.Error as e:
        raise ToolError(f"SQL error: {e}") from e
    truncated = len(rows) > MAX_ROWS
    rows = [list(r) for r in rows[:MAX_ROWS]]
    return json.dumps(
        {"columns": columns, "rows": rows, "row_count": len(rows), "truncated": truncated}
    )


if __name__ == "__main__":
    server.run("stdio")
