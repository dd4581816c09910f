//! The client side: every request in a CLIENT span whose context travels in `_meta`.
//!
//! rmcp has no client-side interceptor that runs in the caller's span, so injection happens
//! at the call site: [`TracedClient`] wraps a [`Peer<RoleClient>`] and sends each request
//! through [`TracedClient::request`], which opens the span, injects its context into the
//! request's `_meta` and records the outcome.

use std::time::Duration;

use rmcp::{
    RoleClient, ServiceError,
    model::{
        CallToolRequest, CallToolRequestParams, CallToolResult, ClientRequest, GetMeta,
        ListToolsRequest, PaginatedRequestParams, ServerResult, Tool,
    },
    service::{Peer, PeerRequestOptions},
};
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
        }
    }

    /// Fails a request that has no response after `timeout` (default: wait as long as it
    /// takes). The span records `error.type=timeout`.
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
        let request = ClientRequest::CallToolRequest(CallToolRequest::new(params));
        match self.request(request).await? {
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
            tools.extend(page.tools);
            match page.next_cursor {
                Some(next) if !next.is_empty() => cursor = Some(next),
                _ => return Ok(tools),
            }
        }
        Err(ServiceError::UnexpectedResponse)
    }

    /// Sends any request inside a CLIENT span and injects that span's context.
    pub async fn request(&self, mut request: ClientRequest) -> Result<ServerResult, ServiceError> {
        let described = RequestSpan::describe(&request, Side::Client);
        let version = self
            .peer
            .peer_info()
            .map(|i| i.protocol_version.to_string());
        let metric = OperationMetric::start(Side::Client, &described, self.transport, version);
        let span = tracing::info_span!(
            target: "trace_meta",
            "mcp.client.request",
            otel.name = %described.name,
            otel.kind = "client",
        );
        record(&span, described.attributes);
        span.set_attribute(attr::NETWORK_TRANSPORT, self.transport.as_str());
        if let Some((address, port)) = &self.server {
            span.set_attribute(attr::NETWORK_PROTOCOL_NAME, "http");
            span.set_attribute(attr::SERVER_ADDRESS, address.clone());
            span.set_attribute(attr::SERVER_PORT, i64::from(*port));
        }
        if let Some(info) = self.peer.peer_info() {
            span.set_attribute(
                attr::MCP_PROTOCOL_VERSION,
                info.protocol_version.to_string(),
            );
        }
        propagation::inject(&span.context(), &mut request.get_meta_mut().0);

        let options = match self.timeout {
            Some(timeout) => PeerRequestOptions::with_timeout(timeout),
            None => PeerRequestOptions::no_options(),
        };
        let unfinished = UnfinishedGuard::arm(&span);
        let outcome = async {
            let handle = self.peer.send_request_with_option(request, options).await?;
            tracing::Span::current()
                .set_attribute(attr::JSONRPC_REQUEST_ID, request_id_string(&handle.id));
            handle.await_response().await
        }
        .instrument(span.clone())
        .await;
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
}
