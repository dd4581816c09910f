//! Where spans go: the user's backend chosen from the standard `OTEL_EXPORTER_OTLP_*`
//! variables (OTLP/HTTP, or gRPC with the `grpc` feature), the second destination without
//! the user's headers, the one HTTP client they share, and endpoints as logs may show them.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU16, Ordering},
    },
    time::Duration,
};

use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};

pub(super) use super::env::user_endpoint_set;
use super::{
    DEFAULT_EXPORT_BATCH_SIZE, EXPORT_TIMEOUT, SHUTDOWN_TIMEOUT, TelemetryError,
    batch::BatchConfig,
    env::{confident_headers, export_timeout, user_endpoint_label},
    report::{ReportingExporter, ReportingProcessor},
};

/// The exporter to the user's backend, when the standard variables name one.
pub(super) fn user_processor(
    clients: &mut HttpClients,
    runtime: &tokio::runtime::Handle,
) -> Result<Option<ReportingProcessor>, TelemetryError> {
    if !user_endpoint_set() {
        return Ok(None);
    }
    let protocol = std::env::var("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        .or_else(|_| std::env::var("OTEL_EXPORTER_OTLP_PROTOCOL"))
        .unwrap_or_default();
    let config = BatchConfig::from_env(DEFAULT_EXPORT_BATCH_SIZE, SHUTDOWN_TIMEOUT);
    match protocol.trim() {
        "" | "http/protobuf" => http_exporter(None, true, clients)
            .map(|exporter| Some(exporter.into_processor(config, runtime))),
        #[cfg(feature = "grpc")]
        "grpc" => super::grpc::grpc_processor(config, runtime).map(Some),
        other => Err(TelemetryError::UnsupportedProtocol(other.to_owned())),
    }
}

/// The second destination's exporter, behind its batch processor.
pub(super) fn local_processor(
    endpoint: &str,
    clients: &mut HttpClients,
    runtime: &tokio::runtime::Handle,
) -> Result<ReportingProcessor, TelemetryError> {
    let config = BatchConfig::from_env(DEFAULT_EXPORT_BATCH_SIZE, SHUTDOWN_TIMEOUT);
    Ok(http_exporter(Some(endpoint), false, clients)?.into_processor(config, runtime))
}

/// An OTLP/HTTP protobuf exporter: to `endpoint`, or wherever the standard variables say.
fn http_exporter(
    endpoint: Option<&str>,
    user: bool,
    clients: &mut HttpClients,
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
    let client = OtlpClient {
        client: clients.get(&label)?,
        timeout,
        // The exporter adds OTEL_EXPORTER_OTLP_HEADERS to every request; the user's
        // credentials are for the user's backend, never for a second destination.
        user_headers: user,
        status: None,
    };
    if user {
        builder = builder.with_headers(confident_headers());
    }
    let exporter =
        builder
            .with_http_client(client)
            .build()
            .map_err(|error| TelemetryError::Exporter {
                endpoint: label.clone(),
                error: error.into(),
            })?;
    Ok(ReportingExporter::new(label, exporter))
}

/// The HTTP clients of the process's OTLP/HTTP exporters: one connection pool for traces
/// (both destinations) and metrics, used on the export thread.
///
/// For plain `http://` endpoints the client loads no TLS roots: the system store (parsed
/// file by file by the platform verifier) would cost every process about 0.35 MB for a
/// connection that never uses it. Once an `https://` endpoint needs TLS (feature
/// `tls`), that client serves every later exporter too; [`HttpClients::for_pipeline`]
/// builds it first when one will, so that the process has one client.
#[derive(Debug, Default)]
pub(super) struct HttpClients {
    plain: Option<reqwest::Client>,
    tls: Option<reqwest::Client>,
}

impl HttpClients {
    /// The clients for one pipeline's exporters: TLS from the start if the local endpoint
    /// or the user's traces endpoint is not plain `http://`.
    pub(super) fn for_pipeline(local_endpoint: Option<&str>) -> Result<Self, TelemetryError> {
        let user = user_endpoint_set().then(user_endpoint_label);
        let local = local_endpoint.map(crate::redact::url);
        let mut clients = Self::default();
        if let Some(secure) = user
            .iter()
            .chain(&local)
            .find(|e| !e.starts_with("http://"))
        {
            clients.get(secure)?;
        }
        Ok(clients)
    }

    /// The client for an exporter to `endpoint`, as logs show it.
    pub(super) fn get(&mut self, endpoint: &str) -> Result<reqwest::Client, TelemetryError> {
        let plain_http = endpoint.starts_with("http://");
        if let Some(client) = self
            .tls
            .as_ref()
            .or(self.plain.as_ref().filter(|_| plain_http))
        {
            return Ok(client.clone());
        }
        let tls_ready = tls_ready();
        if !plain_http && !tls_ready {
            return Err(TelemetryError::NoTls {
                endpoint: endpoint.to_owned(),
            });
        }
        // reqwest built with rustls needs the provider for any client, even one that never
        // speaks TLS, and panics without one.
        if cfg!(feature = "tls") && !tls_ready {
            return Err(TelemetryError::Runtime(
                "the HTTP client is built with rustls (feature `tls`) and no rustls crypto provider is installed: install one before telemetry starts".into(),
            ));
        }
        let builder = reqwest::Client::builder();
        #[cfg(feature = "tls")]
        let builder = if plain_http {
            builder.tls_certs_only(std::iter::empty())
        } else {
            builder
        };
        let client = builder
            .build()
            .map_err(|error| TelemetryError::Runtime(error.into()))?;
        let slot = if plain_http {
            &mut self.plain
        } else {
            &mut self.tls
        };
        Ok(slot.insert(client).clone())
    }
}

/// Whether an HTTPS client can be built: the build has rustls (`tls`) and the process has a
/// crypto provider, which `tls-ring` installs when the application installed none.
fn tls_ready() -> bool {
    #[cfg(feature = "tls-ring")]
    crate::install_tls_provider();
    #[cfg(feature = "tls")]
    return rustls::crypto::CryptoProvider::get_default().is_some();
    #[cfg(not(feature = "tls"))]
    false
}

/// How one exporter sends through the shared client: within its own timeout, with the
/// user's headers or only those an OTLP request needs, and keeping the status of the last
/// answer when asked (so that a backend that takes no metrics can be told from one that
/// fails).
#[derive(Debug)]
pub(super) struct OtlpClient {
    pub(super) client: reqwest::Client,
    pub(super) timeout: Duration,
    pub(super) user_headers: bool,
    pub(super) status: Option<Arc<AtomicU16>>,
}

#[async_trait::async_trait]
impl opentelemetry_http::HttpClient for OtlpClient {
    async fn send_bytes(
        &self,
        mut request: opentelemetry_http::Request<opentelemetry_http::Bytes>,
    ) -> Result<
        opentelemetry_http::Response<opentelemetry_http::Bytes>,
        opentelemetry_http::HttpError,
    > {
        if !self.user_headers {
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
        }
        let response = tokio::time::timeout(self.timeout, self.client.send_bytes(request))
            .await
            .unwrap_or_else(|_| {
                Err(format!("no answer within {} ms", self.timeout.as_millis()).into())
            });
        if let Some(status) = &self.status {
            let code = response.as_ref().map_or(0, |r| r.status().as_u16());
            status.store(code, Ordering::Relaxed);
        }
        response
    }
}

/// What identifies the user's destination for span return's fingerprints: the protocol,
/// the traces endpoint as the exporter resolves it, and the headers it sends (with
/// credentials, which only ever leave the process hashed with the trace id).
#[cfg(feature = "span-return")]
pub(super) fn user_identity() -> String {
    let var = |name: &str| std::env::var(name).unwrap_or_default().trim().to_owned();
    let protocol = [
        var("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"),
        var("OTEL_EXPORTER_OTLP_PROTOCOL"),
    ]
    .into_iter()
    .find(|p| !p.is_empty())
    .unwrap_or_else(|| "http/protobuf".to_owned());
    let endpoint = match var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
        traces if !traces.is_empty() => traces,
        _ if protocol == "grpc" => var("OTEL_EXPORTER_OTLP_ENDPOINT"),
        _ => format!(
            "{}/v1/traces",
            var("OTEL_EXPORTER_OTLP_ENDPOINT").trim_end_matches('/')
        ),
    };
    let mut headers: Vec<String> = [
        var("OTEL_EXPORTER_OTLP_HEADERS"),
        var("OTEL_EXPORTER_OTLP_TRACES_HEADERS"),
    ]
    .iter()
    .flat_map(|list| list.split(','))
    .map(|pair| pair.trim().to_owned())
    .filter(|pair| !pair.is_empty())
    .chain(
        confident_headers()
            .into_iter()
            .map(|(k, v)| format!("{k}={v}")),
    )
    .collect();
    headers.sort();
    format!("{protocol}\n{endpoint}\n{}", headers.join(","))
}

/// What identifies a second destination (OTLP/HTTP, no headers) for span return.
#[cfg(feature = "span-return")]
pub(super) fn local_identity(endpoint: &str) -> String {
    format!("http/protobuf\n{}\n", endpoint.trim())
}
