//! `--receiver ADDR`: a server the user started (over HTTP) exports to the host's receiver,
//! and its spans join the printed trace.

mod common;

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
};

use common::*;

#[test]
fn a_server_started_by_hand_joins_the_printed_trace_through_the_receiver() {
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let receiver = format!("127.0.0.1:{port}");
    let mut server = Command::new(HOST);
    clean_env(&mut server);
    let mut server = server
        .args(["__serve", "file-server", "--http", "127.0.0.1:0", "--root"])
        .arg(data_dir())
        .env(
            "TRACE_META_LOCAL_ENDPOINT",
            format!("http://{receiver}/v1/traces"),
        )
        .env("OTEL_BSP_SCHEDULE_DELAY", "100")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(server.stderr.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let url = first
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .to_owned();

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("remote.json");
    std::fs::write(
        &config,
        serde_json::json!({"mcpServers": {"files": {"url": url}}}).to_string(),
    )
    .unwrap();
    let json = dir.path().join("trace.json");
    let mut host_command = host();
    host_command
        .args(["--config"])
        .arg(&config)
        .args(["--receiver", &receiver, "--trace-json"])
        .arg(&json)
        .args(["call", "files", "read_file", r#"{"path": "sales.csv"}"#]);
    let output = run(&mut host_command);
    let _ = server.kill();
    let _ = server.wait();
    assert!(output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("tool-read_file (file-server)"),
        "the tree shows the server's span:\n{stdout}"
    );

    let spans = spans(&json);
    let call = one(&spans, "mcp-tool-read_file");
    let served = one(&spans, "tool-read_file");
    assert_eq!(served.parent_span_id, call.span_id);
    assert_eq!(served.trace_id, call.trace_id);
    assert_eq!(served.service, "file-server");
    assert_eq!(served.pid(), Some(i64::from(server.id())));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_sent_to_the_receiver_are_accepted_and_counted() {
    use std::io::{Read, Write};
    let receiver = mcp_host::receiver::Receiver::start().await.unwrap();
    let addr = receiver
        .traces_endpoint()
        .trim_start_matches("http://")
        .trim_end_matches("/v1/traces")
        .to_owned();
    let answer = tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(&addr).unwrap();
        // An empty protobuf body is a valid ExportMetricsServiceRequest.
        write!(
            stream,
            "POST /v1/metrics HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-protobuf\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        answer
    })
    .await
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert_eq!(receiver.collected().metrics_requests(), 1);
    assert!(
        receiver.collected().snapshot().is_empty(),
        "no spans from it"
    );
}
