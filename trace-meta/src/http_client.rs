//! The client side over Streamable HTTP: trace context in the HTTP headers too.
//!
//! [`TracedClient`](crate::TracedClient) puts each request's context in `params._meta`
//! (SEP-414), which only an MCP-aware receiver reads. Gateways, proxies and load balancers
//! read the W3C `traceparent` / `tracestate` HTTP headers instead. [`TraceHeaders`] wraps any
//! rmcp [`StreamableHttpClient`] and, on each POST of a request, copies the context found in
//! its `_meta` into those headers, so both carry the same parent. Everything else (the
//! session id, the configured headers, the bearer token) passes through untouched.
//!
//! ```no_run
//! # fn demo() {
//! use rmcp::transport::{StreamableHttpClientTransport, streamable_http_client::StreamableHttpClientTransportConfig};
//! # let http_client: reqwest::Client = todo!();
//! let transport = StreamableHttpClientTransport::with_client(
//!     trace_meta::http_client::TraceHeaders::new(http_client),
//!     StreamableHttpClientTransportConfig::with_uri("http://127.0.0.1:8931/mcp"),
//! );
//! # }
//! ```

use std::{collections::HashMap, future::Future, sync::Arc};

use futures::stream::BoxStream;
use http::{HeaderName, HeaderValue};
use rmcp::{
    model::{ClientJsonRpcMessage, GetMeta},
    transport::streamable_http_client::{
        StreamableHttpClient, StreamableHttpError, StreamableHttpPostResponse,
        StreamableHttpResponseLimits,
    },
};
use sse_stream::{Error as SseError, Sse};

use crate::propagation;

/// An rmcp HTTP client that repeats each request's `_meta` trace context in the W3C
/// `traceparent` / `tracestate` headers of its POST.
pub struct TraceHeaders<C: StreamableHttpClient> {
    inner: C,
    redact: fn(C::Error) -> C::Error,
}

impl<C: StreamableHttpClient + Clone> Clone for TraceHeaders<C> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            redact: self.redact,
        }
    }
}

impl<C: StreamableHttpClient + std::fmt::Debug> std::fmt::Debug for TraceHeaders<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TraceHeaders")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<C: StreamableHttpClient> TraceHeaders<C> {
    /// Wraps `inner` (for example a `reqwest::Client`).
    pub fn new(inner: C) -> Self {
        Self {
            inner,
            redact: |error| error,
        }
    }

    /// Rewrites the client's own errors before rmcp sees (and logs) them, e.g.
    /// `reqwest::Error::without_url`, so that a URL whose query holds a key never reaches
    /// a log or a message.
    pub fn with_error_redaction(mut self, redact: fn(C::Error) -> C::Error) -> Self {
        self.redact = redact;
        self
    }
}

impl<C: StreamableHttpClient> TraceHeaders<C> {
    /// `future`, with the client's error passed through the redaction.
    fn redacting<'a, T: 'a>(
        &self,
        future: impl Future<Output = Result<T, StreamableHttpError<C::Error>>> + Send + 'a,
    ) -> impl Future<Output = Result<T, StreamableHttpError<C::Error>>> + Send + 'a {
        let redact = self.redact;
        async move {
            future.await.map_err(|error| match error {
                StreamableHttpError::Client(error) => StreamableHttpError::Client(redact(error)),
                other => other,
            })
        }
    }
}

/// `headers` plus the trace context of `message`, when it is a request with one in `_meta`.
fn with_trace_headers(
    message: &ClientJsonRpcMessage,
    mut headers: HashMap<HeaderName, HeaderValue>,
) -> HashMap<HeaderName, HeaderValue> {
    if let ClientJsonRpcMessage::Request(request) = message {
        let cx = propagation::extract(&request.request.get_meta().0);
        let mut map = http::HeaderMap::new();
        propagation::inject_headers(&cx, &mut map);
        for (name, value) in map {
            if let Some(name) = name {
                headers.insert(name, value);
            }
        }
    }
    headers
}

impl<C: StreamableHttpClient + Sync> StreamableHttpClient for TraceHeaders<C> {
    type Error = C::Error;

    fn post_message(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> impl Future<Output = Result<StreamableHttpPostResponse, StreamableHttpError<Self::Error>>>
    + Send
    + '_ {
        let headers = with_trace_headers(&message, custom_headers);
        self.redacting(
            self.inner
                .post_message(uri, message, session_id, auth_header, headers),
        )
    }

    fn post_message_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> impl Future<Output = Result<StreamableHttpPostResponse, StreamableHttpError<Self::Error>>>
    + Send
    + '_ {
        let headers = with_trace_headers(&message, custom_headers);
        self.redacting(self.inner.post_message_with_max_sse_event_size(
            uri,
            message,
            session_id,
            auth_header,
            headers,
            max_sse_event_size,
        ))
    }

    fn post_message_with_response_limits(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        limits: StreamableHttpResponseLimits,
    ) -> impl Future<Output = Result<StreamableHttpPostResponse, StreamableHttpError<Self::Error>>>
    + Send
    + '_ {
        let headers = with_trace_headers(&message, custom_headers);
        self.redacting(self.inner.post_message_with_response_limits(
            uri,
            message,
            session_id,
            auth_header,
            headers,
            limits,
        ))
    }

    fn delete_session(
        &self,
        uri: Arc<str>,
        session_id: Arc<str>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> impl Future<Output = Result<(), StreamableHttpError<Self::Error>>> + Send + '_ {
        self.redacting(
            self.inner
                .delete_session(uri, session_id, auth_header, custom_headers),
        )
    }

    fn get_stream(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> impl Future<
        Output = Result<
            BoxStream<'static, Result<Sse, SseError>>,
            StreamableHttpError<Self::Error>,
        >,
    > + Send
    + '_ {
        self.redacting(self.inner.get_stream(
            uri,
            session_id,
            last_event_id,
            auth_header,
            custom_headers,
        ))
    }

    fn get_stream_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> impl Future<
        Output = Result<
            BoxStream<'static, Result<Sse, SseError>>,
            StreamableHttpError<Self::Error>,
        >,
    > + Send
    + '_ {
        self.redacting(self.inner.get_stream_with_max_sse_event_size(
            uri,
            session_id,
            last_event_id,
            auth_header,
            custom_headers,
            max_sse_event_size,
        ))
    }
}
