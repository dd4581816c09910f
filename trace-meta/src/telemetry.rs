//! Telemetry setup: one call per process, returning a guard that flushes on the way out.
//!
//! [`init`] (or [`Telemetry`] for more control) installs:
//! - a tracer provider whose resource has `service.name` (`OTEL_SERVICE_NAME` wins),
//!   `process.pid` and whatever `OTEL_RESOURCE_ATTRIBUTES` adds, and whose sampler follows
//!   `OTEL_TRACES_SAMPLER` (default: parent-based, always on);
//! - batch export over OTLP to the endpoint named by `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`
//!   (used as is) or `OTEL_EXPORTER_OTLP_ENDPOINT` (`/v1/traces` appended), over
//!   `http/protobuf` unless `OTEL_EXPORTER_OTLP_PROTOCOL=grpc` (cargo feature `grpc`), with
//!   `OTEL_EXPORTER_OTLP_HEADERS` and, when `CONFIDENT_API_KEY` is set, the
//!   `x-confident-api-key` header;
//! - a second, independent OTLP/HTTP destination when [`LOCAL_ENDPOINT_ENV`] names one, so a
//!   host can collect its children's spans while they also reach the user's backend;
//! - the global propagator from `OTEL_PROPAGATORS` ([`propagation::install_propagator`]);
//! - a `tracing` subscriber: human logs on **stderr** filtered by `RUST_LOG`, plus the
//!   OpenTelemetry layer that turns `tracing` spans into OpenTelemetry spans.
//!
//! Nothing configured means no exporter, no network and no noise. `OTEL_SDK_DISABLED=true`
//! turns tracing off and keeps the logs. Export runs on the batch processor's own thread, so
//! a request never waits on a backend; a failing backend is reported once on stderr.

use std::{
    fmt,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use opentelemetry::{KeyValue, trace::TracerProvider as _};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::{
    Resource,
    error::OTelSdkResult,
    trace::{
        BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider, SpanData, SpanExporter,
        SpanProcessor,
    },
};
use tracing_subscriber::{
    EnvFilter, Layer, filter::filter_fn, layer::SubscriberExt, util::SubscriberInitExt,
};

use crate::propagation;

/// Environment variable naming a second OTLP/HTTP traces endpoint (a full URL, used as is).
///
/// `mcp-host` sets it for the servers it starts, pointing at its local receiver, so that it
/// can print the whole trace while every process still exports to the user's backend.
pub const LOCAL_ENDPOINT_ENV: &str = "TRACE_META_LOCAL_ENDPOINT";

/// How long the guard waits, per destination, for the last spans to leave on shutdown.
///
/// With the two destinations a host sets up, a server with a silent backend still exits on
/// its own within the 2–3 s MCP hosts wait before they send SIGTERM.
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_millis(1500);

/// Spans per export request unless `OTEL_BSP_MAX_EXPORT_BATCH_SIZE` says otherwise.
pub const DEFAULT_EXPORT_BATCH_SIZE: usize = 128;

/// Default time one OTLP export may take (`OTEL_EXPORTER_OTLP_TIMEOUT` overrides).
pub const EXPORT_TIMEOUT: Duration = Duration::from_secs(3);

/// Errors of telemetry setup.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// An OTLP exporter could not be built from the configuration.
    #[error("cannot set up the OTLP trace exporter for {endpoint}: {source}")]
    Exporter {
        /// The endpoint, or the variable it was to come from.
        endpoint: String,
        /// What the exporter builder said.
        #[source]
        source: opentelemetry_otlp::ExporterBuildError,
    },
    /// `OTEL_EXPORTER_OTLP_PROTOCOL` names a protocol this build cannot speak.
    #[error(
        "OTEL_EXPORTER_OTLP_PROTOCOL={0} is not supported by this build (use http/protobuf{grpc})",
        grpc = if cfg!(feature = "grpc") { " or grpc" } else { ", or build with the `grpc` feature" }
    )]
    UnsupportedProtocol(String),
    /// The HTTP client or the gRPC runtime of an exporter could not be started.
    #[error("cannot start the OTLP exporter's HTTP client or runtime: {0}")]
    Runtime(String),
    /// A global `tracing` subscriber was already installed.
    #[error("a global tracing subscriber is already installed: {0}")]
    Subscriber(#[from] tracing_subscriber::util::TryInitError),
}

/// Sets up telemetry for the process `service_name` with the defaults; see the module doc.
pub fn init(service_name: &str) -> Result<TelemetryGuard, TelemetryError> {
    Telemetry::new(service_name).init()
}

/// Builder for a process's telemetry, for what [`init`] does not cover.
pub struct Telemetry {
    service_name: String,
    default_log_filter: String,
    local_endpoint: Option<String>,
    extra_processors: Vec<BatchSpanProcessor>,
}

impl fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Telemetry")
            .field("service_name", &self.service_name)
            .field("default_log_filter", &self.default_log_filter)
            .field("local_endpoint", &self.local_endpoint)
            .field("extra_processors", &self.extra_processors.len())
            .finish()
    }
}

impl Telemetry {
    /// Telemetry for the process `service_name` (its default `service.name`).
    pub fn new(service_name: &str) -> Self {
        Self {
            service_name: service_name.to_owned(),
            default_log_filter: "warn".to_owned(),
            local_endpoint: std::env::var(LOCAL_ENDPOINT_ENV)
                .ok()
                .filter(|s| !s.trim().is_empty()),
            extra_processors: Vec::new(),
        }
    }

    /// The log filter used when `RUST_LOG` is unset (default `warn`).
    pub fn with_default_log_filter(mut self, filter: &str) -> Self {
        self.default_log_filter = filter.to_owned();
        self
    }

    /// Sets the second OTLP/HTTP destination, overriding [`LOCAL_ENDPOINT_ENV`].
    pub fn with_local_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.local_endpoint = Some(endpoint.into());
        self
    }

    /// Adds a destination of your own, with its own batch processor.
    pub fn with_span_exporter<E: SpanExporter + 'static>(mut self, exporter: E) -> Self {
        self.extra_processors
            .push(BatchSpanProcessor::builder(exporter).build());
        self
    }

    /// Whether spans would leave the process: `OTEL_SDK_DISABLED` is not `true`, and a
    /// local endpoint, an exporter of your own, or the standard variables
    /// (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, `OTEL_EXPORTER_OTLP_ENDPOINT`) name a
    /// destination. A relay that forwards trace context uses it to stay out of the way
    /// when its own spans would go nowhere.
    pub fn exports_anywhere(&self) -> bool {
        let set = |name: &str| std::env::var(name).is_ok_and(|v| !v.trim().is_empty());
        !env_flag("OTEL_SDK_DISABLED")
            && (self.local_endpoint.is_some()
                || !self.extra_processors.is_empty()
                || set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
                || set("OTEL_EXPORTER_OTLP_ENDPOINT"))
    }

    /// Installs everything and returns the guard that flushes on drop.
    pub fn init(self) -> Result<TelemetryGuard, TelemetryError> {
        ensure_crypto_provider();
        let disabled = env_flag("OTEL_SDK_DISABLED");
        let default_log_filter = self.default_log_filter.clone();
        let provider = if disabled {
            None
        } else {
            Some(self.build_provider()?)
        };

        let filter = EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| EnvFilter::new(&default_log_filter));
        let fmt = tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(false)
            .with_target(true)
            .with_filter(filter);
        let otel = provider.as_ref().map(|provider| {
            opentelemetry::global::set_tracer_provider(provider.clone());
            // Code locations, thread ids and busy/idle times are not part of the trace
            // conventions; leaving them out keeps spans small and backends tidy.
            tracing_opentelemetry::layer()
                .with_tracer(provider.tracer("trace-meta"))
                .with_location(false)
                .with_threads(false)
                .with_target(false)
                .with_tracked_inactivity(false)
                .with_filter(filter_fn(exported_to_otel))
        });
        tracing_subscriber::registry()
            .with(fmt)
            .with(otel)
            .try_init()?;
        // After the subscriber, so that a warning about OTEL_PROPAGATORS reaches stderr.
        propagation::install_propagator();

        Ok(TelemetryGuard {
            provider,
            shut_down: false,
        })
    }

    fn build_provider(self) -> Result<SdkTracerProvider, TelemetryError> {
        let mut resource = Resource::builder()
            .with_attribute(KeyValue::new("process.pid", i64::from(std::process::id())));
        if std::env::var("OTEL_SERVICE_NAME").map_or(true, |name| name.trim().is_empty()) {
            resource = resource.with_service_name(self.service_name.clone());
        }
        let mut builder = SdkTracerProvider::builder().with_resource(resource.build());

        // The local destination first: processors shut down in order, each within
        // SHUTDOWN_TIMEOUT, and a slow remote backend must not keep spans from the host's view.
        if let Some(endpoint) = &self.local_endpoint {
            let exporter = http_exporter(Some(endpoint), false)?;
            builder = builder.with_span_processor(exporter.into_processor());
        }
        if let Some(processor) = user_processor()? {
            builder = builder.with_span_processor(processor);
        }
        for processor in self.extra_processors {
            builder = builder.with_span_processor(processor);
        }
        Ok(builder.build())
    }
}

/// Which `tracing` spans and events become OpenTelemetry data.
///
/// rmcp logs whole payloads at DEBUG and keeps a session-long span; the exporter's own
/// HTTP stack would feed its errors back into the pipeline it reports on. None of that
/// belongs in a user's trace.
fn exported_to_otel(meta: &tracing::Metadata<'_>) -> bool {
    const EXCLUDED: [&str; 8] = [
        "rmcp",
        "opentelemetry",
        "tracing_opentelemetry",
        "reqwest",
        "hyper",
        "h2",
        "tonic",
        "rustls",
    ];
    let target = meta.target();
    *meta.level() <= tracing::Level::INFO
        && !EXCLUDED.iter().any(|excluded| target.starts_with(excluded))
}

fn env_flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

/// rustls needs one process-wide crypto provider; reqwest is built without picking one.
fn ensure_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The exporter to the user's backend, when the standard variables name one.
fn user_processor() -> Result<Option<ReportingProcessor>, TelemetryError> {
    let set = |name: &str| std::env::var(name).is_ok_and(|v| !v.trim().is_empty());
    if !set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") && !set("OTEL_EXPORTER_OTLP_ENDPOINT") {
        return Ok(None);
    }
    let protocol = std::env::var("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        .or_else(|_| std::env::var("OTEL_EXPORTER_OTLP_PROTOCOL"))
        .unwrap_or_default();
    match protocol.trim() {
        "" | "http/protobuf" => http_exporter(None, true).map(|e| Some(e.into_processor())),
        #[cfg(feature = "grpc")]
        "grpc" => grpc_exporter().map(|e| Some(e.into_processor())),
        other => Err(TelemetryError::UnsupportedProtocol(other.to_owned())),
    }
}

fn confident_headers() -> std::collections::HashMap<String, String> {
    std::env::var("CONFIDENT_API_KEY")
        .ok()
        .filter(|key| !key.trim().is_empty())
        .map(|key| ("x-confident-api-key".to_owned(), key.trim().to_owned()))
        .into_iter()
        .collect()
}

/// An OTLP/HTTP protobuf exporter: to `endpoint`, or wherever the standard variables say.
fn http_exporter(endpoint: Option<&str>, user: bool) -> Result<ReportingExporter, TelemetryError> {
    let mut builder = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_timeout(EXPORT_TIMEOUT);
    if let Some(endpoint) = endpoint {
        builder = builder.with_endpoint(endpoint);
    }
    if user {
        builder = builder.with_headers(confident_headers());
    } else {
        // The exporter adds OTEL_EXPORTER_OTLP_HEADERS to every request; the user's
        // credentials are for the user's backend, never for a second destination.
        builder = builder.with_http_client(HeaderFreeClient::new(EXPORT_TIMEOUT)?);
    }
    let label = endpoint.map_or_else(user_endpoint_label, redact_url);
    let exporter = builder.build().map_err(|source| TelemetryError::Exporter {
        endpoint: label.clone(),
        source,
    })?;
    Ok(ReportingExporter::new(label, exporter))
}

/// An OTLP/gRPC exporter to wherever the standard variables say.
///
/// tonic needs a tokio runtime, and the batch processor exports from a plain thread (a
/// server may not have started its own runtime yet when telemetry is set up), so the
/// exporter brings a one-thread runtime of its own.
#[cfg(feature = "grpc")]
fn grpc_exporter() -> Result<ReportingExporter<GrpcExporter>, TelemetryError> {
    use opentelemetry_otlp::WithTonicConfig;
    let mut metadata = tonic::metadata::MetadataMap::new();
    for (key, value) in confident_headers() {
        if let (Ok(key), Ok(value)) = (
            tonic::metadata::MetadataKey::from_bytes(key.as_bytes()),
            value.parse(),
        ) {
            metadata.insert(key, value);
        }
    }
    let label = user_endpoint_label();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("trace-meta-grpc")
        .enable_all()
        .build()
        .map_err(|error| TelemetryError::Runtime(error.to_string()))?;
    let exporter = {
        let _entered = runtime.enter();
        opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_timeout(EXPORT_TIMEOUT)
            .with_metadata(metadata)
            .build()
            .map_err(|source| TelemetryError::Exporter {
                endpoint: label.clone(),
                source,
            })?
    };
    Ok(ReportingExporter::new(
        label,
        GrpcExporter {
            inner: Arc::new(exporter),
            runtime,
        },
    ))
}

/// The tonic exporter and the runtime its exports run on.
#[cfg(feature = "grpc")]
#[derive(Debug)]
struct GrpcExporter {
    inner: Arc<opentelemetry_otlp::SpanExporter>,
    runtime: tokio::runtime::Runtime,
}

#[cfg(feature = "grpc")]
impl SpanExporter for GrpcExporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let inner = self.inner.clone();
        self.runtime
            .spawn(async move { inner.export(batch).await })
            .await
            .unwrap_or_else(|error| {
                Err(opentelemetry_sdk::error::OTelSdkError::InternalFailure(
                    error.to_string(),
                ))
            })
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        let _entered = self.runtime.enter();
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        // The provider sets the resource once, before any export shares the exporter.
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.set_resource(resource);
        }
    }
}

/// An HTTP client that sends only the headers an OTLP request needs, for the second
/// destination.
#[derive(Debug)]
struct HeaderFreeClient(reqwest::blocking::Client);

impl HeaderFreeClient {
    fn new(timeout: Duration) -> Result<Self, TelemetryError> {
        // reqwest's blocking client owns a runtime, which must not be created or dropped on
        // an async runtime's thread: build it on a thread of its own.
        std::thread::spawn(move || {
            reqwest::blocking::Client::builder()
                .timeout(timeout)
                .build()
        })
        .join()
        .map_err(|_| TelemetryError::Runtime("building the HTTP client panicked".into()))?
        .map(Self)
        .map_err(|error| TelemetryError::Runtime(error.to_string()))
    }
}

#[async_trait::async_trait]
impl opentelemetry_http::HttpClient for HeaderFreeClient {
    async fn send_bytes(
        &self,
        mut request: opentelemetry_http::Request<opentelemetry_http::Bytes>,
    ) -> Result<
        opentelemetry_http::Response<opentelemetry_http::Bytes>,
        opentelemetry_http::HttpError,
    > {
        const KEPT: [&str; 3] = ["content-type", "content-encoding", "user-agent"];
        let headers = request.headers_mut();
        let dropped: Vec<_> = headers
            .keys()
            .filter(|name| !KEPT.contains(&name.as_str()))
            .cloned()
            .collect();
        for name in dropped {
            headers.remove(name);
        }
        self.0.send_bytes(request).await
    }
}

/// The user's endpoint as logs may show it: scheme, host and path, never credentials.
fn user_endpoint_label() -> String {
    let raw = std::env::var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        .or_else(|_| std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT"))
        .unwrap_or_default();
    redact_url(&raw)
}

/// Drops any `user:password@` part and query string of a URL.
fn redact_url(raw: &str) -> String {
    let raw = raw.trim();
    let without_query = raw.split(['?', '#']).next().unwrap_or_default();
    match without_query.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_once('/').map_or((rest, ""), |(a, p)| (a, p));
            let host = authority.rsplit('@').next().unwrap_or_default();
            if path.is_empty() {
                format!("{scheme}://{host}")
            } else {
                format!("{scheme}://{host}/{path}")
            }
        }
        None => without_query.to_owned(),
    }
}

/// Wraps an exporter so a failing backend is reported once, not once per batch.
///
/// The first failure logs a warning naming the endpoint (never its headers); later failures
/// are counted silently, and a recovery is logged once. [`ReportingProcessor`] reports the
/// totals at shutdown.
#[derive(Debug)]
struct ReportingExporter<E = opentelemetry_otlp::SpanExporter> {
    inner: E,
    state: Arc<ExportState>,
}

/// What one destination did with the spans it was given.
#[derive(Debug)]
struct ExportState {
    endpoint: String,
    failing: AtomicBool,
    /// Spans that ended and were offered to the batch processor.
    ended: AtomicU64,
    /// Spans the batch processor handed to the exporter.
    exported: AtomicU64,
    /// Of those, spans whose export failed.
    failed: AtomicU64,
}

impl<E: SpanExporter + 'static> ReportingExporter<E> {
    fn new(endpoint: String, inner: E) -> Self {
        Self {
            inner,
            state: Arc::new(ExportState {
                endpoint,
                failing: AtomicBool::new(false),
                ended: AtomicU64::new(0),
                exported: AtomicU64::new(0),
                failed: AtomicU64::new(0),
            }),
        }
    }

    /// Puts the exporter behind its own batch processor, which reports what was lost.
    fn into_processor(self) -> ReportingProcessor {
        let state = self.state.clone();
        // Smaller batches than the SDK's 512 keep a server's memory flat under a burst of
        // calls (each batch is encoded in one piece), at the cost of more, smaller requests.
        let mut config = BatchConfigBuilder::default();
        if std::env::var_os("OTEL_BSP_MAX_EXPORT_BATCH_SIZE").is_none() {
            config = config.with_max_export_batch_size(DEFAULT_EXPORT_BATCH_SIZE);
        }
        ReportingProcessor {
            inner: BatchSpanProcessor::builder(self)
                .with_batch_config(config.build())
                .build(),
            state,
        }
    }
}

impl<E: SpanExporter> SpanExporter for ReportingExporter<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let spans = batch.len() as u64;
        self.state.exported.fetch_add(spans, Ordering::Relaxed);
        let result = self.inner.export(batch).await;
        match &result {
            Ok(()) => {
                if self.state.failing.swap(false, Ordering::Relaxed) {
                    tracing::warn!(
                        target: "trace_meta::export",
                        "trace export to {} works again",
                        self.state.endpoint
                    );
                }
            }
            Err(error) => {
                self.state.failed.fetch_add(spans, Ordering::Relaxed);
                if !self.state.failing.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        target: "trace_meta::export",
                        "trace export to {} failed: {error}; spans are dropped until it answers, further failures are counted",
                        self.state.endpoint
                    );
                }
            }
        }
        result
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

/// A batch processor that counts what it is given, so that spans dropped because the
/// queue was full (a backend slower than the spans arrive) are reported, once, at shutdown.
#[derive(Debug)]
struct ReportingProcessor {
    inner: BatchSpanProcessor,
    state: Arc<ExportState>,
}

impl SpanProcessor for ReportingProcessor {
    fn on_start(&self, span: &mut opentelemetry_sdk::trace::Span, cx: &opentelemetry::Context) {
        self.inner.on_start(span, cx);
    }

    fn on_end(&self, span: SpanData) {
        self.state.ended.fetch_add(1, Ordering::Relaxed);
        self.inner.on_end(span);
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        let result = self.inner.shutdown_with_timeout(timeout);
        let state = &self.state;
        let ended = state.ended.load(Ordering::Relaxed);
        let exported = state.exported.load(Ordering::Relaxed);
        let failed = state.failed.load(Ordering::Relaxed);
        let dropped = ended.saturating_sub(exported);
        if failed > 0 || dropped > 0 {
            tracing::warn!(
                target: "trace_meta::export",
                "{} of {ended} spans did not reach {}: {failed} failed to export, {dropped} dropped because the export queue was full or shutdown timed out",
                failed + dropped,
                state.endpoint
            );
        }
        result
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

/// Flushes and shuts telemetry down on [`shutdown`](TelemetryGuard::shutdown) or drop.
///
/// Keep it alive for the life of the process (`let _telemetry = trace_meta::telemetry::init(..)?;`).
/// Shutdown waits at most [`SHUTDOWN_TIMEOUT`]; a backend that does not answer in time is
/// logged, not fatal, so the process still exits normally.
#[must_use = "telemetry shuts down when the guard is dropped"]
#[derive(Debug)]
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
    shut_down: bool,
}

impl TelemetryGuard {
    /// The tracer provider, `None` when `OTEL_SDK_DISABLED=true`.
    pub fn provider(&self) -> Option<&SdkTracerProvider> {
        self.provider.as_ref()
    }

    /// Exports every finished span now, waiting for the exporters.
    pub fn force_flush(&self) {
        if let Some(Err(error)) = self.provider.as_ref().map(|p| p.force_flush()) {
            tracing::warn!(target: "trace_meta::export", "flushing spans failed: {error}");
        }
    }

    /// Flushes the last spans and stops the exporters. Later calls do nothing.
    pub fn shutdown(&mut self) {
        if std::mem::replace(&mut self.shut_down, true) {
            return;
        }
        let result = self
            .provider
            .as_ref()
            .map(|p| p.shutdown_with_timeout(SHUTDOWN_TIMEOUT));
        if let Some(Err(error)) = result {
            tracing::warn!(target: "trace_meta::export", "shutting down trace export: {error}");
        }
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        self.shutdown();
    }
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn redact_url_hides_credentials_and_query() {
        assert_eq!(
            redact_url("https://user:secret@otel.example.com/v1/traces?token=x"),
            "https://otel.example.com/v1/traces"
        );
        assert_eq!(redact_url("http://127.0.0.1:4318"), "http://127.0.0.1:4318");
    }
}
