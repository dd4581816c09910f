//! The guards between a TCP connection and rmcp: steps 2 to 5 and 7 of the module doc of
//! [`crate::http`] (rmcp itself applies step 6).

use std::{
    convert::Infallible,
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
        StreamableHttpService, session::local::LocalSessionManager,
    },
};
use tokio::io::AsyncWriteExt;
use tokio_util::sync::CancellationToken;

use super::{ENDPOINT, MAX_HEADER_BYTES, config::BearerToken};
use crate::{Traced, jsonrpc::Inbound, server::ConnectionInfo};

/// Everything between a parsed request and rmcp: steps 3 to 5 of the module doc.
pub(super) struct Guards<H: ServerHandler> {
    pub(super) mcp: StreamableHttpService<Traced<Arc<H>>, LocalSessionManager>,
    pub(super) token: Option<BearerToken>,
    pub(super) max_body_bytes: usize,
    pub(super) request_timeout: Duration,
    pub(super) refused: AtomicU64,
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
pub(super) async fn serve_connection<H: ServerHandler>(
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
