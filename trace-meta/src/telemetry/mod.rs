//! Telemetry setup: a builder that returns the pieces, and one call that installs them.
//!
//! [`Telemetry::build`] builds a [`Pipeline`] and installs nothing global: the tracer
//! provider, the meter provider (feature `metrics`), the `tracing` layers (the one that
//! turns `tracing` spans into OpenTelemetry spans, and human logs on stderr), and the guard
//! that flushes them. An application with a `tracing` pipeline of its own adds the layers
//! it wants to its subscriber:
//!
//! ```no_run
//! use tracing_subscriber::layer::SubscriberExt as _;
//! use tracing_subscriber::util::SubscriberInitExt as _;
//! # fn demo() -> anyhow::Result<()> {
//! let pipeline = trace_meta::telemetry::Telemetry::new("my-server").build()?;
//! tracing_subscriber::registry()
//!     .with(pipeline.otel_layer())
//!     // .with(your own layers: fmt, a file appender, sentry, ...)
//!     .init();
//! // The propagator and the meter provider trace-meta's instrumentation uses.
//! pipeline.install_globals();
//! let _guard = pipeline.into_guard(); // flushes when dropped
//! # Ok(()) }
//! ```
//!
//! [`init`] (and [`Telemetry::init`]) is all of that in one call, with the stderr logs.
//!
//! What a pipeline holds:
//! - a tracer provider whose resource has `service.name` (`OTEL_SERVICE_NAME` wins),
//!   `process.pid` and whatever `OTEL_RESOURCE_ATTRIBUTES` adds, and whose sampler follows
//!   `OTEL_TRACES_SAMPLER` (default: parent-based, always on);
//! - with `otlp`: batch export over OTLP to the endpoint named by
//!   `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (used as is) or `OTEL_EXPORTER_OTLP_ENDPOINT`
//!   (`/v1/traces` appended), over `http/protobuf` unless `OTEL_EXPORTER_OTLP_PROTOCOL=grpc`
//!   (feature `grpc`), with `OTEL_EXPORTER_OTLP_HEADERS`, the timeout of
//!   `OTEL_EXPORTER_OTLP_TRACES_TIMEOUT` / `OTEL_EXPORTER_OTLP_TIMEOUT` (ms, default
//!   [`EXPORT_TIMEOUT`]) and, when `CONFIDENT_API_KEY` is set, the `x-confident-api-key`
//!   header;
//! - with `otlp`: a second, independent OTLP/HTTP destination when [`LOCAL_ENDPOINT_ENV`]
//!   names one, so a host can collect its children's spans while they also reach the
//!   user's backend;
//! - with `metrics` and `otlp`: a meter provider for the [`metrics`](crate::metrics) of MCP
//!   requests and sessions, exported over OTLP/HTTP every `OTEL_METRIC_EXPORT_INTERVAL` ms
//!   when `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT`, `OTEL_EXPORTER_OTLP_ENDPOINT` or
//!   `OTEL_METRICS_EXPORTER=otlp` asks for it (`OTEL_METRICS_EXPORTER=none` turns it off);
//!   never to Confident AI, which takes traces only (the rules are in `metrics_export.rs`);
//! - exporters of your own ([`Telemetry::with_span_exporter`]).
//!
//! Nothing configured means no exporter, no network and no noise. `OTEL_SDK_DISABLED=true`
//! turns tracing off and keeps the logs. Every OTLP exporter of the process (both span
//! destinations and metrics) runs on one export thread with a one-thread tokio runtime and
//! one HTTP client, started only when something is exported; ended spans wait in a queue
//! that grows as needed (up to `OTEL_BSP_MAX_QUEUE_SIZE`) and leave in batches, so a
//! request never waits on a backend. A failing backend is reported once on stderr.
//!
//! **TLS.** An `https://` endpoint needs rustls (feature `tls`) and a crypto provider,
//! which is the application's choice: it installs one before building the pipeline. With
//! `tls-ring`, ring is installed ([`install_tls_provider`](crate::install_tls_provider))
//! when an exporter needs TLS and none is installed yet. Without `tls`, or with `tls` and
//! no provider installed, an `https://` endpoint is a [`TelemetryError::NoTls`].
//!
//! This file is the builder ([`Telemetry`]), the pipeline and the guard ([`TelemetryGuard`]);
//! what the standard variables say is in `env.rs`; the exporter choice, the second
//! destination and the HTTP client are in `export.rs`, the
//! batch processor in `batch.rs`, the export thread in `runtime.rs`, OTLP/gRPC in
//! `grpc.rs`, loss reporting in `report.rs`, and metrics export in `metrics_export.rs` (what
//! is recorded is in the crate's `metrics` module).

#[cfg(feature = "otlp")]
mod batch;
#[cfg(feature = "otlp")]
mod env;
#[cfg(feature = "otlp")]
mod export;
#[cfg(feature = "grpc")]
mod grpc;
#[cfg(all(feature = "metrics", feature = "otlp"))]
mod metrics_export;
#[cfg(feature = "otlp")]
mod report;
#[cfg(feature = "otlp")]
mod runtime;

use std::{fmt, time::Duration};

use opentelemetry::{KeyValue, trace::TracerProvider as _};
use opentelemetry_sdk::{
    Resource,
    trace::{BatchSpanProcessor, SdkTracerProvider, SpanExporter},
};
use tracing::Subscriber;
use tracing_subscriber::{
    EnvFilter, Layer, filter::filter_fn, layer::SubscriberExt, registry::LookupSpan,
    util::SubscriberInitExt,
};

use crate::propagation;

#[cfg(feature = "otlp")]
pub use report::{ExportFailure, SpanLoss};

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
///
/// Smaller than the SDK's 512: each batch is encoded in one piece, and on a busy server 512
/// bought no throughput and cost about 3 MB of peak RSS (BENCHMARKS.md).
pub const DEFAULT_EXPORT_BATCH_SIZE: usize = 128;

/// Default time one OTLP export may take (`OTEL_EXPORTER_OTLP_TRACES_TIMEOUT` or
/// `OTEL_EXPORTER_OTLP_TIMEOUT`, in milliseconds, override it).
pub const EXPORT_TIMEOUT: Duration = Duration::from_secs(3);

/// Errors of telemetry setup and shutdown.
///
/// Each message says what failed; the cause, where there is one, is its `source()` (print
/// the chain, e.g. with anyhow's `{:#}`, to see both).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TelemetryError {
    /// An OTLP exporter could not be built from the configuration.
    #[cfg(feature = "otlp")]
    #[error("cannot set up the OTLP exporter for {endpoint}")]
    Exporter {
        /// The endpoint, or the variable it was to come from.
        endpoint: String,
        /// What the exporter builder said (an OpenTelemetry error, boxed so that its type
        /// is not part of this crate's API).
        #[source]
        error: BoxError,
    },
    /// `OTEL_EXPORTER_OTLP_PROTOCOL` names a protocol this build cannot speak.
    #[cfg(feature = "otlp")]
    #[error(
        "OTEL_EXPORTER_OTLP_PROTOCOL={0} is not supported by this build (use http/protobuf{grpc})",
        grpc = if cfg!(feature = "grpc") { " or grpc" } else { ", or build with the `grpc` feature" }
    )]
    UnsupportedProtocol(String),
    /// An `https://` endpoint in a build without TLS (feature `tls`), or with `tls` but no
    /// rustls crypto provider installed (and no `tls-ring` to install one).
    #[cfg(feature = "otlp")]
    #[error(
        "{endpoint} needs TLS, {what}",
        what = if cfg!(feature = "tls") {
            "and no rustls crypto provider is installed: install one before telemetry starts (e.g. trace_meta::install_tls_provider with the `tls-ring` feature), or export through your own exporter (Telemetry::with_span_exporter)"
        } else {
            "which this build of trace-meta lacks: enable its `tls-ring` feature (or `tls` and install a rustls crypto provider), or export through your own exporter (Telemetry::with_span_exporter)"
        }
    )]
    NoTls {
        /// The endpoint, as logs may show it.
        endpoint: String,
    },
    /// The HTTP client or the gRPC runtime of an exporter could not be started.
    #[cfg(feature = "otlp")]
    #[error("cannot start the OTLP exporter's HTTP client or runtime")]
    Runtime(#[source] BoxError),
    /// The SDK could not shut the exporters down (e.g. it timed out).
    #[error("shutting down trace export failed")]
    Shutdown(#[source] BoxError),
    /// The last metrics did not leave (the backend failed or did not answer in time).
    #[cfg(all(feature = "metrics", feature = "otlp"))]
    #[error("shutting down metrics export failed")]
    MetricsShutdown(#[source] BoxError),
    /// Some destinations lost spans. A list has no single `source()`: the message is every
    /// loss with its cause, separated by `; `.
    #[cfg(feature = "otlp")]
    #[error("{}", .0.iter().map(|loss| crate::causes::chain(loss).to_string()).collect::<Vec<_>>().join("; "))]
    SpansLost(Vec<SpanLoss>),
    /// A global `tracing` subscriber was already installed ([`Telemetry::init`]; use
    /// [`Telemetry::build`] and add the layers to your own subscriber instead).
    #[error("a global tracing subscriber is already installed")]
    Subscriber(#[source] BoxError),
}

/// A dependency's error inside a [`TelemetryError`]: boxed, so that an OpenTelemetry release
/// does not change this crate's API. `downcast_ref` recovers the original.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Whether `metadata` is rmcp's `WARN response error` event, logged for every error answer
/// a handler returns: an invalid call, and every request its client cancelled (whose
/// answer rmcp then drops). The span already records each of them, so under the default
/// filter it is left out of the logs; an explicit `RUST_LOG` shows it. Recognised by its
/// target, level and field names (`id`, `error`, `message`), the only such event in rmcp.
fn is_rmcp_response_error(metadata: &tracing::Metadata<'_>) -> bool {
    metadata.target() == "rmcp::service"
        && *metadata.level() == tracing::Level::WARN
        && metadata.fields().len() == 3
        && ["id", "error", "message"]
            .iter()
            .all(|name| metadata.fields().field(name).is_some())
}

/// Sets up telemetry for the process `service_name` with the defaults and installs it as
/// the process's own; see the module doc.
pub fn init(service_name: &str) -> Result<TelemetryGuard, TelemetryError> {
    Telemetry::new(service_name).init()
}

/// Builder for a process's telemetry.
pub struct Telemetry {
    service_name: String,
    default_log_filter: String,
    #[cfg(feature = "otlp")]
    local_endpoint: Option<String>,
    extra_processors: Vec<BatchSpanProcessor>,
    #[cfg(feature = "span-return")]
    span_return: bool,
    span_names: Option<crate::SpanNames>,
    content_capture: Option<crate::content::Capture>,
}

impl fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("Telemetry");
        debug
            .field("service_name", &self.service_name)
            .field("default_log_filter", &self.default_log_filter);
        #[cfg(feature = "otlp")]
        debug.field("local_endpoint", &self.local_endpoint);
        #[cfg(feature = "span-return")]
        debug.field("span_return", &self.span_return);
        debug
            .field("span_names", &self.span_names)
            .field("content_capture", &self.content_capture)
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
            #[cfg(feature = "otlp")]
            local_endpoint: std::env::var(LOCAL_ENDPOINT_ENV)
                .ok()
                .filter(|s| !s.trim().is_empty()),
            extra_processors: Vec::new(),
            #[cfg(feature = "span-return")]
            span_return: crate::span_return::allowed_by_env(),
            span_names: None,
            content_capture: None,
        }
    }

    /// Names the spans of MCP requests this way, whatever [`SPAN_NAMES_ENV`](crate::SPAN_NAMES_ENV)
    /// says; unset, that variable decides. It becomes the process's choice
    /// ([`SpanNames::install`](crate::SpanNames::install)) when the pipeline is installed
    /// ([`init`](Self::init), [`Pipeline::install_globals`]).
    pub fn with_span_names(mut self, names: crate::SpanNames) -> Self {
        self.span_names = Some(names);
        self
    }

    /// Records this much content on spans, whatever
    /// [`CAPTURE_CONTENT_ENV`](crate::content::CAPTURE_CONTENT_ENV) says; unset, that
    /// variable decides. It becomes the process's choice
    /// ([`Capture::install`](crate::content::Capture::install)) when the pipeline is
    /// installed ([`init`](Self::init), [`Pipeline::install_globals`]).
    pub fn with_content_capture(mut self, capture: crate::content::Capture) -> Self {
        self.content_capture = Some(capture);
        self
    }

    /// Lets this process's [`Traced`](crate::Traced) servers return the spans of a request
    /// to a client that asks (SEP-2448; see [`span_return`](crate::span_return)), or not.
    /// The default is what [`span_return::ENV`](crate::span_return::ENV) says: off unless
    /// it is `true`, because spans can hold data.
    #[cfg(feature = "span-return")]
    pub fn with_span_return(mut self, allow: bool) -> Self {
        self.span_return = allow;
        self
    }

    /// The service name it was made with (`OTEL_SERVICE_NAME` may still override it in
    /// the resource).
    pub fn service_name(&self) -> &str {
        &self.service_name
    }

    /// The log filter used when `RUST_LOG` is unset (default `warn`).
    pub fn with_default_log_filter(mut self, filter: &str) -> Self {
        self.default_log_filter = filter.to_owned();
        self
    }

    /// Sets the second OTLP/HTTP destination, overriding [`LOCAL_ENDPOINT_ENV`].
    #[cfg(feature = "otlp")]
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
        if env_flag("OTEL_SDK_DISABLED") {
            return false;
        }
        if !self.extra_processors.is_empty() {
            return true;
        }
        #[cfg(feature = "otlp")]
        if self.local_endpoint.is_some() || export::user_endpoint_set() {
            return true;
        }
        false
    }

    /// Builds the providers, exporters and layers without installing anything global
    /// (but the TLS provider an `https://` exporter may need: see the module doc).
    pub fn build(self) -> Result<Pipeline, TelemetryError> {
        let default_log_filter = self.default_log_filter.clone();
        let choices = (self.span_names, self.content_capture);
        if env_flag("OTEL_SDK_DISABLED") {
            return Ok(Pipeline {
                default_log_filter,
                choices,
                metrics_warning: None,
                guard: TelemetryGuard::empty(),
            });
        }
        let resource = self.resource();
        #[cfg(feature = "otlp")]
        let mut clients = export::HttpClients::for_pipeline(self.local_endpoint.as_deref())?;
        let (provider, mut guard) = self.build_provider(
            resource.clone(),
            #[cfg(feature = "otlp")]
            &mut clients,
        )?;
        guard.provider = Some(provider);
        #[cfg(all(feature = "metrics", feature = "otlp"))]
        let (metrics, metrics_warning) = metrics_export::setup(resource, &mut clients, &mut guard)?;
        #[cfg(not(all(feature = "metrics", feature = "otlp")))]
        let metrics_warning = {
            let _ = resource;
            None
        };
        #[cfg(all(feature = "metrics", feature = "otlp"))]
        {
            guard.metrics = metrics;
        }
        Ok(Pipeline {
            default_log_filter,
            choices,
            metrics_warning,
            guard,
        })
    }

    /// Builds the pipeline and installs it as the process's: a global `tracing` subscriber
    /// with logs on **stderr** (filtered by `RUST_LOG`) and the OpenTelemetry layer, the
    /// global tracer and meter providers, and the propagator from `OTEL_PROPAGATORS`.
    /// Returns the guard that flushes on drop.
    pub fn init(self) -> Result<TelemetryGuard, TelemetryError> {
        let pipeline = self.build()?;
        tracing_subscriber::registry()
            .with(pipeline.log_layer())
            .with(pipeline.otel_layer())
            .try_init()
            .map_err(|error| TelemetryError::Subscriber(error.into()))?;
        // After the subscriber, so that a warning about OTEL_PROPAGATORS reaches stderr.
        pipeline.install_globals();
        Ok(pipeline.into_guard())
    }

    /// The process's resource, for spans and metrics alike.
    fn resource(&self) -> Resource {
        let mut resource = Resource::builder().with_attribute(KeyValue::new(
            crate::attributes::PROCESS_PID,
            i64::from(std::process::id()),
        ));
        if std::env::var("OTEL_SERVICE_NAME").map_or(true, |name| name.trim().is_empty()) {
            resource = resource.with_service_name(self.service_name.clone());
        }
        resource.build()
    }

    /// The provider, and a guard holding the accounts of the destinations that report
    /// their losses.
    fn build_provider(
        self,
        resource: Resource,
        #[cfg(feature = "otlp")] clients: &mut export::HttpClients,
    ) -> Result<(SdkTracerProvider, TelemetryGuard), TelemetryError> {
        #[allow(unused_mut)]
        let mut guard = TelemetryGuard::empty();
        let mut builder = SdkTracerProvider::builder().with_resource(resource);
        #[cfg(feature = "span-return")]
        let mut returned = crate::span_return::Destinations::default();
        #[cfg(feature = "span-return")]
        if self.span_return {
            let collector = std::sync::Arc::new(crate::span_return::Collector::default());
            builder = builder
                .with_span_processor(crate::span_return::CollectorProcessor(collector.clone()));
            guard.collector = Some(collector);
        }

        #[cfg(feature = "otlp")]
        if self.local_endpoint.is_some() || export::user_endpoint_set() {
            let runtime = guard.export_runtime()?;
            // The local destination first: processors shut down in order, each within
            // SHUTDOWN_TIMEOUT, and a slow remote backend must not keep spans from the host's
            // view.
            if let Some(endpoint) = &self.local_endpoint {
                let processor = export::local_processor(endpoint, clients, &runtime)?;
                guard.destinations.push(processor.state());
                #[cfg(feature = "span-return")]
                returned.targets.push(Box::new(
                    processor.destination(export::local_identity(endpoint)),
                ));
                builder = builder.with_span_processor(processor);
            }
            if let Some(processor) = export::user_processor(clients, &runtime)? {
                guard.destinations.push(processor.state());
                #[cfg(feature = "span-return")]
                returned
                    .targets
                    .push(Box::new(processor.destination(export::user_identity())));
                builder = builder.with_span_processor(processor);
            }
        }
        #[cfg(feature = "span-return")]
        {
            guard.returned = Some(std::sync::Arc::new(returned));
        }
        for processor in self.extra_processors {
            builder = builder.with_span_processor(processor);
        }
        Ok((builder.build(), guard))
    }
}

/// A process's telemetry, built and not yet installed: see the module doc.
#[derive(Debug)]
#[must_use = "telemetry shuts down when the pipeline (or its guard) is dropped"]
pub struct Pipeline {
    default_log_filter: String,
    /// The span names and content capture the builder was told, installed with the globals.
    choices: (Option<crate::SpanNames>, Option<crate::content::Capture>),
    metrics_warning: Option<String>,
    guard: TelemetryGuard,
}

impl Pipeline {
    /// The layer that turns `tracing` spans into OpenTelemetry spans of this pipeline's
    /// tracer provider; `None` when `OTEL_SDK_DISABLED=true`.
    ///
    /// It leaves out what does not belong in a user's trace: rmcp's payload logs and its
    /// session-long span, the exporter's own HTTP stack, DEBUG and TRACE spans.
    pub fn otel_layer<S>(&self) -> Option<impl Layer<S> + use<S>>
    where
        S: Subscriber + for<'span> LookupSpan<'span>,
    {
        let provider = self.guard.provider.as_ref()?;
        // Code locations, thread ids and busy/idle times are not part of the trace
        // conventions; leaving them out keeps spans small and backends tidy.
        Some(
            tracing_opentelemetry::layer()
                .with_tracer(provider.tracer("trace-meta"))
                .with_location(false)
                .with_threads(false)
                .with_target(false)
                .with_tracked_inactivity(false)
                .with_filter(filter_fn(exported_to_otel)),
        )
    }

    /// Human logs on stderr, filtered by `RUST_LOG` (else the default filter, `warn`),
    /// without rmcp's warning for every error answer (which the spans record) unless
    /// `RUST_LOG` asks for it.
    pub fn log_layer<S>(&self) -> impl Layer<S> + use<S>
    where
        S: Subscriber + for<'span> LookupSpan<'span>,
    {
        let explicit = EnvFilter::try_from_default_env().ok();
        let quiet_by_default = explicit.is_none();
        let filter = explicit.unwrap_or_else(|| EnvFilter::new(&self.default_log_filter));
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(false)
            .with_target(true)
            .with_filter(filter)
            .with_filter(filter_fn(move |metadata| {
                !(quiet_by_default && is_rmcp_response_error(metadata))
            }))
    }

    /// The tracer provider, `None` when `OTEL_SDK_DISABLED=true`.
    pub fn tracer_provider(&self) -> Option<&SdkTracerProvider> {
        self.guard.provider()
    }

    /// The meter provider, when metrics are exported.
    #[cfg(all(feature = "metrics", feature = "otlp"))]
    pub fn meter_provider(&self) -> Option<&opentelemetry_sdk::metrics::SdkMeterProvider> {
        self.guard.metrics.as_ref().map(|m| m.provider())
    }

    /// Installs what trace-meta's instrumentation reads from OpenTelemetry's globals: the
    /// tracer provider, the meter provider (when metrics are exported) and the propagator
    /// from `OTEL_PROPAGATORS`; and the span names and content capture the builder was
    /// given ([`Telemetry::with_span_names`], [`Telemetry::with_content_capture`]). Call
    /// it once your subscriber is in place: a warning about the configuration (an unknown
    /// propagator, metrics that cannot be exported) is logged here.
    pub fn install_globals(&self) {
        if let Some(names) = self.choices.0 {
            names.install();
        }
        if let Some(capture) = self.choices.1 {
            capture.install();
        }
        if let Some(provider) = &self.guard.provider {
            opentelemetry::global::set_tracer_provider(provider.clone());
        }
        #[cfg(all(feature = "metrics", feature = "otlp"))]
        if let Some(provider) = self.meter_provider() {
            opentelemetry::global::set_meter_provider(provider.clone());
        }
        propagation::install_propagator();
        #[cfg(feature = "span-return")]
        if self.guard.provider.is_some() {
            crate::span_return::install(self.guard.collector.clone(), self.guard.returned.clone());
        }
        if let Some(warning) = &self.metrics_warning {
            tracing::warn!(target: "trace_meta::export", "{warning}");
        }
    }

    /// The guard that flushes and shuts the pipeline down.
    pub fn into_guard(self) -> TelemetryGuard {
        self.guard
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

/// Whether the variable `name` is set to something other than blanks.
#[cfg(feature = "otlp")]
fn env_set(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| !v.trim().is_empty())
}

/// The whole number the variable `name` holds, read through `var` (the environment, or a
/// test's table); `None` when it is unset or not a number.
#[cfg(feature = "otlp")]
fn env_number(var: impl Fn(&str) -> Option<String>, name: &str) -> Option<u64> {
    var(name)?.trim().parse().ok()
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
    #[cfg(feature = "otlp")]
    destinations: Vec<std::sync::Arc<report::ExportState>>,
    #[cfg(all(feature = "metrics", feature = "otlp"))]
    metrics: Option<metrics_export::MetricsExport>,
    /// The export thread, stopped after the exporters.
    #[cfg(feature = "otlp")]
    export_runtime: Option<runtime::ExportRuntime>,
    /// The spans kept for requests that asked for them back (SEP-2448).
    #[cfg(feature = "span-return")]
    collector: Option<std::sync::Arc<crate::span_return::Collector>>,
    /// The destinations spans returned by other processes join.
    #[cfg(feature = "span-return")]
    returned: Option<std::sync::Arc<crate::span_return::Destinations>>,
    shut_down: bool,
}

impl TelemetryGuard {
    fn empty() -> Self {
        Self {
            provider: None,
            #[cfg(feature = "otlp")]
            destinations: Vec::new(),
            #[cfg(all(feature = "metrics", feature = "otlp"))]
            metrics: None,
            #[cfg(feature = "otlp")]
            export_runtime: None,
            #[cfg(feature = "span-return")]
            collector: None,
            #[cfg(feature = "span-return")]
            returned: None,
            shut_down: false,
        }
    }

    /// A handle to the export thread, which this guard starts the first time an exporter
    /// needs it and stops after the exporters.
    #[cfg(feature = "otlp")]
    fn export_runtime(&mut self) -> Result<tokio::runtime::Handle, TelemetryError> {
        let runtime = match &mut self.export_runtime {
            Some(runtime) => runtime,
            empty => empty.insert(runtime::ExportRuntime::start()?),
        };
        Ok(runtime.handle().clone())
    }

    /// The tracer provider, `None` when `OTEL_SDK_DISABLED=true`.
    pub fn provider(&self) -> Option<&SdkTracerProvider> {
        self.provider.as_ref()
    }

    /// Exports every finished span (and the metrics, when they are exported) now, waiting
    /// for the exporters.
    pub fn force_flush(&self) {
        if let Some(Err(error)) = self.provider.as_ref().map(|p| p.force_flush()) {
            tracing::warn!(target: "trace_meta::export", "flushing spans failed: {error}");
        }
        #[cfg(all(feature = "metrics", feature = "otlp"))]
        if let Some(Err(error)) = self.metrics.as_ref().map(|m| m.force_flush()) {
            tracing::warn!(target: "trace_meta::export", "flushing metrics failed: {error}");
        }
    }

    /// Whether metrics are exported (a meter provider is installed).
    pub fn exports_metrics(&self) -> bool {
        #[cfg(all(feature = "metrics", feature = "otlp"))]
        return self.metrics.is_some();
        #[cfg(not(all(feature = "metrics", feature = "otlp")))]
        false
    }

    /// Flushes the last spans and metrics and stops the exporters, within
    /// [`SHUTDOWN_TIMEOUT`] per span destination; the metrics' last export runs alongside,
    /// on the export thread, within [`SHUTDOWN_TIMEOUT`] too, so it adds no time. Returns what
    /// failed: the destinations that lost spans over the life of the process (failed
    /// exports, a full queue, a flush that timed out), the SDK's own shutdown error, or
    /// the metrics' last export. Each is also logged once on stderr. Later calls do nothing
    /// and return `Ok`.
    pub fn shutdown(&mut self) -> Result<(), TelemetryError> {
        if std::mem::replace(&mut self.shut_down, true) {
            return Ok(());
        }
        // Nothing more is queued to exporters that are about to stop.
        #[cfg(feature = "span-return")]
        if self.returned.is_some() {
            crate::span_return::uninstall(self.returned.as_ref());
        }
        #[cfg(all(feature = "metrics", feature = "otlp"))]
        let metrics = self.metrics.as_ref().map(|m| m.start_shutdown());
        let result = self
            .provider
            .as_ref()
            .map_or(Ok(()), |p| p.shutdown_with_timeout(SHUTDOWN_TIMEOUT));
        #[cfg(feature = "otlp")]
        let losses: Vec<SpanLoss> = self
            .destinations
            .iter()
            .filter_map(|state| state.loss())
            .collect();
        #[cfg(not(feature = "otlp"))]
        let losses: Vec<()> = Vec::new();
        #[cfg(all(feature = "metrics", feature = "otlp"))]
        let metrics = metrics.map_or(Ok(()), |pending| pending.wait());
        // One line for the whole shutdown: what each destination lost, and the metrics'
        // last export. The SDK's own shutdown error (a flush that timed out, an exporter
        // that failed) is the cause of a loss when there is one, so it is named only alone.
        #[cfg(feature = "otlp")]
        let mut lines: Vec<String> = losses
            .iter()
            .map(|loss| crate::causes::chain(loss).to_string())
            .collect();
        #[cfg(not(feature = "otlp"))]
        let mut lines: Vec<String> = Vec::new();
        if let (Err(error), true) = (&result, losses.is_empty()) {
            lines.push(format!("shutting down trace export: {error}"));
        }
        #[cfg(all(feature = "metrics", feature = "otlp"))]
        if let Err(error) = &metrics {
            let error = error.to_string();
            if losses.iter().any(|loss| {
                loss.cause
                    .as_ref()
                    .is_some_and(|cause| cause.as_str() == error)
            }) {
                lines.push("the last metrics export failed the same way".to_owned());
            } else {
                lines.push(format!("the last metrics export failed: {error}"));
            }
        }
        if !lines.is_empty() {
            tracing::warn!(target: "trace_meta::export", "{}", lines.join("; "));
        }
        // Every exporter has finished or run out of time: what is still in flight is lost.
        #[cfg(feature = "otlp")]
        drop(self.export_runtime.take());
        #[cfg(feature = "otlp")]
        if !losses.is_empty() {
            return Err(TelemetryError::SpansLost(losses));
        }
        result.map_err(|error| TelemetryError::Shutdown(error.into()))?;
        #[cfg(all(feature = "metrics", feature = "otlp"))]
        metrics.map_err(|error| TelemetryError::MetricsShutdown(error.into()))?;
        Ok(())
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        // A failure is logged inside; a destructor has no one to return it to.
        let _logged = self.shutdown();
    }
}

#[cfg(test)]
mod tests {
    /// Applications keep the guard in a static or hand it to another thread.
    #[test]
    fn the_guard_and_the_pipeline_are_send_and_sync() {
        fn shareable<T: Send + Sync>() {}
        shareable::<super::TelemetryGuard>();
        shareable::<super::Pipeline>();
    }
}
