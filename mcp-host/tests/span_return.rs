//! Span return (SEP-2448) end to end: db-server over Streamable HTTP as its own process,
//! started with `--return-spans`, the host calling it by URL and exporting to the loopback
//! OTLP backend of test-support.
//!
//! - a server that exports nowhere: its spans reach the host's backend, the printed tree,
//!   `--trace-json` and the HTML page, under the host's `mcp-tool-*` span and under the
//!   server's own service name;
//! - a server that also exports to the host's backend: every span arrives once;
//! - a server without `--return-spans` returns nothing, whatever the host asks;
//! - `--no-span-return`: the host does not ask.

mod common;

use std::{collections::HashMap, process::Stdio, time::Duration};

use common::{remote::*, *};
use test_support::otlp::{Backend, Mode, Span};

const SQL: &str = r#"{"sql": "SELECT count(*) FROM sales"}"#;

/// Runs `mcp-host call db query_database` against `server`, exporting to `backend`, with
/// the trace also written as JSON and HTML; returns stdout and the two files.
fn call(server: &Remote, backend: &Backend, extra: &[&str]) -> (String, Vec<Span>, String) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("remote.json");
    std::fs::write(
        &config,
        serde_json::json!({"mcpServers": {"db": {"url": server.url}}}).to_string(),
    )
    .unwrap();
    let (json, html) = (dir.path().join("t.json"), dir.path().join("t.html"));
    let output = run(host()
        .arg("--config")
        .arg(&config)
        .arg("--trace-json")
        .arg(&json)
        .arg("--trace-html")
        .arg(&html)
        .args(extra)
        .args(["call", "db", "query_database", SQL])
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &backend.endpoint)
        .stdin(Stdio::null()));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "host failed:\n{stdout}\n{stderr}");
    assert!(
        stdout.contains("288"),
        "the call's result is unchanged: {stdout}"
    );
    assert!(
        !stderr.contains("dropped the spans"),
        "our own server's spans pass the checks: {stderr}"
    );
    (
        stdout,
        spans(&json),
        std::fs::read_to_string(&html).unwrap(),
    )
}

fn db_args(extra: &[&str]) -> Vec<String> {
    let mut args = db_server_args();
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    args
}

/// Waits until `backend` has spans named each of `names` (at most 10 s), then a moment.
fn wait_for(backend: &Backend, names: &[&str]) -> Vec<Span> {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let spans = backend.spans();
        if names.iter().all(|n| spans.iter().any(|s| s.name == *n)) {
            std::thread::sleep(Duration::from_millis(300));
            return backend.spans();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "missing spans; have {:?}",
            spans.iter().map(|s| &s.name).collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Each span id at most once.
fn assert_once(spans: &[Span]) {
    let mut seen = HashMap::new();
    for span in spans {
        *seen.entry(span.span_id.as_str()).or_insert(0) += 1;
    }
    let twice: Vec<_> = spans
        .iter()
        .filter(|s| seen[s.span_id.as_str()] > 1)
        .map(|s| (&s.name, &s.service))
        .collect();
    assert!(twice.is_empty(), "spans that arrived twice: {twice:?}");
}

fn one_named<'a>(spans: &'a [Span], name: &str) -> &'a Span {
    let found: Vec<_> = spans.iter().filter(|s| s.name == name).collect();
    assert_eq!(found.len(), 1, "one {name}, found {}", found.len());
    found[0]
}

/// The server's SERVER span under the host's CLIENT span, the statement under it.
fn assert_tree(spans: &[Span]) {
    let client = one_named(spans, "mcp-tool-query_database");
    let server = one_named(spans, "tool-query_database");
    let statement = one_named(spans, "SELECT sales");
    assert_eq!(client.service, "mcp-host");
    assert_eq!(server.service, "db-server", "under the server's own name");
    assert_eq!(statement.service, "db-server");
    assert_eq!(server.trace_id, client.trace_id);
    assert_eq!(server.parent_span_id, client.span_id);
    assert_eq!(statement.parent_span_id, server.span_id);
    assert_eq!(
        server.attribute_text("mcp.method.name").as_deref(),
        Some("tools/call")
    );
}

#[test]
fn a_server_that_exports_nowhere_returns_its_spans_into_the_callers_trace() {
    let backend = Backend::start(Mode::Ok);
    let server = Remote::start_with_env("db-server", &db_args(&["--return-spans"]), "", None, &[]);
    let (stdout, file, html) = call(&server, &backend, &[]);

    let received = wait_for(
        &backend,
        &[
            "mcp-tool-query_database",
            "tool-query_database",
            "SELECT sales",
        ],
    );
    assert_tree(&received);
    assert_once(&received);

    let tree = printed_tree(&stdout);
    assert!(tree.contains("tool-query_database (db-server)"), "{tree}");
    assert!(tree.contains("SELECT sales"), "{tree}");

    let server_span = one(&file, "tool-query_database");
    let client_span = one(&file, "mcp-tool-query_database");
    assert_eq!(server_span.service, "db-server");
    assert_eq!(server_span.parent_span_id, client_span.span_id);
    assert_eq!(server_span.kind, KIND_SERVER);
    assert_eq!(
        one(&file, "SELECT sales").parent_span_id,
        server_span.span_id
    );

    let page = page_data(&html).to_string();
    for name in ["tool-query_database", "SELECT sales", "db-server"] {
        assert!(page.contains(name), "the page shows {name}");
    }
    let logs = server.stop();
    assert!(!logs.contains("WARN"), "{logs}");
}

#[test]
fn a_server_that_also_exports_to_the_same_backend_shows_each_span_once() {
    let backend = Backend::start(Mode::Ok);
    let server = Remote::start_with_env(
        "db-server",
        &db_args(&["--return-spans"]),
        &backend.endpoint,
        None,
        &[],
    );
    let (stdout, file, _) = call(&server, &backend, &[]);
    // The server's own export leaves on its schedule; stopping it flushes.
    server.stop();
    let received = wait_for(
        &backend,
        &[
            "mcp-tool-query_database",
            "tool-query_database",
            "SELECT sales",
        ],
    );
    assert_tree(&received);
    assert_once(&received);
    // The host's own view still has them: its local receiver is not a destination the
    // server exports to.
    assert!(printed_tree(&stdout).contains("SELECT sales"), "{stdout}");
    assert_eq!(named(&file, "tool-query_database").len(), 1);
}

#[test]
fn nothing_comes_back_unless_the_server_allows_it_and_the_host_asks() {
    // The server does not allow it: the host asks, gets nothing.
    let backend = Backend::start(Mode::Ok);
    let closed = Remote::start_with_env("db-server", &db_args(&[]), "", None, &[]);
    let (stdout, file, _) = call(&closed, &backend, &[]);
    assert!(
        !printed_tree(&stdout).contains("tool-query_database (db-server)"),
        "{stdout}"
    );
    assert!(named(&file, "tool-query_database").is_empty());
    closed.stop();

    // The server allows it: the host, told not to ask, gets nothing.
    let open = Remote::start_with_env("db-server", &db_args(&["--return-spans"]), "", None, &[]);
    let (stdout, file, _) = call(&open, &backend, &["--no-span-return"]);
    assert!(
        !printed_tree(&stdout).contains("tool-query_database (db-server)"),
        "{stdout}"
    );
    assert!(named(&file, "tool-query_database").is_empty());
    open.stop();

    wait_for(&backend, &["mcp-tool-query_database"]);
    assert!(
        backend
            .spans()
            .iter()
            .all(|span| span.service == "mcp-host"),
        "only the host's spans reached the backend"
    );
}
