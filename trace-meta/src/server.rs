//! The server side: a SERVER span around every request of any rmcp [`ServerHandler`].

use std::borrow::Cow;

use rmcp::{
    ErrorData, RoleServer, ServerHandler, Service,
    model::{ClientNotification, ClientRequest, ProtocolVersion, ServerConfig, ServerResult},
    service::{NotificationContext, RequestContext},
};
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::{
    NetworkTransport, attributes as attr, propagation,
    request::{Outcome, RequestSpan, Side, UnfinishedGuard, record, request_id_string},
};

/// Wraps a [`ServerHandler`] so that each request it serves runs in a SERVER span whose
/// parent is the trace context found in the request's `_meta` (SEP-414).
///
/// Tool calls are named `tool-{tool}`, other requests `{method} {target}`. The span carries
/// the MCP attributes of the trace conventions, the tool's description from the handler's
/// tool list, the arguments as input and the first 1000 characters of the result as output.
/// A JSON-RPC error or an `isError: true` result sets status ERROR and `error.type`.
///
/// While the handler runs, the span is the current span for `tracing` and for OpenTelemetry,
/// so whatever the tool logs or traces nests under it. A request without a valid
/// `traceparent` starts a new trace; an unsampled parent records nothing.
///
/// Lifecycle plumbing (`initialize`, `server/discover`, `ping`) and notifications are passed
/// through without a span: they carry no user work, and a client library sends them before
/// its caller has any trace to join.
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
}

/// Requests that get no span of their own (see [`Traced`]).
fn is_lifecycle(request: &ClientRequest) -> bool {
    matches!(
        request,
        ClientRequest::InitializeRequest(_)
            | ClientRequest::DiscoverRequest(_)
            | ClientRequest::PingRequest(_)
    )
}

impl<H: ServerHandler> Service<RoleServer> for Traced<H> {
    async fn handle_request(
        &self,
        request: ClientRequest,
        context: RequestContext<RoleServer>,
    ) -> Result<ServerResult, ErrorData> {
        if is_lifecycle(&request) {
            return self.inner.handle_request(request, context).await;
        }
        let described = RequestSpan::describe(&request, Side::Server);
        let span = tracing::info_span!(
            target: "trace_meta",
            parent: None,
            "mcp.server.request",
            otel.name = %described.name,
            otel.kind = "server",
        );
        // An error here means no OpenTelemetry layer is installed: nothing to parent.
        let _ = span.set_parent(propagation::extract(&context.meta));
        record(&span, described.attributes);
        span.set_attribute(attr::JSONRPC_REQUEST_ID, request_id_string(&context.id));
        span.set_attribute(attr::NETWORK_TRANSPORT, self.transport.as_str());
        if let Some(version) = context.protocol_version() {
            span.set_attribute(attr::MCP_PROTOCOL_VERSION, version.to_string());
        }
        let description = described
            .tool
            .as_deref()
            .and_then(|name| self.inner.get_tool(name))
            .and_then(|tool| tool.description);
        if let Some(description) = description {
            span.set_attribute(attr::CONFIDENT_TOOL_DESCRIPTION, description.to_string());
        }

        let unfinished = UnfinishedGuard::arm(&span);
        let result = self
            .inner
            .handle_request(request, context)
            .instrument(span.clone())
            .await;
        unfinished.disarm();

        let outcome = match &result {
            Ok(result) => Outcome::of_result(result),
            Err(error) => Outcome::of_error_data(error),
        };
        record(&span, outcome.attributes);
        span.set_status(outcome.status);
        result
    }

    async fn handle_notification(
        &self,
        notification: ClientNotification,
        context: NotificationContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.inner.handle_notification(notification, context).await
    }

    fn get_info(&self) -> ServerConfig {
        Service::get_info(&self.inner)
    }

    fn supported_protocol_versions(&self) -> Cow<'static, [ProtocolVersion]> {
        Service::supported_protocol_versions(&self.inner)
    }
}
