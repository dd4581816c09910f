//! Semconv span names (`Telemetry::with_span_names`, or `TRACE_META_SPAN_NAMES=semconv`):
//! tool-call spans are `tools/call {tool}` on both sides (client and server in one process
//! over a duplex pipe, spans in an in-memory exporter).
//!
//! Its own test binary: the choice is the process's.

use opentelemetry::trace::SpanKind;
use opentelemetry_sdk::trace::InMemorySpanExporter;
use rmcp::{
    handler::server::wrapper::Parameters,
    model::{CallToolRequestParams, CallToolResult, ContentBlock},
    schemars, tool, tool_router,
};
use serde::Deserialize;
use test_support::in_process::connect;
use trace_meta::{SpanNames, TracedClient, telemetry::Telemetry};
use tracing::Instrument;

#[derive(Debug, Deserialize, schemars::JsonSchema)]
struct EchoArgs {
    /// Text to send back.
    text: String,
}

#[derive(Debug, Clone)]
struct TestServer;

#[tool_router(server_handler)]
impl TestServer {
    #[tool(description = "Sends the text back")]
    async fn echo(&self, Parameters(EchoArgs { text }): Parameters<EchoArgs>) -> CallToolResult {
        CallToolResult::success(vec![ContentBlock::text(format!("echo: {text}"))])
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn semconv_names_tool_calls_by_method_and_tool_on_both_sides() {
    let exporter = InMemorySpanExporter::default();
    let guard = Telemetry::new("semconv-test")
        .with_span_names(SpanNames::Semconv)
        .with_span_exporter(exporter.clone())
        .init()
        .expect("telemetry init");
    assert_eq!(SpanNames::get(), SpanNames::Semconv);

    let (client, server) = connect(TestServer).await;
    let params = CallToolRequestParams::new("echo").with_arguments(
        serde_json::json!({"text": "hi"})
            .as_object()
            .unwrap()
            .clone(),
    );
    let traced = TracedClient::new(client.peer().clone());
    traced
        .call_tool(params)
        .instrument(tracing::info_span!("root"))
        .await
        .expect("call");
    let _ = client.cancel().await;
    let _ = server.await;

    guard.force_flush();
    let spans = exporter.get_finished_spans().unwrap();
    let named: Vec<(&str, &SpanKind)> = spans
        .iter()
        .filter(|s| s.name.contains("echo"))
        .map(|s| (s.name.as_ref(), &s.span_kind))
        .collect();
    assert!(
        named.contains(&("tools/call echo", &SpanKind::Client))
            && named.contains(&("tools/call echo", &SpanKind::Server)),
        "{named:?}"
    );
    assert!(
        !spans
            .iter()
            .any(|s| s.name.starts_with("mcp-tool-") || s.name.starts_with("tool-")),
        "{named:?}"
    );
}
