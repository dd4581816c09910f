//! Faults: a trace backend that is down, silent or slow, servers that are closed, signalled
//! or worked hard, a host interrupted mid-run, and secrets that must never leak.

mod common;

use std::{
    process::Stdio,
    time::{Duration, Instant},
};

use common::*;
use mcp_host::bench::{meta_with_parent, proc_status_kib};
use rmcp::{
    ServiceExt,
    model::{CallToolRequestParams, RequestMetaObject},
};
use test_support::otlp::{self, Backend};

/// A bundled server as a child process, its stdio handed to an rmcp client session.
struct ServerUnderTest {
    child: tokio::process::Child,
    session: Option<rmcp::service::RunningService<rmcp::RoleClient, ()>>,
}

impl ServerUnderTest {
    async fn start(env: &[(&str, &str)]) -> Self {
        let mut command = tokio::process::Command::new(HOST);
        command
            .args(["__serve", "file-server", "--root"])
            .arg(data_dir())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        clean_env(command.as_std_mut());
        command.envs(env.iter().copied());
        let mut child = command.spawn().unwrap();
        let (stdin, stdout) = (child.stdin.take().unwrap(), child.stdout.take().unwrap());
        let session = ().serve((stdout, stdin)).await.expect("handshake");
        Self {
            child,
            session: Some(session),
        }
    }

    fn pid(&self) -> u32 {
        self.child.id().unwrap()
    }

    /// Calls read_file with a sampled traceparent whose span id is `n + 1`.
    async fn call(&self, n: u64) {
        let peer = self.session.as_ref().unwrap().peer();
        let mut params = CallToolRequestParams::new("read_file").with_arguments(
            serde_json::json!({"path": "sales.csv", "head": 1})
                .as_object()
                .unwrap()
                .clone(),
        );
        params.meta = Some(trace_context(n));
        let result = peer.call_tool(params).await.expect("call");
        assert_ne!(result.is_error, Some(true));
    }

    /// Closes stdin and returns the exit status and how long the exit took.
    async fn close(mut self) -> (std::process::ExitStatus, Duration) {
        let started = Instant::now();
        drop(self.session.take().unwrap().cancel().await);
        let status = tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .expect("the server exits")
            .unwrap();
        (status, started.elapsed())
    }
}

fn expected_parent(n: u64) -> String {
    format!("{:016x}", n + 1)
}

fn trace_context(n: u64) -> RequestMetaObject {
    trace_meta::propagation::install_propagator();
    meta_with_parent(
        0xabcd_0000_0000_0000_0000_0000_0000_0000_u128 + u128::from(n),
        n + 1,
    )
}

fn vm_rss_kib(pid: u32) -> u64 {
    proc_status_kib(pid, "VmRSS").unwrap()
}

fn assert_each_call_has_its_parent(spans: &[otlp::Span], calls: u64) {
    let tool_spans: Vec<&otlp::Span> = spans
        .iter()
        .filter(|s| s.name == "tool-read_file")
        .collect();
    assert_eq!(
        tool_spans.len() as u64,
        calls,
        "every server span arrived, once"
    );
    let mut parents: Vec<String> = tool_spans
        .iter()
        .map(|s| s.parent_span_id.clone())
        .collect();
    parents.sort();
    let mut expected: Vec<String> = (0..calls).map(expected_parent).collect();
    expected.sort();
    assert_eq!(
        parents, expected,
        "each server span has the parent its request carried"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_stdin_flushes_spans_and_exits_zero_within_a_second() {
    let backend = Backend::start(otlp::Mode::Ok);
    let endpoint = format!("{}/v1/traces", backend.endpoint);
    let server = ServerUnderTest::start(&[("TRACE_META_LOCAL_ENDPOINT", &endpoint)]).await;
    for n in 0..5 {
        server.call(n).await;
    }
    let (status, took) = server.close().await;
    assert!(status.success(), "{status}");
    assert!(took < Duration::from_secs(1), "exit took {took:?}");
    assert_each_call_has_its_parent(&backend.spans(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_flushes_spans_and_exits_zero_within_a_second() {
    let backend = Backend::start(otlp::Mode::Ok);
    let endpoint = format!("{}/v1/traces", backend.endpoint);
    let mut server = ServerUnderTest::start(&[("TRACE_META_LOCAL_ENDPOINT", &endpoint)]).await;
    for n in 0..5 {
        server.call(n).await;
    }
    let started = Instant::now();
    // SAFETY: kill(2) of our own child.
    unsafe { libc::kill(server.pid() as i32, libc::SIGTERM) };
    let status = tokio::time::timeout(Duration::from_secs(5), server.child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status}");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "exit took {:?}",
        started.elapsed()
    );
    assert_each_call_has_its_parent(&backend.spans(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_calls_every_span_arrives_with_its_parent_and_memory_is_flat() {
    let backend = Backend::start(otlp::Mode::Ok);
    let endpoint = format!("{}/v1/traces", backend.endpoint);
    let server = ServerUnderTest::start(&[("TRACE_META_LOCAL_ENDPOINT", &endpoint)]).await;
    let pid = server.pid();
    let mut rss_after_1000 = 0;
    for n in 0..9_000u64 {
        server.call(n).await;
        if n + 1 == 1_000 {
            rss_after_1000 = vm_rss_kib(pid);
        }
    }
    // The last thousand with 16 in flight on the same session.
    let server = std::sync::Arc::new(server);
    let mut tasks = tokio::task::JoinSet::new();
    for lane in 0..16u64 {
        let server = server.clone();
        tasks.spawn(async move {
            let mut n = 9_000 + lane;
            while n < 10_000 {
                server.call(n).await;
                n += 16;
            }
        });
    }
    while let Some(joined) = tasks.join_next().await {
        joined.unwrap();
    }
    let rss_after_10000 = vm_rss_kib(pid);
    let server = std::sync::Arc::into_inner(server).unwrap();
    let (status, _) = server.close().await;
    assert!(status.success());
    assert_each_call_has_its_parent(&backend.spans(), 10_000);
    let growth = rss_after_10000 as f64 / rss_after_1000 as f64;
    assert!(
        growth <= 1.10,
        "RSS grew from {rss_after_1000} KiB after 1,000 calls to {rss_after_10000} KiB after 10,000"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_backend_gets_every_span_once_it_answers() {
    let backend = Backend::start(otlp::Mode::SlowFirst {
        requests: 2,
        delay: Duration::from_millis(1500),
    });
    let server = ServerUnderTest::start(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &backend.endpoint),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
    ])
    .await;
    for n in 0..300 {
        server.call(n).await;
        if n % 100 == 99 {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    // The process keeps running while the backend catches up: what was queued while it
    // was slow is exported once it answers, without waiting for shutdown.
    let backend = tokio::task::spawn_blocking(move || {
        let spans = backend.wait_for(300, Duration::from_secs(8));
        (backend, spans)
    });
    let (backend, spans) = backend.await.unwrap();
    assert_each_call_has_its_parent(&spans, 300);
    let (status, _) = server.close().await;
    assert!(status.success());
    assert_eq!(backend.spans().len(), 300, "nothing is sent twice");
}

/// The ports of the destinations a loss summary names ("... did not reach
/// http://HOST:PORT...", once per destination).
fn summary_ports(line: &str) -> Vec<&str> {
    line.split("did not reach http://")
        .skip(1)
        .filter_map(|url| {
            let authority = url.split(['/', ' ']).next()?.trim_end_matches(':');
            authority.rsplit(':').next()
        })
        .collect()
}

#[test]
fn spans_over_the_queue_bound_are_counted_and_reported_once() {
    let dead = otlp::blackhole();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.json");
    let root = data_dir();
    std::fs::write(
        &config,
        format!(
            r#"{{"mcpServers": {{"file-server": {{"command": "{HOST}", "args": ["__serve", "file-server", "--root", "{}"]}}}}}}"#,
            root.display()
        ),
    )
    .unwrap();
    let mut child = host()
        .arg("--config")
        .arg(&config)
        .args(["tools"])
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &dead)
        .env("OTEL_BSP_MAX_QUEUE_SIZE", "1")
        .env("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let output = loop {
        if child.try_wait().unwrap().is_some() {
            break child.wait_with_output().unwrap();
        }
        assert!(started.elapsed() < Duration::from_secs(15), "the host hung");
        std::thread::sleep(Duration::from_millis(20));
    };
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprintln!("{stderr}");
    assert!(output.status.success());
    for line in stderr.lines().filter(|l| l.contains(dead.as_str())) {
        assert!(!line.contains("works again"), "{line}");
    }
    // One summary per process and destination, never one per batch. (With a queue of one
    // span, a destination that works may lose a span too: two spans can end before the
    // export thread takes the first.)
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("trace_meta::export"))
        .collect();
    let process = |line: &str| {
        if line.starts_with("[file-server]") {
            "file-server"
        } else {
            "host"
        }
    };
    let mut processes: Vec<&str> = lines.iter().map(|l| process(l)).collect();
    processes.sort();
    let count = processes.len();
    processes.dedup();
    assert_eq!(processes.len(), count, "one line per process: {lines:#?}");
    let mut summaries: Vec<(&str, &str)> = lines
        .iter()
        .flat_map(|line| {
            summary_ports(line)
                .into_iter()
                .map(move |port| (process(line), port))
        })
        .collect();
    let port = dead.rsplit(':').next().unwrap();
    assert!(
        summaries.iter().any(|(_, reached)| *reached == port),
        "the loss at the dead backend is reported"
    );
    let reported = summaries.len();
    summaries.sort();
    summaries.dedup();
    assert_eq!(
        summaries.len(),
        reported,
        "once per process and destination"
    );
}

#[test]
fn a_blackholed_backend_delays_nothing_and_every_process_exits_promptly() {
    let dead = otlp::blackhole();
    let baseline = {
        let started = Instant::now();
        assert!(run(&mut host()).status.success());
        started.elapsed()
    };
    let started = Instant::now();
    let output = run(host().env("OTEL_EXPORTER_OTLP_ENDPOINT", &dead));
    let took = started.elapsed();
    assert!(output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("tool-query_database (db-server)"),
        "the local tree is complete"
    );
    assert!(
        took < baseline + Duration::from_secs(5),
        "{took:?} against {baseline:?} with no backend"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines = stderr.lines().filter(|l| l.contains(dead.as_str())).count();
    assert!(
        lines <= 6,
        "at most two lines per process, got {lines}:\n{stderr}"
    );
}

#[test]
fn sigint_stops_the_children_flushes_and_exits_130() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("trace.json");
    let (child, server_pid) = host_in_a_runaway_call(&json);
    let host_pid = child.id();
    let started = Instant::now();
    // SAFETY: kill(2) of our own child.
    unsafe { libc::kill(host_pid as i32, libc::SIGINT) };
    let output = child.wait_with_output().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(output.status.code(), Some(130));
    assert!(
        !std::path::Path::new(&format!("/proc/{server_pid}")).exists(),
        "the server is gone"
    );
    let spans = spans(&json);
    let client_span = one(&spans, "mcp-tool-query_database");
    let server_span = one(&spans, "tool-query_database");
    for span in [client_span, server_span] {
        assert_eq!(span.status_code, STATUS_ERROR, "{span:?}");
        assert_eq!(span.attributes["error.type"], "cancelled", "{span:?}");
    }
    // The host told the server, which stopped the statement before it could reach its 5 s
    // limit, and said so in the trace.
    let notification = one(&spans, "notifications/cancelled");
    assert_eq!(notification.parent_span_id, client_span.span_id);
    assert_eq!(notification.service, "db-server");
    assert_eq!(
        notification.attributes["mcp.cancelled.reason"],
        "the client abandoned the request"
    );
    assert!(
        server_span.end < notification.end + 1_000_000_000,
        "the statement stopped within a second of the cancellation"
    );
}

#[test]
fn a_call_past_the_call_timeout_is_cancelled_in_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("trace.json");
    let started = Instant::now();
    let output = run(host()
        .args([
            "call",
            "db-server",
            "query_database",
            RUNAWAY_QUERY,
            "--call-timeout",
            "0.5",
            "--trace-json",
        ])
        .arg(&json));
    let took = started.elapsed();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("gave no answer to tools/call query_database within 0.5s"),
        "{stderr}"
    );
    // rmcp's warning about the answer it then drops stays out of the default logs.
    assert!(!stderr.contains("response error"), "{stderr}");
    // The server's own limit is 5 s: only the cancellation ends the statement sooner.
    assert!(took < Duration::from_secs(4), "took {took:?}");

    let spans = spans(&json);
    let client_span = one(&spans, "mcp-tool-query_database");
    assert_eq!(client_span.attributes["error.type"], "timeout");
    let server_span = one(&spans, "tool-query_database");
    assert_eq!(server_span.attributes["error.type"], "cancelled");
    assert_eq!(server_span.parent_span_id, client_span.span_id);
    let notification = one(&spans, "notifications/cancelled");
    assert_eq!(notification.parent_span_id, client_span.span_id);
    assert_eq!(
        notification.attributes["mcp.cancelled.reason"],
        "request timeout"
    );
    assert!(
        server_span.end - server_span.start < 2_000_000_000,
        "the server span lasted {} ms",
        (server_span.end - server_span.start) / 1_000_000
    );
}

#[test]
fn secrets_never_reach_spans_logs_or_errors() {
    const KEY: &str = "sk-confident-SECRET-1f2e3d";
    const HEADER: &str = "Bearer-SECRET-9a8b7c";
    let backend = Backend::start(otlp::Mode::Ok);
    let failing = Backend::start(otlp::Mode::Status(401));
    for (endpoint, accepts) in [(&backend.endpoint, true), (&failing.endpoint, false)] {
        let dir = tempfile::tempdir().unwrap();
        let json = dir.path().join("trace.json");
        let output = run(host()
            .arg("--trace-json")
            .arg(&json)
            .env("RUST_LOG", "debug")
            .env("CONFIDENT_API_KEY", KEY)
            .env(
                "OTEL_EXPORTER_OTLP_HEADERS",
                format!("authorization={HEADER}"),
            )
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint));
        assert!(output.status.success());
        let everything = format!(
            "{}{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
            std::fs::read_to_string(&json).unwrap()
        );
        for secret in [KEY, HEADER] {
            assert!(
                !everything.contains(secret),
                "{secret} leaked into output, logs or spans"
            );
        }
        if accepts {
            let spans = backend.wait_for(10, Duration::from_secs(5));
            assert!(
                spans
                    .iter()
                    .all(|s| !s.mentions(KEY) && !s.mentions(HEADER))
            );
            let services: std::collections::HashSet<&str> =
                spans.iter().map(|s| s.service.as_str()).collect();
            assert_eq!(services.len(), 3, "every process exported: {services:?}");
            // The key does go where it belongs: the backend's request headers, from every process.
            let with_key = backend
                .headers()
                .iter()
                .filter(|h| {
                    h.iter()
                        .any(|(k, v)| k == "x-confident-api-key" && v == KEY)
                })
                .count();
            assert!(with_key >= 3, "{with_key} exports carried the key");
        } else {
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(
                stderr.contains("failed"),
                "the refused export is reported:\n{stderr}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_second_destination_never_gets_the_users_credentials() {
    const HEADER: &str = "Bearer-SECRET-local-5d4c";
    let local = Backend::start(otlp::Mode::Ok);
    let endpoint = format!("{}/v1/traces", local.endpoint);
    let server = ServerUnderTest::start(&[
        ("TRACE_META_LOCAL_ENDPOINT", &endpoint),
        (
            "OTEL_EXPORTER_OTLP_HEADERS",
            &format!("authorization={HEADER}"),
        ),
        ("CONFIDENT_API_KEY", "sk-SECRET-local"),
    ])
    .await;
    server.call(0).await;
    let (status, _) = server.close().await;
    assert!(status.success());
    assert_each_call_has_its_parent(&local.spans(), 1);
    for headers in local.headers() {
        for (name, value) in headers {
            assert!(
                !value.contains("SECRET"),
                "the local destination got {name}: {value}"
            );
        }
    }
}
