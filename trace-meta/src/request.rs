//! What a span says about an MCP request: its name and the attributes known before it runs.

use opentelemetry::{KeyValue, trace::Status};
use rmcp::{
    ServiceError,
    model::{CallToolResult, ClientRequest, ErrorData, RequestId, ServerResult},
};

use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::attributes::{self as attr, MAX_PAYLOAD_CHARS, truncate};

/// The side of a request a span describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    Client,
    Server,
}

/// Name and request-time attributes of a span for one request.
pub(crate) struct RequestSpan {
    pub name: String,
    pub tool: Option<String>,
    pub attributes: Vec<KeyValue>,
}

impl RequestSpan {
    /// Describes `request` as seen from `side`.
    ///
    /// Tool calls are `mcp-tool-{tool}` on the client and `tool-{tool}` on the server; every
    /// other request is `{method} {target}` on both sides (target: resource URI, prompt name),
    /// or just `{method}` when it has none.
    pub fn describe(request: &ClientRequest, side: Side) -> Self {
        let method = request.method().to_owned();
        let mut attributes = vec![KeyValue::new(attr::MCP_METHOD_NAME, method.clone())];
        let mut tool = None;
        let name = match request {
            ClientRequest::CallToolRequest(call) => {
                let name = call.params.name.to_string();
                attributes.extend([
                    KeyValue::new(attr::GEN_AI_TOOL_NAME, name.clone()),
                    KeyValue::new(attr::GEN_AI_OPERATION_NAME, attr::EXECUTE_TOOL),
                    KeyValue::new(attr::CONFIDENT_SPAN_TYPE, "tool"),
                    KeyValue::new(attr::CONFIDENT_TOOL_NAME, name.clone()),
                ]);
                let input = match &call.params.arguments {
                    Some(arguments) => serde_json::to_string(arguments).unwrap_or_default(),
                    None => "{}".to_owned(),
                };
                attributes.push(KeyValue::new(
                    attr::CONFIDENT_SPAN_INPUT,
                    truncate(&input, MAX_PAYLOAD_CHARS).to_owned(),
                ));
                let span_name = match side {
                    Side::Client => format!("mcp-tool-{name}"),
                    Side::Server => format!("tool-{name}"),
                };
                tool = Some(name);
                span_name
            }
            ClientRequest::ReadResourceRequest(read) => {
                let uri = read.params.uri.to_string();
                attributes.push(KeyValue::new(attr::MCP_RESOURCE_URI, uri.clone()));
                format!("{method} {uri}")
            }
            ClientRequest::SubscribeRequest(sub) => {
                let uri = sub.params.uri.to_string();
                attributes.push(KeyValue::new(attr::MCP_RESOURCE_URI, uri.clone()));
                format!("{method} {uri}")
            }
            ClientRequest::UnsubscribeRequest(sub) => {
                let uri = sub.params.uri.to_string();
                attributes.push(KeyValue::new(attr::MCP_RESOURCE_URI, uri.clone()));
                format!("{method} {uri}")
            }
            ClientRequest::GetPromptRequest(get) => {
                let prompt = get.params.name.to_string();
                attributes.push(KeyValue::new(attr::GEN_AI_PROMPT_NAME, prompt.clone()));
                format!("{method} {prompt}")
            }
            _ => method,
        };
        Self {
            name,
            tool,
            attributes,
        }
    }
}

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
    /// Success or tool error, from a server result.
    pub fn of_result(result: &ServerResult) -> Self {
        match result {
            ServerResult::CallToolResult(call) => Self::of_tool_result(call),
            _ => Self {
                attributes: Vec::new(),
                status: Status::Unset,
            },
        }
    }

    /// A tool result: its text is the span output; `isError: true` makes the span an error.
    pub fn of_tool_result(result: &CallToolResult) -> Self {
        let text = tool_result_text(result);
        let output = truncate(&text, MAX_PAYLOAD_CHARS).to_owned();
        let mut attributes = vec![KeyValue::new(attr::CONFIDENT_SPAN_OUTPUT, output.clone())];
        let status = if result.is_error == Some(true) {
            attributes.push(KeyValue::new(attr::ERROR_TYPE, attr::TOOL_ERROR));
            Status::error(output)
        } else {
            Status::Unset
        };
        Self { attributes, status }
    }

    /// A JSON-RPC error response.
    pub fn of_error_data(error: &ErrorData) -> Self {
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
    pub fn of_service_error(error: &ServiceError) -> Self {
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
