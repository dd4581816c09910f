//! An in-memory span exporter installed as the process's telemetry, for tests that check
//! the spans a client or server records in process.

use std::sync::OnceLock;

use opentelemetry::Value;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SpanData};
use trace_meta::telemetry::{Telemetry, TelemetryGuard};

/// The telemetry of a test binary: [`Telemetry`] set up with an [`InMemorySpanExporter`].
///
/// Telemetry is process-wide (a global subscriber and tracer provider), so a test binary
/// installs it once and its tests share it; a test picks its own spans out by name or
/// attribute.
pub struct InMemoryTelemetry {
    exporter: InMemorySpanExporter,
    guard: TelemetryGuard,
}

impl InMemoryTelemetry {
    /// Installs the telemetry for this test binary on first use, with `service_name` as
    /// `service.name`, and returns it; later calls return the same one (the first name
    /// stays).
    pub fn install(service_name: &str) -> &'static Self {
        static TELEMETRY: OnceLock<InMemoryTelemetry> = OnceLock::new();
        TELEMETRY.get_or_init(|| {
            trace_meta::install_tls_provider();
            let exporter = InMemorySpanExporter::default();
            let guard = Telemetry::new(service_name)
                .with_span_exporter(exporter.clone())
                .init()
                .expect("telemetry init");
            Self { exporter, guard }
        })
    }

    /// Every span finished so far, after a flush of the batch processor.
    pub fn spans(&self) -> Vec<SpanData> {
        self.guard.force_flush();
        self.exporter.get_finished_spans().expect("finished spans")
    }
}

/// The value of the attribute `key` of `span`, if it has one.
pub fn attr(span: &SpanData, key: &str) -> Option<Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.clone())
}

/// The attribute `key` of `span` as text (numbers and lists in their display form).
pub fn attr_text(span: &SpanData, key: &str) -> Option<String> {
    attr(span, key).map(|value| value.as_str().into_owned())
}
