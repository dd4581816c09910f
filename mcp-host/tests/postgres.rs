//! End to end into the database: `mcp-host` → db-server → a real PostgreSQL (test-support's
//! throwaway server). One trace from the host's root to the database CLIENT span, whose
//! traceparent PostgreSQL's statement log carries; the same answer as on the sample SQLite
//! table; the content rule honoured on the database span; and a DATABASE_URL in the user's
//! shell never changes what the bundled servers serve.

mod common;

use std::collections::HashSet;

use common::*;
use test_support::postgres::{Postgres, READER_PASSWORD};

fn answer(stdout: &[u8]) -> String {
    let text = String::from_utf8_lossy(stdout);
    text.split("\nTrace:")
        .next()
        .unwrap_or_default()
        .trim()
        .to_owned()
}

#[test]
fn one_trace_from_the_host_into_the_postgresql_statement_log() {
    let Some(pg) = Postgres::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("trace.json");

    let sqlite = run(host().arg("Summarize our 2024 sales data"));
    assert!(sqlite.status.success());

    let output = run(host()
        .arg("Summarize our 2024 sales data")
        .arg("--trace-json")
        .arg(&json)
        .env("MCP_HOST_DATABASE_URL", pg.reader_url()));
    assert!(output.status.success());
    assert_eq!(
        answer(&output.stdout),
        answer(&sqlite.stdout),
        "PostgreSQL and SQLite give the same answer"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains(READER_PASSWORD), "{stderr}");

    let spans = spans(&json);
    let traces: HashSet<&str> = spans.iter().map(|s| s.trace_id.as_str()).collect();
    assert_eq!(traces.len(), 1, "one trace: {traces:?}");
    let tool = one(&spans, "tool-query_database");
    let db = one(&spans, "SELECT sales");
    assert_eq!(db.service, "db-server");
    assert_eq!(db.kind, KIND_CLIENT);
    assert_eq!(
        db.parent_span_id, tool.span_id,
        "the database span is the tool span's child"
    );
    let client = one(&spans, "mcp-tool-query_database");
    assert_eq!(tool.parent_span_id, client.span_id);
    assert_eq!(db.attributes["db.system.name"], "postgresql");
    assert_eq!(db.attributes["db.namespace"], "sales");
    assert_eq!(
        db.attributes["db.query.text"],
        "SELECT * FROM sales WHERE year = 2024"
    );
    assert_eq!(db.attributes["db.response.returned_rows"], 144);
    for span in &spans {
        assert!(
            !span.mentions(READER_PASSWORD),
            "the password reached span {}",
            span.name
        );
    }

    let traceparent = format!("00-{}-{}-01", db.trace_id, db.span_id);
    let log = pg.log();
    let logged = log
        .lines()
        .find(|line| line.contains(&traceparent))
        .unwrap_or_else(|| panic!("{traceparent} is not in the statement log:\n{log}"));
    assert!(
        logged.contains("SELECT * FROM sales WHERE year = 2024 /*traceparent='"),
        "{logged}"
    );
    assert!(logged.contains(" db-server "), "application_name: {logged}");
}

#[test]
fn no_query_text_on_the_database_span_when_content_capture_is_off() {
    let Some(pg) = Postgres::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("trace.json");
    let output = run(host()
        .arg("Summarize our 2024 sales data")
        .arg("--trace-json")
        .arg(&json)
        .env("MCP_HOST_DATABASE_URL", pg.reader_url())
        .env(
            "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT",
            "false",
        ));
    assert!(output.status.success());
    let spans = spans(&json);
    let db = one(&spans, "SELECT sales");
    assert!(
        db.attributes.get("db.query.text").is_none(),
        "{:?}",
        db.attributes
    );
    assert_eq!(db.attributes["db.query.summary"], "SELECT sales");
}

#[test]
fn a_database_url_in_the_shell_leaves_the_bundled_demo_alone() {
    let output = run(host().arg("Summarize our 2024 sales data").env(
        "DATABASE_URL",
        "postgres://nobody:secret@127.0.0.1:1/nothing",
    ));
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stdout).contains("2024 sales: total revenue"));
}
