//! Streamable HTTP in one process: a real rmcp client against [`HttpServer`] on an
//! ephemeral loopback port, spans in an in-memory exporter.
//!
//! - where the server span's parent comes from: `_meta` only, headers only, both (differing:
//!   a link), neither (a new root);
//! - the HTTP attributes, for 2026-07-28 stateless requests and 2025-11-25 sessions;
//! - every guard refuses what it should (403, 401, 413, 408, 503, slow heads cut off) and the
//!   server keeps serving after each;
//! - the shutdown future stops the server.

use std::{
    collections::HashMap,
    io::{Read, Write},
    net::{SocketAddr, TcpStream},
    time::{Duration, Instant},
};

use opentelemetry::{
    Value,
    trace::{SpanId, SpanKind, TraceContextExt, TraceId},
};
use opentelemetry_sdk::trace::SpanData;
use rmcp::{
    RoleClient,
    model::{CallToolRequestParams, ProtocolVersion},
    service::{ClientLifecycleMode, ClientServiceExt, RunningService},
    transport::{
        StreamableHttpClientTransport, streamable_http_client::StreamableHttpClientTransportConfig,
    },
};
use test_support::{
    echo::EchoServer,
    telemetry::{InMemoryTelemetry, attr},
};
use trace_meta::{
    HttpConfig, HttpServer, TracedClient, http::BearerToken, http_client::TraceHeaders,
};
use tracing_opentelemetry::OpenTelemetrySpanExt;

fn exporter() -> &'static InMemoryTelemetry {
    InMemoryTelemetry::install("http-test")
}

fn spans() -> Vec<SpanData> {
    exporter().spans()
}

/// The server span of the echo call that sent `text`.
fn server_span(text: &str) -> SpanData {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let found = spans().into_iter().find(|s| {
            s.name == "tool-echo"
                && attr(s, "confident.span.input")
                    .is_some_and(|v| v.as_str().contains(&format!("\"{text}\"")))
        });
        if let Some(span) = found {
            return span;
        }
        assert!(Instant::now() < deadline, "no tool-echo span for {text}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A server on an ephemeral loopback port; stops when the sender is dropped or sent.
struct Running {
    addr: SocketAddr,
    url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), trace_meta::http::HttpServeError>>,
}

impl Running {
    async fn start(configure: impl FnOnce(HttpConfig) -> HttpConfig) -> Self {
        exporter();
        let config = configure(HttpConfig::new());
        let server = HttpServer::bind(SocketAddr::from(([127, 0, 0, 1], 0)), config)
            .await
            .expect("bind");
        let (addr, url) = (server.local_addr(), server.url());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(server.serve(EchoServer, async {
            let _ = stopped.await;
        }));
        Self {
            addr,
            url,
            stop: Some(stop),
            task,
        }
    }

    async fn stop(mut self) {
        let _ = self.stop.take().map(|stop| stop.send(()));
        tokio::time::timeout(Duration::from_secs(3), &mut self.task)
            .await
            .expect("the server stops within 3 s of its shutdown future")
            .unwrap()
            .expect("serving ends without an accept error");
    }
}

const REMOTE_TRACE: &str = "0af7651916cd43dd8448eb211c80319c";
const REMOTE_SPAN: &str = "b7ad6b7169203331";

fn remote_traceparent() -> String {
    format!("00-{REMOTE_TRACE}-{REMOTE_SPAN}-01")
}

/// An rmcp client session with `headers` on every POST; `trace_headers` wraps the HTTP
/// client in [`TraceHeaders`].
async fn client(
    url: &str,
    headers: &[(&'static str, String)],
    trace_headers: bool,
    lifecycle: ClientLifecycleMode,
) -> RunningService<RoleClient, ()> {
    let mut config = StreamableHttpClientTransportConfig::with_uri(url);
    config.custom_headers = headers
        .iter()
        .map(|(k, v)| {
            (
                http::HeaderName::from_static(k),
                http::HeaderValue::from_str(v).unwrap(),
            )
        })
        .collect::<HashMap<_, _>>();
    let http = reqwest::Client::new();
    let session = if trace_headers {
        let transport = StreamableHttpClientTransport::with_client(TraceHeaders::new(http), config);
        ().serve_with_lifecycle(transport, lifecycle).await
    } else {
        let transport = StreamableHttpClientTransport::with_client(http, config);
        ().serve_with_lifecycle(transport, lifecycle).await
    };
    session.expect("client session")
}

fn stateless() -> ClientLifecycleMode {
    ClientLifecycleMode::Discover {
        preferred_versions: vec![ProtocolVersion::V_2026_07_28],
    }
}

fn echo(text: &str) -> CallToolRequestParams {
    CallToolRequestParams::new("echo").with_arguments(
        serde_json::json!({ "text": text })
            .as_object()
            .unwrap()
            .clone(),
    )
}

/// Calls echo through [`TracedClient`] in a fresh root span; returns the client span's ids.
async fn traced_call(session: &RunningService<RoleClient, ()>, text: &str) -> (TraceId, SpanId) {
    let root = tracing::info_span!("test-root");
    let client = TracedClient::new(session.peer().clone());
    let result = {
        use tracing::Instrument;
        client.call_tool(echo(text)).instrument(root.clone()).await
    };
    assert_eq!(
        trace_meta::tool_result_text(&result.unwrap()),
        format!("echo: {text}")
    );
    let root_cx = root.context();
    let trace = root_cx.span().span_context().trace_id();
    drop(root);
    let client_span = spans()
        .into_iter()
        .find(|s| {
            s.name == "mcp-tool-echo"
                && s.span_context.trace_id() == trace
                && attr(s, "confident.span.input").is_some_and(|v| v.as_str().contains(text))
        })
        .expect("client span");
    (trace, client_span.span_context.span_id())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn meta_only_context_parents_the_server_span() {
    let server = Running::start(|config| config).await;
    let session = client(&server.url, &[], false, stateless()).await;
    let (trace, client_span) = traced_call(&session, "meta-only").await;
    let span = server_span("meta-only");
    assert_eq!(span.span_context.trace_id(), trace);
    assert_eq!(span.parent_span_id, client_span);
    assert!(span.links.is_empty());
    assert_eq!(span.span_kind, SpanKind::Server);
    assert_eq!(attr(&span, "network.transport").unwrap().as_str(), "tcp");
    assert_eq!(
        attr(&span, "network.protocol.name").unwrap().as_str(),
        "http"
    );
    assert_eq!(attr(&span, "server.address").unwrap().as_str(), "127.0.0.1");
    assert_eq!(
        attr(&span, "server.port"),
        Some(Value::I64(i64::from(server.addr.port())))
    );
    assert_eq!(
        attr(&span, "mcp.protocol.version").unwrap().as_str(),
        "2026-07-28"
    );
    assert!(
        attr(&span, "mcp.session.id").is_none(),
        "2026-07-28 is stateless"
    );
    let _ = session.cancel().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_only_context_parents_the_server_span() {
    let server = Running::start(|config| config).await;
    let session = client(
        &server.url,
        &[("traceparent", remote_traceparent())],
        false,
        stateless(),
    )
    .await;
    // Untraced: nothing in _meta.
    session.peer().call_tool(echo("header-only")).await.unwrap();
    let span = server_span("header-only");
    assert_eq!(
        span.span_context.trace_id(),
        TraceId::from_hex(REMOTE_TRACE).unwrap()
    );
    assert_eq!(span.parent_span_id, SpanId::from_hex(REMOTE_SPAN).unwrap());
    assert!(span.links.is_empty());
    let _ = session.cancel().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn meta_wins_over_a_different_header_context_which_becomes_a_link() {
    let server = Running::start(|config| config).await;
    let session = client(
        &server.url,
        &[("traceparent", remote_traceparent())],
        false,
        stateless(),
    )
    .await;
    let (trace, client_span) = traced_call(&session, "both-differ").await;
    let span = server_span("both-differ");
    assert_eq!(span.span_context.trace_id(), trace);
    assert_eq!(span.parent_span_id, client_span);
    let links: Vec<_> = span.links.iter().map(|l| l.span_context.clone()).collect();
    assert_eq!(links.len(), 1, "the header context is linked");
    assert_eq!(
        links[0].trace_id(),
        TraceId::from_hex(REMOTE_TRACE).unwrap()
    );
    assert_eq!(links[0].span_id(), SpanId::from_hex(REMOTE_SPAN).unwrap());
    let _ = session.cancel().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn neither_context_starts_a_new_root() {
    let server = Running::start(|config| config).await;
    let session = client(&server.url, &[], false, stateless()).await;
    session.peer().call_tool(echo("neither")).await.unwrap();
    let span = server_span("neither");
    assert_eq!(span.parent_span_id, SpanId::INVALID);
    assert_ne!(
        span.span_context.trace_id(),
        TraceId::from_hex(REMOTE_TRACE).unwrap()
    );
    let _ = session.cancel().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_headers_repeat_the_meta_context_so_there_is_no_link() {
    let server = Running::start(|config| config).await;
    let session = client(&server.url, &[], true, stateless()).await;
    let (trace, client_span) = traced_call(&session, "both-same").await;
    let span = server_span("both-same");
    assert_eq!(span.span_context.trace_id(), trace);
    assert_eq!(span.parent_span_id, client_span);
    assert!(span.links.is_empty(), "header and _meta agree");
    let _ = session.cancel().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_2025_11_25_session_records_its_session_id() {
    let server = Running::start(|config| config).await;
    let session = client(&server.url, &[], true, ClientLifecycleMode::Initialize).await;
    let (trace, client_span) = traced_call(&session, "in-session").await;
    let span = server_span("in-session");
    assert_eq!(span.span_context.trace_id(), trace);
    assert_eq!(span.parent_span_id, client_span);
    let session_id = attr(&span, "mcp.session.id").expect("mcp.session.id");
    assert!(!session_id.as_str().is_empty());
    assert_eq!(
        attr(&span, "mcp.protocol.version").unwrap().as_str(),
        "2025-11-25"
    );
    let _ = session.cancel().await;
    server.stop().await;
}

/// A call its client gives up on (a timeout) while the session stays open: the server's
/// span ends `cancelled` long before the tool would have answered, over a stateless
/// 2026-07-28 exchange and in a 2025-11-25 session alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_its_client_gives_up_is_cancelled_in_the_server() {
    let server = Running::start(|config| config).await;
    for (name, lifecycle) in [
        ("stateless", stateless()),
        ("session", ClientLifecycleMode::Initialize),
    ] {
        let session = client(&server.url, &[], true, lifecycle).await;
        let client =
            TracedClient::new(session.peer().clone()).with_timeout(Duration::from_millis(200));
        let root = tracing::info_span!("test-root");
        let wait = CallToolRequestParams::new("wait").with_arguments(
            serde_json::json!({ "ms": 30_000 })
                .as_object()
                .unwrap()
                .clone(),
        );
        let given_up = {
            use tracing::Instrument;
            client.call_tool(wait).instrument(root.clone()).await
        };
        assert!(
            matches!(given_up, Err(rmcp::ServiceError::Timeout { .. })),
            "{name}: {given_up:?}"
        );
        let trace = root.context().span().span_context().trace_id();
        drop(root);
        // The session is still open: only the cancellation can end the server's work.
        let deadline = Instant::now() + Duration::from_secs(3);
        let span = loop {
            let found = spans()
                .into_iter()
                .find(|s| s.name == "tool-wait" && s.span_context.trace_id() == trace);
            if let Some(span) = found {
                break span;
            }
            assert!(
                Instant::now() < deadline,
                "{name}: the server span of the abandoned call never ended"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert_eq!(
            attr(&span, "error.type")
                .map(|v| v.as_str().into_owned())
                .as_deref(),
            Some("cancelled"),
            "{name}"
        );
        still_serves(&server.url, name).await;
        let _ = session.cancel().await;
    }
    server.stop().await;
}

/// Sends raw bytes and returns the status code of the answer (0: the connection closed
/// without one).
fn raw_status(addr: SocketAddr, request: &[u8]) -> u16 {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let _ = stream.write_all(request);
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&answer);
    text.split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0)
}

/// A POST of `body` to /mcp with `extra` header lines; returns status and body.
async fn post(addr: SocketAddr, extra: &[(&str, &str)], body: &str) -> (u16, String) {
    let mut request = reqwest::Client::new()
        .post(format!("http://{addr}/mcp"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(body.to_owned());
    for (k, v) in extra {
        request = request.header(*k, *v);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

const INITIALIZE: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}"#;

/// A full session still works: the server keeps serving after a refusal.
async fn still_serves(url: &str, text: &str) {
    let session = client(url, &[], true, stateless()).await;
    let result = session.peer().call_tool(echo(text)).await.unwrap();
    assert_eq!(
        trace_meta::tool_result_text(&result),
        format!("echo: {text}")
    );
    let _ = session.cancel().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_origin_or_host_is_refused_with_403() {
    let server =
        Running::start(|config| config.with_allowed_origins(["https://app.example.com"])).await;
    let (status, _) = post(
        server.addr,
        &[("origin", "http://evil.example")],
        INITIALIZE,
    )
    .await;
    assert_eq!(status, 403);
    still_serves(&server.url, "after-origin").await;
    let (status, _) = post(
        server.addr,
        &[("origin", "https://app.example.com")],
        INITIALIZE,
    )
    .await;
    assert_eq!(status, 200, "an allowed origin passes");
    let own = format!("http://127.0.0.1:{}", server.addr.port());
    let (status, _) = post(server.addr, &[("origin", own.as_str())], INITIALIZE).await;
    assert_eq!(status, 200, "the server's own loopback origin passes");
    let (status, _) = post(server.addr, &[("origin", "http://127.0.0.1:1")], INITIALIZE).await;
    assert_eq!(status, 403, "another local port is another origin");
    let status = raw_status(
        server.addr,
        b"POST /mcp HTTP/1.1\r\nHost: evil.example\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: 2\r\n\r\n{}",
    );
    assert_eq!(status, 403, "DNS rebinding: a foreign Host is refused");
    still_serves(&server.url, "after-host").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_or_wrong_token_is_refused_with_401_and_never_echoed() {
    let server = Running::start(|config| {
        config.with_token(BearerToken::new("s3cret-token").expect("a usable token"))
    })
    .await;
    let (status, body) = post(server.addr, &[], INITIALIZE).await;
    assert_eq!(status, 401);
    let (status, body2) = post(
        server.addr,
        &[("authorization", "Bearer wrong-guess")],
        INITIALIZE,
    )
    .await;
    assert_eq!(status, 401);
    assert!(
        !body.contains("s3cret") && !body2.contains("wrong-guess"),
        "{body} {body2}"
    );
    // With the token: served, and the token reaches no span.
    let session = client(
        &server.url,
        &[("authorization", "Bearer s3cret-token".into())],
        true,
        stateless(),
    )
    .await;
    session.peer().call_tool(echo("with-token")).await.unwrap();
    let _ = server_span("with-token");
    for span in spans() {
        for kv in &span.attributes {
            assert!(
                !kv.value.as_str().contains("s3cret"),
                "{} leaks the token in {}",
                span.name,
                kv.key
            );
        }
    }
    let _ = session.cancel().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_the_cap_is_refused_with_413() {
    let server = Running::start(|config| config.with_max_body_bytes(4096)).await;
    let big = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"echo","arguments":{{"text":"{}"}}}}}}"#,
        "x".repeat(10_000)
    );
    let (status, _) = post(server.addr, &[], &big).await;
    assert_eq!(status, 413, "declared length over the cap");
    // Chunked, no Content-Length: cut off as the stream passes the cap.
    let chunk = "y".repeat(3000);
    let mut request = b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..3 {
        request.extend_from_slice(format!("{:x}\r\n{chunk}\r\n", chunk.len()).as_bytes());
    }
    request.extend_from_slice(b"0\r\n\r\n");
    assert_eq!(
        raw_status(server.addr, &request),
        413,
        "streamed over the cap"
    );
    still_serves(&server.url, "after-413").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_are_cut_off_and_do_not_block_others() {
    let server = Running::start(|config| {
        config
            .with_header_timeout(Duration::from_millis(400))
            .with_request_timeout(Duration::from_millis(400))
    })
    .await;
    // Slow loris: a request head that never ends.
    let mut loris = TcpStream::connect(server.addr).unwrap();
    loris
        .write_all(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        .unwrap();
    // A body that never ends.
    let mut slow_body = TcpStream::connect(server.addr).unwrap();
    slow_body
        .write_all(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: 100\r\n\r\n{")
        .unwrap();
    // Meanwhile others are served at once.
    let started = Instant::now();
    still_serves(&server.url, "beside-the-loris").await;
    assert!(started.elapsed() < Duration::from_secs(2));

    // The slow head is cut off after the header timeout.
    loris
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    let mut buf = [0u8; 512];
    let cut = Instant::now();
    let read = loris.read(&mut buf);
    assert!(
        matches!(read, Ok(0) | Err(_)) || String::from_utf8_lossy(&buf).contains(" 408 "),
        "the slow head is cut off: {read:?}"
    );
    assert!(cut.elapsed() < Duration::from_secs(2));
    // The slow body gets 408.
    slow_body
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    let n = slow_body.read(&mut buf).unwrap_or(0);
    assert!(
        String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 408"),
        "{}",
        String::from_utf8_lossy(&buf[..n])
    );
    still_serves(&server.url, "after-the-loris").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_cap_get_503() {
    let server = Running::start(|config| {
        config
            .with_max_connections(2)
            .with_header_timeout(Duration::from_secs(5))
    })
    .await;
    let mut holders: Vec<TcpStream> = (0..2)
        .map(|_| {
            let mut s = TcpStream::connect(server.addr).unwrap();
            s.write_all(b"POST /mcp HTTP/1.1\r\n").unwrap();
            s
        })
        .collect();
    // Let the server accept both.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let status = raw_status(
        server.addr,
        b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n\r\n{}",
    );
    assert_eq!(status, 503);
    holders.clear();
    tokio::time::sleep(Duration::from_millis(200)).await;
    still_serves(&server.url, "after-503").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_paths_are_404() {
    let server = Running::start(|config| config).await;
    let (status, _) = {
        let response = reqwest::Client::new()
            .post(format!("http://{}/other", server.addr))
            .body("{}")
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), ())
    };
    assert_eq!(status, 404);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shutdown_future_ends_open_sessions_and_the_listener() {
    let server = Running::start(|config| config).await;
    let addr = server.addr;
    let session = client(&server.url, &[], true, ClientLifecycleMode::Initialize).await;
    session.peer().call_tool(echo("before-stop")).await.unwrap();
    let started = Instant::now();
    server.stop().await;
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(
        TcpStream::connect(addr).is_err(),
        "the listener is closed after shutdown"
    );
    drop(session);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_health_path_answers_without_a_token() {
    let server =
        Running::start(|config| config.with_token(BearerToken::new("s3cret").unwrap())).await;
    let response = reqwest::get(format!("http://{}/healthz", server.addr))
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.text().await.unwrap(), "ok\n");
    // The MCP endpoint still wants the token.
    let (status, _) = post(server.addr, &[], INITIALIZE).await;
    assert_eq!(status, 401);
    server.stop().await;
}

/// Shutdown drains: a call in flight when the shutdown future resolves gets its answer
/// (over a stateless exchange and in a session), the listener refuses new connections at
/// once, and serving ends as soon as the calls are answered, well within the grace.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_calls_in_flight_finish_and_refuses_new_connections() {
    let server = Running::start(|config| config.with_shutdown_grace(Duration::from_secs(5))).await;
    let addr = server.addr;
    let stateless_session = client(&server.url, &[], true, stateless()).await;
    let session = client(&server.url, &[], true, ClientLifecycleMode::Initialize).await;
    let wait = |ms: u64| {
        CallToolRequestParams::new("wait")
            .with_arguments(serde_json::json!({ "ms": ms }).as_object().unwrap().clone())
    };
    let in_flight = [
        tokio::spawn({
            let peer = stateless_session.peer().clone();
            let call = wait(800);
            async move { peer.call_tool(call).await }
        }),
        tokio::spawn({
            let peer = session.peer().clone();
            let call = wait(800);
            async move { peer.call_tool(call).await }
        }),
    ];
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    let stopping = tokio::spawn(server.stop());
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        TcpStream::connect(addr).is_err(),
        "the listener closes as soon as shutdown begins"
    );
    for (call, name) in in_flight.into_iter().zip(["stateless", "session"]) {
        let result = tokio::time::timeout(Duration::from_secs(5), call)
            .await
            .unwrap_or_else(|_| panic!("{name}: no answer 5 s after shutdown began"))
            .unwrap()
            .unwrap_or_else(|e| panic!("{name}: a call in flight at shutdown is answered: {e}"));
        assert_eq!(trace_meta::tool_result_text(&result), "waited");
    }
    tokio::time::timeout(Duration::from_secs(5), stopping)
        .await
        .expect("serving ends")
        .unwrap();
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(2),
        "serving ends once the calls are answered, not at the grace: {took:?}"
    );
    drop((stateless_session, session));
}

/// `X-Forwarded-For` names the client only when the connection comes from a trusted proxy;
/// the proxy itself is `network.peer.address`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_for_is_believed_only_from_a_trusted_proxy() {
    let call = |text: &str| {
        format!(
            r#"{{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{{"name":"echo","arguments":{{"text":"{text}"}},"_meta":{{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{{"name":"raw","version":"1"}},"io.modelcontextprotocol/clientCapabilities":{{}}}}}}}}"#
        )
    };
    let version = [
        ("mcp-protocol-version", "2026-07-28"),
        ("mcp-method", "tools/call"),
        ("mcp-name", "echo"),
    ];
    let forwarded = [
        ("mcp-protocol-version", "2026-07-28"),
        ("mcp-method", "tools/call"),
        ("mcp-name", "echo"),
        ("x-forwarded-for", "203.0.113.9, 127.0.0.1"),
    ];

    let trusting =
        Running::start(|config| config.with_trusted_proxies(["127.0.0.0/8".parse().unwrap()]))
            .await;
    let (status, body) = post(trusting.addr, &forwarded, &call("via-trusted")).await;
    assert_eq!(status, 200, "{body}");
    let span = server_span("via-trusted");
    let text = |key: &str| attr(&span, key).map(|v| v.as_str().into_owned());
    assert_eq!(text("client.address").as_deref(), Some("203.0.113.9"));
    assert_eq!(text("network.peer.address").as_deref(), Some("127.0.0.1"));
    assert!(attr(&span, "client.port").is_none());
    let (status, _) = post(trusting.addr, &version, &call("direct")).await;
    assert_eq!(status, 200);
    let span = server_span("direct");
    assert_eq!(
        attr(&span, "client.address")
            .map(|v| v.as_str().into_owned())
            .as_deref(),
        Some("127.0.0.1")
    );
    trusting.stop().await;

    let untrusting = Running::start(|config| config).await;
    let (status, _) = post(untrusting.addr, &forwarded, &call("via-untrusted")).await;
    assert_eq!(status, 200);
    let span = server_span("via-untrusted");
    assert_eq!(
        attr(&span, "client.address")
            .map(|v| v.as_str().into_owned())
            .as_deref(),
        Some("127.0.0.1"),
        "a header from an untrusted peer names no client"
    );
    untrusting.stop().await;
}

/// A front for `upstream` that answers the first `fail` `tools/call` POSTs itself with
/// `status` (`502 Bad Gateway`: a load balancer whose replica died) and relays everything
/// else, one request per connection. Returns its URL.
async fn flaky_front(upstream: SocketAddr, fail: usize, status: u16) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    let failures = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(fail));
    tokio::spawn(async move {
        let http = reqwest::Client::new();
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let (http, failures) = (http.clone(), failures.clone());
            tokio::spawn(async move {
                let mut raw = Vec::new();
                let mut buf = [0u8; 8192];
                let head_end = loop {
                    if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
                        break end + 4;
                    }
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => raw.extend_from_slice(&buf[..n]),
                    }
                };
                let head = String::from_utf8_lossy(&raw[..head_end]).into_owned();
                let mut lines = head.split("\r\n");
                let method = lines.next().unwrap().split(' ').next().unwrap().to_owned();
                let headers: Vec<(String, String)> = lines
                    .filter_map(|l| l.split_once(": "))
                    .map(|(k, v)| (k.to_ascii_lowercase(), v.to_owned()))
                    .collect();
                let length: usize = headers
                    .iter()
                    .find(|(k, _)| k == "content-length")
                    .map_or(0, |(_, v)| v.parse().unwrap());
                while raw.len() < head_end + length {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => raw.extend_from_slice(&buf[..n]),
                    }
                }
                let body = raw[head_end..head_end + length].to_vec();
                let is_call = String::from_utf8_lossy(&body).contains("\"tools/call\"");
                if is_call
                    && failures
                        .fetch_update(
                            std::sync::atomic::Ordering::SeqCst,
                            std::sync::atomic::Ordering::SeqCst,
                            |left| left.checked_sub(1),
                        )
                        .is_ok()
                {
                    let refusal = format!(
                        "HTTP/1.1 {status} Refused\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                    );
                    let _ = stream.write_all(refusal.as_bytes()).await;
                    return;
                }
                let mut request =
                    http.request(method.parse().unwrap(), format!("http://{upstream}/mcp"));
                for (k, v) in &headers {
                    if !matches!(k.as_str(), "host" | "content-length" | "connection") {
                        request = request.header(k, v);
                    }
                }
                let Ok(response) = request.body(body).send().await else {
                    return;
                };
                let status = response.status();
                let mut answer = format!(
                    "HTTP/1.1 {} {}\r\n",
                    status.as_u16(),
                    status.canonical_reason().unwrap_or("")
                );
                for (k, v) in response.headers() {
                    if !matches!(
                        k.as_str(),
                        "content-length" | "transfer-encoding" | "connection"
                    ) {
                        answer.push_str(&format!("{k}: {}\r\n", v.to_str().unwrap_or("")));
                    }
                }
                let bytes = response.bytes().await.unwrap_or_default();
                answer.push_str(&format!(
                    "content-length: {}\r\nconnection: close\r\n\r\n",
                    bytes.len()
                ));
                let _ = stream.write_all(answer.as_bytes()).await;
                let _ = stream.write_all(&bytes).await;
            });
        }
    });
    url
}

/// A call of a tool listed as safe to repeat that fails on the way (a balancer's 502) is
/// sent again inside the same tool span: a `retry` event on it, the second attempt a child
/// CLIENT span whose context the server's span is parented on. A tool not listed as safe
/// is never sent again, and without `with_retry` nothing is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_safe_call_that_fails_on_the_way_is_sent_again_in_the_same_span() {
    let server = Running::start(|config| config).await;
    let front = flaky_front(server.addr, 1, 502).await;
    let session = client(&front, &[], true, stateless()).await;
    let traced = TracedClient::new(session.peer().clone()).with_retry(trace_meta::Retry::new(2));
    let tools = traced.list_all_tools().await.unwrap();
    assert!(tools.iter().any(|t| t.name == "echo"));

    let root = tracing::info_span!("test-root");
    let result = {
        use tracing::Instrument;
        traced
            .call_tool(echo("retried"))
            .instrument(root.clone())
            .await
    };
    assert_eq!(
        trace_meta::tool_result_text(&result.expect("the second attempt answers")),
        "echo: retried"
    );
    let trace = root.context().span().span_context().trace_id();
    drop(root);
    let server_span = server_span("retried");
    let in_trace: Vec<SpanData> = spans()
        .into_iter()
        .filter(|s| s.span_context.trace_id() == trace && s.name == "mcp-tool-echo")
        .collect();
    assert_eq!(in_trace.len(), 2, "the call's span and one more attempt");
    let call = in_trace
        .iter()
        .find(|s| attr(s, "mcp.request.attempt").is_none())
        .expect("the call's span");
    let again = in_trace
        .iter()
        .find(|s| attr(s, "mcp.request.attempt").is_some())
        .expect("the second attempt's span");
    assert_eq!(again.parent_span_id, call.span_context.span_id());
    assert_eq!(again.span_kind, SpanKind::Client);
    assert_eq!(attr(again, "mcp.request.attempt"), Some(Value::I64(2)));
    let retries: Vec<_> = call.events.iter().filter(|e| e.name == "retry").collect();
    assert_eq!(retries.len(), 1, "one retry event on the call's span");
    assert_eq!(server_span.parent_span_id, again.span_context.span_id());
    assert_eq!(call.status, opentelemetry::trace::Status::Unset);

    // A tool not listed as safe fails with its error, sent once.
    let front = flaky_front(server.addr, 1, 502).await;
    let session = client(&front, &[], true, stateless()).await;
    let traced = TracedClient::new(session.peer().clone()).with_retry(trace_meta::Retry::new(2));
    traced.list_all_tools().await.unwrap();
    let root = tracing::info_span!("test-root");
    let wait = CallToolRequestParams::new("wait")
        .with_arguments(serde_json::json!({ "ms": 0 }).as_object().unwrap().clone());
    let failed = {
        use tracing::Instrument;
        traced.call_tool(wait).instrument(root.clone()).await
    };
    assert!(
        matches!(failed, Err(rmcp::ServiceError::TransportSend(_))),
        "{failed:?}"
    );
    let trace = root.context().span().span_context().trace_id();
    drop(root);
    let calls: Vec<SpanData> = spans()
        .into_iter()
        .filter(|s| s.span_context.trace_id() == trace && s.name == "mcp-tool-wait")
        .collect();
    assert_eq!(calls.len(), 1);
    assert!(calls[0].events.iter().all(|e| e.name != "retry"));

    // An answer that is not a gateway's (here a 500) is not sent again, even for a safe tool.
    let front = flaky_front(server.addr, 1, 500).await;
    let session = client(&front, &[], true, stateless()).await;
    let traced = TracedClient::new(session.peer().clone()).with_retry(trace_meta::Retry::new(2));
    traced.list_all_tools().await.unwrap();
    assert!(traced.call_tool(echo("answered-500")).await.is_err());

    // Without `with_retry`, a safe tool is not sent again either.
    let front = flaky_front(server.addr, 1, 502).await;
    let session = client(&front, &[], true, stateless()).await;
    let plain = TracedClient::new(session.peer().clone());
    plain.list_all_tools().await.unwrap();
    assert!(plain.call_tool(echo("once")).await.is_err());
    server.stop().await;
}
