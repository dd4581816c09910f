//! Stdout carries JSON-RPC only, also after errors, and the server exits 0 when stdin closes.

use std::{
    io::{BufRead, BufReader, Write},
    process::{Command, Stdio},
    sync::mpsc,
    thread,
    time::{Duration, Instant},
};

use serde_json::{Value, json};
use test_support::{data::SAMPLE_DATA, env::clean_env, process::wait_timeout};

const BINARY: &str = env!("CARGO_BIN_EXE_file-server");

#[test]
fn every_stdout_line_is_json_rpc_and_stdin_eof_exits_zero() {
    let mut command = Command::new(BINARY);
    clean_env(&mut command);
    command
        .args(["--root", SAMPLE_DATA])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        // Logs go to stderr; make them plentiful, so any that leaked to stdout would show.
        .stderr(Stdio::null())
        .env("RUST_LOG", "trace");
    let mut child = command.spawn().expect("spawn file-server");
    let stdout = child.stdout.take().unwrap();
    let (lines_tx, lines_rx) = mpsc::channel();
    let reader = thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let line = line.expect("stdout is UTF-8");
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });

    let messages = [
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "raw-test", "version": "0"}
        }}),
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}),
        json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {
            "name": "read_file", "arguments": {"path": "/etc/passwd"},
            "_meta": {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
        }}),
        json!({"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {
            "name": "no_such_tool", "arguments": {}
        }}),
        json!({"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": {
            "name": "read_file", "arguments": {"path": "sales.csv", "head": 1}
        }}),
    ];
    let mut stdin = child.stdin.take().unwrap();
    let mut responses: Vec<Value> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    for message in &messages {
        writeln!(stdin, "{message}").unwrap();
        stdin.flush().unwrap();
        // Wait for the answer to each request before sending the next, so the order of
        // the exchange is the order above.
        if message.get("id").is_some() {
            let line = lines_rx
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .expect("a response before the deadline");
            responses.push(parse_json_rpc(&line));
        }
    }
    drop(stdin);

    let status = wait_timeout(&mut child, Duration::from_secs(5)).unwrap_or_else(|| {
        let _ = child.kill();
        panic!("file-server did not exit within 5 s of stdin closing")
    });
    assert!(status.success(), "exit status {status}");
    reader.join().unwrap();
    // Anything written after the last response must be JSON-RPC too.
    for line in lines_rx.try_iter() {
        responses.push(parse_json_rpc(&line));
    }

    let by_id = |id: i64| {
        responses
            .iter()
            .find(|response| response["id"] == id)
            .unwrap_or_else(|| panic!("no response with id {id}: {responses:?}"))
    };
    assert!(by_id(1)["result"]["serverInfo"]["name"] == "file-server");
    assert!(by_id(2)["result"]["tools"].as_array().unwrap().len() >= 7);
    let refused = &by_id(3)["result"];
    assert_eq!(refused["isError"], true);
    assert!(
        refused["content"][0]["text"]
            .as_str()
            .unwrap()
            .starts_with("refused: /etc/passwd is outside the allowed directories")
    );
    assert!(
        by_id(4).get("error").is_some(),
        "unknown tool is a JSON-RPC error"
    );
    let read = &by_id(5)["result"];
    assert_ne!(read["isError"], true);
    assert_eq!(
        read["content"][0]["text"].as_str().unwrap().trim_end(),
        "year,month,quarter,region,product,units,revenue"
    );
}

/// Parses one stdout line, which must be a JSON-RPC 2.0 message.
fn parse_json_rpc(line: &str) -> Value {
    let value: Value = serde_json::from_str(line)
        .unwrap_or_else(|error| panic!("stdout line is not JSON ({error}): {line:?}"));
    assert_eq!(value["jsonrpc"], "2.0", "not JSON-RPC 2.0: {line}");
    value
}

#[test]
fn sigterm_exits_zero() {
    let mut command = Command::new(BINARY);
    command
        .args(["--root", SAMPLE_DATA])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .env_remove("RUST_LOG");
    clean_env(&mut command);
    let mut child = command.spawn().expect("spawn file-server");
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let initialize = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "raw-test", "version": "0"}
    }});
    writeln!(stdin, "{initialize}").unwrap();
    stdin.flush().unwrap();
    // Once the handshake is answered the signal handlers are installed.
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    parse_json_rpc(line.trim_end());

    let pid = i32::try_from(child.id()).unwrap();
    // SAFETY: plain kill(2) on the child this test started and has not reaped.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let status = wait_timeout(&mut child, Duration::from_secs(5)).unwrap_or_else(|| {
        let _ = child.kill();
        panic!("file-server did not exit within 5 s of SIGTERM")
    });
    assert!(status.success(), "exit status {status}");
    // Keep stdin open until here, so the exit is the signal's doing, not EOF's.
    drop(stdin);
}
