//! Span return (SEP-2448) on the server side, in process: a real rmcp client sends
//! `tools/call` with a hand-made `_meta.otel` to a `Traced` server of a process whose
//! telemetry allows span return, and reads what comes back.
//!
//! - concurrent requests each get their own spans, in their own trace, and nothing of the
//!   others; a request that does not ask gets nothing;
//! - `detailed: false` stops at the SERVER span's children, `true` returns the tree;
//! - a JSON-RPC error carries the spans of the stages that ran in `error.data._meta`;
//! - `initialize` lists the extension.

use std::{sync::OnceLock, time::Duration};

use opentelemetry::trace::{SpanId, TraceId};
use opentelemetry_sdk::trace::InMemorySpanExporter;
use rmcp::{
    ServiceError,
    handler::server::wrapper::Parameters,
    model::{
        CallToolRequest, CallToolRequestParams, CallToolResult, ClientRequest, ContentBlock,
        GetMeta as _, ServerResult,
    },
    schemars, tool, tool_router,
};
use serde::Deserialize;
use serde_json::{Value, json};
use trace_meta::{
    span_return::{EXTENSION_ID, SpanRequest},
    telemetry::{Telemetry, TelemetryGuard},
};
use tracing::Instrument as _;

#[derive(Debug, Deserialize, schemars::JsonSchema)]
struct StagesArgs {
    /// How long each stage waits, in milliseconds.
    ms: u64,
}

/// A tool whose work has depth: `stage` (a child of the SERVER span) and `step` under it.
#[derive(Debug, Clone)]
struct Staged;

#[tool_router(server_handler)]
impl Staged {
    #[tool(description = "Runs two nested stages")]
    async fn stages(
        &self,
        Parameters(StagesArgs { ms }): Parameters<StagesArgs>,
    ) -> CallToolResult {
        async {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            async { tokio::time::sleep(Duration::from_millis(ms)).await }
                .instrument(tracing::info_span!("step"))
                .await;
        }
        .instrument(tracing::info_span!("stage"))
        .await;
        CallToolResult::success(vec![ContentBlock::text("staged")])
    }
}

fn telemetry() -> &'static TelemetryGuard {
    static GUARD: OnceLock<TelemetryGuard> = OnceLock::new();
    GUARD.get_or_init(|| {
        Telemetry::new("span-return-test")
            .with_span_exporter(InMemorySpanExporter::default())
            .with_span_return(true)
            .init()
            .expect("telemetry")
    })
}

async fn connect() -> (
    rmcp::service::RunningService<rmcp::RoleClient, ()>,
    tokio::task::JoinHandle<()>,
) {
    telemetry();
    test_support::in_process::connect(Staged).await
}

/// A `traceparent` of its own, and the `tools/call` request that carries it (and asks for
/// spans when `ask` says how).
fn request(tool: &str, ms: u64, ask: Option<SpanRequest>) -> (TraceId, SpanId, ClientRequest) {
    let trace = TraceId::from_bytes(rand_bytes());
    let span = SpanId::from_bytes(rand_bytes());
    let params = CallToolRequestParams::new(tool.to_owned())
        .with_arguments(json!({ "ms": ms }).as_object().unwrap().clone());
    let mut request = ClientRequest::CallToolRequest(CallToolRequest::new(params));
    let meta = &mut request.get_meta_mut().0;
    meta.insert("traceparent".into(), format!("00-{trace}-{span}-01").into());
    if let Some(ask) = ask {
        ask.insert_into(meta);
    }
    (trace, span, request)
}

fn rand_bytes<const N: usize>() -> [u8; N] {
    use std::hash::{BuildHasher as _, RandomState};
    let mut bytes = [0u8; N];
    for (i, chunk) in bytes.chunks_mut(8).enumerate() {
        let n = RandomState::new().hash_one(i).to_le_bytes();
        chunk.copy_from_slice(&n[..chunk.len()]);
    }
    bytes[0] |= 1;
    bytes
}

/// The spans under `_meta.otel.traces.resourceSpans`: (name, trace id, span id, parent).
fn returned(meta: Option<&serde_json::Map<String, Value>>) -> Option<Vec<[String; 4]>> {
    let resource_spans = meta?.get("otel")?["traces"]["resourceSpans"].as_array()?;
    let mut spans = Vec::new();
    for resource in resource_spans {
        let service = resource["resource"]["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|kv| kv["key"] == "service.name")
            .map(|kv| kv["value"]["stringValue"].clone());
        assert_eq!(service, Some(json!("span-return-test")));
        for scope in resource["scopeSpans"].as_array().unwrap() {
            for span in scope["spans"].as_array().unwrap() {
                let text = |key: &str| span[key].as_str().unwrap_or_default().to_owned();
                spans.push([
                    text("name"),
                    text("traceId"),
                    text("spanId"),
                    text("parentSpanId"),
                ]);
            }
        }
    }
    Some(spans)
}

async fn send(
    client: &rmcp::service::RunningService<rmcp::RoleClient, ()>,
    request: ClientRequest,
) -> Result<CallToolResult, ServiceError> {
    match client.peer().send_request(request).await? {
        ServerResult::CallToolResult(result) => Ok(result),
        other => panic!("unexpected answer {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_request_gets_its_own_spans_and_no_other() {
    let (client, server) = connect().await;
    let info = client.peer().peer_info().expect("initialized");
    assert!(
        info.capabilities
            .extensions
            .as_ref()
            .is_some_and(|e| e.contains_key(EXTENSION_ID)),
        "the extension is listed: {:?}",
        info.capabilities
    );

    let tree = Some(SpanRequest { detailed: true });
    let (trace_a, parent_a, a) = request("stages", 40, tree);
    let (trace_b, parent_b, b) = request("stages", 20, tree);
    let (_, _, c) = request("stages", 30, None);
    let (a, b, c) = tokio::join!(send(&client, a), send(&client, b), send(&client, c));
    let (a, b, c) = (a.unwrap(), b.unwrap(), c.unwrap());
    assert!(
        returned(c.meta.as_ref().map(|m| &m.0)).is_none(),
        "not asked, nothing"
    );

    for (result, trace, parent) in [(a, trace_a, parent_a), (b, trace_b, parent_b)] {
        let spans = returned(result.meta.as_ref().map(|m| &m.0)).expect("spans came back");
        let names: Vec<&str> = spans.iter().map(|s| s[0].as_str()).collect();
        assert_eq!(
            names,
            ["tool-stages", "stage", "step"],
            "the SERVER span first"
        );
        for [name, span_trace, ..] in &spans {
            assert_eq!(
                span_trace,
                &trace.to_string(),
                "{name} is in the request's trace"
            );
        }
        assert_eq!(spans[0][3], parent.to_string(), "under the caller's span");
        assert_eq!(spans[1][3], spans[0][2]);
        assert_eq!(spans[2][3], spans[1][2]);
    }
    client.cancel().await.ok();
    server.await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_detailed_stops_at_the_server_spans_children() {
    let (client, server) = connect().await;
    let (_, parent, shallow) = request("stages", 1, Some(SpanRequest { detailed: false }));
    let result = send(&client, shallow).await.unwrap();
    let spans = returned(result.meta.as_ref().map(|m| &m.0)).unwrap();
    let names: Vec<&str> = spans.iter().map(|s| s[0].as_str()).collect();
    assert_eq!(names, ["tool-stages", "stage"]);
    assert_eq!(spans[0][3], parent.to_string());
    client.cancel().await.ok();
    server.await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_answer_carries_the_spans_of_what_ran() {
    let (client, server) = connect().await;
    let (trace, parent, unknown) = request("no_such_tool", 1, Some(SpanRequest { detailed: true }));
    let error = match send(&client, unknown).await {
        Err(ServiceError::McpError(error)) => error,
        other => panic!("expected an error answer, got {other:?}"),
    };
    let data = error.data.expect("error.data holds the spans");
    let spans = returned(data["_meta"].as_object()).expect("under error.data._meta");
    assert_eq!(spans.len(), 1);
    let [name, span_trace, _, span_parent] = &spans[0];
    assert_eq!(name, "tool-no_such_tool");
    assert_eq!(span_trace, &trace.to_string());
    assert_eq!(span_parent, &parent.to_string());
    client.cancel().await.ok();
    server.await.ok();
}
