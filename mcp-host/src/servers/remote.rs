//! Remote MCP servers over Streamable HTTP: connect, with the configured headers on every
//! POST and the trace context in both `_meta` and the W3C headers.

use std::{collections::HashMap, str::FromStr, time::Duration};

use rmcp::{
    RoleClient,
    model::ProtocolVersion,
    service::{ClientLifecycleMode, ClientServiceExt, RunningService},
    transport::{
        StreamableHttpClientTransport, streamable_http_client::StreamableHttpClientTransportConfig,
    },
};
use trace_meta::http_client::TraceHeaders;

use crate::config::RemoteSpec;

/// How long a TCP (and TLS) connection to a remote server may take to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long an idle pooled connection is kept: well under the servers' idle timeout (10 s
/// for ours), so a request never goes out on a connection the server is closing.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(4);

/// Why a remote server could not be reached. Messages show the URL without its query or
/// user info, and never a header value.
#[derive(Debug, thiserror::Error)]
pub(super) enum RemoteError {
    /// A configured header cannot be sent (its name is shown, never its value).
    #[error("header {0} cannot be sent in an HTTP request")]
    Header(String),
    /// The HTTP client could not be built.
    #[error("cannot set up the HTTP client: {0}")]
    Client(String),
    /// The server asks for a credential it was not given, or refused the one it got.
    #[error("{url} refused the connection: it requires authorization (HTTP 401); {hint}")]
    Unauthorized {
        /// The endpoint, redacted.
        url: String,
        /// What to set, by name (never a value).
        hint: String,
    },
    /// The server did not complete `server/discover` or `initialize`.
    #[error("{url} did not start an MCP session: {reason}")]
    Session {
        /// The endpoint, redacted.
        url: String,
        /// What went wrong.
        reason: String,
    },
}

/// Opens an MCP session with the server at `remote.url`: `server/discover` (2026-07-28,
/// stateless) first, `initialize` (2025-11-25, a session) for servers that do not know it.
pub(super) async fn connect(
    remote: &RemoteSpec,
) -> Result<RunningService<RoleClient, ()>, RemoteError> {
    // https:// servers need the process's rustls provider, which the host installs at
    // start (`crate::install_tls_provider`).
    let mut headers = HashMap::new();
    for (name, value) in &remote.headers {
        let header_name =
            http::HeaderName::from_str(name).map_err(|_| RemoteError::Header(name.clone()))?;
        let mut header_value =
            http::HeaderValue::from_str(value).map_err(|_| RemoteError::Header(name.clone()))?;
        header_value.set_sensitive(true);
        headers.insert(header_name, header_value);
    }
    let client = reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .pool_idle_timeout(POOL_IDLE_TIMEOUT)
        .build()
        .map_err(|error| RemoteError::Client(error.to_string()))?;
    let mut config = StreamableHttpClientTransportConfig::with_uri(remote.url.as_str());
    config.custom_headers = headers;
    let transport = StreamableHttpClientTransport::with_client(
        // rmcp logs transport errors, and a URL's query may hold a key.
        TraceHeaders::new(client).with_error_redaction(reqwest::Error::without_url),
        config,
    );
    let lifecycle = ClientLifecycleMode::Auto {
        preferred_versions: vec![ProtocolVersion::V_2026_07_28],
        legacy_version: Some(ProtocolVersion::V_2025_11_25),
    };
    ().serve_with_lifecycle(transport, lifecycle)
        .await
        .map_err(|error| {
            let url = trace_meta::redact::url(&remote.url);
            // The HTTP client names the full URL in its errors; a query may hold a key.
            let reason = readable(&error).replace(remote.url.as_str(), &url);
            if reason.contains("Auth required") {
                return RemoteError::Unauthorized {
                    url,
                    hint: auth_hint(remote),
                };
            }
            RemoteError::Session { url, reason }
        })
}

/// What to do about a 401, from the entry's `Authorization` header: which variable to set
/// (our servers read theirs from `MCP_SERVER_TOKEN`).
fn auth_hint(remote: &RemoteSpec) -> String {
    let has_header = remote
        .headers
        .keys()
        .any(|name| name.eq_ignore_ascii_case("authorization"));
    if !has_header {
        return "the config sends no Authorization header: add \"headers\": {\"Authorization\": \
                \"Bearer ${MCP_SERVER_TOKEN}\"} to the entry and set MCP_SERVER_TOKEN to the \
                server's token"
            .to_owned();
    }
    let unset: Vec<&str> = remote
        .auth_vars
        .iter()
        .filter(|(_, set)| !set)
        .map(|(name, _)| name.as_str())
        .collect();
    match (unset.as_slice(), remote.auth_vars.as_slice()) {
        ([], []) => "the token in the config's Authorization header was refused".to_owned(),
        ([], vars) => format!(
            "the token in {} was refused: it must match the server's token (MCP_SERVER_TOKEN \
             where the server runs)",
            names(vars.iter().map(|(name, _)| name.as_str()))
        ),
        (unset, _) => format!(
            "the config's Authorization header is built from {}, not set here: set {} to the \
             server's token",
            names(unset.iter().copied()),
            if unset.len() == 1 { "it" } else { "them" }
        ),
    }
}

/// `A`, `A and B`, `A, B and C`.
fn names<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let names: Vec<&str> = names.collect();
    match names.split_last() {
        None => String::new(),
        Some((last, [])) => (*last).to_owned(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
    }
}

/// An error as one line a user can act on: rmcp's message without the transport's Rust
/// type name, followed by the root cause (`Connection refused`, a status) when rmcp's
/// message does not already say it.
fn readable(error: &(dyn std::error::Error + 'static)) -> String {
    let mut message = error.to_string();
    if let Some(start) = message.find(" [rmcp::")
        && let Some(len) = message[start..].find("] ")
    {
        message.replace_range(start..start + len + 1, "");
    }
    let mut root = error.source();
    while let Some(next) = root.and_then(|e| e.source()) {
        root = Some(next);
    }
    match root.map(|e| e.to_string()) {
        Some(cause) if !message.contains(&cause) => format!("{message} ({cause})"),
        _ => message,
    }
}

/// The host and port of an endpoint URL, for `server.address` / `server.port`.
pub(super) fn server_of(url: &str) -> Option<(String, u16)> {
    let url = reqwest::Url::parse(url).ok()?;
    let host = url.host_str()?.trim_matches(['[', ']']).to_owned();
    Some((host, url.port_or_known_default()?))
}
