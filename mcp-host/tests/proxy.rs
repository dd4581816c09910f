//! `mcp-host proxy` through the real binaries: the trace it makes between a client and a
//! server, what it changes on the wire (only `_meta` trace keys of requests), how it ends
//! when the server crashes, exits or misbehaves, and `mcp-host wrap-config`.
//!
//! The client is this test, writing JSON-RPC lines to the proxy's stdin and reading its
//! stdout; spans go to a loopback OTLP/HTTP collector. Servers: the bundled file-server
//! (traced with trace-meta: it extracts `_meta`) and `proxy-test-server` (no SDK, no spans).

mod common;

use std::{
    io::{BufRead, BufReader, Write},
    path::Path,
    process::{Child, ChildStdin, Command, ExitStatus, Stdio},
    sync::{Arc, Mutex, mpsc},
    time::{Duration, Instant},
};

use common::{HOST, clean_env, data_dir};
use opentelemetry_proto::tonic::{
    common::v1::{KeyValue, any_value},
    trace::v1::Span as OtlpSpan,
};
use serde_json::{Value, json};
use test_support::{
    otlp::{Backend, Mode, hex},
    process::wait_timeout,
};

const TEST_SERVER: &str = env!("CARGO_BIN_EXE_proxy-test-server");
/// How long any single wait in these tests may last.
const WAIT: Duration = Duration::from_secs(15);

const CLIENT_TRACE: &str = "0af7651916cd43dd8448eb211c80319c";
/// The `_meta` member with which the proxy asks a server for the spans of a call.
const SPAN_REQUEST: &str = r#""otel":{"traces":{"request":true,"detailed":true}}"#;
const CLIENT_SPAN: &str = "b7ad6b7169203331";

// ---------------------------------------------------------------------------------------
// A loopback OTLP/HTTP collector that keeps whole spans (events and kinds included).

/// One received span with its service.
#[derive(Debug, Clone)]
struct Got {
    service: String,
    span: OtlpSpan,
}

impl Got {
    fn trace_id(&self) -> String {
        hex(&self.span.trace_id)
    }
    fn span_id(&self) -> String {
        hex(&self.span.span_id)
    }
    fn parent(&self) -> String {
        hex(&self.span.parent_span_id)
    }
    fn attr(&self, key: &str) -> Option<String> {
        attr_of(&self.span.attributes, key)
    }
    fn is_error(&self) -> bool {
        self.span.status.as_ref().is_some_and(|s| s.code == 2)
    }
}

fn attr_of(list: &[KeyValue], key: &str) -> Option<String> {
    let value = list.iter().find(|kv| kv.key == key)?.value.as_ref()?;
    Some(match value.value.as_ref()? {
        any_value::Value::StringValue(s) => s.clone(),
        any_value::Value::IntValue(i) => i.to_string(),
        any_value::Value::DoubleValue(d) => d.to_string(),
        any_value::Value::BoolValue(b) => b.to_string(),
        other => format!("{other:?}"),
    })
}

/// The loopback OTLP backend of test-support, its spans seen as [`Got`].
struct Collector {
    endpoint: String,
    backend: Backend,
}

impl Collector {
    fn start() -> Self {
        let backend = Backend::start(Mode::Ok);
        let endpoint = format!("{}/v1/traces", backend.endpoint);
        Self { endpoint, backend }
    }

    /// Waits until `done` holds for the spans received, or [`WAIT`] passes.
    fn wait(&self, done: impl Fn(&[Got]) -> bool) -> Vec<Got> {
        let deadline = Instant::now() + WAIT;
        loop {
            let spans: Vec<Got> = self
                .backend
                .spans()
                .into_iter()
                .map(|received| Got {
                    service: received.service,
                    span: received.span,
                })
                .collect();
            if done(&spans) || Instant::now() > deadline {
                return spans;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn one<'a>(spans: &'a [Got], service: &str, name: &str) -> &'a Got {
    let found: Vec<&Got> = spans
        .iter()
        .filter(|s| s.service == service && s.span.name == name)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "expected one span {name} of {service}; got: {:?}",
        spans
            .iter()
            .map(|s| (&s.service, &s.span.name))
            .collect::<Vec<_>>()
    );
    found[0]
}

fn has(spans: &[Got], service: &str, name: &str) -> bool {
    spans
        .iter()
        .any(|s| s.service == service && s.span.name == name)
}

// ---------------------------------------------------------------------------------------
// The proxy as a child process, driven line by line.

struct Proxy {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    stderr: Arc<Mutex<String>>,
}

impl Proxy {
    /// `mcp-host proxy --name NAME -- server…`, exporting to `collector` when given.
    fn start(name: &str, server: &[&str], collector: Option<&Collector>) -> Self {
        Self::start_with_env(name, server, collector, &[])
    }

    /// [`Proxy::start`] with these variables set for the proxy (and the server it starts).
    fn start_with_env(
        name: &str,
        server: &[&str],
        collector: Option<&Collector>,
        env: &[(&str, &str)],
    ) -> Self {
        let mut command = Command::new(HOST);
        clean_env(&mut command);
        command.envs(env.iter().copied());
        command
            .args(["proxy", "--name", name])
            .args(server)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(collector) = collector {
            command.env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", &collector.endpoint);
        }
        let mut child = command.spawn().expect("starting mcp-host proxy");
        let stdin = child.stdin.take();
        let (sender, lines) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            loop {
                let mut line = Vec::new();
                match reader.read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        let _ = sender.send(String::from_utf8(line).expect("stdout is UTF-8"));
                    }
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = stderr.clone();
        let err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                eprintln!("[proxy stderr] {line}");
                let mut all = sink.lock().unwrap();
                all.push_str(&line);
                all.push('\n');
            }
        });
        Self {
            child,
            stdin,
            lines,
            stderr,
        }
    }

    fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin.write_all(line.as_bytes()).unwrap();
        if !line.ends_with('\n') {
            stdin.write_all(b"\n").unwrap();
        }
        stdin.flush().unwrap();
    }

    fn send_json(&mut self, message: &Value) {
        self.send(&message.to_string());
    }

    /// The next line the proxy writes to stdout.
    fn recv(&self) -> String {
        self.lines
            .recv_timeout(WAIT)
            .expect("a line from the proxy in time")
    }

    fn recv_json(&self) -> Value {
        serde_json::from_str(&self.recv()).unwrap()
    }

    /// Sends a request and returns its response, skipping notifications.
    fn call(&mut self, message: Value) -> Value {
        let id = message["id"].clone();
        self.send_json(&message);
        loop {
            let answer = self.recv_json();
            if answer["id"] == id && answer.get("method").is_none() {
                return answer;
            }
        }
    }

    fn initialize(&mut self, version: &str) -> Value {
        let answer = self.call(
            json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": version, "capabilities": {"sampling": {}},
            "clientInfo": {"name": "proxy-test", "version": "0"}}}),
        );
        self.send(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
        answer
    }

    /// Closes stdin and waits for the proxy to exit.
    fn finish(mut self) -> (ExitStatus, String) {
        drop(self.stdin.take());
        self.wait()
    }

    fn wait(&mut self) -> (ExitStatus, String) {
        let Some(status) = wait_timeout(&mut self.child, WAIT) else {
            let _ = self.child.kill();
            panic!("the proxy did not exit in time");
        };
        // Let the stderr reader reach the end.
        std::thread::sleep(Duration::from_millis(50));
        (status, self.stderr.lock().unwrap().clone())
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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
    let mut proxy = Proxy::start("files", &strs(&server), Some(&collector));
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
    assert_eq!(proxy_span.trace_id(), CLIENT_TRACE);
    assert_eq!(
        proxy_span.parent(),
        CLIENT_SPAN,
        "the proxy span is the client's child"
    );
    assert_eq!(server_span.trace_id(), CLIENT_TRACE);
    assert_eq!(
        server_span.parent(),
        proxy_span.span_id(),
        "the server span is the proxy span's child"
    );
    assert_eq!(proxy_span.span.kind, 3, "CLIENT");
    assert_eq!(
        proxy_span.span.trace_state, "vendor=1",
        "tracestate carried on"
    );
    assert_eq!(
        proxy_span.attr("gen_ai.tool.name").as_deref(),
        Some("read_file")
    );
    assert_eq!(
        proxy_span.attr("mcp.method.name").as_deref(),
        Some("tools/call")
    );
    assert_eq!(proxy_span.attr("jsonrpc.request.id").as_deref(), Some("1"));
    assert_eq!(
        proxy_span.attr("network.transport").as_deref(),
        Some("pipe")
    );
    assert_eq!(
        proxy_span.attr("mcp.protocol.version").as_deref(),
        Some("2025-11-25")
    );
    assert!(
        proxy_span
            .attr("confident.span.output")
            .unwrap()
            .contains("region")
    );
    assert!(!proxy_span.is_error());
}

#[test]
fn without_client_context_proxy_spans_are_roots_and_server_spans_their_children() {
    let collector = Collector::start();
    let server = file_server();
    let mut proxy = Proxy::start("files", &strs(&server), Some(&collector));
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
        assert_eq!(proxy_span.parent(), "", "{proxy_name} is a root");
        assert_eq!(server_span.trace_id(), proxy_span.trace_id());
        assert_eq!(server_span.parent(), proxy_span.span_id());
    }
    let initialize = one(&spans, "files", "initialize");
    assert_eq!(initialize.parent(), "");
    assert!(
        has(&spans, "files", "notifications/initialized"),
        "a notification of no request is a short span"
    );
}

#[test]
fn the_proxy_names_its_spans_as_trace_meta_does_semconv_included() {
    let collector = Collector::start();
    let server = file_server();
    let mut proxy = Proxy::start_with_env(
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
    assert_eq!(server_span.parent(), proxy_span.span_id());
    assert!(!has(&spans, "files", "mcp-tool-read_file"));
}

#[test]
fn a_server_without_spans_still_gets_one_span_per_request() {
    let collector = Collector::start();
    let mut proxy = Proxy::start("silent", &[TEST_SERVER], Some(&collector));
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
    assert_eq!(echo.attr("gen_ai.tool.name").as_deref(), Some("echo"));
    assert_eq!(echo.attr("confident.span.output").as_deref(), Some("hi"));
    assert_eq!(
        echo.attr("confident.span.input").as_deref(),
        Some(r#"{"text":"hi"}"#)
    );
    assert!(!echo.is_error());
    assert!(
        echo.span.end_time_unix_nano > echo.span.start_time_unix_nano,
        "a duration"
    );

    let fail = one(&spans, "silent", "mcp-tool-fail");
    assert!(fail.is_error());
    assert_eq!(fail.attr("error.type").as_deref(), Some("tool_error"));

    let nope = one(&spans, "silent", "mcp-tool-nope");
    assert!(nope.is_error());
    assert_eq!(nope.attr("error.type").as_deref(), Some("-32602"));
    assert_eq!(
        nope.attr("rpc.response.status_code").as_deref(),
        Some("-32602")
    );

    let progress = one(&spans, "silent", "mcp-tool-progress");
    let events: Vec<&str> = progress
        .span
        .events
        .iter()
        .map(|e| e.name.as_str())
        .collect();
    assert_eq!(events, ["notifications/progress", "notifications/progress"]);
    assert_eq!(
        attr_of(&progress.span.events[1].attributes, "mcp.progress.progress").as_deref(),
        Some("2")
    );

    let log = one(&spans, "silent", "notifications/message");
    assert_eq!(log.parent(), "");

    let sampling_span = one(&spans, "silent", "sampling/createMessage");
    assert_eq!(
        injected,
        format!(
            "00-{}-{}-01",
            sampling_span.trace_id(),
            sampling_span.span_id()
        )
    );
    assert!(!sampling_span.is_error());
    let initialize = one(&spans, "silent", "initialize");
    assert_eq!(
        initialize.attr("mcp.protocol.version").as_deref(),
        Some("2025-11-25"),
        "the version the server answered"
    );
}

#[test]
fn a_cancelled_request_ends_its_span_and_an_invalid_parent_starts_a_root() {
    let collector = Collector::start();
    let record = tempfile::NamedTempFile::new().unwrap();
    let record_path = record.path().display().to_string();
    let mut proxy = Proxy::start(
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
    assert_eq!(slow.parent(), "", "an invalid parent starts a new trace");
    assert_ne!(slow.trace_id(), CLIENT_TRACE.to_lowercase());
    assert!(slow.is_error());
    assert_eq!(slow.attr("error.type").as_deref(), Some("cancelled"));
    let event = &slow.span.events[0];
    assert_eq!(event.name, "notifications/cancelled");
    assert_eq!(
        attr_of(&event.attributes, "mcp.cancelled.reason").as_deref(),
        Some("user gave up")
    );
    let forwarded = std::fs::read_to_string(record.path()).unwrap();
    assert!(
        forwarded.contains(&format!(
            "\"traceparent\":\"00-{}-{}-01\"",
            slow.trace_id(),
            slow.span_id()
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
    let mut proxy = Proxy::start(
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
    assert_eq!(echo.parent(), CLIENT_SPAN);
    assert_eq!(proxy_tp, format!("00-{CLIENT_TRACE}-{}-01", echo.span_id()));
    assert_eq!(echo.attr("jsonrpc.request.id").as_deref(), Some("ü-1"));
    let roots = one(&spans, "silent", "notifications/roots/list_changed");
    assert_eq!(
        roots.parent(),
        CLIENT_SPAN,
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
        let mut command = Command::new(HOST);
        clean_env(&mut command);
        command
            .args(["proxy", "--name", "sockets", TEST_SERVER])
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
    let mut proxy = Proxy::start("crashy", &[TEST_SERVER], Some(&collector));
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
        stderr.contains("mcp-host proxy: the wrapped server \"crashy\" exited with status 3"),
        "{stderr}"
    );

    let spans = collector.wait(|s| has(s, "crashy", "mcp-tool-crash"));
    let crash = one(&spans, "crashy", "mcp-tool-crash");
    assert!(crash.is_error());
    assert_eq!(
        crash.attr("error.type").as_deref(),
        Some("transport_closed")
    );
}

#[test]
fn a_server_exiting_at_start_ends_the_proxy_with_its_status() {
    let mut proxy = Proxy::start("gone", &[TEST_SERVER, "--exit-at-start", "7"], None);
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
    let mut proxy = Proxy::start("noisy", &[TEST_SERVER], Some(&collector));
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
    let mut proxy = Proxy::start("lingering", &[TEST_SERVER, "--linger"], None);
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
    let mut proxy = Proxy::start("files", &strs(&server), Some(&collector));
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

#[test]
fn what_the_client_sent_before_sigterm_reaches_the_server_and_is_answered() {
    let record = tempfile::NamedTempFile::new().unwrap();
    let record_path = record.path().display().to_string();
    let mut proxy = Proxy::start(
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
            .filter(|g| g.service == "file-server" && g.span.name == "tool-list_directory")
            .count()
            == 2
    });
    let mut versions: Vec<String> = spans
        .iter()
        .filter(|g| g.service == "files" && g.span.name == "mcp-tool-list_directory")
        .filter_map(|g| g.attr("mcp.protocol.version"))
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
    assert_ne!(served.pid, relayed[0].pid);
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
    let mut proxy = Proxy::start("fs-proxy", &strs(&server), Some(&collector));
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
            .filter(|g| g.service == "file-server" && g.span.name == "tool-read_file")
            .count()
            == 2
    });
    let proxy_spans: Vec<&Got> = spans
        .iter()
        .filter(|g| g.service == "fs-proxy" && g.span.name == "mcp-tool-read_file")
        .collect();
    assert_eq!(proxy_spans.len(), 2);
    for server_span in spans
        .iter()
        .filter(|g| g.service == "file-server" && g.span.name == "tool-read_file")
    {
        let parent = proxy_spans
            .iter()
            .find(|p| p.span_id() == server_span.parent())
            .expect("each server span is under a proxy span");
        assert_eq!(parent.parent(), CLIENT_SPAN);
        assert_eq!(server_span.trace_id(), CLIENT_TRACE);
    }
    let ids: Vec<String> = spans.iter().map(Got::span_id).collect();
    let unique: std::collections::HashSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "every span arrived once");
}
