//! The client side: every request in a CLIENT span whose context travels in `_meta`.
//!
//! rmcp has no client-side interceptor that runs in the caller's span, so injection happens
//! at the call site: [`TracedClient`] wraps a [`Peer<RoleClient>`] and sends each request
//! through [`TracedClient::request`], which opens the span, injects its context into the
//! request's `_meta` and records the outcome.

use std::{
    collections::HashSet,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use opentelemetry::KeyValue;
use rmcp::{
    RoleClient, ServiceError,
    model::{
        CallToolRequest, CallToolRequestParams, CallToolResult, CancelledNotification,
        CancelledNotificationParam, ClientRequest, GetMeta, ListToolsRequest,
        NotificationMetaObject, PaginatedRequestParams, RequestId, ServerResult, Tool,
    },
    service::{Peer, PeerRequestOptions},
};
use tokio::task::JoinSet;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::{
    NetworkTransport, attributes as attr,
    metrics::OperationMetric,
    propagation,
    request::{Outcome, RequestSpan, Side, UnfinishedGuard, record, request_id_string},
};

/// An rmcp client peer whose requests are traced and carry W3C trace context.
///
/// Each request becomes a CLIENT span, a child of the caller's current span, named
/// `mcp-tool-{tool}` for `tools/call` and `{method} {target}` for everything else. The span's
/// context is injected as `traceparent` / `tracestate` / `baggage` under `params._meta`
/// (SEP-414); other `_meta` keys are kept.
///
/// ```no_run
/// # async fn demo(service: rmcp::service::RunningService<rmcp::RoleClient, ()>) -> anyhow::Result<()> {
/// use rmcp::model::CallToolRequestParams;
/// let client = trace_meta::TracedClient::new(service.peer().clone());
/// let args = serde_json::json!({"path": "sales.csv"});
/// let result = client
///     .call_tool(CallToolRequestParams::new("read_file").with_arguments(args.as_object().unwrap().clone()))
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct TracedClient {
    peer: Peer<RoleClient>,
    transport: NetworkTransport,
    timeout: Option<Duration>,
    server: Option<(String, u16)>,
    /// Cancellations of dropped requests still on their way to the transport.
    cancellations: Arc<Mutex<JoinSet<()>>>,
    /// What `tools/call` and `resources/read` ask for back (SEP-2448).
    #[cfg(feature = "span-return")]
    span_return: Option<crate::span_return::SpanRequest>,
    /// Recorded on every tool call's span.
    tool_call_attributes: Vec<KeyValue>,
    /// Whether and how a safe call that failed on the way is sent again.
    retry: Option<Retry>,
    /// The tools `tools/list` said are safe to repeat (`readOnlyHint` or `idempotentHint`).
    repeatable: Arc<Mutex<HashSet<String>>>,
}

/// How [`TracedClient`] sends a tool call again when it failed on the way to the server or
/// back (the connection reset, a load balancer's `502`), so the call can reach another
/// replica behind the same URL.
///
/// Only a tool its server lists as safe to repeat is sent again: `readOnlyHint: true` or
/// `idempotentHint: true` in its annotations (as [`TracedClient::list_all_tools`] saw
/// them). A call the server answered, even with an error, a call that timed out, and a
/// refused credential are never repeated, nor is any other tool: a write that may have
/// happened fails with its error. The annotations are the server's word; a server that
/// calls a write idempotent only has its own write repeated.
///
/// Each new attempt is a child CLIENT span of the call's span (same name, with
/// `mcp.request.attempt`), whose context the request carries, so the replica that answers
/// parents its span on it; the call's span gets a `retry` event per attempt and ends with
/// the last attempt's outcome. [`TracedClient::with_timeout`] bounds each attempt, not the
/// call: a call may take up to (resends + 1) × the timeout, plus the pauses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    attempts: u32,
    pause: Duration,
}

impl Retry {
    /// Up to `resends` more attempts after the first, 50 ms apart (doubling).
    pub fn new(resends: u32) -> Self {
        Self {
            attempts: resends,
            pause: Duration::from_millis(50),
        }
    }

    /// The pause before the first resend (default 50 ms); it doubles for each one after, up
    /// to 2 s.
    pub fn with_pause(mut self, pause: Duration) -> Self {
        self.pause = pause;
        self
    }

    /// How many times a call may be sent again.
    pub fn resends(&self) -> u32 {
        self.attempts
    }
}

/// The longest pause between two attempts, however many there are.
const MAX_RETRY_PAUSE: Duration = Duration::from_secs(2);

/// Whether a failed attempt may have gone wrong on the way (and is worth another), as
/// opposed to an answer, a timeout, a cancellation or a refused credential.
///
/// Over Streamable HTTP that is a connection that failed or closed before the answer, or a
/// gateway's `502`/`503`/`504`; any other HTTP status (`400`, `404`, `500`...) is an answer
/// and is not sent again.
fn failed_on_the_way(error: &ServiceError) -> bool {
    let ServiceError::TransportSend(failure) = error else {
        return false;
    };
    #[cfg(feature = "http-client")]
    {
        use rmcp::transport::streamable_http_client::{HttpStatusError, StreamableHttpError};
        if error.is_authorization_required() {
            return false;
        }
        let gateway = |status: u16| matches!(status, 502..=504);
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(failure.error.as_ref());
        while let Some(current) = source {
            // rmcp's reqwest client (and `TraceHeaders` around it): the status, when the
            // failure was an answer.
            if let Some(http) = current.downcast_ref::<StreamableHttpError<reqwest::Error>>() {
                return match http {
                    StreamableHttpError::HttpStatus(answer) => gateway(answer.status),
                    StreamableHttpError::Client(error) => {
                        error.status().is_none_or(|status| gateway(status.as_u16()))
                    }
                    StreamableHttpError::Io(_)
                    | StreamableHttpError::Sse(_)
                    | StreamableHttpError::UnexpectedEndOfStream
                    | StreamableHttpError::TransportChannelClosed => true,
                    // An answer the client could not use: a 404 session, a content type, a
                    // body over the limit. Sending it again would get the same.
                    _ => false,
                };
            }
            if let Some(answer) = current.downcast_ref::<HttpStatusError>() {
                return gateway(answer.status);
            }
            source = current.source();
        }
    }
    let _ = failure;
    true
}

/// Whether the tool's annotations say a second call does no more than the first.
fn repeatable(tool: &Tool) -> bool {
    tool.annotations.as_ref().is_some_and(|hints| {
        hints.read_only_hint == Some(true) || hints.idempotent_hint == Some(true)
    })
}

/// Most `tools/list` pages [`TracedClient::list_all_tools`] follows before it gives up on a
/// server whose cursors never end.
const MAX_TOOL_PAGES: usize = 1000;

impl TracedClient {
    /// Wraps `peer`, a session over stdio (`network.transport=pipe`).
    pub fn new(peer: Peer<RoleClient>) -> Self {
        Self {
            peer,
            transport: NetworkTransport::Pipe,
            timeout: None,
            server: None,
            cancellations: Arc::default(),
            #[cfg(feature = "span-return")]
            span_return: None,
            tool_call_attributes: Vec::new(),
            retry: None,
            repeatable: Arc::default(),
        }
    }

    /// Sends a tool call that failed on the way again, when its tool is safe to repeat; see
    /// [`Retry`]. Off by default.
    pub fn with_retry(mut self, retry: Retry) -> Self {
        self.retry = (retry.attempts > 0).then_some(retry);
        self
    }

    /// Records `attributes` on the span of every tool call, besides what the span records
    /// itself: keys a backend reads, such as Confident AI's
    /// `confident.span.metric_collection`.
    pub fn with_tool_call_attributes(mut self, attributes: Vec<KeyValue>) -> Self {
        self.tool_call_attributes = attributes;
        self
    }

    /// Asks the server for the spans of each `tools/call` and `resources/read` (SEP-2448;
    /// see [`span_return`](crate::span_return)): `request.detailed` for the whole tree under
    /// the server's span rather than the span and its direct children. What comes back is
    /// checked, queued to this process's OTLP destinations under the server's resource, and
    /// taken out of the result's `_meta`; spans that fail the checks are dropped with one
    /// warning and the call's result is unchanged. Off by default.
    #[cfg(feature = "span-return")]
    pub fn with_span_return(mut self, request: Option<crate::span_return::SpanRequest>) -> Self {
        self.span_return = request;
        self
    }

    /// Fails a request that has no response after `timeout` (default: wait as long as it
    /// takes). The span records `error.type=timeout`, and the server is told with
    /// `notifications/cancelled` (see [`TracedClient::request`]).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Sets the transport recorded as `network.transport`.
    pub fn with_transport(mut self, transport: NetworkTransport) -> Self {
        self.transport = transport;
        self
    }

    /// Marks the session as Streamable HTTP to `address:port`: spans record
    /// `network.transport=tcp`, `network.protocol.name=http`, `server.address` and
    /// `server.port`.
    pub fn with_http_server(mut self, address: impl Into<String>, port: u16) -> Self {
        self.transport = NetworkTransport::Tcp;
        self.server = Some((address.into(), port));
        self
    }

    /// The wrapped peer, for requests that need not be traced.
    pub fn peer(&self) -> &Peer<RoleClient> {
        &self.peer
    }

    /// Calls a tool inside a `mcp-tool-{tool}` CLIENT span.
    ///
    /// A result with `isError: true` is returned as `Ok` (the model should see it) and marks
    /// the span ERROR with `error.type=tool_error`.
    pub async fn call_tool(
        &self,
        params: CallToolRequestParams,
    ) -> Result<CallToolResult, ServiceError> {
        self.call_tool_traced(params, Vec::new()).await
    }

    /// [`call_tool`](Self::call_tool) for a call a model asked for: the span also records
    /// the model's id for it as `gen_ai.tool.call.id`, so the backend can tie the tool
    /// call to the model turn that requested it.
    pub async fn call_tool_with_id(
        &self,
        params: CallToolRequestParams,
        tool_call_id: impl Into<String>,
    ) -> Result<CallToolResult, ServiceError> {
        let id = KeyValue::new(attr::GEN_AI_TOOL_CALL_ID, tool_call_id.into());
        self.call_tool_traced(params, vec![id]).await
    }

    async fn call_tool_traced(
        &self,
        params: CallToolRequestParams,
        mut extra: Vec<KeyValue>,
    ) -> Result<CallToolResult, ServiceError> {
        extra.extend(self.tool_call_attributes.iter().cloned());
        let request = ClientRequest::CallToolRequest(CallToolRequest::new(params));
        match self.request_with(request, extra).await? {
            ServerResult::CallToolResult(result) => Ok(result),
            _ => Err(ServiceError::UnexpectedResponse),
        }
    }

    /// Lists every tool, following pagination, each page a traced `tools/list` request.
    pub async fn list_all_tools(&self) -> Result<Vec<Tool>, ServiceError> {
        let mut tools = Vec::new();
        let mut cursor = None;
        for _ in 0..MAX_TOOL_PAGES {
            let request = ClientRequest::ListToolsRequest(match cursor {
                Some(cursor) => ListToolsRequest::with_param(
                    PaginatedRequestParams::default().with_cursor(Some(cursor)),
                ),
                None => ListToolsRequest::default(),
            });
            let page = match self.request(request).await? {
                ServerResult::ListToolsResult(page) => page,
                _ => return Err(ServiceError::UnexpectedResponse),
            };
            {
                let mut repeatable_tools = self
                    .repeatable
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                for tool in page.tools.iter().filter(|tool| repeatable(tool)) {
                    repeatable_tools.insert(tool.name.to_string());
                }
            }
            tools.extend(page.tools);
            match page.next_cursor {
                Some(next) if !next.is_empty() => cursor = Some(next),
                _ => return Ok(tools),
            }
        }
        Err(ServiceError::UnexpectedResponse)
    }

    /// Waits, at most `limit`, until the cancellations of requests that were dropped in
    /// flight have been handed to the transport.
    ///
    /// Dropping a request's future (Ctrl-C, a sibling failing in a `select!`) sends its
    /// `notifications/cancelled` from a background task, since `Drop` cannot wait. Call this
    /// before closing the session, or the notification may never leave.
    pub async fn flush_cancellations(&self, limit: Duration) {
        let mut pending = std::mem::take(
            &mut *self
                .cancellations
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        let drained = async { while pending.join_next().await.is_some() {} };
        let _ = tokio::time::timeout(limit, drained).await;
    }

    /// Sends any request inside a CLIENT span and injects that span's context.
    ///
    /// A request abandoned before its response (the timeout of
    /// [`with_timeout`](Self::with_timeout), or the caller dropping this future) is cancelled
    /// on the server with `notifications/cancelled`, whose `_meta` carries this span's trace
    /// context so the server's record of the cancellation joins the trace. The span records
    /// `error.type=timeout` or `cancelled`.
    pub async fn request(&self, request: ClientRequest) -> Result<ServerResult, ServiceError> {
        self.request_with(request, Vec::new()).await
    }

    /// [`request`](Self::request), with `extra` attributes on its span.
    async fn request_with(
        &self,
        request: ClientRequest,
        extra: Vec<KeyValue>,
    ) -> Result<ServerResult, ServiceError> {
        let described = RequestSpan::describe(&request, Side::Client);
        let version = self
            .peer
            .peer_info()
            .map(|i| i.protocol_version.to_string());
        let metric =
            OperationMetric::start(Side::Client, &described, self.transport, version.clone());
        let span = tracing::info_span!(
            target: "trace_meta",
            "mcp.client.request",
            otel.name = %described.name,
            otel.kind = "client",
        );
        let retry = self.retry.filter(|_| {
            described.tool.as_ref().is_some_and(|tool| {
                self.repeatable
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .contains(tool)
            })
        });
        // Kept only when it may be sent again.
        let resend = retry.map(|_| request.clone());
        record(&span, described.attributes.clone());
        record(&span, extra);
        self.record_connection(&span, version.as_deref());

        // Armed until the last attempt ends: a caller that gives up during a resend (or the
        // pause before it) still leaves the call's span marked as abandoned.
        let unfinished = UnfinishedGuard::arm(&span);
        let mut outcome = self.attempt(request, &span).await;
        if let (Some(retry), Some(original)) = (retry, resend) {
            let mut pause = retry.pause;
            for attempt in 2..=retry.attempts.saturating_add(1) {
                let Err(error) = &outcome else { break };
                if !failed_on_the_way(error) {
                    break;
                }
                span.add_event(
                    "retry",
                    vec![
                        // The one kind of failure that is sent again.
                        KeyValue::new(attr::ERROR_TYPE, "transport_send"),
                        KeyValue::new(attr::MCP_REQUEST_ATTEMPT, i64::from(attempt)),
                    ],
                );
                tracing::debug!(
                    target: "trace_meta",
                    %error,
                    attempt,
                    "{} failed on the way; sending it again",
                    described.name
                );
                tokio::time::sleep(pause).await;
                pause = pause.saturating_mul(2).min(MAX_RETRY_PAUSE);
                let again = tracing::info_span!(
                    target: "trace_meta",
                    parent: &span,
                    "mcp.client.request",
                    otel.name = %described.name,
                    otel.kind = "client",
                );
                record(&again, described.attributes.clone());
                again.set_attribute(attr::MCP_REQUEST_ATTEMPT, i64::from(attempt));
                self.record_connection(&again, version.as_deref());
                let unfinished = UnfinishedGuard::arm(&again);
                outcome = self.attempt(original.clone(), &again).await;
                unfinished.disarm();
                let recorded = match &outcome {
                    Ok(result) => Outcome::of_result(result),
                    Err(error) => Outcome::of_service_error(error),
                };
                record(&again, recorded.attributes);
                again.set_status(recorded.status);
            }
        }

        unfinished.disarm();
        let recorded = match &outcome {
            Ok(result) => Outcome::of_result(result),
            Err(error) => Outcome::of_service_error(error),
        };
        metric.finish(&recorded);
        record(&span, recorded.attributes);
        span.set_status(recorded.status);
        outcome
    }

    /// The connection's attributes on a request's span.
    fn record_connection(&self, span: &tracing::Span, version: Option<&str>) {
        span.set_attribute(attr::NETWORK_TRANSPORT, self.transport.as_str());
        if let Some((address, port)) = &self.server {
            span.set_attribute(attr::NETWORK_PROTOCOL_NAME, "http");
            span.set_attribute(attr::SERVER_ADDRESS, address.clone());
            span.set_attribute(attr::SERVER_PORT, i64::from(*port));
        }
        if let Some(version) = version {
            span.set_attribute(attr::MCP_PROTOCOL_VERSION, version.to_owned());
        }
    }

    /// Sends `request` once, carrying `span`'s context, and waits for its answer (within
    /// the timeout), handing back any spans the server returned to the process's pipeline.
    async fn attempt(
        &self,
        mut request: ClientRequest,
        span: &tracing::Span,
    ) -> Result<ServerResult, ServiceError> {
        let cx = span.context();
        propagation::inject(&cx, &mut request.get_meta_mut().0);
        #[cfg(feature = "span-return")]
        let returning = self.span_return.filter(|_| {
            matches!(
                request,
                ClientRequest::CallToolRequest(_) | ClientRequest::ReadResourceRequest(_)
            )
        });
        #[cfg(feature = "span-return")]
        if let Some(asked) = returning {
            asked.insert_into(&mut request.get_meta_mut().0);
        }

        let outcome = async {
            // No rmcp timeout: rmcp's own cancellation on timeout carries no `_meta`, so the
            // server could not tie it to this trace. [`Abandon`] sends ours instead.
            let handle = self
                .peer
                .send_request_with_option(request, PeerRequestOptions::no_options())
                .await?;
            let current = tracing::Span::current();
            current.set_attribute(attr::JSONRPC_REQUEST_ID, request_id_string(&handle.id));
            let abandon = Abandon::arm(self, handle.id.clone(), current.context());
            let response = match self.timeout {
                None => handle.await_response().await,
                Some(limit) => match tokio::time::timeout(limit, handle.await_response()).await {
                    Ok(response) => response,
                    Err(_) => {
                        current.add_event(
                            "notifications/cancelled",
                            vec![KeyValue::new(attr::MCP_CANCELLED_REASON, TIMEOUT_REASON)],
                        );
                        abandon.notify(TIMEOUT_REASON).await;
                        return Err(ServiceError::Timeout { timeout: limit });
                    }
                },
            };
            abandon.disarm();
            response
        }
        .instrument(span.clone())
        .await;
        #[cfg(feature = "span-return")]
        let mut outcome = outcome;
        #[cfg(feature = "span-return")]
        if returning.is_some() {
            use opentelemetry::trace::TraceContextExt as _;
            self.take_returned_spans(&mut outcome, cx.span().span_context());
        }
        outcome
    }
}

#[cfg(feature = "span-return")]
impl TracedClient {
    /// Takes the spans the server returned out of `outcome` and hands them to
    /// [`span_return::ingest`](crate::span_return::ingest), warning once when they are
    /// dropped.
    fn take_returned_spans(
        &self,
        outcome: &mut Result<ServerResult, ServiceError>,
        call: &opentelemetry::trace::SpanContext,
    ) {
        use crate::span_return::{EXPORTED_META_KEY, META_KEY, ingest};
        let meta = match outcome {
            Ok(ServerResult::CallToolResult(result)) => result.meta.as_mut().map(|m| &mut m.0),
            Ok(ServerResult::ReadResourceResult(result)) => result.meta.as_mut().map(|m| &mut m.0),
            Err(ServiceError::McpError(error)) => error
                .data
                .as_mut()
                .and_then(|data| data.get_mut("_meta"))
                .and_then(serde_json::Value::as_object_mut),
            _ => None,
        };
        let Some(meta) = meta else {
            return;
        };
        if let Some(Err(rejected)) = ingest(meta, call) {
            let server = self
                .peer
                .peer_info()
                .and_then(|info| info.server_info.clone())
                .map_or_else(|| "the server".to_owned(), |server| server.name);
            tracing::warn!(
                target: "trace_meta::span_return",
                "dropped the spans {server} returned for request {}: {}",
                call.span_id(),
                crate::causes::chain(&rejected)
            );
        }
        meta.remove(META_KEY);
        meta.remove(EXPORTED_META_KEY);
    }
}

/// `reason` of the cancellation sent when a request times out (rmcp's wording).
const TIMEOUT_REASON: &str = "request timeout";

/// `reason` of the cancellation sent when the caller drops a request in flight.
const DROPPED_REASON: &str = "the client abandoned the request";

/// Longest a cancellation may wait for the transport before it is given up.
const CANCEL_SEND_LIMIT: Duration = Duration::from_secs(2);

/// Cancels a request in flight unless disarmed: awaited on a timeout, or from a background
/// task when the request's future is dropped. The notification is only built when it is
/// sent, so a request that gets its answer pays for two `Arc` clones.
struct Abandon {
    armed: Option<Cancellation>,
    pending: Arc<Mutex<JoinSet<()>>>,
}

/// What a cancellation needs: where to send it, the request's id and its span's context.
struct Cancellation {
    peer: Peer<RoleClient>,
    id: RequestId,
    cx: opentelemetry::Context,
}

impl Abandon {
    fn arm(client: &TracedClient, id: RequestId, cx: opentelemetry::Context) -> Self {
        Self {
            armed: Some(Cancellation {
                peer: client.peer.clone(),
                id,
                cx,
            }),
            pending: Arc::clone(&client.cancellations),
        }
    }

    fn disarm(mut self) {
        self.armed = None;
    }

    /// Sends the cancellation now, giving up after [`CANCEL_SEND_LIMIT`].
    async fn notify(mut self, reason: &'static str) {
        if let Some(cancellation) = self.armed.take() {
            cancellation.send(reason).await;
        }
    }
}

impl Drop for Abandon {
    fn drop(&mut self) {
        let Some(cancellation) = self.armed.take() else {
            return;
        };
        // Outside a runtime there is nothing left to send with.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            self.pending
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .spawn_on(cancellation.send(DROPPED_REASON), &runtime);
        }
    }
}

impl Cancellation {
    /// Sends `notifications/cancelled` with the span's context in `_meta`, giving up after
    /// [`CANCEL_SEND_LIMIT`].
    async fn send(self, reason: &'static str) {
        let mut meta = NotificationMetaObject::new();
        propagation::inject(&self.cx, &mut meta.0);
        let mut param = CancelledNotificationParam::new(Some(self.id), Some(reason.to_owned()));
        param.meta = Some(meta);
        let notification = CancelledNotification::new(param);
        // The server may be gone already; the span says what happened on this side either way.
        let send = self.peer.send_notification(notification.into());
        let _ = tokio::time::timeout(CANCEL_SEND_LIMIT, send).await;
    }
}
