//! Exact JSON-RPC errors over Streamable HTTP (issue #12, part 1): one test per malformed
//! input of `tests/jsonrpc/cases.rs`, POSTed in a 2025-11-25 session to [`HttpServer`] on an
//! ephemeral loopback port.
//!
//! Each test checks that the body got exactly the answer the case prescribes (a JSON-RPC
//! error response with the exact code and id, `400` when the body could not be read as a
//! message; `202` and no body for a notification), and that the session still serves a
//! `tools/call` afterwards.

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use rmcp::{
    handler::server::wrapper::Parameters,
    model::{CallToolResult, ContentBlock},
    schemars, tool, tool_router,
};
use serde::Deserialize;
use serde_json::{Value, json};
use trace_meta::{HttpConfig, HttpServer};

mod jsonrpc;
use jsonrpc::cases::*;

#[derive(Debug, Deserialize, schemars::JsonSchema)]
struct ReadArgs {
    /// A path.
    path: String,
}

/// A server with the tool the cases name.
#[derive(Debug, Clone)]
struct TestServer;

#[tool_router(server_handler)]
impl TestServer {
    #[tool(description = "Sends the path back")]
    async fn read_file(
        &self,
        Parameters(ReadArgs { path }): Parameters<ReadArgs>,
    ) -> CallToolResult {
        CallToolResult::success(vec![ContentBlock::text(format!("read: {path}"))])
    }
}

/// How long a malformed body may take to be refused: promptly, even 100,000 levels deep.
const PROMPT: Duration = Duration::from_secs(5);

macro_rules! http_tests {
    ($($name:ident: $case:expr,)*) => {
        $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() { run($case).await })*
    };
}

jsonrpc_cases!(http_tests);

/// A POST to /mcp; returns status, content type and body.
async fn post(addr: SocketAddr, session: Option<&str>, body: Vec<u8>) -> (u16, String, Vec<u8>) {
    trace_meta::install_tls_provider();
    let mut request = reqwest::Client::new()
        .post(format!("http://{addr}/mcp"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(body);
    if let Some(session) = session {
        request = request
            .header("mcp-session-id", session)
            .header("mcp-protocol-version", "2025-11-25");
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let session_id = response
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = response.bytes().await.unwrap_or_default().to_vec();
    if let Some(id) = session_id {
        return (status, id, body);
    }
    (status, content_type, body)
}

/// Opens a 2025-11-25 session; returns its id.
async fn open_session(addr: SocketAddr) -> String {
    let initialize = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "jsonrpc-errors", "version": "0"}}});
    let (status, session, body) = post(addr, None, serde_json::to_vec(&initialize).unwrap()).await;
    assert_eq!(
        status,
        200,
        "initialize: {}",
        String::from_utf8_lossy(&body)
    );
    let initialized = br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#.to_vec();
    let (status, _, _) = post(addr, Some(&session), initialized).await;
    assert_eq!(status, 202);
    session
}

/// The JSON-RPC message in a response body (plain JSON, or the first SSE event with data:
/// a session's stream opens with an empty priming event).
fn message(body: &[u8]) -> Value {
    let text = String::from_utf8_lossy(body);
    let json = text
        .lines()
        .filter_map(|line| line.strip_prefix("data:"))
        .map(str::trim)
        .find(|data| !data.is_empty())
        .unwrap_or(&text)
        .trim();
    serde_json::from_str(json).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

async fn run(case: Case) {
    // reqwest is built without a rustls provider (trace-meta's telemetry installs one).
    trace_meta::install_tls_provider();
    let config = HttpConfig::new();
    let server = HttpServer::bind(SocketAddr::from(([127, 0, 0, 1], 0)), config)
        .await
        .expect("bind");
    let addr = server.local_addr();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server.serve(TestServer, async {
        let _ = stopped.await;
    }));
    let session = open_session(addr).await;
    let shown = String::from_utf8_lossy(&case.input[..case.input.len().min(120)]).into_owned();

    let started = Instant::now();
    let (status, content_type, body) = post(addr, Some(&session), case.input.clone()).await;
    assert!(
        started.elapsed() < PROMPT,
        "{shown}: answered after {:?}",
        started.elapsed()
    );
    match &case.expect {
        Expect::Error { code, id } => {
            let answer = message(&body);
            assert_eq!(answer["jsonrpc"], "2.0", "{shown}: {answer}");
            assert_error_answer(&shown, &answer, *code, id);
            assert!(answer.get("result").is_none(), "{answer}");
            if id.is_null() {
                // Not a request the server could read: an HTTP error status, JSON body.
                assert_eq!(status, 400, "{shown}: {answer}");
                assert!(
                    content_type.starts_with("application/json"),
                    "{content_type}"
                );
            } else {
                assert!(
                    matches!(status, 200 | 400),
                    "{shown}: status {status}: {answer}"
                );
            }
        }
        Expect::Nothing => {
            assert_eq!(status, 202, "{shown}: {}", String::from_utf8_lossy(&body));
            assert!(
                body.is_empty(),
                "{shown}: a notification was answered: {}",
                String::from_utf8_lossy(&body)
            );
        }
    }

    // The session still serves.
    let call = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": "read_file", "arguments": {"path": "sales.csv"}}});
    let (status, _, body) = post(addr, Some(&session), serde_json::to_vec(&call).unwrap()).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let answer = message(&body);
    assert_eq!(
        answer["result"]["content"][0]["text"], "read: sales.csv",
        "{answer}"
    );

    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(3), task)
        .await
        .expect("the server stops")
        .unwrap()
        .expect("serving ends without an accept error");
}
