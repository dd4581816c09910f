//! The proxy through its binary, `trace-proxy`: the spans it makes for a server that makes
//! none, what it changes on the wire (only `_meta` trace keys of requests), and how it ends
//! when the server crashes, exits or misbehaves.
//!
//! The client is this test, writing JSON-RPC lines to the proxy's stdin and reading its
//! stdout; spans go to a loopback OTLP/HTTP collector. The server is `proxy-test-server`
//! (no SDK, no spans). The proxy between a client and servers that trace themselves, and
//! `wrap-config`, are tested through `mcp-host proxy` (`mcp-host/tests/proxy.rs`).

use std::{
    io::{BufRead, BufReader, Write},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::{Value, json};
use test_support::{
    env::clean_env,
    process::wait_timeout,
    proxy::{Collector, Proxy, WAIT, has, one},
};

const TRACE_PROXY: &str = env!("CARGO_BIN_EXE_trace-proxy");
const TEST_SERVER: &str = env!("CARGO_BIN_EXE_proxy-test-server");

const CLIENT_TRACE: &str = "0af7651916cd43dd8448eb211c80319c";
/// The `_meta` member with which the proxy asks a server for the spans of a call.
const SPAN_REQUEST: &str = r#""otel":{"traces":{"request":true,"detailed":true}}"#;
const CLIENT_SPAN: &str = "b7ad6b7169203331";

/// `trace-proxy --name NAME server…`, exporting to `collector` when given.
fn start(name: &str, server: &[&str], collector: Option<&Collector>) -> Proxy {
    Proxy::start(&[TRACE_PROXY], name, server, collector, &[])
}

// ---------------------------------------------------------------------------------------
// Spans of a server that makes none.

#[test]
fn a_server_without_spans_still_gets_one_span_per_request() {
    let collector = Collector::start();
    let mut proxy = start("silent", &[TEST_SERVER], Some(&collector));
    proxy.initialize("2025-11-25");
    let call = |id: u64, tool: &str, meta: Value| {
        json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": tool, "arguments": {"text": "hi"}, "_meta": meta}})
    };
    assert_eq!(
        proxy.call(call(1, "echo", json!({})))["result"]["content"][0]["text"],
        "hi"
    );
    assert_eq!(
        proxy.call(call(2, "fail", json!({})))["result"]["isError"],
        true
    );
    assert_eq!(
        proxy.call(call(3, "nope", json!({})))["error"]["code"],
        -32602
    );
    // Progress notifications are events on the request they report on.
    proxy.send_json(&call(4, "progress", json!({"progressToken": "tok"})));
    let mut seen = Vec::new();
    loop {
        let line = proxy.recv_json();
        let done = line["id"] == 4;
        seen.push(line);
        if done {
            break;
        }
    }
    assert_eq!(seen.len(), 3, "two progress notifications, then the result");
    // A logging notification belongs to no request: a short span.
    proxy.call(call(5, "log", json!({})));
    // The server asks the client for sampling: the request gets a span and carries its context.
    proxy.send_json(&call(6, "sample", json!({})));
    let sampling = proxy.recv_json();
    assert_eq!(sampling["method"], "sampling/createMessage");
    let injected = sampling["params"]["_meta"]["traceparent"]
        .as_str()
        .unwrap()
        .to_owned();
    proxy.send_json(
        &json!({"jsonrpc": "2.0", "id": "s-1", "result": {"role": "assistant",
        "content": {"type": "text", "text": "hello"}, "model": "m"}}),
    );
    let answer = proxy.recv_json();
    assert_eq!(
        answer["result"]["content"][0]["text"],
        "the client said: hello"
    );
    let (status, _) = proxy.finish();
    assert!(status.success());

    let spans = collector.wait(|s| {
        has(s, "silent", "sampling/createMessage") && has(s, "silent", "mcp-tool-sample")
    });
    assert!(
        spans.iter().all(|s| s.service == "silent"),
        "only the proxy exports"
    );

    let echo = one(&spans, "silent", "mcp-tool-echo");
    assert_eq!(
        echo.attribute_text("gen_ai.tool.name").as_deref(),
        Some("echo")
    );
    assert_eq!(
        echo.attribute_text("confident.span.output").as_deref(),
        Some("hi")
    );
    assert_eq!(
        echo.attribute_text("confident.span.input").as_deref(),
        Some(r#"{"text":"hi"}"#)
    );
    assert!(!echo.is_error());
    assert!(echo.end > echo.start, "a duration");

    let fail = one(&spans, "silent", "mcp-tool-fail");
    assert!(fail.is_error());
    assert_eq!(
        fail.attribute_text("error.type").as_deref(),
        Some("tool_error")
    );

    let nope = one(&spans, "silent", "mcp-tool-nope");
    assert!(nope.is_error());
    assert_eq!(nope.attribute_text("error.type").as_deref(), Some("-32602"));
    assert_eq!(
        nope.attribute_text("rpc.response.status_code").as_deref(),
        Some("-32602")
    );

    let progress = one(&spans, "silent", "mcp-tool-progress");
    let events: Vec<&str> = progress.events.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(events, ["notifications/progress", "notifications/progress"]);
    assert_eq!(
        progress.events[1]
            .attribute_text("mcp.progress.progress")
            .as_deref(),
        Some("2")
    );

    let log = one(&spans, "silent", "notifications/message");
    assert_eq!(log.parent_span_id, "");

    let sampling_span = one(&spans, "silent", "sampling/createMessage");
    assert_eq!(
        injected,
        format!("00-{}-{}-01", sampling_span.trace_id, sampling_span.span_id)
    );
    assert!(!sampling_span.is_error());
    let initialize = one(&spans, "silent", "initialize");
    assert_eq!(
        initialize.attribute_text("mcp.protocol.version").as_deref(),
        Some("2025-11-25"),
        "the version the server answered"
    );
}

#[test]
fn a_cancelled_request_ends_its_span_and_an_invalid_parent_starts_a_root() {
    let collector = Collector::start();
    let record = tempfile::NamedTempFile::new().unwrap();
    let record_path = record.path().display().to_string();
    let mut proxy = start(
        "silent",
        &[TEST_SERVER, "--record", &record_path],
        Some(&collector),
    );
    // Upper-case hex is not a valid traceparent: the proxy span is a root, and the server
    // gets the proxy's context instead.
    let invalid = format!("00-{}-{CLIENT_SPAN}-01", CLIENT_TRACE.to_uppercase());
    proxy.send_json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "slow", "arguments": {"ms": 300}, "_meta": {"traceparent": invalid}}}));
    proxy.send(r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1,"reason":"user gave up"}}"#);
    // The server answers anyway; the answer is relayed as it is.
    assert_eq!(proxy.recv_json()["id"], 1);
    let (status, _) = proxy.finish();
    assert!(status.success());

    let spans = collector.wait(|s| has(s, "silent", "mcp-tool-slow"));
    let slow = one(&spans, "silent", "mcp-tool-slow");
    assert_eq!(
        slow.parent_span_id, "",
        "an invalid parent starts a new trace"
    );
    assert_ne!(slow.trace_id, CLIENT_TRACE.to_lowercase());
    assert!(slow.is_error());
    assert_eq!(
        slow.attribute_text("error.type").as_deref(),
        Some("cancelled")
    );
    let event = &slow.events[0];
    assert_eq!(event.name, "notifications/cancelled");
    assert_eq!(
        event.attribute_text("mcp.cancelled.reason").as_deref(),
        Some("user gave up")
    );
    let forwarded = std::fs::read_to_string(record.path()).unwrap();
    assert!(
        forwarded.contains(&format!(
            "\"traceparent\":\"00-{}-{}-01\"",
            slow.trace_id, slow.span_id
        )),
        "{forwarded}"
    );
    assert!(!forwarded.contains(&invalid));
}

// ---------------------------------------------------------------------------------------
// What the proxy changes on the wire.

/// Lines a client may send, in unusual but valid spellings.
fn unusual_lines() -> Vec<String> {
    vec![
        // Unusual key order, whitespace, escapes and numbers; a vendor key; a progress token;
        // the client's own trace context, which the proxy replaces.
        format!(
            "{{\"params\" : {{\"name\":\"echo\", \"arguments\":{{\"text\":\"caf\\u00e9 \\/\",\"n\":1.0e3,\"big\":123456789012345678901234567890}},\"_meta\":{{\"progressToken\":7,\"traceparent\":\"00-{CLIENT_TRACE}-{CLIENT_SPAN}-01\",\"com.example/tag\":{{\"z\":1,\"a\":[true,null]}}}}}}, \"method\":\"tools/call\",\"jsonrpc\":\"2.0\",\"id\":\"ü-1\"}}"
        ),
        // No params at all.
        r#"{"jsonrpc":"2.0","id":12345678901234567890,"method":"ping"}"#.to_owned(),
        // Notifications, with and without trace context.
        r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"gone","reason":"x"}}"#.to_owned(),
        format!(r#"{{"jsonrpc":"2.0","method":"notifications/roots/list_changed","params":{{"_meta":{{"traceparent":"00-{CLIENT_TRACE}-{CLIENT_SPAN}-01"}}}}}}"#),
        // A response to nothing, a batch, an unknown method, and a line that is not JSON.
        r#"{"jsonrpc":"2.0","id":"nobody-asked","result":{}}"#.to_owned(),
        r#"[{"jsonrpc":"2.0","id":90,"method":"ping"},{"jsonrpc":"2.0","id":91,"method":"ping"}]"#.to_owned(),
        r#"{"jsonrpc":"2.0","id":92,"method":"no/such/method","params":{"_meta":{}}}"#.to_owned(),
        "this is not JSON".to_owned(),
        // The server's unusual answer.
        r#"{"jsonrpc":"2.0","id":93,"method":"tools/call","params":{"name":"raw"}}"#.to_owned(),
    ]
}

/// What the server answers to `unusual_lines`, byte for byte, in order.
fn expected_answers() -> Vec<String> {
    vec![
        r#"{"jsonrpc":"2.0","id":"ü-1","result":{"content":[{"type":"text","text":"café /"}],"isError":false}}"#.to_owned(),
        r#"{"jsonrpc":"2.0","id":12345678901234567890,"result":{}}"#.to_owned(),
        r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"batches are not supported"}}"#.to_owned(),
        r#"{"jsonrpc":"2.0","id":92,"error":{"code":-32601,"message":"method not found","data":{"method":"no/such/method"}}}"#.to_owned(),
        r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"parse error"}}"#.to_owned(),
        "{ \"result\" : {\"content\":[{\"type\":\"text\",\"text\":\"caf\\u00e9 \\/ ok\"}],\"n\":1.0e3, \"big\":123456789012345678901234567890}, \"id\":93,\"jsonrpc\":\"2.0\" }".to_owned(),
    ]
}

/// Sends `unusual_lines`, collects the answers, and returns them with what the server read.
fn relay_unusual_lines(collector: Option<&Collector>) -> (Vec<String>, Vec<String>, Vec<String>) {
    let record = tempfile::NamedTempFile::new().unwrap();
    let record_path = record.path().display().to_string();
    let mut proxy = start(
        "silent",
        &[TEST_SERVER, "--record", &record_path],
        collector,
    );
    let sent = unusual_lines();
    for line in &sent {
        proxy.send(line);
    }
    let answers: Vec<String> = (0..expected_answers().len())
        .map(|_| proxy.recv().trim_end_matches('\n').to_owned())
        .collect();
    let (status, _) = proxy.finish();
    assert!(status.success());
    let received: Vec<String> = std::fs::read_to_string(record.path())
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    (sent, received, answers)
}

/// Removes the `traceparent` member (with the comma after it, as the proxy writes it first)
/// from a line; returns the line and the value.
fn take_traceparent(line: &str) -> (String, Option<String>) {
    let key = "\"traceparent\":\"";
    let Some(start) = line.find(key) else {
        return (line.to_owned(), None);
    };
    let value_start = start + key.len();
    let value_end = value_start + line[value_start..].find('"').unwrap();
    let mut end = value_end + 1;
    if line[end..].starts_with(',') {
        end += 1;
    }
    let value = line[value_start..value_end].to_owned();
    (format!("{}{}", &line[..start], &line[end..]), Some(value))
}

#[test]
fn messages_pass_through_byte_for_byte_apart_from_trace_keys() {
    let collector = Collector::start();
    let (sent, received, answers) = relay_unusual_lines(Some(&collector));
    assert_eq!(
        answers,
        expected_answers(),
        "the server's bytes reach the client unchanged"
    );
    assert_eq!(received.len(), sent.len());

    // The first line: the client's traceparent is replaced by the proxy span's, written
    // first in `_meta`, then the proxy's request for the server's spans (SEP-2448); every
    // other byte is the client's.
    let (without_client_tp, client_tp) = take_traceparent(&sent[0]);
    assert!(client_tp.is_some());
    let asked = format!("{SPAN_REQUEST},");
    assert!(received[0].contains(&asked), "{}", received[0]);
    let (without_proxy_tp, proxy_tp) = take_traceparent(&received[0].replacen(&asked, "", 1));
    let proxy_tp = proxy_tp.expect("the forwarded request carries the proxy span's context");
    assert!(
        proxy_tp.starts_with(&format!("00-{CLIENT_TRACE}-")) && !proxy_tp.contains(CLIENT_SPAN)
    );
    assert_eq!(without_proxy_tp, without_client_tp);

    // A request without params gains exactly `"params":{"_meta":{…}}` at its end.
    let (ping, tp) = take_traceparent(&received[1]);
    assert!(tp.is_some());
    assert_eq!(
        ping,
        sent[1].replace("\"ping\"}", "\"ping\",\"params\":{\"_meta\":{}}}")
    );
    // An empty `_meta` gains the key.
    let (unknown, tp) = take_traceparent(&received[6]);
    assert!(tp.is_some());
    assert_eq!(unknown, sent[6]);
    // Notifications, responses, batches and non-JSON lines are untouched (the notification
    // with trace context keeps the client's).
    for index in [2, 3, 4, 5, 7] {
        assert_eq!(received[index], sent[index], "line {index}");
    }
    // The raw call: `params` without `_meta` gains it as the last member (with the
    // request for the server's spans, as a tool call).
    let (raw, tp) = take_traceparent(&received[8]);
    assert!(tp.is_some());
    assert_eq!(
        raw,
        sent[8].replace(
            "\"raw\"}",
            &format!("\"raw\",\"_meta\":{{{SPAN_REQUEST}}}}}")
        )
    );

    // The proxy's span for the first call is in the client's trace, under the client's span.
    let spans = collector.wait(|s| has(s, "silent", "mcp-tool-echo"));
    let echo = one(&spans, "silent", "mcp-tool-echo");
    assert_eq!(echo.parent_span_id, CLIENT_SPAN);
    assert_eq!(proxy_tp, format!("00-{CLIENT_TRACE}-{}-01", echo.span_id));
    assert_eq!(
        echo.attribute_text("jsonrpc.request.id").as_deref(),
        Some("ü-1")
    );
    let roots = one(&spans, "silent", "notifications/roots/list_changed");
    assert_eq!(
        roots.parent_span_id, CLIENT_SPAN,
        "a notification's span parents on its _meta"
    );
}

#[test]
fn with_nowhere_to_export_nothing_changes_at_all() {
    let (sent, received, answers) = relay_unusual_lines(None);
    assert_eq!(received, sent);
    assert_eq!(answers, expected_answers());
}

/// Node-based hosts (Claude Desktop, VS Code, the Inspector) give their servers Unix socket
/// pairs, not pipes: the proxy serves those the same way.
#[test]
fn a_client_on_socket_pairs_is_served_like_one_on_pipes() {
    use std::os::{fd::OwnedFd, unix::net::UnixStream};
    let (mut to_proxy, proxy_in) = UnixStream::pair().unwrap();
    let (from_proxy, proxy_out) = UnixStream::pair().unwrap();
    let mut child = {
        let mut command = Command::new(TRACE_PROXY);
        clean_env(&mut command);
        command
            .args(["--name", "sockets", TEST_SERVER])
            .stdin(Stdio::from(OwnedFd::from(proxy_in)))
            .stdout(Stdio::from(OwnedFd::from(proxy_out)))
            .stderr(Stdio::inherit());
        command.spawn().unwrap()
    };
    from_proxy.set_read_timeout(Some(WAIT)).unwrap();
    let mut answers = BufReader::new(from_proxy);
    for (id, tool) in [(1, "echo"), (2, "echo")] {
        let call = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": tool, "arguments": {"text": format!("hello {id}")}}});
        to_proxy.write_all(format!("{call}\n").as_bytes()).unwrap();
        let mut line = String::new();
        answers.read_line(&mut line).expect("an answer in time");
        let answer: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(
            answer["result"]["content"][0]["text"],
            format!("hello {id}")
        );
    }
    to_proxy.shutdown(std::net::Shutdown::Write).unwrap();
    let status = wait_timeout(&mut child, WAIT);
    assert!(status.is_some(), "the proxy exits on end of input");
    let status = status.unwrap();
    assert!(status.success());
}

// ---------------------------------------------------------------------------------------
// Servers that fail.

#[test]
fn a_server_crashing_mid_call_answers_the_client_with_an_error_and_its_status() {
    let collector = Collector::start();
    let mut proxy = start("crashy", &[TEST_SERVER], Some(&collector));
    proxy.initialize("2025-11-25");
    let answer = proxy.call(json!({"jsonrpc": "2.0", "id": "c", "method": "tools/call",
        "params": {"name": "crash", "arguments": {}}}));
    assert_eq!(answer["error"]["code"], -32000, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("exited with status 3")
    );
    let (status, stderr) = proxy.wait();
    assert_eq!(
        status.code(),
        Some(3),
        "the proxy exits with the server's status"
    );
    assert!(
        stderr.contains("crashing mid-call"),
        "the server's stderr passes through"
    );
    assert!(
        stderr.contains("trace-proxy: the wrapped server \"crashy\" exited with status 3"),
        "{stderr}"
    );

    let spans = collector.wait(|s| has(s, "crashy", "mcp-tool-crash"));
    let crash = one(&spans, "crashy", "mcp-tool-crash");
    assert!(crash.is_error());
    assert_eq!(
        crash.attribute_text("error.type").as_deref(),
        Some("transport_closed")
    );
}

#[test]
fn a_server_exiting_at_start_ends_the_proxy_with_its_status() {
    let mut proxy = start("gone", &[TEST_SERVER, "--exit-at-start", "7"], None);
    proxy.send(r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}"#);
    let (status, stderr) = proxy.wait();
    assert_eq!(status.code(), Some(7));
    assert!(stderr.contains("exited with status 7"), "{stderr}");
    // The client gets an error answer, or (when the server was gone before the proxy read
    // the request) end of output; never a hang.
    while let Ok(line) = proxy.lines.recv_timeout(Duration::from_secs(2)) {
        let answer: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(answer["error"]["code"], -32000);
    }
}

#[test]
fn a_server_writing_garbage_is_stopped_and_the_client_answered() {
    let collector = Collector::start();
    let mut proxy = start("noisy", &[TEST_SERVER], Some(&collector));
    proxy.initialize("2025-11-25");
    let answer = proxy.call(json!({"jsonrpc": "2.0", "id": 5, "method": "tools/call",
        "params": {"name": "garbage", "arguments": {}}}));
    assert_eq!(answer["error"]["code"], -32000);
    let (status, stderr) = proxy.wait();
    assert_eq!(status.code(), Some(1));
    assert!(
        stderr.contains("not JSON") && stderr.contains("this is not JSON-RPC"),
        "{stderr}"
    );
    let spans = collector.wait(|s| has(s, "noisy", "mcp-tool-garbage"));
    assert!(one(&spans, "noisy", "mcp-tool-garbage").is_error());
}

#[test]
fn a_server_ignoring_end_of_input_gets_sigterm_after_the_grace() {
    let mut proxy = start("lingering", &[TEST_SERVER, "--linger"], None);
    proxy.initialize("2025-11-25");
    let started = Instant::now();
    let (status, _) = proxy.finish();
    let took = started.elapsed();
    assert_eq!(status.code(), Some(128 + libc::SIGTERM));
    assert!(
        took >= Duration::from_millis(1900) && took < Duration::from_secs(6),
        "{took:?}"
    );
}

#[test]
fn what_the_client_sent_before_sigterm_reaches_the_server_and_is_answered() {
    let record = tempfile::NamedTempFile::new().unwrap();
    let record_path = record.path().display().to_string();
    let mut proxy = start(
        "patient",
        &[TEST_SERVER, "--ignore-sigterm", "--record", &record_path],
        None,
    );
    // Once it answers, the proxy listens for signals.
    proxy.call(json!({"jsonrpc": "2.0", "id": "ready", "method": "ping"}));
    const LINES: usize = 200;
    let batch: String = (0..LINES)
        .map(|id| format!("{{\"jsonrpc\":\"2.0\",\"id\":{id},\"method\":\"ping\"}}\n"))
        .collect();
    proxy.send(&batch);
    // SAFETY: signalling our own child.
    unsafe { libc::kill(proxy.child.id() as libc::pid_t, libc::SIGTERM) };
    let answers = (0..LINES)
        .filter(|_| proxy.recv_json()["result"].is_object())
        .count();
    let (status, _) = proxy.wait();
    assert_eq!(answers, LINES, "every request was relayed and answered");
    let recorded = std::fs::read_to_string(record.path()).unwrap();
    assert_eq!(
        recorded.split_once('\n').unwrap().1,
        batch,
        "the server read every line, whole, in order"
    );
    assert!(
        status.success(),
        "the server exited 0 on end of input: {status}"
    );
}

#[test]
fn a_command_that_does_not_start_is_named() {
    let mut command = Command::new(TRACE_PROXY);
    clean_env(&mut command);
    let output = command
        .args(["--name", "missing", "/nonexistent/mcp-server", "--flag"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(
            "trace-proxy: error: cannot start the wrapped server `/nonexistent/mcp-server`: "
        ),
        "{stderr}"
    );
    assert!(output.stdout.is_empty());
}
