// Benchmark peer: the official TypeScript MCP SDK (@modelcontextprotocol/sdk, McpServer).
//
// The same two tools as the project's servers, over stdio:
//   read_file {path}      a text file under ROOT (relative to ROOT, or absolute inside it)
//   query_database {sql}  one read-only statement on an in-memory SQLite database (better-sqlite3)
//                         holding CSV's rows as table `sales`; returns
//                         {"columns": [...], "rows": [[...]], "row_count": N, "truncated": bool}
//
// Usage: node server.mjs ROOT [CSV]     (CSV defaults to ROOT/sales.csv)
//
// Not part of the test suite; run through bench/peers/run.sh.
import fs from "node:fs/promises";
import { readFileSync } from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { z } from "zod";

const MAX_ROWS = 1000;
const MAX_READ_BYTES = 1 << 20;

if (process.argv.length < 3) {
  console.error("usage: node server.mjs ROOT [CSV]");
  process.exit(2);
}
const root = await fs.realpath(process.argv[2]);
const csvPath = process.argv[3] ?? path.join(root, "sales.csv");

// A small RFC 4180 reader: quoted fields, doubled quotes, CRLF or LF.
function parseCsv(text) {
  const records = [];
  let record = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i++;
        } else quoted = false;
      } else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ",") {
      record.push(field);
      field = "";
    } else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i++;
      record.push(field);
      records.push(record);
      record = [];
      field = "";
    } else field += c;
  }
  if (field !== "" || record.length > 0) {
    record.push(field);
    records.push(record);
  }
  return records;
}

// INTEGER when every non-empty value is an integer, REAL when a number, else TEXT.
function columnType(values) {
  let kind = "INTEGER";
  let seen = false;
  for (const raw of values) {
    const v = raw.trim();
    if (v === "") continue;
    seen = true;
    if (kind === "INTEGER" && /^[+-]?\d+$/.test(v)) continue;
    kind = "REAL";
    if (!Number.isFinite(Number(v))) return "TEXT";
  }
  return seen ? kind : "TEXT";
}

function convert(kind, value) {
  if (kind === "TEXT") return value;
  const v = value.trim();
  if (v === "") return null;
  return kind === "INTEGER" ? BigInt(v) : Number(v);
}

function loadDatabase(file, table = "sales") {
  const [header, ...records] = parseCsv(readFileSync(file, "utf8"));
  const kinds = header.map((_, i) => columnType(records.map((r) => r[i] ?? "")));
  const db = new Database(":memory:");
  const columns = header.map((name, i) => `"${name}" ${kinds[i]}`).join(", ");
  db.exec(`CREATE TABLE "${table}" (${columns})`);
  const insert = db.prepare(`INSERT INTO "${table}" VALUES (${header.map(() => "?").join(", ")})`);
  db.transaction(() => {
    for (const r of records) insert.run(kinds.map((k, i) => convert(k, r[i] ?? "")));
  })();
  db.pragma("query_only = ON");
  return db;
}

const db = loadDatabase(csvPath);

function jsonValue(v) {
  if (typeof v === "bigint") {
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
  }
  if (Buffer.isBuffer(v)) return v.toString("hex");
  return v;
}

function queryJson(sql) {
  const statement = db.prepare(sql); // throws on more than one statement
  if (!statement.readonly) throw new Error("only read-only statements are allowed");
  if (!statement.reader) return { columns: [], rows: [], row_count: 0, truncated: false };
  statement.raw(true).safeIntegers(true);
  const columns = statement.columns().map((c) => c.name);
  const rows = [];
  let truncated = false;
  for (const row of statement.iterate()) {
    if (rows.length === MAX_ROWS) {
      truncated = true;
      break;
    }
    rows.push(row.map(jsonValue));
  }
  return { columns, rows, row_count: rows.length, truncated };
}

const text = (t) => ({ content: [{ type: "text", text: t }] });
const failure = (t) => ({ content: [{ type: "text", text: t }], isError: true });

const server = new McpServer({ name: "typescript-sdk-peer", version: "0.1.0" });

server.registerTool(
  "read_file",
  {
    description:
      "Read a UTF-8 text file under the server's root directory. The path is relative to the root, or absolute inside it.",
    inputSchema: { path: z.string() },
    annotations: { readOnlyHint: true, openWorldHint: false },
  },
  async ({ path: requested }) => {
    let full;
    try {
      full = await fs.realpath(path.resolve(root, requested));
    } catch (e) {
      return failure(`cannot read ${requested}: ${e.message}`);
    }
    if (full !== root && !full.startsWith(root + path.sep)) {
      return failure(`refused: ${requested} is outside the allowed root ${root}`);
    }
    try {
      const stat = await fs.stat(full);
      if (stat.size > MAX_READ_BYTES) {
        return failure(`refused: ${requested} is over the read limit of ${MAX_READ_BYTES} bytes`);
      }
      return text(await fs.readFile(full, "utf8"));
    } catch (e) {
      return failure(`cannot read ${requested}: ${e.message}`);
    }
  },
);

server.registerTool(
  "query_database",
  {
    description:
      'Run exactly one read-only SQL statement on the SQLite database and return the result as JSON: {"columns": [...], "rows": [[...], ...], "row_count": N, "truncated": bool}.',
    inputSchema: { sql: z.string() },
    annotations: { readOnlyHint: true, openWorldHint: false },
  },
  async ({ sql }) => {
    try {
      return text(JSON.stringify(queryJson(sql)));
    } catch (e) {
      return failure(`SQL error: ${e.message}`);
    }
  },
);

await server.connect(new StdioServerTransport());
