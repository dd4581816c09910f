//! OTLP over gRPC (`OTEL_EXPORTER_OTLP_PROTOCOL=grpc`, cargo feature `grpc`): the tonic
//! exporter on a one-thread runtime of its own.

use std::{sync::Arc, time::Duration};

use opentelemetry_sdk::{
    Resource,
    error::OTelSdkResult,
    trace::{SpanData, SpanExporter},
};

use super::{
    EXPORT_TIMEOUT, TelemetryError,
    export::{confident_headers, export_timeout, user_endpoint_label},
    report::{ReportingExporter, ReportingProcessor},
};

/// An OTLP/gRPC exporter to wherever the standard variables say, behind its batch processor.
///
/// tonic needs a tokio runtime, and the batch processor exports from a plain thread (a
/// server may not have started its own runtime yet when telemetry is set up), so the
/// exporter brings a one-thread runtime of its own.
pub(super) fn grpc_processor() -> Result<ReportingProcessor, TelemetryError> {
    use opentelemetry_otlp::{WithExportConfig, WithTonicConfig};
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
            .with_timeout(export_timeout("TRACES", EXPORT_TIMEOUT))
            .with_metadata(metadata)
            .build()
            .map_err(|error| TelemetryError::Exporter {
                endpoint: label.clone(),
                error,
            })?
    };
    let exporter = GrpcExporter {
        inner: Arc::new(exporter),
        runtime,
    };
    Ok(ReportingExporter::new(label, exporter).into_processor())
}

/// The tonic exporter and the runtime its exports run on.
#[derive(Debug)]
struct GrpcExporter {
    inner: Arc<opentelemetry_otlp::SpanExporter>,
    runtime: tokio::runtime::Runtime,
}

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
