//! Where spans go: the user's backend chosen from the standard `OTEL_EXPORTER_OTLP_*`
//! variables (OTLP/HTTP, or gRPC with the `grpc` feature), the second destination without
//! the user's headers, and endpoints as logs may show them.

use std::time::Duration;

use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};

use super::{
    EXPORT_TIMEOUT, TelemetryError, env_set,
    report::{ReportingExporter, ReportingProcessor},
};

/// How long one export may take: `OTEL_EXPORTER_OTLP_{signal}_TIMEOUT`, else
/// `OTEL_EXPORTER_OTLP_TIMEOUT`, in milliseconds; else `default`. A value that is not a
/// whole number of milliseconds is ignored.
pub(super) fn export_timeout(signal: &str, default: Duration) -> Duration {
    timeout_from(
        |name| std::env::var(name).ok(),
        &format!("OTEL_EXPORTER_OTLP_{signal}_TIMEOUT"),
        default,
    )
}

fn timeout_from(
    var: impl Fn(&str) -> Option<String>,
    signal_var: &str,
    default: Duration,
) -> Duration {
    [signal_var, "OTEL_EXPORTER_OTLP_TIMEOUT"]
        .into_iter()
        .find_map(|name| var(name)?.trim().parse::<u64>().ok())
        .map_or(default, Duration::from_millis)
}

/// The exporter to the user's backend, when the standard variables name one.
pub(super) fn user_processor() -> Result<Option<ReportingProcessor>, TelemetryError> {
    if !env_set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") && !env_set("OTEL_EXPORTER_OTLP_ENDPOINT") {
        return Ok(None);
    }
    let protocol = std::env::var("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        .or_else(|_| std::env::var("OTEL_EXPORTER_OTLP_PROTOCOL"))
        .unwrap_or_default();
    match protocol.trim() {
        "" | "http/protobuf" => http_exporter(None, true).map(|e| Some(e.into_processor())),
        #[cfg(feature = "grpc")]
        "grpc" => super::grpc::grpc_processor().map(Some),
        other => Err(TelemetryError::UnsupportedProtocol(other.to_owned())),
    }
}

pub(super) fn confident_headers() -> std::collections::HashMap<String, String> {
    std::env::var("CONFIDENT_API_KEY")
        .ok()
        .filter(|key| !key.trim().is_empty())
        .map(|key| ("x-confident-api-key".to_owned(), key.trim().to_owned()))
        .into_iter()
        .collect()
}

/// An OTLP/HTTP protobuf exporter: to `endpoint`, or wherever the standard variables say.
pub(super) fn http_exporter(
    endpoint: Option<&str>,
    user: bool,
) -> Result<ReportingExporter, TelemetryError> {
    let timeout = export_timeout("TRACES", EXPORT_TIMEOUT);
    let mut builder = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_timeout(timeout);
    if let Some(endpoint) = endpoint {
        builder = builder.with_endpoint(endpoint);
    }
    let label = endpoint.map_or_else(user_endpoint_label, crate::redact::url);
    let plain_http = label.starts_with("http://");
    let client = blocking_client(timeout, plain_http, &label)?;
    if user {
        builder = builder
            .with_headers(confident_headers())
            .with_http_client(client);
    } else {
        // The exporter adds OTEL_EXPORTER_OTLP_HEADERS to every request; the user's
        // credentials are for the user's backend, never for a second destination.
        builder = builder.with_http_client(HeaderFreeClient(client));
    }
    let exporter = builder.build().map_err(|error| TelemetryError::Exporter {
        endpoint: label.clone(),
        error,
    })?;
    Ok(ReportingExporter::new(label, exporter))
}

/// An HTTP client that sends only the headers an OTLP request needs, for the second
/// destination.
#[derive(Debug)]
struct HeaderFreeClient(reqwest::blocking::Client);

/// A blocking HTTP client for an exporter to `endpoint` (as logs show it). For a plain
/// `http://` endpoint it loads no TLS roots: the system store (parsed file by file by the
/// platform verifier) would cost every process about 0.35 MB for a connection that never
/// uses it. An `https://` endpoint needs the `tls-ring` feature.
pub(super) fn blocking_client(
    timeout: Duration,
    plain_http: bool,
    endpoint: &str,
) -> Result<reqwest::blocking::Client, TelemetryError> {
    if !plain_http && !cfg!(feature = "tls-ring") {
        return Err(TelemetryError::NoTls {
            endpoint: endpoint.to_owned(),
        });
    }
    #[cfg(feature = "tls-ring")]
    super::ensure_crypto_provider();
    // reqwest's blocking client owns a runtime, which must not be created or dropped on an
    // async runtime's thread: build it on a thread of its own.
    std::thread::spawn(move || {
        let builder = reqwest::blocking::Client::builder().timeout(timeout);
        #[cfg(feature = "tls-ring")]
        let builder = if plain_http {
            builder.tls_certs_only(std::iter::empty())
        } else {
            builder
        };
        #[cfg(not(feature = "tls-ring"))]
        let _ = plain_http;
        builder.build()
    })
    .join()
    .map_err(|_| TelemetryError::Runtime("building the HTTP client panicked".into()))?
    .map_err(|error| TelemetryError::Runtime(error.to_string()))
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
pub(super) fn user_endpoint_label() -> String {
    let raw = std::env::var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        .or_else(|_| std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT"))
        .unwrap_or_default();
    crate::redact::url(&raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_timeouts_come_from_the_standard_variables() {
        let default = Duration::from_secs(3);
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(key, _)| *key == name)
                    .map(|(_, value)| (*value).to_owned())
            }
        };
        const SIGNAL: &str = "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT";
        assert_eq!(timeout_from(vars(&[]), SIGNAL, default), default);
        assert_eq!(
            timeout_from(
                vars(&[("OTEL_EXPORTER_OTLP_TIMEOUT", "250")]),
                SIGNAL,
                default
            ),
            Duration::from_millis(250)
        );
        assert_eq!(
            timeout_from(
                vars(&[(SIGNAL, " 100 "), ("OTEL_EXPORTER_OTLP_TIMEOUT", "250")]),
                SIGNAL,
                default
            ),
            Duration::from_millis(100)
        );
        assert_eq!(
            timeout_from(vars(&[(SIGNAL, "soon")]), SIGNAL, default),
            default
        );
    }
}
