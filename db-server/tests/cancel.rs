//! Cancellation end to end, in process: a client that gives up on a runaway query tells the
//! server (`notifications/cancelled` with the trace context in `_meta`), the server stops
//! the statement at once instead of at its time limit, keeps serving, and every span says
//! what happened.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use db_server::{
    database::{Config, Database},
    tools::DbServer,
};
use opentelemetry::trace::Status;
use opentelemetry_sdk::trace::SpanData;
use rmcp::{ServiceError, model::CallToolRequestParams};
use test_support::in_process::connect;
use test_support::{
    data::sales_csv,
    telemetry::{InMemoryTelemetry, attr_text},
};
use trace_meta::TracedClient;
use tracing::Instrument;

/// A statement that runs until something interrupts it.
const RUNAWAY: &str =
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c";

/// The server's own limit: far above the client's timeout, so only a cancellation can end
/// the runaway statement in time.
const SERVER_LIMIT: Duration = Duration::from_secs(20);

/// How long the client waits for an answer before it gives up.
const CLIENT_TIMEOUT: Duration = Duration::from_millis(300);

fn server() -> DbServer {
    let config = Config {
        timeout: SERVER_LIMIT,
        ..Config::default()
    };
    let mut builder = Database::builder(config).unwrap();
    builder.load_csv("sales", &sales_csv()).unwrap();
    DbServer::new(Arc::new(builder.finish().unwrap()))
}

fn query(sql: &str) -> CallToolRequestParams {
    let arguments = serde_json::json!({ "sql": sql })
        .as_object()
        .unwrap()
        .clone();
    CallToolRequestParams::new("query_database").with_arguments(arguments)
}

fn find<'a>(spans: &'a [SpanData], name: &str, pick: impl Fn(&SpanData) -> bool) -> &'a SpanData {
    spans
        .iter()
        .find(|s| s.name == name && pick(s))
        .unwrap_or_else(|| {
            panic!(
                "no {name} span among {:?}",
                spans.iter().map(|s| &s.name).collect::<Vec<_>>()
            )
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_out_query_is_stopped_in_the_server_which_keeps_serving() {
    let telemetry = InMemoryTelemetry::install("db-server");
    let (session, served) = connect(server()).await;
    let client = TracedClient::new(session.peer().clone()).with_timeout(CLIENT_TIMEOUT);

    let root = tracing::info_span!("test-root");
    let (abandoned, next) = async {
        let started = Instant::now();
        let abandoned = client.call_tool(query(RUNAWAY)).await;
        assert!(
            started.elapsed() < CLIENT_TIMEOUT + Duration::from_secs(1),
            "the client gave up after {:?}",
            started.elapsed()
        );
        // Without the cancellation the connection stays busy until SERVER_LIMIT.
        let started = Instant::now();
        let next = client.call_tool(query("SELECT count(*) FROM sales")).await;
        (abandoned, (next, started.elapsed()))
    }
    .instrument(root)
    .await;
    assert!(
        matches!(abandoned, Err(ServiceError::Timeout { .. })),
        "{abandoned:?}"
    );
    let (next, waited) = next;
    let next = next.expect("the server keeps serving");
    assert_eq!(next.is_error, Some(false), "{next:?}");
    assert!(
        waited < Duration::from_secs(3),
        "the next query waited {waited:?}: the runaway statement was not stopped"
    );
    session.cancel().await.ok();
    served.await.ok();

    let spans = telemetry.spans();
    let runaway = |s: &SpanData| attr_text(s, "db.query.text").as_deref() == Some(RUNAWAY);
    let client_span = find(&spans, "mcp-tool-query_database", |s| {
        attr_text(s, "error.type").is_some()
    });
    assert_eq!(
        attr_text(client_span, "error.type").as_deref(),
        Some("timeout")
    );
    assert!(
        client_span
            .events
            .iter()
            .any(|e| e.name == "notifications/cancelled"),
        "the client span records the cancellation it sent"
    );

    let server_span = find(&spans, "tool-query_database", runaway);
    assert_eq!(
        attr_text(server_span, "error.type").as_deref(),
        Some("cancelled")
    );
    assert!(matches!(server_span.status, Status::Error { .. }));
    assert_eq!(
        server_span.parent_span_id,
        client_span.span_context.span_id(),
        "the server span is the client span's child"
    );
    let ran = server_span
        .end_time
        .duration_since(server_span.start_time)
        .unwrap();
    assert!(
        ran < Duration::from_secs(3),
        "the server span ended {ran:?} after it began"
    );

    let notification = find(&spans, "notifications/cancelled", |_| true);
    assert_eq!(
        notification.span_context.trace_id(),
        client_span.span_context.trace_id(),
        "one trace"
    );
    assert_eq!(
        notification.parent_span_id,
        client_span.span_context.span_id(),
        "the notification's `_meta` named the abandoned call's span"
    );
    assert_eq!(
        attr_text(notification, "mcp.cancelled.reason").as_deref(),
        Some("request timeout")
    );
    assert_eq!(
        attr_text(notification, "jsonrpc.request.id"),
        attr_text(server_span, "jsonrpc.request.id"),
        "it names the request it cancels"
    );

    let answered = find(&spans, "tool-query_database", |s| !runaway(s));
    assert_eq!(attr_text(answered, "error.type"), None);
}
