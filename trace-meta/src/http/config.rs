//! What an HTTP server is configured with: the guards' limits, the token, the proxies it
//! trusts, the shutdown grace. (The address is not configuration: it is what
//! [`HttpServer::bind`](super::HttpServer::bind) binds, or the listener a caller hands to
//! [`HttpServer::from_listener`](super::HttpServer::from_listener).)

use std::{
    fmt,
    net::{IpAddr, SocketAddr},
    time::Duration,
};

use ipnet::IpNet;

use http::HeaderValue;
use rmcp::transport::streamable_http_server::StreamableHttpServerConfig;
use tokio_util::sync::CancellationToken;

/// Environment variable holding the bearer token clients must present (never a flag: a
/// command line is visible to every user of the machine).
pub const TOKEN_ENV: &str = "MCP_SERVER_TOKEN";
/// Default of [`HttpConfig::with_max_body_bytes`]: 1 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
/// Default of [`HttpConfig::with_header_timeout`].
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Default of [`HttpConfig::with_request_timeout`].
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Default of [`HttpConfig::with_max_connections`].
pub const DEFAULT_MAX_CONNECTIONS: usize = 256;
/// Default of [`HttpConfig::with_shutdown_grace`]: how long requests in flight may run on
/// once shutdown begins. Below the 30 s a Kubernetes pod gets between SIGTERM and SIGKILL
/// (`terminationGracePeriodSeconds`), so the spans are flushed before the kill.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// A bearer token; its `Debug` form never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct BearerToken(String);

impl BearerToken {
    /// A token; `None` when `token` is empty or not visible ASCII (it could not travel in a
    /// header).
    pub fn new(token: impl Into<String>) -> Option<Self> {
        let token = token.into();
        let usable = !token.is_empty() && token.bytes().all(|b| b.is_ascii_graphic());
        usable.then_some(Self(token))
    }

    /// Whether the `Authorization` header value `presented` is `Bearer <this token>`.
    ///
    /// The comparison runs over the whole presented value whatever it holds, so its time
    /// says nothing about how much of the token was right.
    pub(super) fn accepts(&self, presented: Option<&HeaderValue>) -> bool {
        let Some(presented) = presented.map(HeaderValue::as_bytes) else {
            return false;
        };
        let Some(credentials) = presented
            .get(..7)
            .filter(|scheme| scheme.eq_ignore_ascii_case(b"bearer "))
            .map(|_| &presented[7..])
        else {
            return false;
        };
        let expected = self.0.as_bytes();
        let mut difference = u8::from(credentials.len() != expected.len());
        for (i, byte) in credentials.iter().enumerate() {
            difference |= byte ^ expected.get(i).copied().unwrap_or(0);
        }
        difference == 0
    }
}

impl fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BearerToken(<redacted>)")
    }
}

/// How to serve Streamable HTTP; [`HttpConfig::new`] gives the safe defaults, and each
/// `with_*` method changes one of them.
///
/// ```
/// use std::time::Duration;
/// let config = trace_meta::HttpConfig::new()
///     .with_allowed_hosts(["mcp.example.com"])
///     .with_trusted_proxies(["10.0.0.0/8".parse().unwrap()])
///     .with_request_timeout(Duration::from_secs(10));
/// assert_eq!(config.allowed_hosts(), ["mcp.example.com"]);
/// ```
#[derive(Debug, Clone)]
pub struct HttpConfig {
    allowed_hosts: Vec<String>,
    allowed_origins: Vec<String>,
    token: Option<BearerToken>,
    max_body_bytes: usize,
    header_timeout: Duration,
    request_timeout: Duration,
    max_connections: usize,
    trusted_proxies: Vec<IpNet>,
    shutdown_grace: Duration,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self::new()
    }
}

/// A configuration that cannot be served.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HttpConfigError {
    /// `--http` names no address this server can listen on.
    #[error(
        "cannot listen on {0:?}: expected HOST:PORT (e.g. 127.0.0.1:8931), or a port alone for loopback"
    )]
    Address(String),
    /// `MCP_SERVER_TOKEN` is set but empty or not visible ASCII. Its value is not shown.
    #[error(
        "{TOKEN_ENV} is set but empty or not printable ASCII; set a token (e.g. `openssl rand -hex 32`) or unset it"
    )]
    Token,
    /// `--trusted-proxy` names neither an IP address nor a network.
    #[error(
        "{0:?} is not a trusted proxy: expected an IP address (10.0.0.7) or a network (10.0.0.0/8, fd00::/8)"
    )]
    TrustedProxy(String),
}

/// Parses a `--trusted-proxy` value: an address (`10.0.0.7`, `::1`), meaning that address
/// alone, or a network in CIDR notation (`10.0.0.0/8`).
pub fn parse_trusted_proxy(text: &str) -> Result<IpNet, HttpConfigError> {
    let text = text.trim();
    if let Ok(net) = text.parse::<IpNet>() {
        return Ok(net.trunc());
    }
    text.parse::<IpAddr>()
        .map(IpNet::from)
        .map_err(|_| HttpConfigError::TrustedProxy(text.to_owned()))
}

/// Parses a `--http` value: `HOST:PORT`, `[IPv6]:PORT`, or a bare port, which means
/// `127.0.0.1:PORT` (loopback: reachable from this machine only). `localhost:PORT` also
/// means `127.0.0.1:PORT`. Port 0 picks a free port.
pub fn parse_listen_address(text: &str) -> Result<SocketAddr, HttpConfigError> {
    let text = text.trim();
    if let Ok(port) = text.parse::<u16>() {
        return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    if let Some(port) = text.strip_prefix("localhost:") {
        let port = port
            .parse::<u16>()
            .map_err(|_| HttpConfigError::Address(text.to_owned()))?;
        return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    text.parse::<SocketAddr>()
        .map_err(|_| HttpConfigError::Address(text.to_owned()))
}

impl HttpConfig {
    /// The defaults: loopback hosts only, no origin, no token, 1 MiB bodies, 10 s for a
    /// request head, 30 s for a body, 256 connections, no trusted proxy, 10 s of shutdown
    /// grace.
    pub fn new() -> Self {
        Self {
            allowed_hosts: Vec::new(),
            allowed_origins: Vec::new(),
            token: None,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            trusted_proxies: Vec::new(),
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
        }
    }

    /// Requires the bearer token in `MCP_SERVER_TOKEN`, when that variable is set.
    pub fn with_token_from_env(self) -> Result<Self, HttpConfigError> {
        match std::env::var_os(TOKEN_ENV) {
            None => Ok(self),
            Some(value) => {
                let value = value.into_string().map_err(|_| HttpConfigError::Token)?;
                let token = BearerToken::new(value).ok_or(HttpConfigError::Token)?;
                Ok(self.with_token(token))
            }
        }
    }

    /// Requires `Authorization: Bearer <token>` on every request.
    pub fn with_token(mut self, token: BearerToken) -> Self {
        self.token = Some(token);
        self
    }

    /// Host names (or `host:port`) accepted in the `Host` header besides `localhost`,
    /// `127.0.0.1` and `::1`. A server behind a reverse proxy or bound to a public address
    /// names its public host here.
    pub fn with_allowed_hosts<I, S>(mut self, hosts: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.allowed_hosts = hosts.into_iter().map(Into::into).collect();
        self
    }

    /// Browser origins allowed to call (`https://app.example.com:443`), besides the server's
    /// own loopback origin. None (the default): any other request carrying an `Origin`
    /// header is refused.
    pub fn with_allowed_origins<I, S>(mut self, origins: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.allowed_origins = origins.into_iter().map(Into::into).collect();
        self
    }

    /// Largest request body, in bytes (default [`DEFAULT_MAX_BODY_BYTES`]).
    pub fn with_max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body_bytes = bytes;
        self
    }

    /// How long a client may take to send a request head; also how long an idle
    /// keep-alive connection stays open (default [`DEFAULT_HEADER_TIMEOUT`]).
    pub fn with_header_timeout(mut self, timeout: Duration) -> Self {
        self.header_timeout = timeout;
        self
    }

    /// How long a client may take to send a request body (default
    /// [`DEFAULT_REQUEST_TIMEOUT`]).
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Most connections served at once (default [`DEFAULT_MAX_CONNECTIONS`]); one more is
    /// answered `503`.
    pub fn with_max_connections(mut self, connections: usize) -> Self {
        self.max_connections = connections;
        self
    }

    /// Reverse proxies (load balancers) whose `X-Forwarded-For` is believed. A request whose
    /// connection comes from one of these networks records the client the header names
    /// (the right-most address that is not itself a trusted proxy) as `client.address`;
    /// the proxy stays in `network.peer.address`. From any other peer the `X-Forwarded-*`
    /// and `Forwarded` headers are removed before the request goes further, so nothing
    /// downstream can be fooled by a client that writes them. None by default.
    pub fn with_trusted_proxies<I>(mut self, proxies: I) -> Self
    where
        I: IntoIterator<Item = IpNet>,
    {
        self.trusted_proxies = proxies.into_iter().collect();
        self
    }

    /// How long requests in flight may run on once shutdown begins (default
    /// [`DEFAULT_SHUTDOWN_GRACE`]); see [`HttpServer::serve`](super::HttpServer::serve).
    pub fn with_shutdown_grace(mut self, grace: Duration) -> Self {
        self.shutdown_grace = grace;
        self
    }

    /// The proxies whose `X-Forwarded-For` is believed.
    pub fn trusted_proxies(&self) -> &[IpNet] {
        &self.trusted_proxies
    }

    /// How long requests in flight may run on once shutdown begins.
    pub fn shutdown_grace(&self) -> Duration {
        self.shutdown_grace
    }

    /// The extra `Host` names accepted.
    pub fn allowed_hosts(&self) -> &[String] {
        &self.allowed_hosts
    }

    /// The browser origins accepted.
    pub fn allowed_origins(&self) -> &[String] {
        &self.allowed_origins
    }

    /// Whether clients must present a bearer token.
    pub fn requires_token(&self) -> bool {
        self.token.is_some()
    }

    pub(super) fn token(&self) -> Option<&BearerToken> {
        self.token.as_ref()
    }

    pub(super) fn max_body_bytes(&self) -> usize {
        self.max_body_bytes
    }

    pub(super) fn header_timeout(&self) -> Duration {
        self.header_timeout
    }

    pub(super) fn request_timeout(&self) -> Duration {
        self.request_timeout
    }

    pub(super) fn max_connections(&self) -> usize {
        self.max_connections
    }

    /// rmcp's own configuration: the `Host` and `Origin` checks (step 6 of the guards).
    pub(super) fn rmcp_config(
        &self,
        cancel: CancellationToken,
        local: SocketAddr,
    ) -> StreamableHttpServerConfig {
        let mut hosts: Vec<String> = vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
        hosts.extend(self.allowed_hosts.iter().cloned());
        // The server's own loopback origin (same scheme, host and port) is the one origin
        // that cannot be a rebinding page: a page of that origin would be served by this
        // server, which serves none. Any other port on the machine is another origin.
        let port = local.port();
        let mut origins: Vec<String> = vec![
            format!("http://127.0.0.1:{port}"),
            format!("http://localhost:{port}"),
            format!("http://[::1]:{port}"),
        ];
        origins.extend(self.allowed_origins.iter().cloned());
        StreamableHttpServerConfig::default()
            .with_allowed_hosts(hosts)
            .with_allowed_origins(origins)
            .enforce_origin_validation()
            .with_max_request_body_bytes(self.max_body_bytes)
            .with_json_response(true)
            .with_cancellation_token(cancel)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses() {
        assert_eq!(
            parse_listen_address("8931").unwrap(),
            "127.0.0.1:8931".parse().unwrap()
        );
        assert_eq!(
            parse_listen_address("localhost:0").unwrap(),
            "127.0.0.1:0".parse().unwrap()
        );
        assert_eq!(
            parse_listen_address("[::1]:9").unwrap(),
            "[::1]:9".parse().unwrap()
        );
        assert!(parse_listen_address("example.com:80").is_err());
        assert!(parse_listen_address("").is_err());
    }

    #[test]
    fn trusted_proxies() {
        assert_eq!(
            parse_trusted_proxy("10.1.2.3").unwrap(),
            "10.1.2.3/32".parse::<IpNet>().unwrap()
        );
        assert_eq!(
            parse_trusted_proxy(" 10.1.2.3/8 ").unwrap(),
            "10.0.0.0/8".parse::<IpNet>().unwrap()
        );
        assert_eq!(
            parse_trusted_proxy("::1").unwrap(),
            "::1/128".parse::<IpNet>().unwrap()
        );
        assert!(parse_trusted_proxy("proxy.example.com").is_err());
        assert!(parse_trusted_proxy("10.0.0.0/33").is_err());
    }

    #[test]
    fn bearer_tokens() {
        let token = BearerToken::new("s3cret").unwrap();
        let header = |v: &'static str| HeaderValue::from_static(v);
        assert!(token.accepts(Some(&header("Bearer s3cret"))));
        assert!(token.accepts(Some(&header("bearer s3cret"))));
        assert!(!token.accepts(Some(&header("Bearer s3cre"))));
        assert!(!token.accepts(Some(&header("Bearer s3cret2"))));
        assert!(!token.accepts(Some(&header("Basic s3cret"))));
        assert!(!token.accepts(Some(&header("Bearer"))));
        assert!(!token.accepts(None));
        assert!(BearerToken::new("").is_none());
        assert!(BearerToken::new("has space").is_none());
        assert_eq!(format!("{token:?}"), "BearerToken(<redacted>)");
    }
}
