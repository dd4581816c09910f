//! Where metrics go: an SDK meter provider whose reader is collected on a schedule by a task
//! on the export thread and sent by an OTLP/HTTP (protobuf) exporter, set up from the
//! standard variables, or nothing at all.
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
//! The metrics are exported every `OTEL_METRIC_EXPORT_INTERVAL` ms (default 60000) from the
//! export thread (the spans' one, with the same HTTP client) and once more at shutdown. `OTEL_EXPORTER_OTLP_HEADERS` (and
//! `OTEL_EXPORTER_OTLP_METRICS_HEADERS`) are sent; the `x-confident-api-key` header never is.
//! Temporality is cumulative, the OTLP default.

use std::{
    sync::{
        Arc, Weak,
        atomic::{AtomicBool, AtomicU16, AtomicU64, Ordering},
        mpsc as std_mpsc,
    },
    time::{Duration, Instant},
};

use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::{
    Resource,
    error::{OTelSdkError, OTelSdkResult},
    metrics::{
        InstrumentKind, ManualReader, Pipeline, SdkMeterProvider, Temporality,
        data::ResourceMetrics, exporter::PushMetricExporter, reader::MetricReader,
    },
};
use tokio::{sync::mpsc, time::MissedTickBehavior};

use super::{
    SHUTDOWN_TIMEOUT, TelemetryError, TelemetryGuard,
    env::export_timeout,
    env_number,
    export::{HttpClients, OtlpClient},
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

/// The process's meter provider, and the way to the task that exports its metrics.
#[derive(Debug)]
pub(super) struct MetricsExport {
    provider: SdkMeterProvider,
    commands: mpsc::UnboundedSender<Command>,
}

/// What the guard asks of the export task.
#[derive(Debug)]
enum Command {
    Flush(std_mpsc::SyncSender<OTelSdkResult>),
    Shutdown(std_mpsc::SyncSender<OTelSdkResult>),
}

/// Sets up metrics export as the module doc says and returns the meter provider (the
/// caller installs it as the global one); `None` when no metrics leave the process. The
/// second value is a warning for the user, to be logged once logging is set up.
pub(super) fn setup(
    resource: Resource,
    clients: &mut HttpClients,
    guard: &mut TelemetryGuard,
) -> Result<(Option<MetricsExport>, Option<String>), TelemetryError> {
    let endpoint = match decide(|name| std::env::var(name).ok()) {
        Decision::Off(warning) => return Ok((None, warning)),
        Decision::Otlp(endpoint) => endpoint,
    };
    let label = crate::redact::url(&endpoint);
    // Within the shutdown budget unless told otherwise: the last export happens at shutdown.
    let timeout = export_timeout("METRICS", SHUTDOWN_TIMEOUT);
    let status = Arc::new(AtomicU16::new(0));
    let client = OtlpClient {
        client: clients.get(&label)?,
        timeout,
        user_headers: true,
        status: Some(Arc::clone(&status)),
    };
    let exporter = opentelemetry_otlp::MetricExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_timeout(timeout)
        .with_endpoint(endpoint)
        .with_http_client(client)
        .build()
        .map_err(|error| TelemetryError::Exporter {
            endpoint: label.clone(),
            error: error.into(),
        })?;
    let exporter = ReportingMetricExporter {
        inner: exporter,
        endpoint: label,
        status,
        refused: AtomicBool::new(false),
        failing: AtomicBool::new(false),
        failed: AtomicU64::new(0),
        shutting_down: AtomicBool::new(false),
    };
    let reader = SharedReader(Arc::new(
        ManualReader::builder()
            .with_temporality(exporter.temporality())
            .build(),
    ));
    let provider = SdkMeterProvider::builder()
        .with_resource(resource)
        .with_reader(reader.clone())
        .build();
    let runtime = guard.export_runtime()?;
    let (commands, received) = mpsc::unbounded_channel();
    runtime.spawn(export_task(reader, exporter, export_interval(), received));
    Ok((Some(MetricsExport { provider, commands }), None))
}

/// `OTEL_METRIC_EXPORT_INTERVAL` (ms, default 60000).
fn export_interval() -> Duration {
    let millis = env_number(
        |name| std::env::var(name).ok(),
        "OTEL_METRIC_EXPORT_INTERVAL",
    )
    .filter(|ms| *ms > 0)
    .unwrap_or(60_000);
    Duration::from_millis(millis)
}

/// Collects and exports on the schedule and when the guard asks; ends on shutdown, or when
/// the guard is gone.
async fn export_task(
    reader: SharedReader,
    exporter: ReportingMetricExporter,
    interval: Duration,
    mut commands: mpsc::UnboundedReceiver<Command>,
) {
    let mut schedule = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    schedule.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            command = commands.recv() => match command {
                Some(Command::Flush(reply)) => {
                    let _ = reply.send(collect_and_export(&reader, &exporter).await);
                }
                Some(Command::Shutdown(reply)) => {
                    // Its failure is in the summary at exit, not a line of its own.
                    exporter.shutting_down.store(true, Ordering::Relaxed);
                    let exported = collect_and_export(&reader, &exporter).await;
                    let _ = reply.send(exported.and(exporter.shutdown()));
                    return;
                }
                None => return,
            },
            _ = schedule.tick() => {
                let _ = collect_and_export(&reader, &exporter).await;
            }
        }
    }
}

/// One collection, exported unless nothing has been measured yet.
async fn collect_and_export(
    reader: &SharedReader,
    exporter: &ReportingMetricExporter,
) -> OTelSdkResult {
    let mut metrics = ResourceMetrics::default();
    reader.0.collect(&mut metrics)?;
    if metrics.scope_metrics().next().is_none() {
        return Ok(());
    }
    exporter.export(&metrics).await
}

/// The SDK's manual reader, shared by the meter provider (which registers with it) and the
/// export task (which collects from it).
#[derive(Debug, Clone)]
struct SharedReader(Arc<ManualReader>);

impl MetricReader for SharedReader {
    fn register_pipeline(&self, pipeline: Weak<Pipeline>) {
        self.0.register_pipeline(pipeline);
    }

    fn collect(&self, metrics: &mut ResourceMetrics) -> OTelSdkResult {
        self.0.collect(metrics)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.0.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.0.shutdown_with_timeout(timeout)
    }

    fn temporality(&self, kind: InstrumentKind) -> Temporality {
        self.0.temporality(kind)
    }
}

impl MetricsExport {
    /// The meter provider.
    pub(super) fn provider(&self) -> &SdkMeterProvider {
        &self.provider
    }

    /// Exports what has been measured so far, waiting for the exporter.
    pub(super) fn force_flush(&self) -> OTelSdkResult {
        let (reply, answer) = std_mpsc::sync_channel(1);
        self.commands
            .send(Command::Flush(reply))
            .map_err(|_| OTelSdkError::AlreadyShutdown)?;
        answer
            .recv_timeout(SHUTDOWN_TIMEOUT + Duration::from_millis(100))
            .unwrap_or(Err(OTelSdkError::Timeout(SHUTDOWN_TIMEOUT)))
    }

    /// Starts the final export on the export thread, so that it runs while the spans are
    /// flushed; [`PendingShutdown::wait`] collects the result.
    pub(super) fn start_shutdown(&self) -> PendingShutdown {
        let (reply, answer) = std_mpsc::sync_channel(1);
        let sent = self.commands.send(Command::Shutdown(reply)).is_ok();
        PendingShutdown {
            answer: sent.then_some(answer),
            provider: self.provider.clone(),
            started: Instant::now(),
        }
    }
}

/// A metrics shutdown under way.
pub(super) struct PendingShutdown {
    answer: Option<std_mpsc::Receiver<OTelSdkResult>>,
    provider: SdkMeterProvider,
    started: Instant,
}

impl PendingShutdown {
    /// Waits for the last export, at most until [`SHUTDOWN_TIMEOUT`] after it started, and
    /// shuts the meter provider down.
    pub(super) fn wait(self) -> OTelSdkResult {
        let Some(answer) = self.answer else {
            return Err(OTelSdkError::AlreadyShutdown);
        };
        let left = SHUTDOWN_TIMEOUT.saturating_sub(self.started.elapsed());
        // A little slack over the exporter's own timeout, so its answer wins the race.
        let exported = answer
            .recv_timeout(left + Duration::from_millis(100))
            .unwrap_or(Err(OTelSdkError::Timeout(SHUTDOWN_TIMEOUT)));
        let _ = self.provider.shutdown();
        exported
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
    /// The last export, at shutdown: a failure is reported with the rest, not alone.
    shutting_down: AtomicBool,
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
                self.failed.fetch_add(1, Ordering::Relaxed);
                let first = !self.failing.swap(true, Ordering::Relaxed);
                if first && !self.shutting_down.load(Ordering::Relaxed) {
                    super::report::warn_once(|| {
                        format!(
                            "metrics export to {} failed: {error}; further failures are not logged",
                            self.endpoint
                        )
                    });
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
