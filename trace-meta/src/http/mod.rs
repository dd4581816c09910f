//! Serving a traced handler over Streamable HTTP, safe by default.
//!
//! rmcp's [`StreamableHttpService`] speaks the protocol: 2026-07-28 stateless requests
//! (`server/discover`, per-request `_meta` protocol fields) and 2025-11-25 sessions
//! (`initialize`, `Mcp-Session-Id`) on one endpoint, `/mcp`. This module puts it on a TCP
//! listener behind the guards a server reachable over a network needs. A request passes
//! them in this order; the first that refuses answers, and the server carries on:
//!
//! 1. **Connection cap.** At most [`HttpConfig::with_max_connections`] connections are served at
//!    once; one more is answered `503` with `Retry-After` and closed.
//! 2. **Header timeout.** A client that has not sent a complete request head within
//!    [`HttpConfig::with_header_timeout`] (a slow-loris client, or an idle keep-alive connection)
//!    is disconnected. Request heads are capped at [`MAX_HEADER_BYTES`].
//! 3. **Path.** Only `/mcp` is served (`404` otherwise), and `GET /healthz`, which answers
//!    `200 ok` to anyone (a load balancer's or Kubernetes' probe carries no token) and says
//!    nothing else.
//! 4. **Bearer token.** When a token is set ([`HttpConfig::with_token_from_env`] reads `MCP_SERVER_TOKEN`), a
//!    request without `Authorization: Bearer <token>` gets `401` and a
//!    `WWW-Authenticate: Bearer` challenge. The comparison takes the same time wherever the
//!    tokens differ, the refusal never echoes what was sent, and the header is removed
//!    before the request goes further, so no handler, log or span can see it.
//! 5. **Body cap and request timeout.** A body over [`HttpConfig::with_max_body_bytes`] gets
//!    `413` (at once when `Content-Length` says so, otherwise as soon as the streamed body
//!    passes the cap); a body not complete within [`HttpConfig::with_request_timeout`] gets `408`.
//! 6. **Host and Origin** (rmcp, as the MCP specification requires against DNS rebinding):
//!    a `Host` other than loopback names or [`HttpConfig::with_allowed_hosts`] gets `403`; an
//!    `Origin` header that is present and is neither the server's own loopback origin
//!    (`http://127.0.0.1:PORT`, `http://localhost:PORT`, `http://[::1]:PORT`) nor in
//!    [`HttpConfig::with_allowed_origins`] gets `403` (MCP clients that are not browsers send no
//!    `Origin`).
//! 7. **JSON-RPC errors** (the checks every message meets, on stdio too). A body rmcp cannot read as a
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
//!
//! **Behind a reverse proxy** (a load balancer, an ingress), the connection's peer is the
//! proxy. [`HttpConfig::with_trusted_proxies`] names the proxies whose `X-Forwarded-For` is
//! believed: the span then records the client it names as `client.address` and the proxy
//! as `network.peer.address`. From a peer not named there, the `X-Forwarded-*` and
//! `Forwarded` headers are removed before the request goes further.
//!
//! **Shutdown drains.** When the `shutdown` future of [`HttpServer::serve`] resolves, the
//! listener closes at once (a balancer's next connection is refused and goes to another
//! replica), idle connections close, requests in flight run to their answer (up to
//! [`HttpConfig::with_shutdown_grace`]), and only then are sessions and streams ended.

//!
//! A failed `accept` (out of file descriptors, most often) is retried with a doubling pause,
//! from 10 ms up to 1 s, reset by the next success; after [`ACCEPT_GIVE_UP`] of nothing
//! but failures, [`HttpServer::serve`] returns the error, so a supervisor can restart the
//! process (mini-redis does the same).
//!
//! The files: `config.rs` (what a server is configured with), `guards.rs` (what a request
//! meets between the socket and rmcp), this file (the listener and its accept loop).

mod config;
mod guards;

use std::{
    future::Future,
    net::SocketAddr,
    sync::{Arc, atomic::AtomicU64},
    time::{Duration, Instant},
};

use rmcp::{
    ServerHandler,
    transport::streamable_http_server::{
        StreamableHttpService, session::local::LocalSessionManager,
    },
};
use tokio::{net::TcpListener, sync::Semaphore, task::JoinSet};
use tokio_util::sync::CancellationToken;

pub use config::{
    BearerToken, DEFAULT_HEADER_TIMEOUT, DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_CONNECTIONS,
    DEFAULT_REQUEST_TIMEOUT, DEFAULT_SHUTDOWN_GRACE, HttpConfig, HttpConfigError, TOKEN_ENV,
    parse_listen_address, parse_trusted_proxy,
};
use guards::{Guards, refuse_busy, serve_connection};
/// A network in CIDR notation, as [`HttpConfig::with_trusted_proxies`] takes it (the
/// `ipnet` crate's type).
pub use ipnet::IpNet;

use crate::{NetworkTransport, Traced, server::ConnectionInfo};

/// The endpoint path.
pub const ENDPOINT: &str = "/mcp";
/// The health path: `GET` answers `200 ok` while the server accepts connections.
pub const HEALTH_PATH: &str = "/healthz";
/// Largest request head (request line and headers) accepted, in bytes.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;
/// How long `accept` may fail without a single success before serving gives up.
pub const ACCEPT_GIVE_UP: Duration = Duration::from_secs(64);

/// Why HTTP serving stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HttpServeError {
    /// The address could not be bound.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// What the system said.
        #[source]
        error: std::io::Error,
    },
    /// `accept` failed without a success for [`ACCEPT_GIVE_UP`].
    #[error("cannot accept connections on {addr} (failing for {}s)", ACCEPT_GIVE_UP.as_secs())]
    Accept {
        /// The address.
        addr: SocketAddr,
        /// The last failure.
        #[source]
        error: std::io::Error,
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

impl HttpServer {
    /// Binds `addr` (port 0: a free port, see [`local_addr`](Self::local_addr)).
    pub async fn bind(addr: SocketAddr, config: HttpConfig) -> Result<Self, HttpServeError> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|error| HttpServeError::Bind { addr, error })?;
        Self::from_listener(listener, config)
    }

    /// Serves on a listener already bound (socket activation, a port chosen by a test).
    pub fn from_listener(
        listener: TcpListener,
        config: HttpConfig,
    ) -> Result<Self, HttpServeError> {
        let local_addr = listener
            .local_addr()
            .map_err(|error| HttpServeError::Bind {
                addr: SocketAddr::from(([0, 0, 0, 0], 0)),
                error,
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
    /// drains: stops accepting, closes idle connections, lets requests in flight run to
    /// their answer for up to [`HttpConfig::with_shutdown_grace`], and ends open sessions
    /// and streams.
    ///
    /// It returns an error only when `accept` has failed for [`ACCEPT_GIVE_UP`] without a
    /// success; the connections open by then are shut down the same way.
    pub async fn serve<H>(
        self,
        handler: H,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), HttpServeError>
    where
        H: ServerHandler,
    {
        // Two stages of shutdown: `closing` ends connections once their request in flight
        // is answered; `cancel` then ends rmcp's sessions and streams (and any handler still
        // running), which a stream never ends by itself.
        let cancel = CancellationToken::new();
        let closing = CancellationToken::new();
        // rmcp builds a service per session or stateless request: share one handler.
        let traced = Traced::new(Arc::new(handler)).with_transport(NetworkTransport::Tcp);
        let mcp = StreamableHttpService::new(
            move || Ok(traced.clone()),
            Arc::new(LocalSessionManager::default()),
            self.config.rmcp_config(cancel.clone(), self.local_addr),
        );
        let guards = Arc::new(Guards {
            mcp,
            token: self.config.token().cloned(),
            max_body_bytes: self.config.max_body_bytes(),
            request_timeout: self.config.request_timeout(),
            trusted_proxies: self.config.trusted_proxies().to_vec(),
            refused: AtomicU64::new(0),
            in_flight: Arc::default(),
        });
        let slots = Arc::new(Semaphore::new(self.config.max_connections().max(1)));
        let header_timeout = self.config.header_timeout();
        let local_addr = self.local_addr;
        // A connection counts as in flight from its accept until its first request is
        // being answered (then the request counts): shutdown cannot miss one that was
        // accepted but not yet read.
        let admit =
            |stream: tokio::net::TcpStream, peer: SocketAddr, connections: &mut JoinSet<()>| {
                let Ok(slot) = slots.clone().try_acquire_owned() else {
                    connections.spawn(refuse_busy(stream));
                    return;
                };
                let info = ConnectionInfo::new(local_addr, peer);
                let arrival = guards.in_flight.arrival();
                let guards = guards.clone();
                let closing = closing.clone();
                connections.spawn(async move {
                    let _slot = slot;
                    serve_connection(stream, info, guards, arrival, header_timeout, closing).await;
                });
            };
        let mut connections = JoinSet::new();
        let mut backoff = AcceptBackoff::default();
        let mut outcome = Ok(());
        tokio::pin!(shutdown);
        loop {
            // Reap finished connections so the set stays as small as the open ones.
            while connections.try_join_next().is_some() {}
            let (stream, peer) = tokio::select! {
                biased;
                () = &mut shutdown => break,
                accepted = self.listener.accept() => match accepted {
                    Ok(accepted) => {
                        backoff.succeeded();
                        accepted
                    }
                    Err(error) => match backoff.failed() {
                        Some(pause) => {
                            tracing::warn!(%error, pause_ms = pause.as_millis() as u64, "accept failed; retrying");
                            tokio::select! {
                                biased;
                                () = &mut shutdown => break,
                                () = tokio::time::sleep(pause) => continue,
                            }
                        }
                        None => {
                            outcome = Err(HttpServeError::Accept { addr: self.local_addr, error });
                            break;
                        }
                    },
                },
            };
            admit(stream, peer, &mut connections);
        }
        // Connections the kernel accepted while we stopped carry requests a balancer has
        // already sent; they are served, not reset. (One that arrives after this finds the
        // listener closed: a refused connection, which a balancer sends elsewhere.)
        while let Ok(Ok((stream, peer))) =
            tokio::time::timeout(Duration::ZERO, self.listener.accept()).await
        {
            admit(stream, peer, &mut connections);
        }
        drop(self.listener);
        let grace = self.config.shutdown_grace();
        let deadline = tokio::time::Instant::now() + grace;
        closing.cancel();
        let answered = guards.in_flight.idle();
        let in_flight = guards.in_flight.count();
        if tokio::time::timeout_at(deadline, answered).await.is_err() {
            tracing::warn!(
                requests = guards.in_flight.count(),
                "requests still running {} ms after shutdown began are abandoned",
                grace.as_millis()
            );
        } else if in_flight > 0 {
            tracing::info!(
                requests = in_flight,
                "requests in flight at shutdown answered"
            );
        }
        cancel.cancel();
        let closed = async { while connections.join_next().await.is_some() {} };
        // Streams end as soon as they are cancelled; a little time past the deadline lets
        // them say goodbye.
        let streams_end = deadline.max(tokio::time::Instant::now()) + STREAMS_END;
        if tokio::time::timeout_at(streams_end, closed).await.is_err() {
            tracing::warn!("connections still open after shutdown are dropped");
            connections.abort_all();
        }
        outcome
    }
}

/// How long cancelled sessions and streams get to close their connections.
const STREAMS_END: Duration = Duration::from_millis(500);

/// The pauses between failed `accept`s: doubling from [`AcceptBackoff::FIRST`] to
/// [`AcceptBackoff::LONGEST`], until failures have lasted [`ACCEPT_GIVE_UP`].
#[derive(Debug, Default)]
struct AcceptBackoff {
    /// When the current run of failures began, and the pause after the last one.
    failing: Option<(Instant, Duration)>,
}

impl AcceptBackoff {
    const FIRST: Duration = Duration::from_millis(10);
    const LONGEST: Duration = Duration::from_secs(1);

    fn succeeded(&mut self) {
        self.failing = None;
    }

    /// The pause before the next attempt, or `None` when it is time to give up.
    fn failed(&mut self) -> Option<Duration> {
        self.failed_at(Instant::now())
    }

    fn failed_at(&mut self, now: Instant) -> Option<Duration> {
        let (since, pause) = match self.failing {
            None => (now, Self::FIRST),
            Some((since, last)) => (since, (last * 2).min(Self::LONGEST)),
        };
        if now.duration_since(since) >= ACCEPT_GIVE_UP {
            return None;
        }
        self.failing = Some((since, pause));
        Some(pause)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_failures_back_off_then_give_up() {
        let mut backoff = AcceptBackoff::default();
        let start = Instant::now();
        let pauses: Vec<u128> = (0..9)
            .map(|_| backoff.failed_at(start).unwrap().as_millis())
            .collect();
        assert_eq!(pauses, [10, 20, 40, 80, 160, 320, 640, 1000, 1000]);
        backoff.succeeded();
        assert_eq!(backoff.failed_at(start), Some(AcceptBackoff::FIRST));
        assert_eq!(backoff.failed_at(start + ACCEPT_GIVE_UP), None);
    }
}
