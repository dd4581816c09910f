//! Helpers of the host's own test suites: running the host, reading its OTLP/JSON files, a
//! scripted model. Fixtures every crate's tests share (a clean child environment, the
//! loopback OTLP backend) come from the `test-support` crate.

#![allow(dead_code)]

pub(crate) mod model;
pub(crate) mod remote;
pub(crate) mod terminal;

// Not every suite reads the sample data.
#[allow(unused_imports)]
pub(crate) use test_support::{data::data_dir, env::clean_env};

use std::{
    path::Path,
    process::{Command, Output},
};

use serde_json::Value;
pub(crate) use trace_view::{
    Span,
    span::{SpanKind, StatusCode},
};

pub(crate) const HOST: &str = env!("CARGO_BIN_EXE_mcp-host");

/// The host command with a clean environment: no OTLP endpoint, no log filter.
pub(crate) fn host() -> Command {
    let mut command = Command::new(HOST);
    clean_env(&mut command);
    command
}

/// A runaway query: it runs until the server's timeout interrupts it.
pub(crate) const RUNAWAY_QUERY: &str = r#"{"sql": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"}"#;

/// Starts `mcp-host call db-server query_database RUNAWAY_QUERY --trace-json json` and waits
/// until its server process exists and the call has been running a moment.
/// Returns the host and the server's pid.
pub(crate) fn host_in_a_runaway_call(json: &Path) -> (std::process::Child, u32) {
    let child = host()
        .args([
            "call",
            "db-server",
            "query_database",
            RUNAWAY_QUERY,
            "--trace-json",
        ])
        .arg(json)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let server_pid = loop {
        if let Some(&pid) = child_pids(child.id()).first() {
            break pid;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the server never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    std::thread::sleep(std::time::Duration::from_millis(700));
    (child, server_pid)
}

pub(crate) fn run(command: &mut Command) -> Output {
    let output = command.output().expect("running mcp-host");
    eprintln!("--- stdout\n{}", String::from_utf8_lossy(&output.stdout));
    eprintln!("--- stderr\n{}", String::from_utf8_lossy(&output.stderr));
    output
}

/// The spans of an OTLP/JSON file (what `--trace-json` writes), each flattened out of its
/// resource: trace-view's span model, the one the view draws.
pub(crate) fn spans(file: &Path) -> Vec<Span> {
    let resource_spans = trace_view::load_otlp_json(file).expect("an OTLP/JSON trace file");
    trace_view::rows(&resource_spans)
}

pub(crate) const KIND_INTERNAL: SpanKind = SpanKind::Internal;
pub(crate) const KIND_SERVER: SpanKind = SpanKind::Server;
pub(crate) const KIND_CLIENT: SpanKind = SpanKind::Client;
pub(crate) const STATUS_ERROR: StatusCode = StatusCode::Error;

pub(crate) fn named<'a>(spans: &'a [Span], name: &str) -> Vec<&'a Span> {
    spans.iter().filter(|s| s.name == name).collect()
}

pub(crate) fn one<'a>(spans: &'a [Span], name: &str) -> &'a Span {
    let found = named(spans, name);
    assert_eq!(
        found.len(),
        1,
        "expected exactly one span {name}, found {}",
        found.len()
    );
    found[0]
}

pub(crate) fn children<'a>(spans: &'a [Span], parent: &Span) -> Vec<&'a Span> {
    let mut list: Vec<&Span> = spans
        .iter()
        .filter(|s| s.parent_span_id == parent.span_id && s.trace_id == parent.trace_id)
        .collect();
    list.sort_by_key(|s| s.start);
    list
}

/// Pids of the live processes whose parent is `parent`.
pub(crate) fn child_pids(parent: u32) -> Vec<u32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // The fields after the parenthesised command name: state, ppid, ...
        let after = &stat[stat.rfind(')').unwrap() + 2..];
        let mut fields = after.split(' ');
        let _state = fields.next();
        if fields.next().and_then(|p| p.parse::<u32>().ok()) == Some(parent) {
            pids.push(pid);
        }
    }
    pids
}

/// The span data a `--trace-html` page embeds (its `<script type="application/json">`),
/// parsed.
pub(crate) fn page_data(html: &str) -> Value {
    const OPEN: &str = "<script type=\"application/json\" id=\"trace-data\">";
    let start = html.find(OPEN).expect("the page embeds its data") + OPEN.len();
    let len = html[start..]
        .find("</script>")
        .expect("the data element ends");
    serde_json::from_str(&html[start..start + len]).expect("the embedded data is JSON")
}

/// The printed tree in a command's stdout: from its `Trace:` line to the end.
pub(crate) fn printed_tree(stdout: &str) -> &str {
    let start = stdout.find("\nTrace: ").map_or(0, |at| at + 1);
    &stdout[start..]
}

/// Rows of 2024 in the sample data, counted here from the CSV.
pub(crate) fn rows_of_2024() -> usize {
    let text = std::fs::read_to_string(data_dir().join("sales.csv")).unwrap();
    let header: Vec<&str> = text.lines().next().unwrap().split(',').collect();
    let year = header.iter().position(|h| *h == "year").unwrap();
    text.lines()
        .skip(1)
        .filter(|line| line.split(',').nth(year) == Some("2024"))
        .count()
}

/// Runs `command` with `input` on its stdin (then closed) and its output captured.
pub(crate) fn with_input(command: &mut Command, input: &str) -> Output {
    use std::io::Write as _;
    let mut child = command
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}
