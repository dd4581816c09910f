//! OTLP over gRPC (`OTEL_EXPORTER_OTLP_PROTOCOL=grpc`, cargo feature `grpc`): the tonic
//! exporter, on the export thread like the others.

use super::{
    EXPORT_TIMEOUT, TelemetryError,
    batch::BatchConfig,
    env::{confident_headers, export_timeout, user_endpoint_label},
    report::{ReportingExporter, ReportingProcessor},
};

/// An OTLP/gRPC exporter to wherever the standard variables say, behind its batch
/// processor. tonic's channel is built on the export thread's runtime, where its exports
/// run.
pub(super) fn grpc_processor(
    config: BatchConfig,
    runtime: &tokio::runtime::Handle,
) -> Result<ReportingProcessor, TelemetryError> {
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
    let exporter = {
        let _entered = runtime.enter();
        opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_timeout(export_timeout("TRACES", EXPORT_TIMEOUT))
            .with_metadata(metadata)
            .build()
            .map_err(|error| TelemetryError::Exporter {
                endpoint: label.clone(),
                error: error.into(),
            })?
    };
    Ok(ReportingExporter::new(label, exporter).into_processor(config, runtime))
}
