//! Span return (SEP-2448) on the client side, in process: a server that returns whatever
//! `_meta.otel` a test picks, a [`TracedClient`] that asks for spans, and a loopback OTLP
//! backend as the process's destination.
//!
//! Well-formed spans under the call reach the backend under the server's resource; hostile
//! payloads (another trace, a parent outside the call, 10 MB, malformed JSON, 10,000 spans,
//! no `service.name`) are dropped with one warning each, and every call's result is the
//! same as without them.

use std::{
    sync::{
        OnceLock,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use rmcp::{
    ErrorData, RoleServer, ServerHandler,
    model::{CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, MetaObject},
    service::RequestContext,
};
use serde_json::{Value, json};
use test_support::otlp::{Backend, Mode};
use trace_meta::{
    TracedClient,
    span_return::SpanRequest,
    telemetry::{Telemetry, TelemetryGuard},
};
use tracing::Instrument as _;
use tracing_subscriber::{Layer, layer::SubscriberExt as _, util::SubscriberInitExt as _};

/// Warnings about dropped spans, counted by a layer of the test's subscriber.
static DROPPED: AtomicUsize = AtomicUsize::new(0);

struct CountDropped;

impl<S: tracing::Subscriber> Layer<S> for CountDropped {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        let meta = event.metadata();
        if meta.target() == "trace_meta::span_return" && *meta.level() == tracing::Level::WARN {
            DROPPED.fetch_add(1, Ordering::SeqCst);
        }
    }
}

struct Setup {
    backend: Backend,
    guard: TelemetryGuard,
}

fn setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| {
        trace_meta::install_tls_provider();
        let backend = Backend::start(Mode::Ok);
        let pipeline = Telemetry::new("span-return-client")
            .with_local_endpoint(format!("{}/v1/traces", backend.endpoint))
            .build()
            .expect("telemetry");
        tracing_subscriber::registry()
            .with(pipeline.otel_layer())
            .with(pipeline.log_layer())
            .with(CountDropped)
            .init();
        pipeline.install_globals();
        Setup {
            backend,
            guard: pipeline.into_guard(),
        }
    })
}

/// Answers `answer` with the text `the answer` and, in its `_meta`, what `case` names,
/// built around the caller's `traceparent`.
#[derive(Debug, Clone)]
struct Returning;

impl ServerHandler for Returning {
    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let case = request
            .arguments
            .as_ref()
            .and_then(|a| a.get("case"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let traceparent = context.meta.0["traceparent"].as_str().unwrap().to_owned();
        let mut parts = traceparent.split('-');
        let (trace, caller) = (parts.nth(1).unwrap(), parts.next().unwrap());
        let mut result = CallToolResult::success(vec![ContentBlock::text("the answer")]);
        let mut meta = MetaObject::new();
        meta.0.insert("otel".into(), payload(&case, trace, caller));
        meta.0.insert("vendor/kept".into(), json!(true));
        result.meta = Some(meta);
        Ok(CallToolResponse::Complete(result))
    }
}

fn span(trace: &str, id: u64, parent: &str, name: &str) -> Value {
    json!({
        "traceId": trace, "spanId": format!("{id:016x}"), "parentSpanId": parent, "name": name,
        "kind": 2, "startTimeUnixNano": "1700000000000000000", "endTimeUnixNano": "1700000000001000000",
        "attributes": [{"key": "case", "value": {"stringValue": name}}]
    })
}

fn payload(case: &str, trace: &str, caller: &str) -> Value {
    let other_trace = "f".repeat(32);
    let spans = match case {
        "good" => vec![
            span(trace, 1, caller, "returned-server"),
            span(trace, 2, &format!("{:016x}", 1), "returned-child"),
        ],
        "other-trace" => vec![span(&other_trace, 3, caller, "hostile-other-trace")],
        "outside" => vec![span(trace, 4, "00000000000000aa", "hostile-outside")],
        "huge" => {
            let mut big = span(trace, 5, caller, "hostile-huge");
            big["attributes"][0]["value"]["stringValue"] = "x".repeat(10 * 1024 * 1024).into();
            vec![big]
        }
        "many" => (0..10_000)
            .map(|n| span(trace, 100 + n, caller, "hostile-many"))
            .collect(),
        "malformed" => return json!({"traces": {"resourceSpans": {"not": "a list"}}}),
        "no-service" => {
            return json!({"traces": {"resourceSpans": [{
                "resource": {"attributes": []},
                "scopeSpans": [{"spans": [span(trace, 6, caller, "hostile-no-service")]}]
            }]}});
        }
        other => panic!("unknown case {other}"),
    };
    json!({"traces": {"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "remote-peer"}}]},
        "scopeSpans": [{"scope": {"name": "peer"}, "spans": spans}]
    }]}})
}

async fn call(client: &TracedClient, case: &str) -> CallToolResult {
    let params = CallToolRequestParams::new("answer")
        .with_arguments(json!({ "case": case }).as_object().unwrap().clone());
    client
        .call_tool(params)
        .instrument(tracing::info_span!("caller"))
        .await
        .expect("the call succeeds whatever came back")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn returned_spans_are_checked_and_only_good_ones_are_kept() {
    let setup = setup();
    let (service, server) = test_support::in_process::connect(Returning).await;
    let client = TracedClient::new(service.peer().clone())
        .with_span_return(Some(SpanRequest { detailed: true }));

    let hostile = [
        "other-trace",
        "outside",
        "huge",
        "many",
        "malformed",
        "no-service",
    ];
    for case in hostile {
        let before = DROPPED.load(Ordering::SeqCst);
        let result = call(&client, case).await;
        assert_eq!(
            trace_meta::tool_result_text(&result),
            "the answer",
            "{case}"
        );
        let meta = &result.meta.as_ref().expect("the other keys stay").0;
        assert!(
            !meta.contains_key("otel"),
            "{case}: taken out of the result"
        );
        assert_eq!(meta.get("vendor/kept"), Some(&json!(true)));
        assert_eq!(
            DROPPED.load(Ordering::SeqCst) - before,
            1,
            "{case}: one warning"
        );
    }
    let before = DROPPED.load(Ordering::SeqCst);
    let result = call(&client, "good").await;
    assert_eq!(trace_meta::tool_result_text(&result), "the answer");
    assert_eq!(
        DROPPED.load(Ordering::SeqCst),
        before,
        "good spans: no warning"
    );

    setup.guard.force_flush();
    let received = setup.backend.wait_for(2, Duration::from_secs(5));
    let client_span = received
        .iter()
        .rfind(|s| s.name == "mcp-tool-answer")
        .expect("the call's span");
    let server_span = received
        .iter()
        .find(|s| s.name == "returned-server")
        .expect("the returned SERVER span reached the backend");
    assert_eq!(
        server_span.service, "remote-peer",
        "under the server's resource"
    );
    assert_eq!(server_span.trace_id, client_span.trace_id);
    assert_eq!(server_span.parent_span_id, client_span.span_id);
    let child = received
        .iter()
        .find(|s| s.name == "returned-child")
        .unwrap();
    assert_eq!(child.parent_span_id, server_span.span_id);
    assert!(
        received.iter().all(|s| !s.name.starts_with("hostile-")),
        "no hostile span reached the backend"
    );
    service.cancel().await.ok();
    server.await.ok();
}
