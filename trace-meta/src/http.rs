//! Serving a traced handler over Streamable HTTP, safe by default.
//!
//! rmcp's [`StreamableHttpService`] speaks the protocol: 2026-07-28 stateless requests
//! (`server/discover`, per-request `_meta` protocol fields) and 2025-11-25 sessions
//! (`initialize`, `Mcp-Session-Id`) on one endpoint, `/mcp`. This module puts it on a TCP
//! listener behind the guards a server reachable over a network needs. A request passes
//! them in this order; the first that refuses answers, and the server carries on:
//!
//! 1. **Connection cap.** At most [`HttpConfig::max_connections`] connections are served at
//!    once; one more is answered `503` with `Retry-After` and closed.
//! 2. **Header timeout.** A client that has not sent a complete request head within
//!    [`HttpConfig::header_timeout`] (a slow-loris client, or an idle keep-alive connection)
//!    is disconnected. Request heads are capped at [`MAX_HEADER_BYTES`].
//! 3. **Path.** Only `/mcp` is served (`404` otherwise).
//! 4. **Bearer token.** When [`HttpConfig::token`] is set (from `MCP_SERVER_TOKEN`), a
//!    request without `Authorization: Bearer <token>` gets `401` and a
//!    `WWW-Authenticate: Bearer` challenge. The comparison takes the same time wherever the
//!    tokens differ, the refusal never echoes what was sent, and the header is removed
//!    before the request goes further, so no handler, log or span can see it.
//! 5. **Body cap and request timeout.** A body over [`HttpConfig::max_body_bytes`] gets
//!    `413` (at once when `Content-Length` says so, otherwise as soon as the streamed body
//!    passes the cap); a body not complete within [`HttpConfig::request_timeout`] gets `408`.
//! 6. **Host and Origin** (rmcp, as the MCP specification requires against DNS rebinding):
//!    a `Host` other than loopback names or [`HttpConfig::allowed_hosts`] gets `403`; an
//!    `Origin` header that is present and is neither the server's own loopback origin
//!    (`http://127.0.0.1:PORT`, `http://localhost:PORT`, `http://[::1]:PORT`) nor in
//!    [`HttpConfig::allowed_origins`] gets `403` (MCP clients that are not browsers send no
//!    `Origin`).
//!
//! 7. **JSON-RPC errors** ([`jsonrpc`](crate::jsonrpc)). A body rmcp cannot read as a
//!    JSON-RPC message (it answers those `415`) gets `400` with the JSON-RPC error the
//!    specifications prescribe: `-32700` with `"id": null` for one that is not JSON (or is
//!    nested deeper than 128 levels), `-32600` with `"id": null` for JSON that is not a
//!    JSON-RPC 2.0 message, `-32602` (or `-32601` for an unknown method) with the request's
//!    id when only its params cannot be read. A notification that cannot be read gets `202`
//!    and no body: JSON-RPC never answers a notification. A protocol method whose params do
//!    not fit (`tools/call` without a `name`), which rmcp reads as a custom method, gets
//!    `-32602` from [`Traced`]. Valid bodies are parsed once, by rmcp.
//!
//! What passes reaches the handler through [`Traced`], which opens the
//! request's SERVER span; every refused request is logged at `debug` without its headers.

use std::{
    convert::Infallible,
    fmt,
    future::Future,
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited, combinators::BoxBody};
use hyper::body::{Bytes, Incoming};
use hyper_util::rt::{TokioIo, TokioTimer};
use rmcp::{
    ServerHandler,
    transport::streamable_http_server::{
        StreamableHttpServerConfig, StreamableHttpService, session::local::LocalSessionManager,
    },
};
use tokio::{io::AsyncWriteExt, net::TcpListener, sync::Semaphore, task::JoinSet};
use tokio_util::sync::CancellationToken;

use crate::{NetworkTransport, Traced, jsonrpc::Inbound, server::ConnectionInfo};

/// The endpoint path.
pub const ENDPOINT: &str = "/mcp";
/// Environment variable holding the bearer token clients must present (never a flag: a
/// command line is visible to every user of the machine).
pub const TOKEN_ENV: &str = "MCP_SERVER_TOKEN";
/// Largest request head (request line and headers) accepted, in bytes.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;
/// Default of [`HttpConfig::max_body_bytes`]: 1 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
/// Default of [`HttpConfig::header_timeout`].
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Default of [`HttpConfig::request_timeout`].
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Default of [`HttpConfig::max_connections`].
pub const DEFAULT_MAX_CONNECTIONS: usize = 256;

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
    fn accepts(&self, presented: Option<&HeaderValue>) -> bool {
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

/// How to serve Streamable HTTP; [`HttpConfig::new`] gives the safe defaults.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// The address to listen on. Loopback unless told otherwise: see
    /// [`parse_listen_address`].
    pub addr: SocketAddr,
    /// Host names (or `host:port`) accepted in the `Host` header besides `localhost`,
    /// `127.0.0.1` and `::1`. A server behind a reverse proxy or bound to a public address
    /// names its public host here.
    pub allowed_hosts: Vec<String>,
    /// Browser origins allowed to call (`https://app.example.com:443`), besides the server's
    /// own loopback origin. Empty: any other request carrying an `Origin` header is refused.
    pub allowed_origins: Vec<String>,
    /// The bearer token clients must present, if any.
    pub token: Option<BearerToken>,
    /// Largest request body, in bytes.
    pub max_body_bytes: usize,
    /// How long a client may take to send a request head (also: how long an idle
    /// keep-alive connection stays open).
    pub header_timeout: Duration,
    /// How long a client may take to send a request body.
    pub request_timeout: Duration,
    /// Most connections served at once.
    pub max_connections: usize,
}

/// A configuration that cannot be served.
#[derive(Debug, thiserror::Error)]
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
    /// Serves on `addr` with the defaults: loopback hosts only, no origin, no token, 1 MiB
    /// bodies, 10 s for a request head, 30 s for a body, 256 connections.
    pub fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            allowed_hosts: Vec::new(),
            allowed_origins: Vec::new(),
            token: None,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }

    /// Sets [`Self::token`] from `MCP_SERVER_TOKEN`, when it is set.
    pub fn with_token_from_env(mut self) -> Result<Self, HttpConfigError> {
        if let Some(value) = std::env::var_os(TOKEN_ENV) {
            let value = value.into_string().map_err(|_| HttpConfigError::Token)?;
            self.token = Some(BearerToken::new(value).ok_or(HttpConfigError::Token)?);
        }
        Ok(self)
    }

    fn rmcp_config(
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

/// Why HTTP serving stopped.
#[derive(Debug, thiserror::Error)]
pub enum HttpServeError {
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
}

/// A bound Streamable HTTP listener, ready to serve.
///
/// Binding first and serving second lets a caller learn the port (`--http 127.0.0.1:0`)
/// before the first request.
#[derive(Debug)]
pub struct HttpServer {
    listener: TcpListener,
    config: HttpConfig,
    local_addr: SocketAddr,
}

/// How long connections get to finish their requests once shutdown begins.
pub const HTTP_SHUTDOWN_GRACE: Duration = crate::serve::SHUTDOWN_GRACE;

impl HttpServer {
    /// Binds `config.addr`.
    pub async fn bind(config: HttpConfig) -> Result<Self, HttpServeError> {
        let listener =
            TcpListener::bind(config.addr)
                .await
                .map_err(|source| HttpServeError::Bind {
                    addr: config.addr,
                    source,
                })?;
        let local_addr = listener
            .local_addr()
            .map_err(|source| HttpServeError::Bind {
                addr: config.addr,
                source,
            })?;
        Ok(Self {
            listener,
            config,
            local_addr,
        })
    }

    /// The address actually bound (with the port the system picked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The endpoint URL, `http://{local_addr}/mcp`.
    pub fn url(&self) -> String {
        format!("http://{}{ENDPOINT}", self.local_addr)
    }

    /// Serves `handler` (each request in its SERVER span) until `shutdown` resolves; then
    /// stops accepting, ends open sessions and streams, and gives requests in flight
    /// [`HTTP_SHUTDOWN_GRACE`] to finish.
    pub async fn serve<H>(self, handler: H, shutdown: impl Future<Output = ()>)
    where
        H: ServerHandler,
    {
        let cancel = CancellationToken::new();
        // rmcp builds a service per session or stateless request: share one handler.
        let traced = Traced::new(Arc::new(handler)).with_transport(NetworkTransport::Tcp);
        let mcp = StreamableHttpService::new(
            move || Ok(traced.clone()),
            Arc::new(LocalSessionManager::default()),
            self.config.rmcp_config(cancel.clone(), self.local_addr),
        );
        let guards = Arc::new(Guards {
            mcp,
            token: self.config.token.clone(),
            max_body_bytes: self.config.max_body_bytes,
            request_timeout: self.config.request_timeout,
            refused: AtomicU64::new(0),
        });
        let slots = Arc::new(Semaphore::new(self.config.max_connections.max(1)));
        let mut connections = JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            // Reap finished connections so the set stays as small as the open ones.
            while connections.try_join_next().is_some() {}
            let (stream, peer) = tokio::select! {
                biased;
                () = &mut shutdown => break,
                accepted = self.listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        // Out of file descriptors, or a connection reset before accept:
                        // pause briefly rather than spin, and keep serving.
                        tracing::warn!(%error, "accept failed");
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    }
                },
            };
            let Ok(slot) = slots.clone().try_acquire_owned() else {
                connections.spawn(refuse_busy(stream));
                continue;
            };
            let info = ConnectionInfo {
                local: self.local_addr,
                peer,
            };
            let guards = guards.clone();
            let header_timeout = self.config.header_timeout;
            let closing = cancel.clone();
            connections.spawn(async move {
                let _slot = slot;
                serve_connection(stream, info, guards, header_timeout, closing).await;
            });
        }
        drop(self.listener);
        cancel.cancel();
        let drained = async { while connections.join_next().await.is_some() {} };
        if tokio::time::timeout(HTTP_SHUTDOWN_GRACE, drained)
            .await
            .is_err()
        {
            tracing::warn!(
                "connections still open {} ms after shutdown began are dropped",
                HTTP_SHUTDOWN_GRACE.as_millis()
            );
            connections.abort_all();
        }
    }
}

/// Everything between a parsed request and rmcp: steps 3 to 5 of the module doc.
struct Guards<H: ServerHandler> {
    mcp: StreamableHttpService<Traced<Arc<H>>, LocalSessionManager>,
    token: Option<BearerToken>,
    max_body_bytes: usize,
    request_timeout: Duration,
    refused: AtomicU64,
}

type ResponseBody = BoxBody<Bytes, Infallible>;

impl<H: ServerHandler> Guards<H> {
    async fn handle(
        &self,
        request: Request<Incoming>,
        info: ConnectionInfo,
    ) -> Response<ResponseBody> {
        if request.uri().path() != ENDPOINT {
            return self.refuse(StatusCode::NOT_FOUND, "Not Found: the MCP endpoint is /mcp");
        }
        let (mut parts, body) = request.into_parts();
        if let Some(token) = &self.token {
            let accepted = token.accepts(parts.headers.get(header::AUTHORIZATION));
            if !accepted {
                let mut response = self.refuse(
                    StatusCode::UNAUTHORIZED,
                    "Unauthorized: a bearer token is required",
                );
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"mcp\""),
                );
                return response;
            }
        }
        // No handler, log or span downstream may see a credential.
        parts.headers.remove(header::AUTHORIZATION);
        parts.headers.remove(header::COOKIE);

        let declared = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<u64>().ok());
        if declared.is_some_and(|length| length > self.max_body_bytes as u64) {
            return self.too_large();
        }
        let collected = tokio::time::timeout(
            self.request_timeout,
            Limited::new(body, self.max_body_bytes).collect(),
        )
        .await;
        let body = match collected {
            Ok(Ok(collected)) => collected.to_bytes(),
            Ok(Err(error)) if error.is::<http_body_util::LengthLimitError>() => {
                return self.too_large();
            }
            Ok(Err(_)) => {
                return self.refuse(StatusCode::BAD_REQUEST, "Bad Request: the body was cut off");
            }
            Err(_) => {
                return self.refuse(
                    StatusCode::REQUEST_TIMEOUT,
                    "Request Timeout: the body did not arrive in time",
                );
            }
        };
        parts.extensions.insert(info);
        let sent_json = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| {
                value
                    .trim_start()
                    .to_ascii_lowercase()
                    .starts_with("application/json")
            });
        // A clone of `Bytes` shares the buffer: the body is kept, not copied, for step 7.
        let request = Request::from_parts(parts, Full::new(body.clone()));
        let response = self.mcp.handle(request).await;
        if sent_json && response.status() == StatusCode::UNSUPPORTED_MEDIA_TYPE {
            return unreadable_body(&body).unwrap_or(response);
        }
        response
    }

    fn too_large(&self) -> Response<ResponseBody> {
        self.refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Payload Too Large: the request body is over this server's limit",
        )
    }

    fn refuse(&self, status: StatusCode, message: &'static str) -> Response<ResponseBody> {
        let refused = self.refused.fetch_add(1, Ordering::Relaxed) + 1;
        tracing::debug!(status = status.as_u16(), refused, "request refused");
        Response::builder()
            .status(status)
            .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
            .body(Full::new(Bytes::from_static(message.as_bytes())).boxed())
            .expect("a static response is valid")
    }
}

/// Step 7: the answer to a JSON body rmcp could not read (it says `415` for those), or
/// `None` when the body is a message after all and rmcp's `415` had another cause.
fn unreadable_body(body: &[u8]) -> Option<Response<ResponseBody>> {
    let (status, body, json) = match crate::jsonrpc::check(body) {
        Inbound::Message(_) => return None,
        Inbound::Reply(rejection) => (StatusCode::BAD_REQUEST, rejection.body, true),
        // A notification or response: accepted and dropped, never answered.
        Inbound::Ignore => (StatusCode::ACCEPTED, Vec::new(), false),
    };
    let mut response = Response::builder().status(status);
    if json {
        response = response.header(header::CONTENT_TYPE, "application/json");
    }
    Some(
        response
            .body(Full::new(Bytes::from(body)).boxed())
            .expect("a JSON-RPC error response is valid"),
    )
}

/// Serves one connection: HTTP/1.1 with the header timeout, until the client leaves or
/// shutdown begins (then the request in flight may finish).
async fn serve_connection<H: ServerHandler>(
    stream: tokio::net::TcpStream,
    info: ConnectionInfo,
    guards: Arc<Guards<H>>,
    header_timeout: Duration,
    closing: CancellationToken,
) {
    let _ = stream.set_nodelay(true);
    let service = hyper::service::service_fn(move |request| {
        let guards = guards.clone();
        async move { Ok::<_, Infallible>(guards.handle(request, info).await) }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .max_buf_size(MAX_HEADER_BYTES);
    let connection = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    let outcome = tokio::select! {
        outcome = connection.as_mut() => outcome,
        () = closing.cancelled() => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(error) = outcome {
        // Timeouts and clients that hang up are routine for a server; not worth a warning.
        tracing::debug!(%error, peer = %info.peer, "connection ended");
    }
}

/// Answers a connection over the cap with `503` and closes it.
async fn refuse_busy(mut stream: tokio::net::TcpStream) {
    tracing::debug!("connection refused: at the connection cap");
    let response = b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Type: text/plain\r\nContent-Length: 43\r\nConnection: close\r\n\r\nService Unavailable: too many connections\r\n";
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let _ = stream.write_all(response).await;
        let _ = stream.shutdown().await;
    })
    .await;
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
