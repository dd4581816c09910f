//! Loss reporting: a failing backend is reported once, not once per batch, and spans that
//! never reached a destination are counted and reported once at shutdown.
//!
//! One process, at most one live warning: the first export that fails while the process
//! runs (traces or metrics, any destination) says so at once; what fails during shutdown is
//! only counted. At shutdown one line sums up what was lost and why
//! ([`super::TelemetryGuard::shutdown`]). A short-lived process whose backend is down thus
//! prints one line.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

/// Whether this process has printed its live warning about a failing export.
static WARNED: AtomicBool = AtomicBool::new(false);

/// Logs `message` as the process's one live export warning, unless it has had it.
pub(super) fn warn_once(message: impl FnOnce() -> String) {
    if !WARNED.swap(true, Ordering::Relaxed) {
        tracing::warn!(target: "trace_meta::export", "{}", message());
    }
}

use opentelemetry_sdk::{
    Resource,
    error::OTelSdkResult,
    trace::{SpanData, SpanExporter, SpanProcessor},
};

use super::batch::{BatchConfig, BatchProcessor};

/// Wraps an exporter so a failing backend is reported once, not once per batch.
///
/// The first failure logs a warning naming the endpoint (never its headers); later failures
/// are counted silently, and a recovery is logged once. [`ReportingProcessor`] reports the
/// totals at shutdown.
#[derive(Debug)]
pub(super) struct ReportingExporter<E = opentelemetry_otlp::SpanExporter> {
    inner: E,
    state: Arc<ExportState>,
}

/// What one destination did with the spans it was given.
#[derive(Debug)]
pub(super) struct ExportState {
    endpoint: String,
    failing: AtomicBool,
    /// Spans that ended and were offered to the batch processor.
    ended: AtomicU64,
    /// Spans whose export finished, well or not (an export cut short by shutdown leaves
    /// its spans out, so they count as dropped).
    exported: AtomicU64,
    /// Of those, spans whose export failed.
    failed: AtomicU64,
    /// The processor is shutting down: failures are counted, not logged.
    shutting_down: AtomicBool,
    /// Why the first failed export failed.
    cause: Mutex<Option<ExportFailure>>,
}

impl<E: SpanExporter + 'static> ReportingExporter<E> {
    pub(super) fn new(endpoint: String, inner: E) -> Self {
        Self {
            inner,
            state: Arc::new(ExportState {
                endpoint,
                failing: AtomicBool::new(false),
                ended: AtomicU64::new(0),
                exported: AtomicU64::new(0),
                failed: AtomicU64::new(0),
                shutting_down: AtomicBool::new(false),
                cause: Mutex::new(None),
            }),
        }
    }

    /// Puts the exporter behind its own batch processor, exporting on the export thread
    /// of `runtime`, which reports what was lost.
    pub(super) fn into_processor(
        self,
        config: BatchConfig,
        runtime: &tokio::runtime::Handle,
    ) -> ReportingProcessor {
        let state = self.state.clone();
        ReportingProcessor {
            inner: BatchProcessor::start(self, config, runtime),
            state,
        }
    }
}

impl<E: SpanExporter> SpanExporter for ReportingExporter<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let spans = batch.len() as u64;
        let result = self.inner.export(batch).await;
        self.state.exported.fetch_add(spans, Ordering::Relaxed);
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
                if let Ok(mut cause) = self.state.cause.lock() {
                    cause.get_or_insert_with(|| ExportFailure(error.to_string()));
                }
                let first = !self.state.failing.swap(true, Ordering::Relaxed);
                if first && !self.state.shutting_down.load(Ordering::Relaxed) {
                    warn_once(|| {
                        format!(
                            "trace export to {} failed: {error}; spans are dropped until it answers, and what is lost is counted at exit",
                            self.state.endpoint
                        )
                    });
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

impl ExportState {
    /// What this destination lost, if it lost anything.
    pub(super) fn loss(&self) -> Option<SpanLoss> {
        let ended = self.ended.load(Ordering::Relaxed);
        let exported = self.exported.load(Ordering::Relaxed);
        let failed = self.failed.load(Ordering::Relaxed);
        let dropped = ended.saturating_sub(exported);
        (failed > 0 || dropped > 0).then(|| SpanLoss {
            endpoint: self.endpoint.clone(),
            ended,
            failed,
            dropped,
            cause: self.cause.lock().ok().and_then(|cause| cause.clone()),
        })
    }
}

/// Spans that did not reach one destination; why the first failed export failed is its
/// `source()` (and [`cause`](Self::cause)).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{} of {ended} spans did not reach {endpoint}: {failed} failed to export, {dropped} dropped because the export queue was full or shutdown timed out",
    .failed + .dropped
)]
#[non_exhaustive]
pub struct SpanLoss {
    /// The destination, as logs may show it (no credentials).
    pub endpoint: String,
    /// Spans that ended and were offered to it.
    pub ended: u64,
    /// Spans whose export failed.
    pub failed: u64,
    /// Spans never exported: the queue was full, or the final flush timed out.
    pub dropped: u64,
    /// Why the first failed export failed, when one did.
    #[source]
    pub cause: Option<ExportFailure>,
}

/// Why an export failed, as the exporter said it (its text: the exporter's error itself
/// is not kept, so that its type is not part of this crate's API).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ExportFailure(String);

impl ExportFailure {
    /// The exporter's message.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A batch processor that counts what it is given, so that spans dropped because the
/// queue was full (a backend slower than the spans arrive) are reported, once, at shutdown.
#[derive(Debug)]
pub(super) struct ReportingProcessor {
    inner: BatchProcessor,
    state: Arc<ExportState>,
}

impl ReportingProcessor {
    /// The account of what this destination did, shared with the processor.
    pub(super) fn state(&self) -> Arc<ExportState> {
        self.state.clone()
    }

    /// This destination as spans another process returned reach it, known by `identity`
    /// (its endpoint and headers).
    #[cfg(feature = "span-return")]
    pub(super) fn destination(&self, identity: String) -> ReturnedSpans {
        ReturnedSpans {
            importer: self.inner.importer(),
            state: self.state.clone(),
            identity,
        }
    }
}

/// Where spans another process returned (SEP-2448) join one destination's queue; they count
/// in its account like the process's own.
#[cfg(feature = "span-return")]
pub(super) struct ReturnedSpans {
    importer: super::batch::Importer,
    state: Arc<ExportState>,
    identity: String,
}

#[cfg(feature = "span-return")]
impl crate::span_return::Destination for ReturnedSpans {
    fn identity(&self) -> &str {
        &self.identity
    }

    fn import(&self, resource: Resource, spans: Vec<SpanData>) -> bool {
        self.state
            .ended
            .fetch_add(spans.len() as u64, Ordering::Relaxed);
        self.importer.import(resource, spans)
    }
}

impl SpanProcessor for ReportingProcessor {
    fn on_start(&self, span: &mut opentelemetry_sdk::trace::Span, cx: &opentelemetry::Context) {
        self.inner.on_start(span, cx);
    }

    fn on_end(&self, span: SpanData) {
        // Only sampled spans are exported (a sampler may record a span it does not sample).
        if !span.span_context.is_sampled() {
            return;
        }
        self.state.ended.fetch_add(1, Ordering::Relaxed);
        self.inner.on_end(span);
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        // What fails from now on is in the summary at exit, not a line of its own.
        self.state.shutting_down.store(true, Ordering::Relaxed);
        self.inner.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}
