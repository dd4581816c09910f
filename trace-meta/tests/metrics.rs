//! The metrics of a real rmcp client and server in one process (an in-memory duplex pipe),
//! read back through an in-memory exporter: names, units, bucket boundaries and attributes
//! of a successful call, a tool error and a protocol error, on both sides.

use std::sync::OnceLock;

use opentelemetry_sdk::metrics::{
    InMemoryMetricExporter, PeriodicReader, SdkMeterProvider,
    data::{AggregatedMetrics, HistogramDataPoint, MetricData},
};
use rmcp::model::CallToolRequestParams;
use test_support::echo::EchoServer;
use test_support::in_process::connect;
use trace_meta::{
    NetworkTransport, TracedClient,
    metrics::{BUCKETS, SessionTimer},
};

/// The process's meter provider, installed before any instrument is created.
fn meters() -> &'static (SdkMeterProvider, InMemoryMetricExporter) {
    static METERS: OnceLock<(SdkMeterProvider, InMemoryMetricExporter)> = OnceLock::new();
    METERS.get_or_init(|| {
        let exporter = InMemoryMetricExporter::default();
        let provider = SdkMeterProvider::builder()
            .with_reader(PeriodicReader::builder(exporter.clone()).build())
            .build();
        opentelemetry::global::set_meter_provider(provider.clone());
        (provider, exporter)
    })
}

/// The histogram `name` of this crate's meter, as measured so far (cumulative) after a
/// flush: checks its unit and bucket boundaries and returns its points.
fn histogram(name: &str) -> Vec<HistogramDataPoint<f64>> {
    let (provider, exporter) = meters();
    provider.force_flush().expect("flush");
    let exported = exporter.get_finished_metrics().expect("metrics");
    let last = exported.last().expect("one export at least");
    let metric = last
        .scope_metrics()
        .filter(|scope| scope.scope().name() == trace_meta::metrics::METER_NAME)
        .flat_map(|scope| scope.metrics())
        .find(|m| m.name() == name)
        .unwrap_or_else(|| panic!("no metric {name}"));
    assert_eq!(metric.unit(), "s", "{name} is in seconds");
    let AggregatedMetrics::F64(MetricData::Histogram(histogram)) = metric.data() else {
        panic!("{name} is not an f64 histogram");
    };
    let points: Vec<_> = histogram.data_points().cloned().collect();
    for point in &points {
        assert_eq!(point.bounds().collect::<Vec<_>>(), BUCKETS.to_vec());
    }
    points
}

/// The attributes of a point, sorted, as text.
fn attributes(point: &HistogramDataPoint<f64>) -> Vec<(String, String)> {
    let mut attributes: Vec<_> = point
        .attributes()
        .map(|kv| (kv.key.to_string(), kv.value.as_str().into_owned()))
        .collect();
    attributes.sort();
    attributes
}

/// The one point whose attributes are exactly `expected`.
fn point_with(points: &[HistogramDataPoint<f64>], expected: &[(&str, &str)]) -> u64 {
    let mut expected: Vec<(String, String)> = expected
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    expected.sort();
    let found: Vec<_> = points
        .iter()
        .filter(|p| attributes(p) == expected)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "expected one point with {expected:?}, have {:?}",
        points.iter().map(attributes).collect::<Vec<_>>()
    );
    found[0].count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operations_are_recorded_on_both_sides_with_their_outcome() {
    meters();
    let (client, server) = connect(EchoServer).await;
    let traced = TracedClient::new(client.peer().clone());
    // `echo` and `fail` are the echo server's tools; any other name is a protocol error.
    let arguments = serde_json::json!({"text": "hi"});
    let echo =
        CallToolRequestParams::new("echo").with_arguments(arguments.as_object().unwrap().clone());
    let ok = traced.call_tool(echo).await.expect("echo");
    assert_ne!(ok.is_error, Some(true));
    let failed = traced
        .call_tool(CallToolRequestParams::new("fail"))
        .await
        .expect("a tool error is a result");
    assert_eq!(failed.is_error, Some(true));
    let code = match traced
        .call_tool(CallToolRequestParams::new("no_such_tool"))
        .await
    {
        Err(rmcp::ServiceError::McpError(data)) => data.code.0.to_string(),
        other => panic!("expected a protocol error, got {other:?}"),
    };
    traced.list_all_tools().await.expect("tools/list");
    client.cancel().await.ok();
    server.await.ok();

    let common = [
        ("network.transport", "pipe"),
        ("mcp.protocol.version", "2025-11-25"),
    ];
    for name in [
        "mcp.client.operation.duration",
        "mcp.server.operation.duration",
    ] {
        let points = histogram(name);
        let with = |extra: &[(&'static str, &str)]| {
            let mut all: Vec<(&str, &str)> = common.to_vec();
            all.extend_from_slice(extra);
            point_with(&points, &all)
        };
        let call = ("mcp.method.name", "tools/call");
        assert_eq!(with(&[call, ("gen_ai.tool.name", "echo")]), 1, "{name}");
        assert_eq!(
            with(&[
                call,
                ("gen_ai.tool.name", "fail"),
                ("error.type", "tool_error")
            ]),
            1,
            "{name}"
        );
        assert_eq!(
            with(&[
                call,
                ("gen_ai.tool.name", "no_such_tool"),
                ("error.type", &code)
            ]),
            1,
            "{name}"
        );
        // Not a tool call: no tool name, no error.
        assert!(with(&[("mcp.method.name", "tools/list")]) >= 1, "{name}");
    }
}

#[test]
fn a_session_timer_records_its_session_when_dropped() {
    meters();
    let timer = SessionTimer::client(NetworkTransport::Tcp).with_protocol_version("test-version");
    drop(timer);
    let points = histogram("mcp.client.session.duration");
    assert_eq!(
        point_with(
            &points,
            &[
                ("network.transport", "tcp"),
                ("mcp.protocol.version", "test-version")
            ]
        ),
        1
    );
}
