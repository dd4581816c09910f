//! What a span says about an MCP request: its name and the attributes known before it runs.

use std::sync::atomic::{AtomicU8, Ordering};

use opentelemetry::{KeyValue, trace::Status};
#[cfg(feature = "client")]
use rmcp::ServiceError;
use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientRequest, ErrorData, RequestId, ServerResult,
};

use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::{attributes as attr, content};

/// The side of a request a span describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    Client,
    Server,
}

/// What a span says about one MCP request before it runs: its name and the attributes known
/// at that point.
///
/// `TracedClient` and `Traced` describe rmcp's typed requests with it; a relay that reads
/// JSON-RPC itself (a tracing proxy) describes the requests it forwards with
/// [`RequestSpan::client`], so that its spans are named and attributed as a client's are.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RequestSpan {
    /// The span name: `mcp-tool-{tool}` (client) or `tool-{tool}` (server) for a tool call,
    /// `{method} {target}` or `{method}` otherwise ([`SpanNames`]).
    pub name: String,
    /// The tool of a `tools/call`.
    pub tool: Option<String>,
    /// `mcp.method.name` and what the request is about (tool name and input, resource URI,
    /// prompt name).
    pub attributes: Vec<KeyValue>,
}

/// The members of a request's `params` that name and describe its span, borrowed from
/// wherever the caller read them.
///
/// Which of them counts depends on the method: `name` for `tools/call` and `prompts/get`,
/// `uri` for `resources/read`, `resources/subscribe` and `resources/unsubscribe`,
/// `arguments` for `tools/call`. The rest are ignored.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestParams<'a> {
    /// `params.name`: the tool of a `tools/call`, the prompt of a `prompts/get`.
    pub name: Option<&'a str>,
    /// `params.uri`: the resource a request reads or (un)subscribes to.
    pub uri: Option<&'a str>,
    /// `params.arguments` of a `tools/call` as JSON text; recorded as the span's input as
    /// far as content capture allows ([`content::tool_input`]). Missing reads as `{}`.
    pub arguments: Option<&'a str>,
}

impl RequestSpan {
    /// The CLIENT span of a request `method` with `params`, for a relay that reads
    /// JSON-RPC itself: named and attributed as `TracedClient` names and attributes its
    /// own requests, `TRACE_META_SPAN_NAMES` included. A `tools/call`
    /// without a tool name, or a resource request without a URI, is named `{method}`.
    ///
    /// ```
    /// use trace_meta::{RequestParams, RequestSpan};
    /// let params = RequestParams { name: Some("read_file"), arguments: Some(r#"{"path":"a"}"#), ..Default::default() };
    /// let span = RequestSpan::client("tools/call", params);
    /// assert_eq!(span.name, "mcp-tool-read_file");
    /// assert_eq!(span.tool.as_deref(), Some("read_file"));
    /// let span = RequestSpan::client("resources/read", RequestParams { uri: Some("file:///a"), ..Default::default() });
    /// assert_eq!(span.name, "resources/read file:///a");
    /// assert_eq!(RequestSpan::client("tools/list", RequestParams::default()).name, "tools/list");
    /// ```
    pub fn client(method: &str, params: RequestParams<'_>) -> Self {
        Self::of(method, params, Side::Client)
    }

    /// Describes `request` as seen from `side`.
    ///
    /// Tool calls are `mcp-tool-{tool}` on the client and `tool-{tool}` on the server; every
    /// other request is `{method} {target}` on both sides (target: resource URI, prompt name),
    /// or just `{method}` when it has none.
    pub(crate) fn describe(request: &ClientRequest, side: Side) -> Self {
        let method = request.method();
        let arguments;
        let params = match request {
            ClientRequest::CallToolRequest(call) => {
                arguments = call
                    .params
                    .arguments
                    .as_ref()
                    .map(|arguments| serde_json::to_string(arguments).unwrap_or_default());
                RequestParams {
                    name: Some(call.params.name.as_ref()),
                    arguments: arguments.as_deref(),
                    ..RequestParams::default()
                }
            }
            ClientRequest::ReadResourceRequest(read) => RequestParams::uri(&read.params.uri),
            ClientRequest::SubscribeRequest(sub) => RequestParams::uri(&sub.params.uri),
            ClientRequest::UnsubscribeRequest(sub) => RequestParams::uri(&sub.params.uri),
            ClientRequest::GetPromptRequest(get) => RequestParams {
                name: Some(get.params.name.as_ref()),
                ..RequestParams::default()
            },
            _ => RequestParams::default(),
        };
        Self::of(method, params, side)
    }

    /// The one rule: which member of `params` names a request's span, under which
    /// attribute it is recorded, and what a tool call records.
    fn of(method: &str, params: RequestParams<'_>, side: Side) -> Self {
        match (method, params) {
            (
                "tools/call",
                RequestParams {
                    name: Some(tool),
                    arguments,
                    ..
                },
            ) => Self::tool(tool, arguments.unwrap_or("{}"), side),
            (
                "resources/read" | "resources/subscribe" | "resources/unsubscribe",
                RequestParams { uri: Some(uri), .. },
            ) => Self::targeted(method, attr::MCP_RESOURCE_URI, uri),
            (
                "prompts/get",
                RequestParams {
                    name: Some(prompt), ..
                },
            ) => Self::targeted(method, attr::GEN_AI_PROMPT_NAME, prompt),
            _ => Self::plain(method),
        }
    }

    /// A `tools/call`: `mcp-tool-{tool}` on the client, `tool-{tool}` on the server; both
    /// `tools/call {tool}` under `TRACE_META_SPAN_NAMES=semconv`.
    pub(crate) fn tool_call(params: &CallToolRequestParams, side: Side) -> Self {
        let input = match &params.arguments {
            Some(arguments) => serde_json::to_string(arguments).unwrap_or_default(),
            None => "{}".to_owned(),
        };
        Self::tool(&params.name, &input, side)
    }

    /// A call of `tool` with `arguments` (JSON text).
    fn tool(tool: &str, arguments: &str, side: Side) -> Self {
        let mut attributes = vec![
            KeyValue::new(attr::MCP_METHOD_NAME, "tools/call"),
            KeyValue::new(attr::GEN_AI_TOOL_NAME, tool.to_owned()),
            KeyValue::new(attr::GEN_AI_OPERATION_NAME, attr::EXECUTE_TOOL),
            KeyValue::new(attr::CONFIDENT_SPAN_TYPE, "tool"),
            KeyValue::new(attr::CONFIDENT_TOOL_NAME, tool.to_owned()),
        ];
        attributes.extend(content::tool_input(arguments.to_owned()));
        let names = SpanNames::get();
        let span_name = match side {
            Side::Client => names.client_span("tools/call", Some(tool)),
            Side::Server => names.server_span("tools/call", Some(tool)),
        };
        Self {
            name: span_name,
            tool: Some(tool.to_owned()),
            attributes,
        }
    }

    /// A request about one named thing: `{method} {target}`, the target also recorded
    /// under `key`.
    pub(crate) fn targeted(method: &str, key: &'static str, target: &str) -> Self {
        Self {
            // Only tool calls are named differently by side.
            name: SpanNames::get().client_span(method, Some(target)),
            tool: None,
            attributes: vec![
                KeyValue::new(attr::MCP_METHOD_NAME, method.to_owned()),
                KeyValue::new(key, target.to_owned()),
            ],
        }
    }

    /// A request without a target: named `{method}`.
    pub(crate) fn plain(method: &str) -> Self {
        Self {
            name: method.to_owned(),
            tool: None,
            attributes: vec![KeyValue::new(attr::MCP_METHOD_NAME, method.to_owned())],
        }
    }
}

impl<'a> RequestParams<'a> {
    /// Params whose only member that counts is `uri`.
    fn uri(uri: &'a str) -> Self {
        Self {
            uri: Some(uri),
            ..Self::default()
        }
    }
}

/// Environment variable choosing how spans of MCP requests are named: unset (or
/// `conventions`) for the project's trace conventions, `semconv` for the OpenTelemetry MCP
/// semantic conventions.
pub const SPAN_NAMES_ENV: &str = "TRACE_META_SPAN_NAMES";

/// How spans of MCP requests are named: the process's choice ([`install`](Self::install),
/// or `Telemetry::with_span_names`) when one was made, else [`SPAN_NAMES_ENV`], read once
/// per process.
///
/// Only tool calls differ: every other request is `{mcp.method.name} {target}` either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SpanNames {
    /// `mcp-tool-{tool}` (CLIENT) and `tool-{tool}` (SERVER), as the trace conventions say
    /// (and Confident AI renders).
    #[default]
    Conventions,
    /// `tools/call {tool}` on both sides, as the OpenTelemetry MCP semantic conventions say.
    Semconv,
}

impl SpanNames {
    /// The choice a value of [`SPAN_NAMES_ENV`] makes; anything but `semconv` (any case,
    /// surrounding blanks ignored) keeps the conventions' names.
    pub fn parse(value: Option<&str>) -> Self {
        match value {
            Some(value) if value.trim().eq_ignore_ascii_case("semconv") => Self::Semconv,
            _ => Self::Conventions,
        }
    }

    /// The name of a CLIENT span for a request `method` about `target` (the tool of a
    /// `tools/call`, the URI of a `resources/read`, the prompt of a `prompts/get`):
    /// `mcp-tool-{tool}` (or `tools/call {tool}`) for a tool call, `{method} {target}` for
    /// other requests with a target, `{method}` for the rest.
    ///
    /// ```
    /// use trace_meta::SpanNames;
    /// assert_eq!(SpanNames::Conventions.client_span("tools/call", Some("read_file")), "mcp-tool-read_file");
    /// assert_eq!(SpanNames::Semconv.client_span("tools/call", Some("read_file")), "tools/call read_file");
    /// assert_eq!(SpanNames::Conventions.client_span("resources/read", Some("file:///a")), "resources/read file:///a");
    /// assert_eq!(SpanNames::Conventions.client_span("tools/list", None), "tools/list");
    /// ```
    pub fn client_span(self, method: &str, target: Option<&str>) -> String {
        self.name(method, target, "mcp-tool-")
    }

    /// The name of a SERVER span: as [`client_span`](Self::client_span), but a tool call
    /// is `tool-{tool}` (or `tools/call {tool}`).
    pub fn server_span(self, method: &str, target: Option<&str>) -> String {
        self.name(method, target, "tool-")
    }

    fn name(self, method: &str, target: Option<&str>, tool_prefix: &str) -> String {
        match (self, method, target) {
            (Self::Conventions, "tools/call", Some(tool)) => format!("{tool_prefix}{tool}"),
            (_, _, Some(target)) => format!("{method} {target}"),
            (_, _, None) => method.to_owned(),
        }
    }

    /// This process's choice: the one [`install`](Self::install) made, else what
    /// [`SPAN_NAMES_ENV`] says (read once).
    pub fn get() -> Self {
        match INSTALLED_SPAN_NAMES.load(Ordering::Relaxed) {
            1 => Self::Conventions,
            2 => Self::Semconv,
            _ => {
                static FROM_ENV: std::sync::OnceLock<SpanNames> = std::sync::OnceLock::new();
                *FROM_ENV.get_or_init(|| Self::parse(std::env::var(SPAN_NAMES_ENV).ok().as_deref()))
            }
        }
    }

    /// Makes this the process's choice, over [`SPAN_NAMES_ENV`]: spans named from now on
    /// (by [`Traced`](crate::Traced), [`TracedClient`](crate::TracedClient) and
    /// [`get`](Self::get)) follow it. `Telemetry::with_span_names` calls it when the
    /// pipeline is installed; call it yourself when you set up telemetry another way.
    ///
    /// ```
    /// use trace_meta::SpanNames;
    /// SpanNames::Semconv.install();
    /// assert_eq!(SpanNames::get(), SpanNames::Semconv);
    /// ```
    pub fn install(self) {
        let code = match self {
            Self::Conventions => 1,
            Self::Semconv => 2,
        };
        INSTALLED_SPAN_NAMES.store(code, Ordering::Relaxed);
    }
}

/// The choice [`SpanNames::install`] made: 0 none, 1 conventions, 2 semconv.
static INSTALLED_SPAN_NAMES: AtomicU8 = AtomicU8::new(0);

/// Sets every attribute in `attributes` on `span`.
pub(crate) fn record(span: &tracing::Span, attributes: Vec<KeyValue>) {
    for kv in attributes {
        span.set_attribute(kv.key, kv.value);
    }
}

/// Marks the span of work that was dropped before it finished (the session closed under it,
/// or the caller gave up), so the trace shows why it has no result: status ERROR with
/// `error.type=cancelled`.
///
/// ```
/// # async fn work() {}
/// # async fn demo() {
/// let span = tracing::info_span!("my-work");
/// let unfinished = trace_meta::UnfinishedGuard::arm(&span);
/// work().await; // if this future is dropped here, the span says `cancelled`
/// unfinished.disarm();
/// # }
/// ```
pub struct UnfinishedGuard(Option<tracing::Span>);

impl UnfinishedGuard {
    /// Watches `span` until [`disarm`](Self::disarm) is called.
    pub fn arm(span: &tracing::Span) -> Self {
        Self(Some(span.clone()))
    }

    /// The work finished: the span keeps whatever status its owner gives it.
    pub fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for UnfinishedGuard {
    fn drop(&mut self) {
        if let Some(span) = self.0.take() {
            span.set_attribute(attr::ERROR_TYPE, "cancelled");
            span.set_status(Status::error(
                "the request was abandoned before it finished",
            ));
        }
    }
}

/// The JSON-RPC id as the string `jsonrpc.request.id` records.
pub(crate) fn request_id_string(id: &RequestId) -> String {
    match id {
        RequestId::Number(n) => n.to_string(),
        RequestId::String(s) => s.to_string(),
    }
}

/// Outcome attributes and status of a finished request.
pub(crate) struct Outcome {
    pub attributes: Vec<KeyValue>,
    pub status: Status,
}

impl Outcome {
    /// A success with nothing to record.
    pub(crate) fn success() -> Self {
        Self {
            attributes: Vec::new(),
            status: Status::Unset,
        }
    }

    /// Success or tool error, from a server result.
    pub(crate) fn of_result(result: &ServerResult) -> Self {
        match result {
            ServerResult::CallToolResult(call) => Self::of_tool_result(call),
            _ => Self {
                attributes: Vec::new(),
                status: Status::Unset,
            },
        }
    }

    /// A tool result: its text is the span output; `isError: true` makes the span an error.
    pub(crate) fn of_tool_result(result: &CallToolResult) -> Self {
        let (attributes, status) =
            content::tool_output(tool_result_text(result), result.is_error == Some(true));
        Self { attributes, status }
    }

    /// A JSON-RPC error response.
    pub(crate) fn of_error_data(error: &ErrorData) -> Self {
        let code = error.code.0.to_string();
        Self {
            attributes: vec![
                KeyValue::new(attr::ERROR_TYPE, code.clone()),
                KeyValue::new(attr::RPC_RESPONSE_STATUS_CODE, code),
            ],
            status: Status::error(error.message.to_string()),
        }
    }

    /// A failure on the client side: an error response, or no response at all.
    #[cfg(feature = "client")]
    pub(crate) fn of_service_error(error: &ServiceError) -> Self {
        let kind = match error {
            ServiceError::McpError(data) => return Self::of_error_data(data),
            ServiceError::TransportClosed => "transport_closed",
            ServiceError::Timeout { .. } => "timeout",
            ServiceError::Cancelled { .. } => "cancelled",
            ServiceError::UnexpectedResponse => "unexpected_response",
            ServiceError::TransportSend(_) => "transport_send",
            _ => "service_error",
        };
        Self {
            attributes: vec![KeyValue::new(attr::ERROR_TYPE, kind)],
            status: Status::error(error.to_string()),
        }
    }
}

/// The text content of a tool result, text items joined by newlines; structured content
/// (JSON) when there is no text.
pub fn tool_result_text(result: &CallToolResult) -> String {
    // The common case, one text item: copied once, with no list of pieces to join.
    if let [only] = result.content.as_slice()
        && let Some(text) = only.as_text()
    {
        return text.text.clone();
    }
    let texts: Vec<&str> = result
        .content
        .iter()
        .filter_map(|content| content.as_text().map(|text| text.text.as_str()))
        .collect();
    if let (true, Some(structured)) = (texts.is_empty(), &result.structured_content) {
        return structured.to_string();
    }
    texts.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn span_names_switch() {
        assert_eq!(SpanNames::parse(None), SpanNames::Conventions);
        assert_eq!(SpanNames::parse(Some("")), SpanNames::Conventions);
        assert_eq!(
            SpanNames::parse(Some("conventions")),
            SpanNames::Conventions
        );
        assert_eq!(SpanNames::parse(Some("semconv")), SpanNames::Semconv);
        assert_eq!(SpanNames::parse(Some(" SemConv ")), SpanNames::Semconv);
    }
}
