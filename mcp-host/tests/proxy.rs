//! `mcp-host proxy` between a client and servers that trace themselves (the bundled
//! file-server, which extracts `_meta`): one trace across client, proxy and server, span
//! names, span return, stop signals, both protocol revisions; and `mcp-host wrap-config`,
//! whose output the host runs. The proxy's own behaviour (the wire, failing servers) is
//! tested through its own binary in `trace-proxy/tests/proxy.rs`.

mod common;

use std::{
    path::Path,
    process::{Command, Stdio},
    time::Duration,
};

use common::{HOST, Span, SpanKind, clean_env, data_dir};
use serde_json::{Value, json};
use test_support::{
    process::wait_timeout,
    proxy::{Collector, Proxy, WAIT, has, one},
};

const CLIENT_TRACE: &str = "0af7651916cd43dd8448eb211c80319c";
const CLIENT_SPAN: &str = "b7ad6b7169203331";

/// `mcp-host proxy --name NAME server…`, exporting to `collector` when given.
fn start(name: &str, server: &[&str], collector: Option<&Collector>) -> Proxy {
    start_with_env(name, server, collector, &[])
}

/// [`start`] with these variables set for the proxy (and the server it starts).
fn start_with_env(
    name: &str,
    server: &[&str],
    collector: Option<&Collector>,
    env: &[(&str, &str)],
) -> Proxy {
    Proxy::start(&[HOST, "proxy"], name, server, collector, env)
}

fn file_server() -> Vec<String> {
    vec![
        HOST.to_owned(),
        "__serve".into(),
        "file-server".into(),
        "--root".into(),
        data_dir().display().to_string(),
    ]
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn read_file_call(id: u64, meta: Option<Value>) -> Value {
    let mut params = json!({"name": "read_file", "arguments": {"path": "sales.csv", "head": 1}});
    if let Some(meta) = meta {
        params["_meta"] = meta;
    }
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": params})
}

// ---------------------------------------------------------------------------------------
// One trace across client, proxy and server.

#[test]
fn injecting_client_proxy_and_extracting_server_are_one_trace() {
    let collector = Collector::start();
    let server = file_server();
    let mut proxy = start("files", &strs(&server), Some(&collector));
    proxy.initialize("2025-11-25");
    let traceparent = format!("00-{CLIENT_TRACE}-{CLIENT_SPAN}-01");
    let answer = proxy.call(read_file_call(
        1,
        Some(json!({"traceparent": traceparent, "tracestate": "vendor=1"})),
    ));
    assert!(
        answer["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("region")
    );
    let (status, _) = proxy.finish();
    assert!(status.success(), "{status}");

    let spans = collector
        .wait(|s| has(s, "files", "mcp-tool-read_file") && has(s, "file-server", "tool-read_file"));
    let proxy_span = one(&spans, "files", "mcp-tool-read_file");
    let server_span = one(&spans, "file-server", "tool-read_file");
    assert_eq!(proxy_span.trace_id, CLIENT_TRACE);
    assert_eq!(
        proxy_span.parent_span_id, CLIENT_SPAN,
        "the proxy span is the client's child"
    );
    assert_eq!(server_span.trace_id, CLIENT_TRACE);
    assert_eq!(
        server_span.parent_span_id, proxy_span.span_id,
        "the server span is the proxy span's child"
    );
    assert_eq!(proxy_span.kind, SpanKind::Client);
    assert_eq!(proxy_span.trace_state, "vendor=1", "tracestate carried on");
    assert_eq!(
        proxy_span.attribute_text("gen_ai.tool.name").as_deref(),
        Some("read_file")
    );
    assert_eq!(
        proxy_span.attribute_text("mcp.method.name").as_deref(),
        Some("tools/call")
    );
    assert_eq!(
        proxy_span.attribute_text("jsonrpc.request.id").as_deref(),
        Some("1")
    );
    assert_eq!(
        proxy_span.attribute_text("network.transport").as_deref(),
        Some("pipe")
    );
    assert_eq!(
        proxy_span.attribute_text("mcp.protocol.version").as_deref(),
        Some("2025-11-25")
    );
    assert!(
        proxy_span
            .attribute_text("confident.span.output")
            .unwrap()
            .contains("region")
    );
    assert!(!proxy_span.is_error());
}

#[test]
fn without_client_context_proxy_spans_are_roots_and_server_spans_their_children() {
    let collector = Collector::start();
    let server = file_server();
    let mut proxy = start("files", &strs(&server), Some(&collector));
    proxy.initialize("2025-11-25");
    proxy.call(json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}));
    proxy.call(read_file_call(2, Some(json!({"progressToken": "p-2"}))));
    let (status, _) = proxy.finish();
    assert!(status.success());

    let spans = collector.wait(|s| {
        has(s, "files", "mcp-tool-read_file")
            && has(s, "file-server", "tool-read_file")
            && has(s, "file-server", "tools/list")
    });
    for (proxy_name, server_name) in [
        ("mcp-tool-read_file", "tool-read_file"),
        ("tools/list", "tools/list"),
    ] {
        let proxy_span = one(&spans, "files", proxy_name);
        let server_span = one(&spans, "file-server", server_name);
        assert_eq!(proxy_span.parent_span_id, "", "{proxy_name} is a root");
        assert_eq!(server_span.trace_id, proxy_span.trace_id);
        assert_eq!(server_span.parent_span_id, proxy_span.span_id);
    }
    let initialize = one(&spans, "files", "initialize");
    assert_eq!(initialize.parent_span_id, "");
    assert!(
        has(&spans, "files", "notifications/initialized"),
        "a notification of no request is a short span"
    );
}

#[test]
fn the_proxy_names_its_spans_as_trace_meta_does_semconv_included() {
    let collector = Collector::start();
    let server = file_server();
    let mut proxy = start_with_env(
        "files",
        &strs(&server),
        Some(&collector),
        &[("TRACE_META_SPAN_NAMES", "semconv")],
    );
    proxy.initialize("2025-11-25");
    proxy.call(read_file_call(1, None));
    let (status, _) = proxy.finish();
    assert!(status.success());
    let spans = collector.wait(|s| {
        has(s, "files", "tools/call read_file") && has(s, "file-server", "tools/call read_file")
    });
    let proxy_span = one(&spans, "files", "tools/call read_file");
    let server_span = one(&spans, "file-server", "tools/call read_file");
    assert_eq!(server_span.parent_span_id, proxy_span.span_id);
    assert!(!has(&spans, "files", "mcp-tool-read_file"));
}

// ---------------------------------------------------------------------------------------
// Stop signals reach a server that flushes.

#[test]
fn sigterm_reaches_the_server_and_spans_are_flushed() {
    stop_signal_reaches_the_server_and_spans_are_flushed(libc::SIGTERM);
}

#[test]
fn sigint_reaches_the_server_and_spans_are_flushed() {
    stop_signal_reaches_the_server_and_spans_are_flushed(libc::SIGINT);
}

fn stop_signal_reaches_the_server_and_spans_are_flushed(signal: libc::c_int) {
    let collector = Collector::start();
    let server = file_server();
    let mut proxy = start("files", &strs(&server), Some(&collector));
    proxy.initialize("2025-11-25");
    proxy.call(read_file_call(1, None));
    let server_pid = common::child_pids(proxy.child.id());
    assert_eq!(server_pid.len(), 1);
    // SAFETY: signalling our own child.
    unsafe { libc::kill(proxy.child.id() as libc::pid_t, signal) };
    let (status, _) = proxy.wait();
    // The file-server exits cleanly on SIGTERM; the proxy passes its status on.
    assert_eq!(status.code(), Some(0), "{status}");
    assert!(
        !Path::new(&format!("/proc/{}", server_pid[0])).exists(),
        "the server has exited and was reaped"
    );
    let spans = collector
        .wait(|s| has(s, "files", "mcp-tool-read_file") && has(s, "file-server", "tool-read_file"));
    assert!(has(&spans, "file-server", "tool-read_file"));
}

/// On a terminal (stdin and stdout a pseudo-terminal, as when a user tries the proxy by
/// hand), Ctrl-C and SIGTERM still end it: stdin is read on a thread that only returns at
/// the next line, and the proxy does not wait for it.
#[test]
fn on_a_terminal_ctrl_c_and_sigterm_end_the_proxy() {
    for stop in ["ctrl-c", "sigterm"] {
        let server = file_server();
        let mut command = Command::new(HOST);
        clean_env(&mut command);
        command
            .args(["proxy", "--name", "files", "--"])
            .args(&server);
        let mut terminal = common::terminal::OnTerminal::spawn(command);
        // The server is up once it is the proxy's child.
        let started = std::time::Instant::now();
        while common::child_pids(terminal.child.id()).is_empty() {
            assert!(started.elapsed() < Duration::from_secs(10), "no server");
            std::thread::sleep(Duration::from_millis(20));
        }
        let server_pid = common::child_pids(terminal.child.id())[0];
        match stop {
            "ctrl-c" => terminal.type_keys("\x03"),
            // SAFETY: signalling our own child.
            _ => unsafe {
                libc::kill(terminal.child.id() as libc::pid_t, libc::SIGTERM);
            },
        }
        let status = wait_timeout(&mut terminal.child, Duration::from_secs(10))
            .unwrap_or_else(|| panic!("{stop}: the proxy is still waiting for a line on stdin"));
        assert_eq!(status.code(), Some(0), "{stop}: {status:?}");
        assert!(
            !Path::new(&format!("/proc/{server_pid}")).exists(),
            "{stop}: the server has exited and was reaped"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Protocol revisions: the proxy relays whichever the client and server agree on.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_protocol_revisions_pass_through() {
    use rmcp::{
        model::{CallToolRequestParams, ProtocolVersion},
        service::{ClientLifecycleMode, ClientServiceExt},
    };
    let collector = Collector::start();
    let mut negotiated = Vec::new();
    for mode in [
        ClientLifecycleMode::Discover {
            preferred_versions: vec![ProtocolVersion::V_2026_07_28],
        },
        ClientLifecycleMode::Initialize,
    ] {
        let mut command = tokio::process::Command::new(HOST);
        clean_env(command.as_std_mut());
        command
            .args(["proxy", "--name", "files", "--"])
            .args(file_server())
            .env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", &collector.endpoint)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        let mut child = command.spawn().unwrap();
        let (stdin, stdout) = (child.stdin.take().unwrap(), child.stdout.take().unwrap());
        let session = tokio::time::timeout(WAIT, ().serve_with_lifecycle((stdout, stdin), mode))
            .await
            .expect("handshake in time")
            .expect("handshake");
        let info = session.peer().peer_info().expect("server info");
        negotiated.push(info.protocol_version.to_string());
        let result = session
            .peer()
            .call_tool(
                CallToolRequestParams::new("list_directory")
                    .with_arguments(json!({"path": "."}).as_object().unwrap().clone()),
            )
            .await
            .expect("call through the proxy");
        assert_ne!(result.is_error, Some(true));
        drop(session.cancel().await);
        let status = tokio::time::timeout(WAIT, child.wait())
            .await
            .unwrap()
            .unwrap();
        assert!(status.success());
    }
    let spans = collector.wait(|s| {
        s.iter()
            .filter(|g| g.service == "file-server" && g.name == "tool-list_directory")
            .count()
            == 2
    });
    let mut versions: Vec<String> = spans
        .iter()
        .filter(|g| g.service == "files" && g.name == "mcp-tool-list_directory")
        .filter_map(|g| g.attribute_text("mcp.protocol.version"))
        .collect();
    versions.sort();
    negotiated.sort();
    assert_eq!(negotiated.len(), 2);
    assert_ne!(negotiated[0], negotiated[1], "two revisions");
    assert!(negotiated.contains(&"2026-07-28".to_owned()));
    assert_eq!(
        versions, negotiated,
        "each span names its session's revision"
    );
}

// ---------------------------------------------------------------------------------------
// wrap-config.

fn wrap_config(input: &str, unwrap: bool) -> String {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.json");
    std::fs::write(&file, input).unwrap();
    let mut command = Command::new(HOST);
    clean_env(&mut command);
    command
        .args(["wrap-config", "--proxy-command", "/opt/mcp/mcp-host"])
        .arg(&file);
    if unwrap {
        command.arg("--unwrap");
    }
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn pretty(text: &str) -> String {
    serde_json::to_string_pretty(&serde_json::from_str::<Value>(text).unwrap()).unwrap() + "\n"
}

#[test]
fn wrap_config_round_trips_each_format() {
    let formats = [
        // Claude Desktop / Cursor.
        r#"{"mcpServers": {"fs": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-filesystem", "/tmp"], "env": {"DEBUG": "1"}},
            "remote": {"url": "https://example.com/mcp", "headers": {"X": "y"}}}, "theme": "dark"}"#,
        // Claude Code (~/.claude.json): top level and per project.
        r#"{"numStartups": 3, "mcpServers": {"db": {"type": "stdio", "command": "uvx", "args": ["mcp-server-sqlite"], "env": {}}},
            "projects": {"/src/app": {"mcpServers": {"git": {"command": "git-mcp"}, "web": {"type": "http", "url": "https://x"}}, "allowedTools": []}}}"#,
        // VS Code .vscode/mcp.json.
        r#"{"inputs": [{"type": "promptString", "id": "key"}], "servers": {"py": {"type": "stdio", "command": "python", "args": ["server.py"], "env": {"KEY": "${input:key}"}, "cwd": "${workspaceFolder}"},
            "sse": {"type": "sse", "url": "http://localhost:1/sse"}}}"#,
        // VS Code settings.json.
        r#"{"editor.fontSize": 14, "mcp": {"servers": {"ts": {"command": "node", "args": ["build/index.js"]}}}}"#,
    ];
    for original in formats {
        let wrapped = wrap_config(original, false);
        let value: Value = serde_json::from_str(&wrapped).unwrap();
        let text = value.to_string();
        assert!(
            text.contains(r#""command":"/opt/mcp/mcp-host","args":["proxy","--name""#),
            "{wrapped}"
        );
        assert!(!text.contains("\"command\":\"npx\"") && !text.contains("\"command\":\"git-mcp\""));
        assert_eq!(
            wrap_config(&wrapped, true),
            pretty(original),
            "wrap then unwrap gives the original back"
        );
        assert_eq!(
            wrap_config(&wrapped, false),
            wrapped,
            "wrapping is idempotent"
        );
    }
    // Every kept field stays; the other transports are untouched.
    let wrapped: Value = serde_json::from_str(&wrap_config(formats[0], false)).unwrap();
    assert_eq!(wrapped["theme"], "dark");
    assert_eq!(wrapped["mcpServers"]["fs"]["env"]["DEBUG"], "1");
    assert_eq!(
        wrapped["mcpServers"]["fs"]["args"],
        json!([
            "proxy",
            "--name",
            "fs-proxy",
            "npx",
            "-y",
            "@modelcontextprotocol/server-filesystem",
            "/tmp"
        ])
    );
    assert_eq!(
        wrapped["mcpServers"]["remote"]["url"],
        "https://example.com/mcp"
    );
}

/// The host itself through the proxy: a wrapped config of the bundled servers gives the
/// whole tree, host → proxy → server, collected by the host's local receiver.
#[test]
fn the_host_runs_a_wrapped_config_as_one_trace() {
    let dir = tempfile::tempdir().unwrap();
    let data = data_dir();
    let config = json!({"mcpServers": {
        "file-server": {"command": HOST, "args": ["__serve", "file-server", "--root", data]},
        "db-server": {"command": HOST, "args": ["__serve", "db-server", "--load", format!("sales={}", data.join("sales.csv").display())]}
    }});
    let plain = dir.path().join("plain.json");
    std::fs::write(&plain, config.to_string()).unwrap();
    let wrapped = dir.path().join("wrapped.json");
    let mut command = Command::new(HOST);
    clean_env(&mut command);
    let output = command
        .args(["wrap-config", "--proxy-command", HOST])
        .arg(&plain)
        .output()
        .unwrap();
    assert!(output.status.success());
    std::fs::write(&wrapped, &output.stdout).unwrap();

    let json = dir.path().join("trace.json");
    let output = common::run(
        common::host()
            .arg("--config")
            .arg(&wrapped)
            .arg("--trace-json")
            .arg(&json)
            .arg("--no-trace-view"),
    );
    assert!(output.status.success());
    let spans = common::spans(&json);
    let host_call: Vec<&common::Span> = spans
        .iter()
        .filter(|s| s.name == "mcp-tool-read_file" && s.service == "mcp-host")
        .collect();
    assert_eq!(host_call.len(), 1);
    let host_call = host_call[0];
    let relayed: Vec<&common::Span> = spans
        .iter()
        .filter(|s| {
            s.name == "mcp-tool-read_file"
                && s.service == "file-server-proxy"
                && s.parent_span_id == host_call.span_id
        })
        .collect();
    assert_eq!(
        relayed.len(),
        1,
        "the proxy span (service file-server-proxy, told apart from the server) under the host's"
    );
    let served = common::one(&spans, "tool-read_file");
    assert_eq!(served.parent_span_id, relayed[0].span_id);
    assert_eq!(served.trace_id, host_call.trace_id);
    assert_ne!(served.pid(), relayed[0].pid());
}

// ---------------------------------------------------------------------------------------
// Span return (SEP-2448) through the proxy.

#[test]
fn the_proxy_takes_the_spans_a_server_returns_and_passes_them_to_a_client_that_asks() {
    let collector = Collector::start();
    // The server exports nowhere (`env -u` keeps the proxy's endpoint from it): its spans
    // reach the collector only through the proxy.
    let mut server = vec![
        "env".to_owned(),
        "-u".into(),
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT".into(),
    ];
    server.extend(file_server());
    server.push("--return-spans".into());
    let mut proxy = start("fs-proxy", &strs(&server), Some(&collector));
    proxy.initialize("2025-11-25");
    let traceparent = format!("00-{CLIENT_TRACE}-{CLIENT_SPAN}-01");

    // The client does not ask: it gets the answer it would get without the proxy.
    let plain = proxy.call(read_file_call(
        1,
        Some(json!({ "traceparent": traceparent })),
    ));
    assert!(
        plain["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("year")
    );
    assert!(
        plain["result"]
            .get("_meta")
            .is_none_or(|meta| meta.get("otel").is_none()),
        "the proxy took the spans out: {plain}"
    );

    // The client asks: it gets the proxy's span and the server's under it, in its trace.
    let asked = proxy.call(read_file_call(
        2,
        Some(json!({ "traceparent": traceparent, "otel": {"traces": {"request": true}} })),
    ));
    let meta = asked["result"]["_meta"]
        .as_object()
        .expect("_meta with the spans");
    let call = opentelemetry::trace::SpanContext::new(
        opentelemetry::trace::TraceId::from_hex(CLIENT_TRACE).unwrap(),
        opentelemetry::trace::SpanId::from_hex(CLIENT_SPAN).unwrap(),
        opentelemetry::trace::TraceFlags::SAMPLED,
        true,
        Default::default(),
    );
    let ingested = trace_meta::span_return::ingest(meta, &call)
        .expect("spans came back")
        .expect("they descend from the client's span");
    assert_eq!(
        ingested.spans, 2,
        "the proxy's span and the server's: {meta:?}"
    );
    let services: Vec<&str> = meta["otel"]["traces"]["resourceSpans"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|group| group["resource"]["attributes"].as_array().unwrap())
        .filter(|kv| kv["key"] == "service.name")
        .filter_map(|kv| kv["value"]["stringValue"].as_str())
        .collect();
    assert_eq!(services, ["fs-proxy", "file-server"]);
    let (status, stderr) = proxy.finish();
    assert!(status.success());
    assert!(!stderr.contains("dropped the spans"), "{stderr}");

    // The collector has both calls' server spans, each under the proxy's span for it.
    let spans = collector.wait(|s| {
        s.iter()
            .filter(|g| g.service == "file-server" && g.name == "tool-read_file")
            .count()
            == 2
    });
    let proxy_spans: Vec<&Span> = spans
        .iter()
        .filter(|g| g.service == "fs-proxy" && g.name == "mcp-tool-read_file")
        .collect();
    assert_eq!(proxy_spans.len(), 2);
    for server_span in spans
        .iter()
        .filter(|g| g.service == "file-server" && g.name == "tool-read_file")
    {
        let parent = proxy_spans
            .iter()
            .find(|p| p.span_id == server_span.parent_span_id)
            .expect("each server span is under a proxy span");
        assert_eq!(parent.parent_span_id, CLIENT_SPAN);
        assert_eq!(server_span.trace_id, CLIENT_TRACE);
    }
    let ids: Vec<String> = spans.iter().map(|s| s.span_id.clone()).collect();
    let unique: std::collections::HashSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "every span arrived once");
}
