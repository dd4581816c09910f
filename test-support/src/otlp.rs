//! A test OTLP/HTTP backend on `127.0.0.1` that records what it receives (spans on any path,
//! metrics on `/v1/metrics`) and can misbehave: answer with an error status, answer late, or
//! accept connections and never answer.
//!
//! Spans are kept as the workspace's one span model, [`Span`] (trace-view's), flattened
//! by [`trace_view::rows`] as they arrive.

use std::{
    net::TcpListener,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use http_body_util::{BodyExt, Full};
use hyper::{Response, body::Bytes};
use opentelemetry_proto::tonic::{
    collector::{
        metrics::v1::ExportMetricsServiceRequest,
        trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse},
    },
    metrics::v1::Metric,
};
use prost::Message;
pub use trace_view::Span;
use trace_view::span::service_name;

use crate::loopback;

/// How the backend answers.
#[derive(Debug, Clone, Copy)]
pub enum Mode {
    /// 200 at once.
    Ok,
    /// This HTTP status, at once.
    Status(u16),
    /// The first `requests` requests are answered after `delay`, then 200 at once.
    SlowFirst {
        /// How many requests are answered late.
        requests: usize,
        /// How late.
        delay: Duration,
    },
}

/// One received metric.
#[derive(Debug, Clone)]
pub struct ReceivedMetric {
    /// `service.name` of the metric's resource (`unknown` without one).
    pub service: String,
    /// The metric as it arrived: name, unit and data points.
    pub metric: Metric,
}

/// The headers of one request, as (name, value) pairs.
pub type Headers = Vec<(String, String)>;

/// The backend; it stops with the test process.
pub struct Backend {
    /// Its base URL, `http://127.0.0.1:PORT`; every path is accepted.
    pub endpoint: String,
    spans: Arc<Mutex<Vec<Span>>>,
    metrics: Arc<Mutex<Vec<ReceivedMetric>>>,
    metrics_requests: Arc<AtomicUsize>,
    headers: Arc<Mutex<Vec<Headers>>>,
}

impl Backend {
    /// Starts a backend that answers as `mode` says.
    pub fn start(mode: Mode) -> Self {
        let spans = Arc::new(Mutex::new(Vec::new()));
        let headers = Arc::new(Mutex::new(Vec::new()));
        let metrics = Arc::new(Mutex::new(Vec::new()));
        let (spans_sink, headers_sink) = (spans.clone(), headers.clone());
        let metrics_sink = metrics.clone();
        let metrics_requests = Arc::new(AtomicUsize::new(0));
        let metrics_counter = metrics_requests.clone();
        let served = Arc::new(AtomicUsize::new(0));
        let addr = loopback::serve(move |request: hyper::Request<hyper::body::Incoming>| {
            let (spans, headers, served) =
                (spans_sink.clone(), headers_sink.clone(), served.clone());
            let metrics = metrics_sink.clone();
            let metrics_counter = metrics_counter.clone();
            async move {
                let number = served.fetch_add(1, Ordering::SeqCst);
                headers.lock().unwrap().push(loopback::headers(&request));
                let is_metrics = request.uri().path().ends_with("/v1/metrics");
                if is_metrics {
                    metrics_counter.fetch_add(1, Ordering::SeqCst);
                }
                let body = request.into_body().collect().await.unwrap().to_bytes();
                match mode {
                    Mode::Status(code) => {
                        let mut response = Response::new(Full::new(Bytes::from("refused")));
                        *response.status_mut() = hyper::StatusCode::from_u16(code).unwrap();
                        return response;
                    }
                    Mode::SlowFirst { requests, delay } if number < requests => {
                        tokio::time::sleep(delay).await;
                    }
                    _ => {}
                }
                if is_metrics {
                    record_metrics(&metrics, &body);
                    // An empty body is an ExportMetricsServiceResponse with nothing rejected.
                    return Response::new(Full::new(Bytes::new()));
                }
                record(&spans, &body);
                Response::new(Full::new(Bytes::from(
                    ExportTraceServiceResponse::default().encode_to_vec(),
                )))
            }
        });
        Self {
            endpoint: format!("http://{addr}"),
            spans,
            metrics,
            metrics_requests,
            headers,
        }
    }

    /// How many requests arrived on `/v1/metrics`, decodable or not.
    pub fn metrics_requests(&self) -> usize {
        self.metrics_requests.load(Ordering::SeqCst)
    }

    /// Every metric received so far (`/v1/metrics`), one entry per metric per request.
    pub fn metrics(&self) -> Vec<ReceivedMetric> {
        self.metrics.lock().unwrap().clone()
    }

    /// Every span received so far.
    pub fn spans(&self) -> Vec<Span> {
        self.spans.lock().unwrap().clone()
    }

    /// The headers of every request received so far, in order.
    pub fn headers(&self) -> Vec<Headers> {
        self.headers.lock().unwrap().clone()
    }

    /// Waits until `count` spans have arrived or `limit` passes; returns what arrived.
    pub fn wait_for(&self, count: usize, limit: Duration) -> Vec<Span> {
        let deadline = std::time::Instant::now() + limit;
        loop {
            let spans = self.spans();
            if spans.len() >= count || std::time::Instant::now() > deadline {
                return spans;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn record_metrics(metrics: &Mutex<Vec<ReceivedMetric>>, body: &[u8]) {
    let Ok(request) = ExportMetricsServiceRequest::decode(body) else {
        return;
    };
    let mut metrics = metrics.lock().unwrap();
    for resource in request.resource_metrics {
        let service = service_name(resource.resource.as_ref());
        for scope in resource.scope_metrics {
            for metric in scope.metrics {
                metrics.push(ReceivedMetric {
                    service: service.clone(),
                    metric,
                });
            }
        }
    }
}

fn record(spans: &Mutex<Vec<Span>>, body: &[u8]) {
    let Ok(request) = ExportTraceServiceRequest::decode(body) else {
        return;
    };
    spans
        .lock()
        .unwrap()
        .extend(trace_view::rows(&request.resource_spans));
}

/// A listener on `127.0.0.1` that accepts connections and never reads or answers them;
/// returns its base URL.
pub fn blackhole() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    endpoint
}
