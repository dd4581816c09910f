//! End to end: the host binary, two server processes, one trace.

mod common;

use std::{
    collections::HashSet,
    time::{Duration, Instant},
};

use common::*;

/// The figures of the 2024 summary, computed here straight from the CSV.
fn expected_figures() -> (String, String, String) {
    let text = std::fs::read_to_string(data_dir().join("sales.csv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (year, quarter, region, revenue) =
        (col("year"), col("quarter"), col("region"), col("revenue"));
    let mut totals = std::collections::BTreeMap::<String, f64>::new();
    let (mut this, mut last) = (0.0, 0.0);
    for line in lines {
        let f: Vec<&str> = line.split(',').collect();
        let r: f64 = f[revenue].parse().unwrap();
        match f[year] {
            "2024" => {
                this += r;
                *totals.entry(format!("q:{}", f[quarter])).or_default() += r;
                *totals.entry(format!("r:{}", f[region])).or_default() += r;
            }
            "2023" => last += r,
            _ => {}
        }
    }
    let best = |prefix: &str| {
        totals
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map(|(k, _)| k[2..].to_owned())
            .unwrap()
    };
    let money = |v: f64| {
        let digits = format!("{v:.0}");
        let mut out = String::from("$");
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(c);
        }
        out
    };
    (
        format!("total revenue {}", money(this)),
        format!(
            "up {:.1}% from {} in 2023",
            (this / last - 1.0) * 100.0,
            money(last)
        ),
        format!(
            "Strongest quarter: {}; Leading region: {}",
            best("q:"),
            best("r:")
        ),
    )
}

fn assert_unified_trace(spans: &[Span], host_pid: Option<u32>) {
    let traces: HashSet<&str> = spans.iter().map(|s| s.trace_id.as_str()).collect();
    assert_eq!(traces.len(), 1, "expected one trace, found {traces:?}");

    let root = one(spans, "mcp-agent");
    assert!(root.parent_span_id.is_empty(), "mcp-agent is the root");
    assert_eq!(root.service, "mcp-host");
    assert_eq!(root.kind, KIND_INTERNAL);
    if let Some(pid) = host_pid {
        assert_eq!(root.pid(), Some(i64::from(pid)));
    }
    let a = &root.attributes;
    assert_eq!(a["confident.trace.name"], "mcp-tool-orchestration");
    assert_eq!(a["confident.span.type"], "agent");
    assert_eq!(a["confident.agent.name"], "mcp-orchestrator");
    assert_eq!(a["confident.trace.input"], "Summarize our 2024 sales data");
    assert_eq!(a["confident.span.input"], "Summarize our 2024 sales data");
    assert!(
        a["confident.trace.output"]
            .as_str()
            .unwrap()
            .contains("2024 sales")
    );
    let tools: Vec<&str> = a["confident.agent.available_tools"]
        .as_array()
        .expect("available_tools is a string array")
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert!(
        tools.contains(&"read_file") && tools.contains(&"query_database"),
        "{tools:?}"
    );

    let work: Vec<&str> = children(spans, root)
        .iter()
        .map(|s| s.name.as_str())
        .filter(|n| *n != "tools/list")
        .collect();
    assert_eq!(
        work,
        [
            "mcp-tool-read_file",
            "mcp-tool-query_database",
            "llm-summarize"
        ]
    );
    for discovery in children(spans, root)
        .iter()
        .filter(|s| s.name == "tools/list")
    {
        assert_eq!(discovery.kind, KIND_CLIENT);
        assert_eq!(
            children(spans, discovery).len(),
            1,
            "each tools/list reaches its server"
        );
    }

    for (tool, service, arg) in [
        ("read_file", "file-server", "path"),
        ("query_database", "db-server", "sql"),
    ] {
        let client = one(spans, &format!("mcp-tool-{tool}"));
        let kids = children(spans, client);
        assert_eq!(kids.len(), 1, "mcp-tool-{tool} has exactly one child");
        let server = kids[0];
        assert_eq!(server.name, format!("tool-{tool}"));
        assert_eq!(server.service, service);
        assert_ne!(
            server.pid(),
            root.pid(),
            "{service} runs in its own process"
        );
        assert_eq!(client.kind, KIND_CLIENT);
        assert_eq!(server.kind, KIND_SERVER);
        for span in [client, server] {
            let a = &span.attributes;
            assert_eq!(a["mcp.method.name"], "tools/call");
            assert_eq!(a["gen_ai.tool.name"], tool);
            assert_eq!(a["gen_ai.operation.name"], "execute_tool");
            assert_eq!(a["network.transport"], "pipe");
            assert_eq!(a["confident.span.type"], "tool");
            assert_eq!(a["confident.tool.name"], tool);
            assert!(a["mcp.protocol.version"].is_string());
            assert!(a["jsonrpc.request.id"].is_string());
            let input: serde_json::Value =
                serde_json::from_str(a["confident.span.input"].as_str().unwrap()).unwrap();
            assert!(input[arg].is_string(), "input of {}: {input}", span.name);
            let output = a["confident.span.output"].as_str().unwrap();
            assert!(!output.is_empty() && output.chars().count() <= 1000);
            assert_ne!(span.status_code, STATUS_ERROR);
        }
        assert!(server.attributes["confident.tool.description"].is_string());
        assert_eq!(
            client.attributes["jsonrpc.request.id"],
            server.attributes["jsonrpc.request.id"]
        );
    }
    let db = one(spans, "tool-query_database");
    assert_eq!(db.attributes["db.system.name"], "sqlite");

    let llm = one(spans, "llm-summarize");
    assert_eq!(llm.attributes["confident.span.type"], "llm");
    assert_eq!(llm.attributes["confident.llm.model"], "offline-summarizer");
    assert!(
        llm.attributes["confident.span.output"]
            .as_str()
            .unwrap()
            .contains("2024")
    );
}

fn assert_answer(stdout: &str) {
    let (total, change, best) = expected_figures();
    assert!(stdout.contains(&total), "answer lacks {total:?}");
    assert!(stdout.contains(&change), "answer lacks {change:?}");
    let (quarter, region) = best.split_once("; ").unwrap();
    let quarter = quarter.trim_start_matches("Strongest quarter: ");
    let region = region.trim_start_matches("Leading region: ");
    assert!(
        stdout.contains(&format!("Strongest quarter: {quarter} ")),
        "quarter {quarter}"
    );
    assert!(
        stdout.contains(&format!("Leading region: {region} ")),
        "region {region}"
    );
}

#[test]
fn default_run_is_one_trace_across_three_processes() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("trace.json");
    let mut command = host();
    command.arg("--trace-json").arg(&json);
    let child = command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let host_pid = child.id();
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    eprintln!("{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success());
    assert_answer(&stdout);
    assert!(
        stdout.contains("Trace: mcp-tool-orchestration"),
        "the tree is printed"
    );
    assert!(stdout.contains("tool-read_file (file-server)"));
    assert!(stdout.contains("tool-query_database (db-server)"));
    assert_unified_trace(&spans(&json), Some(host_pid));
}

fn config_run(config: &str) {
    let dir = tempfile::tempdir().unwrap();
    // Relative paths in the config resolve against its folder.
    std::fs::create_dir(dir.path().join("data")).unwrap();
    std::fs::copy(
        data_dir().join("sales.csv"),
        dir.path().join("data/sales.csv"),
    )
    .unwrap();
    let file = dir.path().join("config.json");
    std::fs::write(&file, config.replace("HOST", HOST)).unwrap();
    let json = dir.path().join("trace.json");
    let output = run(host()
        .arg("--config")
        .arg(&file)
        .arg("--trace-json")
        .arg(&json));
    assert!(output.status.success());
    assert_answer(&String::from_utf8_lossy(&output.stdout));
    assert_unified_trace(&spans(&json), None);
}

#[test]
fn claude_desktop_config_format() {
    config_run(
        r#"{"mcpServers": {
            "files": {"command": "HOST", "args": ["__serve", "file-server", "--root", "data"]},
            "database": {"command": "HOST", "args": ["__serve", "db-server", "--load", "sales=data/sales.csv"], "env": {"RUST_LOG": "warn"}}
        }}"#,
    );
}

#[test]
fn vscode_config_format() {
    config_run(
        r#"{"servers": {
            "files": {"type": "stdio", "command": "HOST", "args": ["__serve", "file-server", "data"]},
            "database": {"type": "stdio", "command": "HOST", "args": ["__serve", "db-server", "--load", "sales=data/sales.csv"]},
            "remote": {"type": "sse", "url": "http://127.0.0.1:9/sse"}
        }}"#,
    );
}

#[test]
fn unreachable_backend_changes_nothing() {
    // A port that was just free: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let started = Instant::now();
    let output = run(host().env(
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        format!("http://127.0.0.1:{port}"),
    ));
    let elapsed = started.elapsed();
    assert!(output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_answer(&stdout);
    assert!(
        stdout.contains("tool-query_database (db-server)"),
        "the local tree is complete"
    );
    assert!(elapsed < Duration::from_secs(8), "took {elapsed:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    // One line per process, which names the backend and what was lost, and nothing else.
    for process in ["[file-server] ", "[db-server] ", ""] {
        let lines: Vec<&str> = stderr
            .lines()
            .filter(|l| l.starts_with(process) && (!process.is_empty() || !l.starts_with('[')))
            .collect();
        assert_eq!(lines.len(), 1, "{process:?}: {stderr}");
        assert!(
            lines[0].contains(&format!("spans did not reach http://127.0.0.1:{port}")),
            "{stderr}"
        );
    }
}

#[test]
fn a_server_that_exits_at_start_is_named_with_its_status_and_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.json");
    std::fs::write(
        &file,
        r#"{"mcpServers": {"broken": {"command": "sh", "args": ["-c", "echo 'cannot open the database' >&2; exit 3"]}}}"#,
    )
    .unwrap();
    let json = dir.path().join("trace.json");
    let output = run(host()
        .arg("--config")
        .arg(&file)
        .arg("--trace-json")
        .arg(&json));
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("server \"broken\""), "{stderr}");
    assert!(stderr.contains("exited with status 3"), "{stderr}");
    assert!(stderr.contains("cannot open the database"), "{stderr}");
    let spans = spans(&json);
    assert_eq!(one(&spans, "mcp-agent").status_code, STATUS_ERROR);
}

#[test]
fn a_server_killed_mid_call_fails_the_call_and_leaves_no_process() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("trace.json");
    let (child, server_pid) = host_in_a_runaway_call(&json);
    // SAFETY: plain kill(2) of our grandchild.
    unsafe { libc::kill(server_pid as i32, libc::SIGKILL) };
    let started = Instant::now();
    let output = child.wait_with_output().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the failed call took {:?}",
        started.elapsed()
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprintln!("{stderr}");
    assert!(!output.status.success());
    assert!(stderr.contains("server \"db-server\""), "{stderr}");
    assert!(stderr.contains("killed by signal 9"), "{stderr}");
    assert!(
        !std::path::Path::new(&format!("/proc/{server_pid}")).exists(),
        "the server was reaped"
    );
    let spans = spans(&json);
    assert_eq!(
        one(&spans, "mcp-tool-query_database").status_code,
        STATUS_ERROR
    );
}
