//! Where spans go: the user's backend chosen from the standard `OTEL_EXPORTER_OTLP_*`
//! variables (OTLP/HTTP, or gRPC with the `grpc` feature), the second destination without
//! the user's headers, and endpoints as logs may show them.

use std::time::Duration;

use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};

use super::{
    EXPORT_TIMEOUT, TelemetryError, env_set,
    report::{ReportingExporter, ReportingProcessor},
};

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
    let mut builder = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_timeout(EXPORT_TIMEOUT);
    if let Some(endpoint) = endpoint {
        builder = builder.with_endpoint(endpoint);
    }
    let label = endpoint.map_or_else(user_endpoint_label, redact_url);
    let plain_http = label.starts_with("http://");
    if user {
        builder = builder.with_headers(confident_headers());
        if plain_http {
            builder = builder.with_http_client(blocking_client(EXPORT_TIMEOUT, true)?);
        }
    } else {
        // The exporter adds OTEL_EXPORTER_OTLP_HEADERS to every request; the user's
        // credentials are for the user's backend, never for a second destination.
        let client = blocking_client(EXPORT_TIMEOUT, plain_http)?;
        builder = builder.with_http_client(HeaderFreeClient(client));
    }
    let exporter = builder.build().map_err(|source| TelemetryError::Exporter {
        endpoint: label.clone(),
        source,
    })?;
    Ok(ReportingExporter::new(label, exporter))
}

/// An HTTP client that sends only the headers an OTLP request needs, for the second
/// destination.
#[derive(Debug)]
struct HeaderFreeClient(reqwest::blocking::Client);

/// A blocking HTTP client for an exporter. For a plain `http://` endpoint it loads no TLS
/// roots: the system store (parsed file by file by the platform verifier) would cost every
/// process about 0.35 MB for a connection that never uses it.
pub(super) fn blocking_client(
    timeout: Duration,
    plain_http: bool,
) -> Result<reqwest::blocking::Client, TelemetryError> {
    // reqwest's blocking client owns a runtime, which must not be created or dropped on an
    // async runtime's thread: build it on a thread of its own.
    std::thread::spawn(move || {
        let builder = reqwest::blocking::Client::builder().timeout(timeout);
        let builder = if plain_http {
            builder.tls_certs_only(std::iter::empty())
        } else {
            builder
        };
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
    redact_url(&raw)
}

/// Drops any `user:password@` part and query string of a URL.
pub(super) fn redact_url(raw: &str) -> String {
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
