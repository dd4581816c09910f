//! Where metrics go: an SDK meter provider with a periodic reader and an OTLP/HTTP
//! (protobuf) exporter, set up from the standard variables, or nothing at all.
//!
//! # When metrics are exported
//! 1. `OTEL_SDK_DISABLED=true`: never (checked by the caller, with the spans).
//! 2. `OTEL_METRICS_EXPORTER=none`: never. Any value but `otlp` or `none`: never, with a
//!    warning (this build exports OTLP only).
//! 3. The endpoint: `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT` as is, else
//!    `OTEL_EXPORTER_OTLP_ENDPOINT` with `/v1/metrics` appended. With neither, metrics stay
//!    in the process unless `OTEL_METRICS_EXPORTER=otlp` asks for them, in which case the
//!    OTLP default `http://localhost:4318/v1/metrics` is used.
//! 4. Confident AI takes traces only: an endpoint whose host ends with `confident-ai.com`
//!    gets no metrics, and with `CONFIDENT_API_KEY` set metrics stay off unless
//!    `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT` names another backend or
//!    `OTEL_METRICS_EXPORTER=otlp` asks for them.
//! 5. The protocol (`OTEL_EXPORTER_OTLP_METRICS_PROTOCOL`, else `OTEL_EXPORTER_OTLP_PROTOCOL`)
//!    must be `http/protobuf` (the default): metrics are exported over OTLP/HTTP only. With
//!    `grpc` they stay off, with a warning that says how to send them over HTTP.
//! 6. A backend that answers an export with 404, 405, 415 or 501 takes no metrics (a
//!    traces-only Jaeger, Tempo or Phoenix): export stops for the process, said once at
//!    `info` level, and nothing is reported as lost.
//!
//! The reader exports every `OTEL_METRIC_EXPORT_INTERVAL` ms (default 60000) from its own
//! thread and once more at shutdown. `OTEL_EXPORTER_OTLP_HEADERS` (and
//! `OTEL_EXPORTER_OTLP_METRICS_HEADERS`) are sent; the `x-confident-api-key` header never is.
//! Temporality is cumulative, the OTLP default.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU16, AtomicU64, Ordering},
        mpsc,
    },
    time::{Duration, Instant},
};

use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::{
    Resource,
    error::{OTelSdkError, OTelSdkResult},
    metrics::{
        PeriodicReader, SdkMeterProvider, Temporality, data::ResourceMetrics,
        exporter::PushMetricExporter,
    },
};

use super::{
    SHUTDOWN_TIMEOUT, TelemetryError,
    export::{blocking_client, export_timeout},
};

/// The path appended to `OTEL_EXPORTER_OTLP_ENDPOINT` for metrics.
const METRICS_PATH: &str = "/v1/metrics";
/// The OTLP/HTTP default base when `OTEL_METRICS_EXPORTER=otlp` names no endpoint.
const DEFAULT_BASE: &str = "http://localhost:4318";

/// What the variables ask for.
#[derive(Debug, PartialEq, Eq)]
enum Decision {
    /// No metrics leave the process; `Some` says why, as a warning for the user.
    Off(Option<String>),
    /// OTLP/HTTP to this endpoint.
    Otlp(String),
}

/// Applies the rules of the module doc to the variables `var` reads.
fn decide(var: impl Fn(&str) -> Option<String>) -> Decision {
    let var = |name: &str| {
        var(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let explicit = match var("OTEL_METRICS_EXPORTER").map(|v| v.to_ascii_lowercase()) {
        None => false,
        Some(v) if v == "otlp" => true,
        Some(v) if v == "none" => return Decision::Off(None),
        Some(other) => {
            return Decision::Off(Some(format!(
                "OTEL_METRICS_EXPORTER={other} is not supported (use otlp or none); metrics are not exported"
            )));
        }
    };
    let signal_endpoint = var("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT");
    let endpoint = match (&signal_endpoint, var("OTEL_EXPORTER_OTLP_ENDPOINT")) {
        (Some(endpoint), _) => endpoint.clone(),
        (None, Some(base)) => format!("{}{METRICS_PATH}", base.trim_end_matches('/')),
        (None, None) if explicit => format!("{DEFAULT_BASE}{METRICS_PATH}"),
        (None, None) => return Decision::Off(None),
    };
    if is_confident(&endpoint) {
        return Decision::Off(None);
    }
    if var("CONFIDENT_API_KEY").is_some() && signal_endpoint.is_none() && !explicit {
        return Decision::Off(None);
    }
    let protocol = var("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL")
        .or_else(|| var("OTEL_EXPORTER_OTLP_PROTOCOL"))
        .unwrap_or_default();
    match protocol.as_str() {
        "" | "http/protobuf" => Decision::Otlp(endpoint),
        other => Decision::Off(Some(format!(
            "metrics are exported over OTLP/HTTP only, not {other}; set \
             OTEL_EXPORTER_OTLP_METRICS_PROTOCOL=http/protobuf and \
             OTEL_EXPORTER_OTLP_METRICS_ENDPOINT to an OTLP/HTTP endpoint to export them"
        ))),
    }
}

/// Whether `endpoint`'s host is Confident AI's (which takes traces only).
fn is_confident(endpoint: &str) -> bool {
    let redacted = crate::redact::url(endpoint);
    let rest = redacted
        .split_once("://")
        .map_or(redacted.as_str(), |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or_default();
    let host = match authority.rsplit_once(':') {
        Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host,
        _ => authority,
    };
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    host == "confident-ai.com" || host.ends_with(".confident-ai.com")
}

/// The process's meter provider and what its exporter reports.
#[derive(Debug)]
pub(super) struct MetricsExport {
    provider: SdkMeterProvider,
}

/// Sets up metrics export as the module doc says and returns the meter provider (the
/// caller installs it as the global one); `None` when no metrics leave the process. The second value
/// is a warning for the user, to be logged once logging is set up.
pub(super) fn setup(
    resource: Resource,
) -> Result<(Option<MetricsExport>, Option<String>), TelemetryError> {
    let endpoint = match decide(|name| std::env::var(name).ok()) {
        Decision::Off(warning) => return Ok((None, warning)),
        Decision::Otlp(endpoint) => endpoint,
    };
    let label = crate::redact::url(&endpoint);
    // Within the shutdown budget unless told otherwise: the last export happens at shutdown.
    let timeout = export_timeout("METRICS", SHUTDOWN_TIMEOUT);
    let mut builder = opentelemetry_otlp::MetricExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_timeout(timeout)
        .with_endpoint(endpoint);
    let status = Arc::new(AtomicU16::new(0));
    let client = blocking_client(timeout, label.starts_with("http://"), &label)?;
    builder = builder.with_http_client(StatusRecordingClient {
        client,
        status: Arc::clone(&status),
    });
    let exporter = builder.build().map_err(|error| TelemetryError::Exporter {
        endpoint: label.clone(),
        error,
    })?;
    let exporter = ReportingMetricExporter {
        inner: exporter,
        endpoint: label,
        status,
        refused: AtomicBool::new(false),
        failing: AtomicBool::new(false),
        failed: AtomicU64::new(0),
    };
    // The reader reads OTEL_METRIC_EXPORT_INTERVAL (ms, default 60000) itself.
    let reader = PeriodicReader::builder(exporter).build();
    let provider = SdkMeterProvider::builder()
        .with_resource(resource)
        .with_reader(reader)
        .build();
    Ok((Some(MetricsExport { provider }), None))
}

impl MetricsExport {
    /// The meter provider.
    pub(super) fn provider(&self) -> &SdkMeterProvider {
        &self.provider
    }

    /// Exports what has been measured so far, waiting for the exporter.
    pub(super) fn force_flush(&self) -> OTelSdkResult {
        self.provider.force_flush()
    }

    /// Starts the final export and shutdown on a thread of its own, so that it runs while
    /// the spans are flushed; [`PendingShutdown::wait`] collects the result.
    pub(super) fn start_shutdown(&self) -> PendingShutdown {
        let (done, result) = mpsc::sync_channel(1);
        let provider = self.provider.clone();
        let started = Instant::now();
        let spawned = std::thread::Builder::new()
            .name("trace-meta-metrics-shutdown".into())
            .spawn(move || {
                let _ = done.send(provider.shutdown_with_timeout(SHUTDOWN_TIMEOUT));
            });
        PendingShutdown {
            result: spawned.ok().map(|_| result),
            started,
        }
    }
}

/// A meter provider shutdown under way.
pub(super) struct PendingShutdown {
    result: Option<mpsc::Receiver<OTelSdkResult>>,
    started: Instant,
}

impl PendingShutdown {
    /// Waits for the shutdown, at most until [`SHUTDOWN_TIMEOUT`] after it started.
    pub(super) fn wait(self) -> OTelSdkResult {
        let Some(result) = self.result else {
            return Err(OTelSdkError::InternalFailure(
                "cannot start a thread to shut metrics down".into(),
            ));
        };
        let left = SHUTDOWN_TIMEOUT.saturating_sub(self.started.elapsed());
        // A little slack over the exporter's own timeout, so its answer wins the race.
        match result.recv_timeout(left + Duration::from_millis(100)) {
            Ok(result) => result,
            Err(_) => Err(OTelSdkError::Timeout(SHUTDOWN_TIMEOUT)),
        }
    }
}

/// The exporter's HTTP client, keeping the status of the last answer, so that a backend
/// that takes no metrics can be told from one that fails.
#[derive(Debug)]
struct StatusRecordingClient {
    client: reqwest::blocking::Client,
    status: Arc<AtomicU16>,
}

#[async_trait::async_trait]
impl opentelemetry_http::HttpClient for StatusRecordingClient {
    async fn send_bytes(
        &self,
        request: opentelemetry_http::Request<opentelemetry_http::Bytes>,
    ) -> Result<
        opentelemetry_http::Response<opentelemetry_http::Bytes>,
        opentelemetry_http::HttpError,
    > {
        let response = self.client.send_bytes(request).await;
        let status = response.as_ref().map_or(0, |r| r.status().as_u16());
        self.status.store(status, Ordering::Relaxed);
        response
    }
}

/// Statuses that say "no metrics here": a traces-only backend (Jaeger, Tempo, Phoenix)
/// answers `/v1/metrics` with one of them.
const NO_METRICS_HERE: [u16; 4] = [404, 405, 415, 501];

/// Wraps the OTLP exporter so a failing backend is reported once, not once per export, and
/// a backend that takes no metrics turns metrics export off quietly.
#[derive(Debug)]
struct ReportingMetricExporter {
    inner: opentelemetry_otlp::MetricExporter,
    endpoint: String,
    /// The HTTP status of the last export's answer (0: none).
    status: Arc<AtomicU16>,
    /// The backend answered that it takes no metrics: nothing more is sent.
    refused: AtomicBool,
    failing: AtomicBool,
    failed: AtomicU64,
}

impl PushMetricExporter for ReportingMetricExporter {
    async fn export(&self, metrics: &ResourceMetrics) -> OTelSdkResult {
        if self.refused.load(Ordering::Relaxed) {
            return Ok(());
        }
        let result = self.inner.export(metrics).await;
        let status = self.status.load(Ordering::Relaxed);
        if result.is_err() && NO_METRICS_HERE.contains(&status) {
            self.refused.store(true, Ordering::Relaxed);
            tracing::info!(
                target: "trace_meta::export",
                "{} takes no OTLP metrics (HTTP {status}); metrics export is off for this \
                 process (OTEL_METRICS_EXPORTER=none skips the attempt)",
                self.endpoint
            );
            return Ok(());
        }
        match &result {
            Ok(()) => {
                if self.failing.swap(false, Ordering::Relaxed) {
                    tracing::warn!(
                        target: "trace_meta::export",
                        "metrics export to {} works again",
                        self.endpoint
                    );
                }
            }
            Err(error) => {
                let failed = self.failed.fetch_add(1, Ordering::Relaxed) + 1;
                if !self.failing.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        target: "trace_meta::export",
                        "metrics export to {} failed: {error} ({failed} failed so far; further failures are counted, not logged)",
                        self.endpoint
                    );
                }
            }
        }
        result
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn temporality(&self) -> Temporality {
        self.inner.temporality()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decide_with(vars: &[(&str, &str)]) -> Decision {
        decide(|name| {
            vars.iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        })
    }

    #[test]
    fn nothing_configured_exports_nothing() {
        assert_eq!(decide_with(&[]), Decision::Off(None));
    }

    #[test]
    fn the_base_endpoint_gets_v1_metrics_and_the_signal_endpoint_is_used_as_is() {
        assert_eq!(
            decide_with(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318/")]),
            Decision::Otlp("http://127.0.0.1:4318/v1/metrics".into())
        );
        assert_eq!(
            decide_with(&[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318"),
                ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "http://m:9/custom"),
            ]),
            Decision::Otlp("http://m:9/custom".into())
        );
    }

    #[test]
    fn none_turns_metrics_off_and_otlp_alone_uses_the_default_endpoint() {
        assert_eq!(
            decide_with(&[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318"),
                ("OTEL_METRICS_EXPORTER", "none"),
            ]),
            Decision::Off(None)
        );
        assert_eq!(
            decide_with(&[("OTEL_METRICS_EXPORTER", "otlp")]),
            Decision::Otlp("http://localhost:4318/v1/metrics".into())
        );
        assert!(matches!(
            decide_with(&[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318"),
                ("OTEL_METRICS_EXPORTER", "prometheus"),
            ]),
            Decision::Off(Some(_))
        ));
    }

    #[test]
    fn confident_ai_gets_no_metrics_unless_another_backend_is_named() {
        let confident = (
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "https://otel.confident-ai.com",
        );
        let key = ("CONFIDENT_API_KEY", "k");
        assert_eq!(decide_with(&[confident]), Decision::Off(None));
        assert_eq!(
            decide_with(&[confident, ("OTEL_METRICS_EXPORTER", "otlp")]),
            Decision::Off(None),
            "Confident AI rejects metrics even when asked"
        );
        assert_eq!(
            decide_with(&[
                (
                    "OTEL_EXPORTER_OTLP_ENDPOINT",
                    "https://eu.otel.confident-ai.com:443/"
                ),
                key
            ]),
            Decision::Off(None)
        );
        // A key with a collector in between: off by default, on when asked.
        let collector = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318");
        assert_eq!(decide_with(&[collector, key]), Decision::Off(None));
        assert_eq!(
            decide_with(&[collector, key, ("OTEL_METRICS_EXPORTER", "otlp")]),
            Decision::Otlp("http://collector:4318/v1/metrics".into())
        );
        assert_eq!(
            decide_with(&[
                confident,
                key,
                (
                    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
                    "http://m:4318/v1/metrics"
                )
            ]),
            Decision::Otlp("http://m:4318/v1/metrics".into())
        );
        assert!(!is_confident("http://notconfident-ai.com/v1/metrics"));
    }

    #[test]
    fn grpc_keeps_metrics_off_with_a_warning() {
        assert!(matches!(
            decide_with(&[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317"),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ]),
            Decision::Off(Some(warning)) if warning.contains("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL")
        ));
        assert_eq!(
            decide_with(&[
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
                ("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "http/protobuf"),
                (
                    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
                    "http://m:4318/v1/metrics"
                ),
            ]),
            Decision::Otlp("http://m:4318/v1/metrics".into())
        );
    }
}
