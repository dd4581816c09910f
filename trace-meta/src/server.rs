//! The server side: a SERVER span around every request of any rmcp [`ServerHandler`].
//!
//! [`Traced`] is itself a [`ServerHandler`], so it serves over stdio and, unchanged, behind
//! rmcp's Streamable HTTP service (which takes handlers, not bare services). Each request
//! method opens the span, runs the wrapped handler's method inside it and records the outcome;
//! a request the client cancels is dropped; lifecycle methods pass straight through, and
//! notifications get a span only when they carry trace context.
//!
//! # Where the parent comes from
//! 1. `params._meta` of the request (SEP-414), when it holds a valid `traceparent`.
//! 2. Otherwise, over HTTP, the W3C `traceparent` / `tracestate` headers of the POST.
//! 3. Otherwise nothing: the span starts a new trace.
//!
//! When both 1 and 2 are valid and name different spans, `_meta` wins and the header context
//! is recorded as a span link, so a gateway's own span is still reachable from the trace.

use std::{borrow::Cow, future::Future, net::SocketAddr};

use opentelemetry::{KeyValue, trace::TraceContextExt};
#[allow(deprecated)]
use rmcp::{
    ErrorData, RoleServer, ServerHandler,
    model::{
        CallToolRequestParams, CallToolResponse, CancelTaskParams, CancelledNotificationParam,
        CompleteRequestParams, CompleteResult, CustomNotification, CustomRequest, CustomResult,
        DiscoverResult, ErrorCode, GetPromptRequestParams, GetPromptResponse,
        GetSkillRequestParams, GetSkillResult, GetTaskParams, GetTaskResult,
        InitializeRequestParams, InitializeResult, ListPromptsResult, ListResourceTemplatesResult,
        ListResourcesResult, ListSkillsResult, ListToolsResult, NotificationMetaObject,
        PaginatedRequestParams, ProgressNotificationParam, ProtocolVersion,
        ReadResourceDirectoryRequestParams, ReadResourceDirectoryResult, ReadResourceRequestParams,
        ReadResourceResponse, ServerConfig, SetLevelRequestParams, SubscribeRequestParams,
        SubscriptionFilter, Tool, UnsubscribeRequestParams, UpdateTaskParams,
    },
    service::{NotificationContext, RequestContext, SubscriptionContext},
};
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::{
    NetworkTransport,
    attributes::{self as attr, MAX_PAYLOAD_CHARS, truncate},
    metrics::OperationMetric,
    propagation,
    request::{Outcome, RequestSpan, Side, UnfinishedGuard, record, request_id_string},
};

/// Wraps a [`ServerHandler`] so that each request it serves runs in a SERVER span whose
/// parent is the trace context found in the request's `_meta` (SEP-414) or, over HTTP, in
/// its `traceparent` header (see the module doc for the order).
///
/// Tool calls are named `tool-{tool}`, other requests `{method} {target}`. The span carries
/// the MCP attributes of the trace conventions, the tool's description from the handler's
/// tool list, the arguments as input and the first 1000 characters of the result as output.
/// A JSON-RPC error or an `isError: true` result sets status ERROR and `error.type`. Over
/// HTTP it also carries `network.protocol.name=http`, `server.address`, `server.port` and,
/// in a 2025-11-25 session, `mcp.session.id`.
///
/// While the handler runs, the span is the current span for `tracing` and for OpenTelemetry,
/// so whatever the tool logs or traces nests under it. A request without a valid
/// `traceparent` starts a new trace; an unsampled parent records nothing.
///
/// Lifecycle plumbing (`initialize`, `server/discover`, `ping`) and `subscriptions/listen`
/// are passed through without a span: they carry no user work, and a client library sends
/// them before its caller has any trace to join. A notification gets a short SERVER span
/// named after its method only when its `_meta` carries trace context, as a child of the
/// span that sent it.
///
/// # Cancellation
/// When the client sends `notifications/cancelled` for a request in flight, the handler's
/// future is dropped, so the work stops at its next `.await` (blocking work should watch a
/// drop guard, as db-server's statements and file-server's searches do). The request's span
/// ends with `error.type=cancelled`; the notification's span (a child of the client's span,
/// through its `_meta`) records `mcp.cancelled.reason`; rmcp sends no answer for the id.
///
/// ```no_run
/// # #[derive(Clone)] struct MyServer;
/// # impl rmcp::ServerHandler for MyServer {}
/// # async fn demo() -> anyhow::Result<()> {
/// use rmcp::ServiceExt;
/// let service = trace_meta::Traced::new(MyServer).serve(rmcp::transport::stdio()).await?;
/// service.waiting().await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Traced<H> {
    inner: H,
    transport: NetworkTransport,
}

/// Where an HTTP request arrived: the local and remote ends of its TCP connection, and the
/// original client when a trusted reverse proxy named it.
///
/// The HTTP server of this crate puts it in each request's extensions, where [`Traced`]
/// reads it for `server.address`, `server.port`, `client.address` and
/// `network.peer.address`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionInfo {
    local: SocketAddr,
    peer: SocketAddr,
    forwarded_client: Option<std::net::IpAddr>,
}

impl ConnectionInfo {
    /// A connection between the server's end `local` and the client's end `peer`; an
    /// HTTP server of your own puts it in each request's extensions for [`Traced`].
    pub fn new(local: SocketAddr, peer: SocketAddr) -> Self {
        Self {
            local,
            peer,
            forwarded_client: None,
        }
    }

    /// The same connection, for a request a trusted reverse proxy says came from `client`
    /// (its `X-Forwarded-For`).
    pub fn with_client(mut self, client: std::net::IpAddr) -> Self {
        self.forwarded_client = Some(client);
        self
    }

    /// The original client: the one a trusted proxy named, or else the peer's address.
    pub fn client(&self) -> std::net::IpAddr {
        self.forwarded_client.unwrap_or(self.peer.ip())
    }

    /// The server's end.
    pub fn local(&self) -> SocketAddr {
        self.local
    }

    /// The client's end.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }
}

impl<H: ServerHandler> Traced<H> {
    /// Wraps `inner`, served over stdio (`network.transport=pipe`).
    pub fn new(inner: H) -> Self {
        Self {
            inner,
            transport: NetworkTransport::Pipe,
        }
    }

    /// Sets the transport recorded as `network.transport`.
    pub fn with_transport(mut self, transport: NetworkTransport) -> Self {
        self.transport = transport;
        self
    }

    /// The wrapped handler.
    pub fn inner(&self) -> &H {
        &self.inner
    }

    /// Runs `call` in the SERVER span `described`, parented as the module doc says, and
    /// records the outcome that `outcome` reads from the result.
    async fn traced<T, F>(
        &self,
        described: RequestSpan,
        context: RequestContext<RoleServer>,
        outcome: fn(&T) -> Outcome,
        call: impl FnOnce(RequestContext<RoleServer>) -> F,
    ) -> Result<T, ErrorData>
    where
        F: Future<Output = Result<T, ErrorData>>,
    {
        self.traced_returning(described, context, outcome, None, call)
            .await
    }

    /// [`traced`](Self::traced) for a request that may ask for its spans back (SEP-2448):
    /// `attach` puts the `_meta` entries of the answer into a result.
    async fn traced_returning<T, F>(
        &self,
        described: RequestSpan,
        context: RequestContext<RoleServer>,
        outcome: fn(&T) -> Outcome,
        attach: Option<fn(&mut T, MetaEntries)>,
        call: impl FnOnce(RequestContext<RoleServer>) -> F,
    ) -> Result<T, ErrorData>
    where
        F: Future<Output = Result<T, ErrorData>>,
    {
        let span = tracing::info_span!(
            target: "trace_meta",
            parent: None,
            "mcp.server.request",
            otel.name = %described.name,
            otel.kind = "server",
        );
        let parts = context.extensions.get::<http::request::Parts>();
        let from_meta = propagation::extract(&context.meta);
        let from_headers = parts.map(|parts| propagation::extract_headers(&parts.headers));
        let parent = parent_and_link(from_meta, from_headers);
        // An error here means no OpenTelemetry layer is installed: nothing to parent.
        let _ = span.set_parent(parent.parent);
        if let Some(link) = parent.link {
            span.add_link(link);
        }
        let version = context.protocol_version().map(|v| v.to_string());
        let transport = if parts.is_some() {
            NetworkTransport::Tcp
        } else {
            self.transport
        };
        let metric = OperationMetric::start(Side::Server, &described, transport, version.clone());
        if let Some(version) = version {
            span.set_attribute(attr::MCP_PROTOCOL_VERSION, version);
        }
        record(&span, described.attributes);
        span.set_attribute(attr::JSONRPC_REQUEST_ID, request_id_string(&context.id));
        span.set_attribute(attr::NETWORK_TRANSPORT, transport.as_str());
        if let Some(parts) = parts {
            record_http(&span, parts);
        }
        let description = described
            .tool
            .as_deref()
            .and_then(|name| self.inner.get_tool(name))
            .and_then(|tool| tool.description);
        if let Some(description) = description {
            span.set_attribute(attr::CONFIDENT_TOOL_DESCRIPTION, description.to_string());
        }

        #[cfg(feature = "span-return")]
        let capture = attach.and_then(|attach| capture(&span, &context.meta.0, attach));
        #[cfg(not(feature = "span-return"))]
        let _ = attach;

        // rmcp cancels `ct` when the client sends `notifications/cancelled` for this request
        // (or the session ends) but lets the handler run on; dropping its future here stops
        // the work at its next await, and rmcp drops whatever answer would have followed.
        let cancelled = context.ct.clone();
        let unfinished = UnfinishedGuard::arm(&span);
        let result = tokio::select! {
            biased;
            result = call(context).instrument(span.clone()) => result,
            () = cancelled.cancelled() => {
                // `unfinished` marks the span `error.type=cancelled` as it drops.
                return Err(ErrorData::new(
                    REQUEST_CANCELLED,
                    "the request was cancelled",
                    None,
                ));
            }
        };
        unfinished.disarm();

        let recorded = match &result {
            Ok(result) => outcome(result),
            Err(error) => Outcome::of_error_data(error),
        };
        metric.finish(&recorded);
        record(&span, recorded.attributes);
        span.set_status(recorded.status);
        #[cfg(feature = "span-return")]
        if let Some(capture) = capture {
            // The SERVER span ends here, so that it is among the spans returned.
            drop(span);
            let mut result = result;
            capture.attach_to(&mut result);
            return result;
        }
        result
    }
}

/// `_meta` entries of an answer.
type MetaEntries = serde_json::Map<String, serde_json::Value>;

/// A request whose spans are being kept for its answer (SEP-2448).
#[cfg(feature = "span-return")]
struct Returning<T> {
    recording: crate::span_return::Recording,
    attach: fn(&mut T, MetaEntries),
}

/// Starts keeping the spans of the request in `span` when the request asks for them, this
/// process allows it, and the span is sampled (unsampled spans are never recorded).
#[cfg(feature = "span-return")]
fn capture<T>(
    span: &tracing::Span,
    meta: &MetaEntries,
    attach: fn(&mut T, MetaEntries),
) -> Option<Returning<T>> {
    let request = crate::span_return::SpanRequest::from_meta(meta)?;
    let context = span.context();
    let recording = crate::span_return::Recording::start(context.span().span_context(), request)?;
    Some(Returning { recording, attach })
}

#[cfg(feature = "span-return")]
impl<T> Returning<T> {
    /// Puts the spans kept into the answer: the result's `_meta`, or an error's
    /// `data._meta` (when `data` is absent or an object without `_meta`).
    fn attach_to(self, result: &mut Result<T, ErrorData>) {
        let entries = self.recording.finish(&[], &[]);
        match result {
            Ok(result) => (self.attach)(result, entries),
            Err(error) => match &mut error.data {
                None => {
                    error.data = Some(serde_json::json!({ "_meta": entries }));
                }
                Some(serde_json::Value::Object(data)) if !data.contains_key("_meta") => {
                    data.insert("_meta".to_owned(), entries.into());
                }
                Some(_) => {}
            },
        }
    }
}

/// Lists span return (SEP-2448) in `capabilities.extensions` when this process allows it.
/// Advisory: the SEP needs no handshake, and a client may show it but never rely on it.
fn advertise(capabilities: &mut rmcp::model::ServerCapabilities) {
    #[cfg(feature = "span-return")]
    if crate::span_return::enabled() {
        capabilities
            .extensions
            .get_or_insert_with(Default::default)
            .entry(crate::span_return::EXTENSION_ID.to_owned())
            .or_default();
    }
    #[cfg(not(feature = "span-return"))]
    let _ = capabilities;
}

/// Adds `entries` to a `_meta` that may not exist yet.
fn extend_meta(meta: &mut Option<rmcp::model::MetaObject>, entries: MetaEntries) {
    meta.get_or_insert_with(Default::default).0.extend(entries);
}

fn attach_to_tool_result(response: &mut CallToolResponse, entries: MetaEntries) {
    if let CallToolResponse::Complete(result) = response {
        extend_meta(&mut result.meta, entries);
    }
}

fn attach_to_resource(response: &mut ReadResourceResponse, entries: MetaEntries) {
    if let ReadResourceResponse::Complete(result) = response {
        extend_meta(&mut result.meta, entries);
    }
}

/// The parent a SERVER span takes, and the context it links to instead.
struct ParentChoice {
    parent: opentelemetry::Context,
    link: Option<opentelemetry::trace::SpanContext>,
}

/// Applies the order of the module doc: `_meta`, then headers; a differing header context
/// becomes a link.
fn parent_and_link(
    from_meta: opentelemetry::Context,
    from_headers: Option<opentelemetry::Context>,
) -> ParentChoice {
    let meta_span = from_meta.span().span_context().clone();
    let header_span = from_headers
        .as_ref()
        .map(|cx| cx.span().span_context().clone())
        .filter(|span| span.is_valid());
    match (meta_span.is_valid(), header_span, from_headers) {
        (true, Some(header), _) if !same_span(&header, &meta_span) => ParentChoice {
            parent: from_meta,
            link: Some(header),
        },
        (true, _, _) => ParentChoice {
            parent: from_meta,
            link: None,
        },
        (false, Some(_), Some(headers)) => ParentChoice {
            parent: headers,
            link: None,
        },
        _ => ParentChoice {
            parent: from_meta,
            link: None,
        },
    }
}

/// The `_meta` of a notification, wherever this rmcp version left it.
///
/// rmcp 3.11 moves a notification's extensions into the context before its `_meta`, so
/// `context.meta` is always empty and the `_meta` sits in `context.extensions` (its request
/// path swaps them the other way round). The typed `meta` field of the params is read too.
fn notification_meta<'a>(
    params: Option<&'a NotificationMetaObject>,
    context: &'a NotificationContext<RoleServer>,
) -> &'a NotificationMetaObject {
    [
        params,
        Some(&context.meta),
        context.extensions.get::<NotificationMetaObject>(),
    ]
    .into_iter()
    .flatten()
    .find(|meta| !meta.0.is_empty())
    .unwrap_or(&context.meta)
}

/// JSON-RPC code of the answer a cancelled request would get (LSP's `RequestCancelled`).
///
/// It never reaches the wire: rmcp drops the response of a request its client cancelled.
const REQUEST_CANCELLED: ErrorCode = ErrorCode(-32800);

/// A SERVER span for a notification that carries trace context in its `_meta`, a child of
/// the span that sent it; a disabled span when it carries none, so plumbing such as
/// `notifications/initialized` never starts a trace of its own.
fn notification_span(
    method: &str,
    meta: &rmcp::model::MetaObject,
    attributes: Vec<KeyValue>,
) -> tracing::Span {
    let parent = propagation::extract(meta);
    if !parent.span().span_context().is_valid() {
        return tracing::Span::none();
    }
    let span = tracing::info_span!(
        target: "trace_meta",
        parent: None,
        "mcp.server.notification",
        otel.name = %method,
        otel.kind = "server",
    );
    let _ = span.set_parent(parent);
    span.set_attribute(attr::MCP_METHOD_NAME, method.to_owned());
    record(&span, attributes);
    span
}

fn same_span(a: &opentelemetry::trace::SpanContext, b: &opentelemetry::trace::SpanContext) -> bool {
    a.trace_id() == b.trace_id() && a.span_id() == b.span_id()
}

/// The HTTP attributes of a request that arrived over Streamable HTTP.
fn record_http(span: &tracing::Span, parts: &http::request::Parts) {
    span.set_attribute(attr::NETWORK_PROTOCOL_NAME, "http");
    if let Some(connection) = parts.extensions.get::<ConnectionInfo>() {
        span.set_attribute(attr::SERVER_ADDRESS, connection.local.ip().to_string());
        span.set_attribute(attr::SERVER_PORT, i64::from(connection.local.port()));
        span.set_attribute(attr::CLIENT_ADDRESS, connection.client().to_string());
        if connection.forwarded_client.is_none() {
            // The port a proxy connected from says nothing about the client's.
            span.set_attribute(attr::CLIENT_PORT, i64::from(connection.peer.port()));
        }
        span.set_attribute(attr::NETWORK_PEER_ADDRESS, connection.peer.ip().to_string());
        span.set_attribute(attr::NETWORK_PEER_PORT, i64::from(connection.peer.port()));
    }
    if let Some(session) = parts
        .headers
        .get(SESSION_ID_HEADER)
        .and_then(|value| value.to_str().ok())
        .filter(|value| !value.is_empty() && value.len() <= MAX_SESSION_ID_LEN)
    {
        span.set_attribute(attr::MCP_SESSION_ID, session.to_owned());
    }
}

/// The header of a 2025-11-25 Streamable HTTP session.
const SESSION_ID_HEADER: &str = "mcp-session-id";
/// Longest session id recorded; rmcp's are UUIDs, anything much longer is not one of ours.
const MAX_SESSION_ID_LEN: usize = 128;

/// Outcome of a result that carries nothing to record.
fn success<T>(_: &T) -> Outcome {
    Outcome::success()
}

fn tool_outcome(response: &CallToolResponse) -> Outcome {
    match response {
        CallToolResponse::Complete(result) => Outcome::of_tool_result(result),
        _ => Outcome::success(),
    }
}

#[allow(deprecated)]
impl<H: ServerHandler> ServerHandler for Traced<H> {
    // Lifecycle and capability plumbing: passed through, no span.

    async fn ping(&self, context: RequestContext<RoleServer>) -> Result<(), ErrorData> {
        self.inner.ping(context).await
    }

    async fn initialize(
        &self,
        request: InitializeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<InitializeResult, ErrorData> {
        let mut result = self.inner.initialize(request, context).await?;
        advertise(&mut result.capabilities);
        Ok(result)
    }

    fn negotiate_initialize(
        &self,
        request: &InitializeRequestParams,
    ) -> Result<InitializeResult, ErrorData> {
        let mut result = self.inner.negotiate_initialize(request)?;
        advertise(&mut result.capabilities);
        Ok(result)
    }

    fn supported_protocol_versions(&self) -> Cow<'static, [ProtocolVersion]> {
        self.inner.supported_protocol_versions()
    }

    async fn discover(
        &self,
        context: RequestContext<RoleServer>,
    ) -> Result<DiscoverResult, ErrorData> {
        let mut result = self.inner.discover(context).await?;
        advertise(&mut result.capabilities);
        Ok(result)
    }

    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        self.inner.accepted_subscription_filter(requested)
    }

    async fn listen(&self, context: SubscriptionContext) -> Result<(), ErrorData> {
        self.inner.listen(context).await
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.inner.get_tool(name)
    }

    fn get_info(&self) -> ServerConfig {
        let mut info = self.inner.get_info();
        advertise(&mut info.capabilities);
        info
    }

    // Requests that do user work: each in its SERVER span.

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let described = RequestSpan::tool_call(&request, Side::Server);
        self.traced_returning(
            described,
            context,
            tool_outcome,
            Some(attach_to_tool_result),
            |cx| self.inner.call_tool(request, cx),
        )
        .await
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let described = RequestSpan::plain("tools/list");
        self.traced(described, context, success, |cx| {
            self.inner.list_tools(request, cx)
        })
        .await
    }

    async fn complete(
        &self,
        request: CompleteRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, ErrorData> {
        let described = RequestSpan::plain("completion/complete");
        self.traced(described, context, success, |cx| {
            self.inner.complete(request, cx)
        })
        .await
    }

    async fn set_level(
        &self,
        request: SetLevelRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        let described = RequestSpan::plain("logging/setLevel");
        self.traced(described, context, success, |cx| {
            self.inner.set_level(request, cx)
        })
        .await
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        let described =
            RequestSpan::targeted("prompts/get", attr::GEN_AI_PROMPT_NAME, &request.name);
        self.traced(described, context, success, |cx| {
            self.inner.get_prompt(request, cx)
        })
        .await
    }

    async fn list_prompts(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        let described = RequestSpan::plain("prompts/list");
        self.traced(described, context, success, |cx| {
            self.inner.list_prompts(request, cx)
        })
        .await
    }

    async fn list_resources(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let described = RequestSpan::plain("resources/list");
        self.traced(described, context, success, |cx| {
            self.inner.list_resources(request, cx)
        })
        .await
    }

    async fn list_resource_templates(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        let described = RequestSpan::plain("resources/templates/list");
        self.traced(described, context, success, |cx| {
            self.inner.list_resource_templates(request, cx)
        })
        .await
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let described =
            RequestSpan::targeted("resources/read", attr::MCP_RESOURCE_URI, &request.uri);
        self.traced_returning(
            described,
            context,
            success,
            Some(attach_to_resource),
            |cx| self.inner.read_resource(request, cx),
        )
        .await
    }

    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        let described =
            RequestSpan::targeted("resources/subscribe", attr::MCP_RESOURCE_URI, &request.uri);
        self.traced(described, context, success, |cx| {
            self.inner.subscribe(request, cx)
        })
        .await
    }

    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        let described = RequestSpan::targeted(
            "resources/unsubscribe",
            attr::MCP_RESOURCE_URI,
            &request.uri,
        );
        self.traced(described, context, success, |cx| {
            self.inner.unsubscribe(request, cx)
        })
        .await
    }

    async fn on_custom_request(
        &self,
        request: CustomRequest,
        context: RequestContext<RoleServer>,
    ) -> Result<CustomResult, ErrorData> {
        let described = RequestSpan::plain(&request.method);
        // rmcp reads a protocol method whose params do not fit (`tools/call` without a
        // `name`) as a custom method; its error is -32602, not the handler's -32601.
        let misread = crate::jsonrpc::invalid_params_of_known_method(
            &request.method,
            request.params.as_ref(),
        );
        self.traced(described, context, success, |cx| async move {
            match misread {
                Some(error) => Err(error),
                None => self.inner.on_custom_request(request, cx).await,
            }
        })
        .await
    }

    async fn get_task(
        &self,
        request: GetTaskParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetTaskResult, ErrorData> {
        let described = RequestSpan::plain("tasks/get");
        self.traced(described, context, success, |cx| {
            self.inner.get_task(request, cx)
        })
        .await
    }

    async fn update_task(
        &self,
        request: UpdateTaskParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        let described = RequestSpan::plain("tasks/update");
        self.traced(described, context, success, |cx| {
            self.inner.update_task(request, cx)
        })
        .await
    }

    async fn cancel_task(
        &self,
        request: CancelTaskParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        let described = RequestSpan::plain("tasks/cancel");
        self.traced(described, context, success, |cx| {
            self.inner.cancel_task(request, cx)
        })
        .await
    }

    async fn list_skills(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListSkillsResult, ErrorData> {
        let described = RequestSpan::plain("skills/list");
        self.traced(described, context, success, |cx| {
            self.inner.list_skills(request, cx)
        })
        .await
    }

    async fn get_skill(
        &self,
        request: GetSkillRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetSkillResult, ErrorData> {
        let described = RequestSpan::targeted("skills/get", attr::MCP_RESOURCE_URI, &request.uri);
        self.traced(described, context, success, |cx| {
            self.inner.get_skill(request, cx)
        })
        .await
    }

    async fn read_resource_directory(
        &self,
        request: ReadResourceDirectoryRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceDirectoryResult, ErrorData> {
        let described = RequestSpan::targeted(
            "resources/directory/read",
            attr::MCP_RESOURCE_URI,
            &request.uri,
        );
        self.traced(described, context, success, |cx| {
            self.inner.read_resource_directory(request, cx)
        })
        .await
    }

    // Notifications: passed through.

    async fn on_cancelled(
        &self,
        notification: CancelledNotificationParam,
        context: NotificationContext<RoleServer>,
    ) {
        let mut attributes = Vec::new();
        if let Some(id) = &notification.request_id {
            attributes.push(KeyValue::new(
                attr::JSONRPC_REQUEST_ID,
                request_id_string(id),
            ));
        }
        if let Some(reason) = &notification.reason {
            attributes.push(KeyValue::new(
                attr::MCP_CANCELLED_REASON,
                truncate(reason, MAX_PAYLOAD_CHARS).to_owned(),
            ));
        }
        let carrier = notification_meta(notification.meta.as_ref(), &context);
        let span = notification_span("notifications/cancelled", carrier, attributes);
        self.inner
            .on_cancelled(notification, context)
            .instrument(span)
            .await
    }

    async fn on_progress(
        &self,
        notification: ProgressNotificationParam,
        context: NotificationContext<RoleServer>,
    ) {
        let mut attributes = vec![KeyValue::new(
            attr::MCP_PROGRESS_PROGRESS,
            notification.progress,
        )];
        if let Some(total) = notification.total {
            attributes.push(KeyValue::new(attr::MCP_PROGRESS_TOTAL, total));
        }
        if let Some(message) = &notification.message {
            attributes.push(KeyValue::new(
                attr::MCP_PROGRESS_MESSAGE,
                truncate(message, MAX_PAYLOAD_CHARS).to_owned(),
            ));
        }
        let span = notification_span(
            "notifications/progress",
            notification_meta(None, &context),
            attributes,
        );
        self.inner
            .on_progress(notification, context)
            .instrument(span)
            .await
    }

    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        let span = notification_span(
            "notifications/initialized",
            notification_meta(None, &context),
            Vec::new(),
        );
        self.inner.on_initialized(context).instrument(span).await
    }

    async fn on_roots_list_changed(&self, context: NotificationContext<RoleServer>) {
        let span = notification_span(
            "notifications/roots/list_changed",
            notification_meta(None, &context),
            Vec::new(),
        );
        self.inner
            .on_roots_list_changed(context)
            .instrument(span)
            .await
    }

    async fn on_custom_notification(
        &self,
        notification: CustomNotification,
        context: NotificationContext<RoleServer>,
    ) {
        let span = notification_span(
            &notification.method,
            notification_meta(None, &context),
            Vec::new(),
        );
        self.inner
            .on_custom_notification(notification, context)
            .instrument(span)
            .await
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry::{
        Context,
        trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState},
    };

    use super::*;

    fn remote(trace: u128, span: u64) -> Context {
        Context::new().with_remote_span_context(SpanContext::new(
            TraceId::from(trace),
            SpanId::from(span),
            TraceFlags::SAMPLED,
            true,
            TraceState::default(),
        ))
    }

    fn ids(cx: &Context) -> (TraceId, SpanId) {
        let span = cx.span().span_context().clone();
        (span.trace_id(), span.span_id())
    }

    #[test]
    fn meta_wins_and_a_different_header_context_becomes_a_link() {
        let choice = parent_and_link(remote(1, 1), Some(remote(2, 2)));
        assert_eq!(ids(&choice.parent), (TraceId::from(1), SpanId::from(1)));
        assert_eq!(choice.link.map(|l| l.span_id()), Some(SpanId::from(2)));
    }

    #[test]
    fn the_same_context_twice_is_no_link() {
        let choice = parent_and_link(remote(1, 1), Some(remote(1, 1)));
        assert!(choice.link.is_none());
    }

    #[test]
    fn headers_parent_when_meta_has_nothing() {
        let choice = parent_and_link(Context::new(), Some(remote(3, 3)));
        assert_eq!(ids(&choice.parent), (TraceId::from(3), SpanId::from(3)));
        assert!(choice.link.is_none());
    }

    #[test]
    fn neither_is_a_new_root() {
        let choice = parent_and_link(Context::new(), None);
        assert!(!choice.parent.span().span_context().is_valid());
        let choice = parent_and_link(Context::new(), Some(Context::new()));
        assert!(!choice.parent.span().span_context().is_valid());
    }
}
