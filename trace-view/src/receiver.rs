//! A local OTLP/HTTP trace receiver on 127.0.0.1, for the trace view and `--trace-json`.
//!
//! The host points its own exporter and its servers' second destination
//! (`TRACE_META_LOCAL_ENDPOINT`) here, so the spans of all processes meet in one place.
//! It speaks OTLP/HTTP with protobuf bodies (what trace-meta sends) and JSON bodies.
//! `POST /v1/metrics` is accepted and counted, not kept: the trace view shows spans only,
//! and a user who points every signal at this receiver should see no export errors.

use std::{
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
};

use http_body_util::{BodyExt, Full, Limited};
use hyper::{
    Method, Request, Response, StatusCode,
    body::{Bytes, Incoming},
    service::service_fn,
};
use hyper_util::rt::TokioIo;
use opentelemetry_proto::tonic::{
    collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse},
    trace::v1::ResourceSpans,
};
use prost::Message;
use tokio::net::TcpListener;

/// Largest request body accepted (OTLP exporters batch at most a few MB).
const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// Spans received so far, grouped as the exporters sent them.
#[derive(Debug, Default, Clone)]
pub struct Collected {
    inner: Arc<Mutex<Vec<ResourceSpans>>>,
    metrics_requests: Arc<AtomicU64>,
}

impl Collected {
    /// Everything received so far.
    pub fn snapshot(&self) -> Vec<ResourceSpans> {
        self.inner.lock().expect("collector lock").clone()
    }

    /// How many OTLP metrics requests (`POST /v1/metrics`) arrived; their content is not kept.
    pub fn metrics_requests(&self) -> u64 {
        self.metrics_requests.load(Ordering::Relaxed)
    }

    /// Whether every CLIENT span with `network.transport=tcp` has a child among the spans
    /// received.
    fn remote_calls_answered(&self) -> bool {
        use opentelemetry_proto::tonic::{common::v1::any_value, trace::v1::span::SpanKind};
        let resources = self.inner.lock().expect("collector lock");
        let spans = || {
            resources
                .iter()
                .flat_map(|r| &r.scope_spans)
                .flat_map(|s| &s.spans)
        };
        let over_tcp = |span: &&opentelemetry_proto::tonic::trace::v1::Span| {
            span.kind == SpanKind::Client as i32
                && span.attributes.iter().any(|kv| {
                    kv.key == crate::attr::NETWORK_TRANSPORT
                        && matches!(
                            kv.value.as_ref().and_then(|v| v.value.as_ref()),
                            Some(any_value::Value::StringValue(t)) if t == "tcp"
                        )
                })
        };
        let parents: std::collections::HashSet<&[u8]> =
            spans().map(|span| span.parent_span_id.as_slice()).collect();
        spans()
            .filter(over_tcp)
            .all(|call| parents.contains(call.span_id.as_slice()))
    }

    /// Whether, in the trace `trace_id`, every CLIENT span of an MCP request
    /// (`mcp.method.name`) has a child among the spans received; false before any of its
    /// spans arrived.
    fn calls_answered(&self, trace_id: &[u8]) -> bool {
        use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
        let resources = self.inner.lock().expect("collector lock");
        let spans: Vec<&opentelemetry_proto::tonic::trace::v1::Span> = resources
            .iter()
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| &s.spans)
            .collect();
        let trace: Vec<_> = spans.iter().filter(|s| s.trace_id == trace_id).collect();
        if trace.is_empty() {
            return false;
        }
        let parents: std::collections::HashSet<&[u8]> =
            trace.iter().map(|s| s.parent_span_id.as_slice()).collect();
        trace
            .iter()
            .filter(|s| {
                s.kind == SpanKind::Client as i32
                    && s.attributes
                        .iter()
                        .any(|kv| kv.key == crate::attr::MCP_METHOD_NAME)
            })
            .all(|call| parents.contains(call.span_id.as_slice()))
    }

    fn add(&self, request: ExportTraceServiceRequest) {
        self.inner
            .lock()
            .expect("collector lock")
            .extend(request.resource_spans);
    }
}

/// A running receiver; it stops when dropped.
#[derive(Debug)]
pub struct Receiver {
    addr: SocketAddr,
    collected: Collected,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    /// Binds 127.0.0.1 on an ephemeral port and starts serving.
    pub async fn start() -> std::io::Result<Self> {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// Binds `addr` and starts serving.
    pub async fn start_on(addr: SocketAddr) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let collected = Collected::default();
        let sink = collected.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    // Out of file descriptors, most likely: wait rather than spin.
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                };
                let sink = sink.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request| handle(request, sink.clone()));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(Self {
            addr,
            collected,
            task,
        })
    }

    /// Waits, at most `limit`, until every CLIENT span sent over TCP (a call to a server
    /// reached by URL) has a child here, that is until the servers that export to this
    /// receiver have delivered their side of each call.
    pub async fn wait_for_remote_children(&self, limit: std::time::Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        while !self.collected.remote_calls_answered() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// Waits, at most `limit`, until every CLIENT span of an MCP request in the trace
    /// `trace_id` has a child here: the servers' side of each call. A server that exports
    /// no spans leaves the wait to run its course.
    pub async fn wait_for_children_of(
        &self,
        trace_id: opentelemetry::trace::TraceId,
        limit: std::time::Duration,
    ) {
        let deadline = tokio::time::Instant::now() + limit;
        let id = trace_id.to_bytes();
        while !self.collected.calls_answered(&id) && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
    }

    /// The traces endpoint, e.g. `http://127.0.0.1:41234/v1/traces`.
    pub fn traces_endpoint(&self) -> String {
        format!("http://{}/v1/traces", self.addr)
    }

    /// What has arrived.
    pub fn collected(&self) -> &Collected {
        &self.collected
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn handle(
    request: Request<Incoming>,
    sink: Collected,
) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
    let path = request.uri().path();
    if request.method() == Method::POST && path == "/v1/metrics" {
        // Read to the end (within the limit) so the connection stays usable, then drop.
        if let Err(error) = Limited::new(request.into_body(), MAX_BODY_BYTES)
            .collect()
            .await
        {
            return Ok(reply(StatusCode::PAYLOAD_TOO_LARGE, &error.to_string()));
        }
        sink.metrics_requests.fetch_add(1, Ordering::Relaxed);
        // An empty protobuf body is an ExportMetricsServiceResponse with nothing rejected.
        return Ok(protobuf_ok(Vec::new()));
    }
    if request.method() != Method::POST || path != "/v1/traces" {
        return Ok(reply(
            StatusCode::NOT_FOUND,
            "only POST /v1/traces and /v1/metrics are served",
        ));
    }
    let json = request
        .headers()
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let body = match Limited::new(request.into_body(), MAX_BODY_BYTES)
        .collect()
        .await
    {
        Ok(body) => body.to_bytes(),
        Err(error) => return Ok(reply(StatusCode::PAYLOAD_TOO_LARGE, &error.to_string())),
    };
    let decoded = if json {
        serde_json::from_slice::<ExportTraceServiceRequest>(&body).map_err(|e| e.to_string())
    } else {
        ExportTraceServiceRequest::decode(body).map_err(|e| e.to_string())
    };
    match decoded {
        Ok(export) => {
            sink.add(export);
            Ok(protobuf_ok(
                ExportTraceServiceResponse::default().encode_to_vec(),
            ))
        }
        Err(error) => Ok(reply(StatusCode::BAD_REQUEST, &error)),
    }
}

/// A 200 with a protobuf body.
fn protobuf_ok(body: Vec<u8>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/x-protobuf"),
    );
    response
}

fn reply(status: StatusCode, message: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(message.to_owned())));
    *response.status_mut() = status;
    response
}
