//! The guards between a TCP connection and rmcp: steps 2 to 5 and 7 of the module doc of
//! [`crate::http`] (rmcp itself applies step 6).

use std::{
    convert::Infallible,
    net::IpAddr,
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::Duration,
};

use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited, combinators::BoxBody};
use hyper::body::{Bytes, Incoming};
use hyper_util::rt::{TokioIo, TokioTimer};
use ipnet::IpNet;
use rmcp::{
    ServerHandler,
    transport::streamable_http_server::{
        StreamableHttpService, session::local::LocalSessionManager,
    },
};
use tokio::{io::AsyncWriteExt, sync::Notify};
use tokio_util::sync::CancellationToken;

use super::{ENDPOINT, HEALTH_PATH, MAX_HEADER_BYTES, config::BearerToken};
use crate::{Traced, jsonrpc::Inbound, server::ConnectionInfo};

/// Everything between a parsed request and rmcp: steps 3 to 5 of the module doc.
pub(super) struct Guards<H: ServerHandler> {
    pub(super) mcp: StreamableHttpService<Traced<Arc<H>>, LocalSessionManager>,
    pub(super) token: Option<BearerToken>,
    pub(super) max_body_bytes: usize,
    pub(super) request_timeout: Duration,
    pub(super) trusted_proxies: Vec<IpNet>,
    pub(super) refused: AtomicU64,
    pub(super) in_flight: Arc<InFlight>,
}

/// The requests being answered (not the open streams), so shutdown can wait for them.
#[derive(Debug, Default)]
pub(super) struct InFlight {
    count: AtomicUsize,
    idle: Notify,
}

/// One request being answered, or a connection accepted whose first request has not been
/// read yet; dropping it (the response sent to the end, the first request begun, or the
/// connection gone) counts it out.
pub(super) struct Answering(Arc<InFlight>);

/// A just-accepted connection's place in the count, handed over to its first request.
pub(super) type Arrival = Arc<std::sync::Mutex<Option<Answering>>>;

impl InFlight {
    fn enter(self: &Arc<Self>) -> Answering {
        self.count.fetch_add(1, Ordering::SeqCst);
        Answering(Arc::clone(self))
    }

    /// Counts a connection just accepted, until its first request counts itself.
    pub(super) fn arrival(self: &Arc<Self>) -> Arrival {
        Arc::new(std::sync::Mutex::new(Some(self.enter())))
    }

    pub(super) fn count(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }

    /// Resolves once no request is being answered.
    pub(super) async fn idle(&self) {
        loop {
            let notified = self.idle.notified();
            tokio::pin!(notified);
            // Registered before the check, so a request that ends in between still wakes us.
            notified.as_mut().enable();
            if self.count() == 0 {
                return;
            }
            notified.await;
        }
    }
}

impl Drop for Answering {
    fn drop(&mut self) {
        if self.0.count.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

type ResponseBody = BoxBody<Bytes, Infallible>;

impl<H: ServerHandler> Guards<H> {
    async fn handle(
        &self,
        request: Request<Incoming>,
        info: ConnectionInfo,
        arrival: &Arrival,
    ) -> Response<ResponseBody> {
        // This request takes over the count from its connection's arrival (entered before
        // the arrival is released, so the count never passes through zero in between).
        let answering = (request.method() != Method::GET).then(|| self.in_flight.enter());
        drop(
            arrival
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take(),
        );
        if request.uri().path() != ENDPOINT {
            if request.uri().path() == HEALTH_PATH && request.method() == Method::GET {
                return plain(StatusCode::OK, "ok\n");
            }
            return self.refuse(StatusCode::NOT_FOUND, "Not Found: the MCP endpoint is /mcp");
        }
        // A stream (GET) stays open until it is cancelled; anything else is answered, and
        // counts as in flight until its response body (an SSE stream, in a 2025-11-25
        // session) has been sent to the end.
        let Some(answering) = answering else {
            return self.answer(request, info).await;
        };
        self.answer(request, info).await.map(|body| {
            body.map_frame(move |frame| {
                let _answering = &answering;
                frame
            })
            .boxed()
        })
    }

    async fn answer(
        &self,
        request: Request<Incoming>,
        info: ConnectionInfo,
    ) -> Response<ResponseBody> {
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
        let info = match forwarded_client(&mut parts.headers, info, &self.trusted_proxies) {
            Some(client) => info.with_client(client),
            None => info,
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
        plain(status, message)
    }
}

/// A short plain-text response.
fn plain(status: StatusCode, message: &'static str) -> Response<ResponseBody> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(Full::new(Bytes::from_static(message.as_bytes())).boxed())
        .expect("a static response is valid")
}

/// The headers a reverse proxy writes about the original request.
const FORWARDED_HEADERS: [&str; 5] = [
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-forwarded-port",
    "forwarded",
];

/// The original client of a request that came through a trusted proxy: the right-most
/// `X-Forwarded-For` address that is not a trusted proxy itself (each proxy appends the
/// peer it saw, so addresses left of an untrusted one could have been written by anyone).
/// From a peer that is not a trusted proxy, the forwarding headers are removed instead.
fn forwarded_client(
    headers: &mut HeaderMap,
    info: ConnectionInfo,
    trusted: &[IpNet],
) -> Option<IpAddr> {
    // An IPv4 client of a dual-stack listener shows as ::ffff:a.b.c.d: compare it as IPv4.
    let is_trusted = |ip: &IpAddr| {
        let ip = ip.to_canonical();
        trusted.iter().any(|net| net.contains(&ip))
    };
    if !is_trusted(&info.peer().ip()) {
        for name in FORWARDED_HEADERS {
            headers.remove(name);
        }
        return None;
    }
    let mut hops: Vec<IpAddr> = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        let value = value.to_str().ok()?;
        for hop in value.split(',') {
            // An unreadable hop ends the chain: nothing left of it can be placed.
            hops.push(parse_hop(hop.trim())?.to_canonical());
        }
    }
    let mut client = None;
    for hop in hops.iter().rev() {
        client = Some(*hop);
        if !is_trusted(hop) {
            break;
        }
    }
    client
}

/// An `X-Forwarded-For` entry: an address, possibly with a port (`1.2.3.4:5`, `[::1]:5`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(socket) = hop.parse::<std::net::SocketAddr>() {
        return Some(socket.ip());
    }
    hop.trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()
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
pub(super) async fn serve_connection<H: ServerHandler>(
    stream: tokio::net::TcpStream,
    info: ConnectionInfo,
    guards: Arc<Guards<H>>,
    arrival: Arrival,
    header_timeout: Duration,
    closing: CancellationToken,
) {
    let _ = stream.set_nodelay(true);
    let service = hyper::service::service_fn(move |request| {
        let (guards, arrival) = (guards.clone(), arrival.clone());
        async move { Ok::<_, Infallible>(guards.handle(request, info, &arrival).await) }
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
        tracing::debug!(%error, peer = %info.peer(), "connection ended");
    }
}

/// Answers a connection over the cap with `503` and closes it.
pub(super) async fn refuse_busy(mut stream: tokio::net::TcpStream) {
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
    use std::net::SocketAddr;

    use super::*;

    fn info(peer: &str) -> ConnectionInfo {
        let local: SocketAddr = "127.0.0.1:8931".parse().unwrap();
        ConnectionInfo::new(local, peer.parse().unwrap())
    }

    fn headers(forwarded_for: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in forwarded_for {
            headers.append("x-forwarded-for", HeaderValue::from_str(value).unwrap());
        }
        headers.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        headers
    }

    #[test]
    fn forwarded_for_is_believed_from_trusted_proxies_only() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());

        // From a trusted proxy: the right-most untrusted hop.
        let mut h = headers(&["6.6.6.6, 203.0.113.9", "10.0.0.2"]);
        assert_eq!(
            forwarded_client(&mut h, info("10.0.0.1:4000"), &trusted),
            ip("203.0.113.9")
        );
        assert!(h.contains_key("x-forwarded-proto"));
        // Ports and brackets are read; every hop trusted: the left-most.
        let mut h = headers(&["[2001:db8::1]:443"]);
        assert_eq!(
            forwarded_client(&mut h, info("10.0.0.1:4000"), &trusted),
            ip("2001:db8::1")
        );
        let mut h = headers(&["10.9.9.9, 10.0.0.2"]);
        assert_eq!(
            forwarded_client(&mut h, info("10.0.0.1:4000"), &trusted),
            ip("10.9.9.9")
        );
        // Garbage in the chain: no client is named (the peer stands).
        let mut h = headers(&["not-an-ip"]);
        assert_eq!(
            forwarded_client(&mut h, info("10.0.0.1:4000"), &trusted),
            None
        );

        // From anyone else: nothing believed, and nothing passed on.
        let mut h = headers(&["203.0.113.9"]);
        assert_eq!(
            forwarded_client(&mut h, info("192.0.2.1:4000"), &trusted),
            None
        );
        assert!(!h.contains_key("x-forwarded-for"));
        assert!(!h.contains_key("x-forwarded-proto"));
        let mut h = headers(&["203.0.113.9"]);
        assert_eq!(forwarded_client(&mut h, info("10.0.0.1:4000"), &[]), None);
        assert!(h.is_empty());
    }
}
