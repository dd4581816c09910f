//! A real rmcp client and server in one process, over an in-memory duplex pipe, with spans
//! going to an in-memory exporter: the trace must cross the MCP boundary intact.

use opentelemetry::trace::{SpanId, SpanKind, Status, TraceId};
use opentelemetry_sdk::trace::SpanData;
use rmcp::model::{CallToolRequestParams, CallToolResult, RequestMetaObject};
use test_support::{
    echo::EchoServer,
    telemetry::{InMemoryTelemetry, attr},
};
use trace_meta::TracedClient;
use tracing::Instrument;

fn exporter() -> &'static InMemoryTelemetry {
    InMemoryTelemetry::install("in-process-test")
}

/// Every span finished so far.
fn spans() -> Vec<SpanData> {
    exporter().spans()
}

fn attr_str(span: &SpanData, key: &str) -> String {
    attr(span, key)
        .map(|v| v.as_str().into_owned())
        .unwrap_or_else(|| panic!("span {} has no {key}", span.name))
}

fn find<'a>(spans: &'a [SpanData], name: &str, trace: TraceId) -> &'a SpanData {
    spans
        .iter()
        .find(|s| s.name == name && s.span_context.trace_id() == trace)
        .unwrap_or_else(|| panic!("no span {name} in trace {trace}"))
}

async fn connect() -> (
    rmcp::service::RunningService<rmcp::RoleClient, ()>,
    tokio::task::JoinHandle<()>,
) {
    let (client, server) = test_support::in_process::connect(EchoServer).await;
    (client, server)
}

fn call(name: &'static str, text: Option<&str>) -> CallToolRequestParams {
    let params = CallToolRequestParams::new(name);
    match text {
        Some(text) => params.with_arguments(
            serde_json::json!({ "text": text })
                .as_object()
                .unwrap()
                .clone(),
        ),
        None => params,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_span_is_a_child_of_the_client_span() {
    exporter();
    let (client, server) = connect().await;
    let traced = TracedClient::new(client.peer().clone());
    let root = tracing::info_span!("test-root-parent");
    let result = traced
        .call_tool(call("echo", Some("hi")))
        .instrument(root.clone())
        .await
        .expect("call");
    assert_eq!(trace_meta::tool_result_text(&result), "echo: hi");
    drop(root);
    client.cancel().await.ok();
    server.await.ok();

    let spans = spans();
    let root = spans
        .iter()
        .find(|s| s.name == "test-root-parent")
        .expect("root");
    let trace = root.span_context.trace_id();
    let client_span = find(&spans, "mcp-tool-echo", trace);
    let server_span = find(&spans, "tool-echo", trace);
    let inner = find(&spans, "inner-work", trace);

    assert_eq!(client_span.parent_span_id, root.span_context.span_id());
    assert_eq!(
        server_span.parent_span_id,
        client_span.span_context.span_id()
    );
    assert!(
        server_span.parent_span_is_remote,
        "the parent came through _meta"
    );
    assert_eq!(inner.parent_span_id, server_span.span_context.span_id());
    assert_eq!(client_span.span_kind, SpanKind::Client);
    assert_eq!(server_span.span_kind, SpanKind::Server);

    for span in [client_span, server_span] {
        assert_eq!(attr_str(span, "mcp.method.name"), "tools/call");
        assert_eq!(attr_str(span, "gen_ai.tool.name"), "echo");
        assert_eq!(attr_str(span, "gen_ai.operation.name"), "execute_tool");
        assert_eq!(attr_str(span, "network.transport"), "pipe");
        assert_eq!(attr_str(span, "confident.span.type"), "tool");
        assert_eq!(attr_str(span, "confident.tool.name"), "echo");
        assert_eq!(attr_str(span, "confident.span.input"), r#"{"text":"hi"}"#);
        assert_eq!(attr_str(span, "confident.span.output"), "echo: hi");
        assert_eq!(attr_str(span, "mcp.protocol.version"), "2025-11-25");
        assert!(!attr_str(span, "jsonrpc.request.id").is_empty());
        assert_eq!(span.status, Status::Unset);
        assert!(attr(span, "error.type").is_none());
    }
    assert_eq!(
        attr_str(client_span, "jsonrpc.request.id"),
        attr_str(server_span, "jsonrpc.request.id")
    );
    assert_eq!(
        attr_str(server_span, "confident.tool.description"),
        "Sends the text back"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_errors_and_protocol_errors_mark_both_spans() {
    exporter();
    let (client, server) = connect().await;
    let traced = TracedClient::new(client.peer().clone());
    let root = tracing::info_span!("test-root-errors");
    let (failed, unknown) = async {
        (
            traced.call_tool(call("fail", None)).await,
            traced.call_tool(call("no_such_tool", None)).await,
        )
    }
    .instrument(root.clone())
    .await;
    assert_eq!(
        failed.expect("a tool error is a result").is_error,
        Some(true)
    );
    let unknown = unknown.expect_err("an unknown tool is a protocol error");
    drop(root);
    client.cancel().await.ok();
    server.await.ok();

    let spans = spans();
    let trace = spans
        .iter()
        .find(|s| s.name == "test-root-errors")
        .unwrap()
        .span_context
        .trace_id();
    for name in ["mcp-tool-fail", "tool-fail"] {
        let span = find(&spans, name, trace);
        assert_eq!(attr_str(span, "error.type"), "tool_error");
        assert!(
            matches!(&span.status, Status::Error { description } if description.contains("refused"))
        );
    }
    let code = match &unknown {
        rmcp::ServiceError::McpError(data) => data.code.0.to_string(),
        other => panic!("unexpected error {other}"),
    };
    for name in ["mcp-tool-no_such_tool", "tool-no_such_tool"] {
        let span = find(&spans, name, trace);
        assert_eq!(attr_str(span, "error.type"), code);
        assert_eq!(attr_str(span, "rpc.response.status_code"), code);
        assert!(matches!(span.status, Status::Error { .. }));
    }
}

/// Sends a call with a hand-written `_meta`, outside any client span.
async fn call_with_meta(traceparent: serde_json::Value) -> CallToolResult {
    exporter();
    let (client, server) = connect().await;
    let mut meta = RequestMetaObject::default();
    meta.insert("traceparent".into(), traceparent);
    let mut params = call("echo", Some("raw"));
    params.meta = Some(meta);
    let result = client
        .peer()
        .call_tool(params)
        .await
        .expect("call succeeds");
    client.cancel().await.ok();
    server.await.ok();
    result
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsampled_parent_records_nothing_on_the_server() {
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let result = call_with_meta(format!("00-{trace}-00f067aa0ba902b7-00").into()).await;
    assert_ne!(result.is_error, Some(true));
    let trace = TraceId::from_hex(trace).unwrap();
    assert!(
        spans().iter().all(|s| s.span_context.trace_id() != trace),
        "a span of an unsampled trace was exported"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_traceparent_starts_a_new_root_and_the_call_succeeds() {
    let given = "0AF7651916CD43DD8448EB211C80319C";
    let result = call_with_meta(format!("00-{given}-B7AD6B7169203331-01").into()).await;
    assert_eq!(trace_meta::tool_result_text(&result), "echo: raw");
    let spans = spans();
    let server_span = spans
        .iter()
        .find(|s| {
            s.name == "tool-echo"
                && attr_str(s, "confident.span.input") == r#"{"text":"raw"}"#
                && s.parent_span_id == SpanId::INVALID
        })
        .expect("a root server span for the call");
    assert_ne!(
        server_span.span_context.trace_id().to_string(),
        given.to_lowercase()
    );
}
