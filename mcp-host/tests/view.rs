//! The trace page and `mcp-host view`, end to end: the real host, its servers, the files
//! it writes, and `mcp-host view` reading them back.

mod common;

use std::collections::{BTreeSet, HashMap};

use common::*;
use serde_json::Value;

/// Every `src=` / `href=` value in `html` that reaches off the page.
fn remote_references(html: &str) -> Vec<String> {
    let lower = html.to_ascii_lowercase();
    let mut found = Vec::new();
    for attribute in ["src", "href", "action", "srcset", "poster"] {
        let needle = format!("{attribute}=");
        let mut from = 0;
        while let Some(at) = lower[from..].find(&needle) {
            let value = lower[from + at + needle.len()..].trim_start_matches(['"', '\'', ' ']);
            if ["http:", "https:", "//", "ws:", "wss:", "ftp:"]
                .iter()
                .any(|scheme| value.starts_with(scheme))
            {
                found.push(value.chars().take(60).collect());
            }
            from += at + needle.len();
        }
    }
    found
}

/// The checks every page passes: one file, no reference off the page, the strict CSP.
fn assert_self_contained(html: &str) {
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(
        html.contains(
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; \
             style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:"
        ),
        "the page has the strict CSP"
    );
    assert_eq!(remote_references(html), Vec::<String>::new());
    assert!(!html.contains("<link"), "no stylesheet or preload links");
    // Two scripts, both inline: the data and the code.
    assert_eq!(html.matches("<script").count(), 2);
    assert!(!html.contains("<script src"));
}

/// span id -> (trace id, parent span id, name, service) of every span of a page's data.
fn page_spans(data: &Value) -> HashMap<String, (String, String, String, String)> {
    let services = data["services"].as_array().unwrap();
    let mut spans = HashMap::new();
    for section in data["sections"].as_array().unwrap() {
        let trace = section["traceId"].as_str().unwrap();
        for span in section["spans"].as_array().unwrap() {
            let service = services[span["service"].as_u64().unwrap() as usize]
                .as_str()
                .unwrap();
            let previous = spans.insert(
                span["spanId"].as_str().unwrap().to_owned(),
                (
                    trace.to_owned(),
                    span["parentSpanId"].as_str().unwrap_or("").to_owned(),
                    span["name"].as_str().unwrap().to_owned(),
                    service.to_owned(),
                ),
            );
            assert!(previous.is_none(), "each span once");
        }
    }
    spans
}

fn file_spans(json: &std::path::Path) -> HashMap<String, (String, String, String, String)> {
    spans(json)
        .into_iter()
        .map(|s| {
            (
                s.span_id.clone(),
                (s.trace_id, s.parent_span_id, s.name, s.service),
            )
        })
        .collect()
}

#[test]
fn the_default_run_writes_a_page_and_view_reads_its_json_back() {
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("trace.html");
    let json = dir.path().join("trace.json");
    let output = run(host()
        .arg("--trace-html")
        .arg(&page)
        .arg("--trace-json")
        .arg(&json));
    assert!(output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);

    let html = std::fs::read_to_string(&page).unwrap();
    assert_self_contained(&html);
    assert!(html.contains("<title>mcp-tool-orchestration · trace</title>"));
    let data = page_data(&html);
    assert_eq!(data["title"], "mcp-tool-orchestration");
    let sections = data["sections"].as_array().unwrap();
    assert_eq!(sections.len(), 1, "one command, one trace");
    let section = &sections[0];
    assert_eq!(section["name"], "mcp-tool-orchestration");
    assert_eq!(section["input"], "Summarize our 2024 sales data");

    // Exactly the spans of the JSON file, with their parents, trace and service.
    let in_page = page_spans(&data);
    let in_file = file_spans(&json);
    assert_eq!(in_page, in_file);
    let services: BTreeSet<&str> = data["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert_eq!(
        services,
        BTreeSet::from(["db-server", "file-server", "mcp-host"])
    );
    // Tree order: the root first, each child after its parent, parent indices that agree
    // with the ids.
    let spans = section["spans"].as_array().unwrap();
    assert_eq!(spans[0]["name"], "mcp-agent");
    assert!(spans[0].get("parent").is_none());
    for (i, span) in spans.iter().enumerate().skip(1) {
        let parent = span["parent"].as_u64().expect("a parent in the page") as usize;
        assert!(parent < i);
        assert_eq!(spans[parent]["spanId"], span["parentSpanId"]);
        assert_eq!(
            span["depth"].as_u64().unwrap(),
            spans[parent]["depth"].as_u64().unwrap() + 1
        );
        let (x, w) = (span["x"].as_f64().unwrap(), span["w"].as_f64().unwrap());
        assert!((0.0..=1.0).contains(&x) && w >= 0.0 && x + w <= 1.000_001);
    }
    let server = spans
        .iter()
        .find(|s| s["name"] == "tool-query_database")
        .unwrap();
    assert_eq!(server["kind"], "SERVER");
    let attributes: HashMap<&str, &Value> = server["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|kv| (kv[0].as_str().unwrap(), &kv[1]))
        .collect();
    assert_eq!(attributes["gen_ai.tool.name"], "query_database");
    assert_eq!(attributes["db.system.name"], "sqlite");

    // `mcp-host view` prints the tree the run printed.
    let viewed = run(host().arg("view").arg(&json));
    assert!(viewed.status.success());
    assert_eq!(
        String::from_utf8_lossy(&viewed.stdout),
        printed_tree(&stdout),
        "the same tree from the file"
    );

    // And writes a page with the same data.
    let again = dir.path().join("again.html");
    let written = run(host().arg("view").arg(&json).arg("--html").arg(&again));
    assert!(written.status.success());
    assert_eq!(
        String::from_utf8_lossy(&written.stdout),
        format!(
            "Wrote {}: 1 trace, {} spans\n",
            again.display(),
            in_file.len()
        )
    );
    let again = std::fs::read_to_string(&again).unwrap();
    assert_self_contained(&again);
    assert_eq!(page_data(&again), data);
}

#[test]
fn a_file_of_several_traces_shows_each_in_start_order_and_starts_no_server() {
    let dir = tempfile::tempdir().unwrap();
    let tools = dir.path().join("tools.json");
    let call = dir.path().join("call.json");
    assert!(
        run(host().args(["tools", "--trace-json"]).arg(&tools))
            .status
            .success()
    );
    let called = run(host()
        .args([
            "call",
            "file-server",
            "read_file",
            r#"{"path": "sales.csv"}"#,
        ])
        .arg("--trace-json")
        .arg(&call));
    assert!(called.status.success());

    // As a Collector's file exporter writes them: one request per line, the later first.
    let line = |file: &std::path::Path| {
        let value: Value = serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
        serde_json::to_string(&value).unwrap()
    };
    let lines = dir.path().join("export.jsonl");
    std::fs::write(&lines, format!("{}\n{}\n", line(&call), line(&tools))).unwrap();

    // `view` loads no servers (it refuses --config outright:
    // options_a_command_does_not_use_are_refused_by_name).
    let view = |extra: &[&str]| run(host().arg("view").arg(&lines).args(extra));
    let trees = view(&[]);
    assert!(trees.status.success());
    let tools_tree = run(host().arg("view").arg(&tools));
    let expected = format!(
        "{}\n{}",
        String::from_utf8_lossy(&tools_tree.stdout),
        printed_tree(&String::from_utf8_lossy(&called.stdout))
    );
    assert_eq!(String::from_utf8_lossy(&trees.stdout), expected);
    assert!(expected.starts_with("Trace: mcp-host tools "));
    assert!(expected.contains("\n\nTrace: mcp-host call "));

    let page = dir.path().join("both.html");
    let written = view(&["--html", page.to_str().unwrap()]);
    assert!(written.status.success());
    let html = std::fs::read_to_string(&page).unwrap();
    assert_self_contained(&html);
    let data = page_data(&html);
    assert_eq!(data["title"], "export.jsonl");
    let titles: Vec<&str> = data["sections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["mcp-host tools", "mcp-host call"]);
    let mut both = file_spans(&tools);
    both.extend(file_spans(&call));
    assert_eq!(page_spans(&data), both);
}

#[test]
fn a_bad_file_is_named_with_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    for (content, says) in [
        ("", "holds no spans (it is empty)"),
        ("{\"resourceSpans\": [{", "is not JSON at line 1, column"),
        (
            r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"nope","spanId":"b7ad6b7169203331"}]}]}]}"#,
            "resourceSpans[0].scopeSpans[0].spans[0].traceId): \"nope\" is not a 16-byte id",
        ),
    ] {
        let file = dir.path().join("bad.json");
        std::fs::write(&file, content).unwrap();
        let output = run(host().arg("view").arg(&file));
        assert_eq!(output.status.code(), Some(1), "{content:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.starts_with(&format!("mcp-host: error: {}", file.display())),
            "{stderr}"
        );
        assert!(stderr.contains(says), "{content:?}: {stderr}");
        assert!(!stderr.contains("panicked"));
    }
}

#[test]
fn options_a_command_does_not_use_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("t.json");
    std::fs::write(&file, "").unwrap();
    let file = file.to_str().unwrap();
    for (args, says) in [
        (
            vec!["view", file, "--model", "x"],
            "unexpected argument '--model'",
        ),
        (
            vec!["--model", "x", "view", file],
            "--model is for a question the agent answers (mcp-host --model ... \"QUESTION\") or `chat`; `view` does not use it",
        ),
        (
            vec!["view", "--config", "/nonexistent", file],
            "`view` does not use --config",
        ),
        (
            vec!["proxy", "--receiver", "127.0.0.1:1", "--", "true"],
            "`proxy` does not use --receiver",
        ),
        (
            vec!["--model", "x", "chat"],
            "--model goes after `chat`: mcp-host chat --model",
        ),
    ] {
        let output = run(host().args(&args));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert!(stderr.ends_with('\n'), "{stderr:?}");
    }
    // What a command uses is still taken.
    let output = run(host().args(["view", file, "--no-trace-view"]));
    assert_eq!(
        output.status.code(),
        Some(1),
        "the empty file, not the option"
    );
}

#[test]
fn a_page_that_cannot_be_written_is_named_and_the_json_still_is() {
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("no-such-folder/trace.html");
    let json = dir.path().join("trace.json");
    let output = run(host()
        .args(["call", "file-server", "list_allowed_directories"])
        .arg("--trace-html")
        .arg(&page)
        .arg("--trace-json")
        .arg(&json));
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("writing the trace page to {}", page.display())),
        "{stderr}"
    );
    assert!(!spans(&json).is_empty(), "the JSON was written");
}
