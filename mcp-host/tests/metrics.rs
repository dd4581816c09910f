//! End to end: the metrics of all three processes reach a loopback OTLP backend at
//! shutdown, and a Confident AI setup sends none.

mod common;

use std::{
    collections::{BTreeMap, BTreeSet},
    time::Duration,
};

use common::*;
use test_support::otlp::{self, Backend};

/// Metric names per `service.name`, as the backend received them.
fn names_by_service(backend: &Backend) -> BTreeMap<String, BTreeSet<String>> {
    let mut names: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for received in backend.metrics() {
        names
            .entry(received.service)
            .or_default()
            .insert(received.metric.name);
    }
    names
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| (*n).to_owned()).collect()
}

#[test]
fn every_process_exports_its_metrics_at_shutdown() {
    let backend = Backend::start(otlp::Mode::Ok);
    let output = run(host()
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &backend.endpoint)
        // Far longer than the run: only the export at shutdown can deliver them.
        .env("OTEL_METRIC_EXPORT_INTERVAL", "600000"));
    assert!(output.status.success());

    let names = names_by_service(&backend);
    let client = set(&[
        "mcp.client.operation.duration",
        "mcp.client.session.duration",
    ]);
    let server = set(&[
        "mcp.server.operation.duration",
        "mcp.server.session.duration",
    ]);
    assert_eq!(names.get("mcp-host"), Some(&client), "{names:?}");
    assert_eq!(names.get("file-server"), Some(&server), "{names:?}");
    let database = set(&[
        "mcp.server.operation.duration",
        "mcp.server.session.duration",
        "db.client.operation.duration",
    ]);
    assert_eq!(names.get("db-server"), Some(&database), "{names:?}");

    // The host's tool calls, with the conventions' attributes.
    use opentelemetry_proto::tonic::{common::v1::any_value::Value, metrics::v1::metric::Data};
    let tools: BTreeSet<String> = backend
        .metrics()
        .into_iter()
        .filter(|m| m.metric.name == "mcp.client.operation.duration")
        .flat_map(|m| match m.metric.data {
            Some(Data::Histogram(histogram)) => histogram.data_points,
            _ => Vec::new(),
        })
        .filter_map(|point| {
            assert_eq!(point.explicit_bounds, trace_meta::metrics::BUCKETS.to_vec());
            point
                .attributes
                .iter()
                .find(|kv| kv.key == "gen_ai.tool.name")
                .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
                    Value::StringValue(tool) => Some(tool.clone()),
                    _ => None,
                })
        })
        .collect();
    assert_eq!(tools, set(&["query_database", "read_file"]));

    // The database client metric, with the database conventions' buckets and attributes.
    let statements: Vec<_> = backend
        .metrics()
        .into_iter()
        .filter(|m| m.metric.name == "db.client.operation.duration")
        .flat_map(|m| match m.metric.data {
            Some(Data::Histogram(histogram)) => histogram.data_points,
            _ => Vec::new(),
        })
        .collect();
    assert!(!statements.is_empty());
    for point in &statements {
        assert_eq!(
            point.explicit_bounds,
            db_server::backend::DB_DURATION_BUCKETS.to_vec()
        );
        let keys: BTreeSet<&str> = point.attributes.iter().map(|kv| kv.key.as_str()).collect();
        assert!(
            keys.contains("db.system.name") && keys.contains("db.operation.name"),
            "{keys:?}"
        );
    }
}

#[test]
fn a_confident_ai_setup_sends_no_metrics() {
    // A key and a collector that relays to Confident AI: traces go, metrics stay home.
    let backend = Backend::start(otlp::Mode::Ok);
    let output = run(host()
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &backend.endpoint)
        .env("CONFIDENT_API_KEY", "test-key-not-secret"));
    assert!(output.status.success());
    let spans = backend.wait_for(10, Duration::from_secs(5));
    let services: BTreeSet<&str> = spans.iter().map(|s| s.service.as_str()).collect();
    assert_eq!(
        services.len(),
        3,
        "every process exported spans: {services:?}"
    );
    assert!(
        backend.metrics().is_empty(),
        "metrics were sent: {:?}",
        names_by_service(&backend)
    );
    assert_eq!(backend.metrics_requests(), 0, "no POST /v1/metrics at all");
}

/// A traces-only backend (Jaeger, Tempo, Phoenix answer `/v1/metrics` with 404 or 405):
/// the run stays quiet and clean, and the traces still arrive.
#[test]
fn a_backend_that_takes_no_metrics_turns_them_off_quietly() {
    use std::sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    };
    let (traces, metrics) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let counts = (Arc::clone(&traces), Arc::clone(&metrics));
    let addr = test_support::loopback::serve(move |request| {
        let (traces, metrics) = counts.clone();
        async move {
            let status = if request.uri().path() == "/v1/metrics" {
                metrics.fetch_add(1, Ordering::Relaxed);
                405
            } else {
                traces.fetch_add(1, Ordering::Relaxed);
                200
            };
            hyper::Response::builder()
                .status(status)
                .body(http_body_util::Full::new(hyper::body::Bytes::new()))
                .unwrap()
        }
    });
    let output = run(host()
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{addr}"))
        .env("OTEL_METRIC_EXPORT_INTERVAL", "600000"));
    assert!(output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.contains("metrics"),
        "no warning about metrics: {stderr}"
    );
    assert!(
        metrics.load(Ordering::Relaxed) >= 1,
        "the metrics were offered once"
    );
    assert!(traces.load(Ordering::Relaxed) >= 1, "the traces arrived");
}

/// The model requests' GenAI client metrics, with the conventions' attributes and buckets,
/// and exact token counts.
#[test]
fn the_model_requests_export_the_genai_client_metrics() {
    use common::model::{FakeModel, Reply};
    use opentelemetry_proto::tonic::{
        common::v1::{KeyValue, any_value::Value},
        metrics::v1::metric::Data,
    };
    let fake = FakeModel::start(vec![
        Reply::streamed_tool_calls("r1", &[("call_1", "list_tables", "{}")], 2, Some((120, 15))),
        Reply::streamed_answer("r2", &["Two ", "tables."], Some((300, 4))),
    ]);
    let backend = Backend::start(otlp::Mode::Ok);
    let output = run(host()
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &backend.endpoint)
        .env("OTEL_METRIC_EXPORT_INTERVAL", "600000")
        .env_remove("OPENAI_BASE_URL")
        .args(["--model", "fake-model", "--base-url", &fake.base_url])
        .arg("How many tables are there?"));
    assert!(output.status.success());

    let text = |attributes: &[KeyValue], key: &str| {
        attributes.iter().find(|kv| kv.key == key).and_then(|kv| {
            match kv.value.as_ref()?.value.as_ref()? {
                Value::StringValue(s) => Some(s.clone()),
                Value::IntValue(i) => Some(i.to_string()),
                _ => None,
            }
        })
    };
    let host_metrics: Vec<_> = backend
        .metrics()
        .into_iter()
        .filter(|m| m.service == "mcp-host")
        .collect();
    let histogram = |name: &str| {
        let found: Vec<_> = host_metrics
            .iter()
            .filter(|m| m.metric.name == name)
            .collect();
        assert_eq!(found.len(), 1, "one {name} metric");
        match &found[0].metric.data {
            Some(Data::Histogram(h)) => (found[0].metric.unit.clone(), h.data_points.clone()),
            other => panic!("{name} is not a histogram: {other:?}"),
        }
    };
    let (unit, points) = histogram("gen_ai.client.operation.duration");
    assert_eq!(unit, "s");
    assert_eq!(points.len(), 1, "both requests share one attribute set");
    let point = &points[0];
    assert_eq!(point.count, 2);
    assert_eq!(
        point.explicit_bounds,
        mcp_host::chat::metrics::DURATION_BUCKETS.to_vec()
    );
    let port = fake.port.to_string();
    for (key, value) in [
        ("gen_ai.operation.name", "chat"),
        ("gen_ai.provider.name", "openai"),
        ("gen_ai.request.model", "fake-model"),
        ("gen_ai.response.model", "fake-model-2026"),
        ("server.address", "127.0.0.1"),
        ("server.port", port.as_str()),
    ] {
        assert_eq!(
            text(&point.attributes, key).as_deref(),
            Some(value),
            "{key} of {:?}",
            point.attributes
        );
    }
    assert_eq!(text(&point.attributes, "error.type"), None);

    let (unit, points) = histogram("gen_ai.client.token.usage");
    assert_eq!(unit, "{token}");
    let mut by_type: Vec<(String, u64, f64)> = points
        .iter()
        .map(|p| {
            assert_eq!(
                p.explicit_bounds,
                mcp_host::chat::metrics::TOKEN_BUCKETS.to_vec()
            );
            assert_eq!(
                text(&p.attributes, "gen_ai.request.model").as_deref(),
                Some("fake-model")
            );
            (
                text(&p.attributes, "gen_ai.token.type").unwrap(),
                p.count,
                p.sum.unwrap(),
            )
        })
        .collect();
    by_type.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        by_type,
        [
            ("input".to_owned(), 2, 420.0),
            ("output".to_owned(), 2, 19.0)
        ]
    );
}
