//! Attribute names and values used on the spans of this crate.
//!
//! The OpenTelemetry MCP and GenAI conventions (status: development) and Confident AI's
//! attribute reference, as fixed in the project's trace conventions: the names MCP client
//! and server spans record, and those of the workspace's servers (files, databases). The
//! names of an agent's own spans (its root, its model requests, Confident AI's trace-level
//! keys) belong to the agent that records them.

/// JSON-RPC method of the request (`tools/call`, `resources/read`, ...).
pub const MCP_METHOD_NAME: &str = "mcp.method.name";
/// Negotiated MCP protocol version.
pub const MCP_PROTOCOL_VERSION: &str = "mcp.protocol.version";
/// URI of the resource a `resources/*` request names.
pub const MCP_RESOURCE_URI: &str = "mcp.resource.uri";
/// Name of the called tool.
pub const GEN_AI_TOOL_NAME: &str = "gen_ai.tool.name";
/// Operation of a GenAI span; `execute_tool` for tool calls.
pub const GEN_AI_OPERATION_NAME: &str = "gen_ai.operation.name";
/// Name of the prompt a `prompts/get` request names.
pub const GEN_AI_PROMPT_NAME: &str = "gen_ai.prompt.name";
/// JSON-RPC request id, as a string.
pub const JSONRPC_REQUEST_ID: &str = "jsonrpc.request.id";
/// Transport: `pipe` for stdio, `tcp` for HTTP.
pub const NETWORK_TRANSPORT: &str = "network.transport";
/// Application protocol under the transport: `http` for Streamable HTTP.
pub const NETWORK_PROTOCOL_NAME: &str = "network.protocol.name";
/// Address of the server a span talks to or runs on (host name or IP).
pub const SERVER_ADDRESS: &str = "server.address";
/// Port of the server a span talks to or runs on.
pub const SERVER_PORT: &str = "server.port";
/// Address of the client an HTTP request came from (as the TCP connection shows it).
pub const CLIENT_ADDRESS: &str = "client.address";
/// Port of the client an HTTP request came from.
pub const CLIENT_PORT: &str = "client.port";
/// The other end of the connection a request came on (a reverse proxy, when there is one).
pub const NETWORK_PEER_ADDRESS: &str = "network.peer.address";
/// The port of [`NETWORK_PEER_ADDRESS`].
pub const NETWORK_PEER_PORT: &str = "network.peer.port";
/// Which attempt at a request a span is, on the second and later ones: a tool call that
/// failed on the way and was sent again ([`crate::Retry`]).
pub const MCP_REQUEST_ATTEMPT: &str = "mcp.request.attempt";
/// `Mcp-Session-Id` of a 2025-11-25 Streamable HTTP session.
pub const MCP_SESSION_ID: &str = "mcp.session.id";
/// Error class: the JSON-RPC error code as a string, or `tool_error`.
pub const ERROR_TYPE: &str = "error.type";
/// JSON-RPC error code of the response, as a string.
pub const RPC_RESPONSE_STATUS_CODE: &str = "rpc.response.status_code";

/// `error.type` of a tool result with `isError: true`.
pub const TOOL_ERROR: &str = "tool_error";
/// `gen_ai.operation.name` of a tool call.
pub const EXECUTE_TOOL: &str = "execute_tool";

/// Confident AI: span type (`agent`, `tool`, `llm`, `retriever`).
pub const CONFIDENT_SPAN_TYPE: &str = "confident.span.type";
/// Confident AI: span input; non-string inputs are JSON-encoded.
pub const CONFIDENT_SPAN_INPUT: &str = "confident.span.input";
/// Confident AI: span output; non-string outputs are JSON-encoded.
pub const CONFIDENT_SPAN_OUTPUT: &str = "confident.span.output";
/// Confident AI: tool name.
pub const CONFIDENT_TOOL_NAME: &str = "confident.tool.name";
/// Confident AI: tool description (server side).
pub const CONFIDENT_TOOL_DESCRIPTION: &str = "confident.tool.description";

/// Resource: the process's service (`mcp-host`, `file-server`, `db-server`).
pub const SERVICE_NAME: &str = "service.name";
/// Resource: the process id.
pub const PROCESS_PID: &str = "process.pid";
/// File: the resolved path a file tool works on.
pub const FILE_PATH: &str = "file.path";
/// Database: the database system (`sqlite`).
pub const DB_SYSTEM_NAME: &str = "db.system.name";
/// Database: the statement's text (cut at 1000 characters).
pub const DB_QUERY_TEXT: &str = "db.query.text";
/// Database: the rows a statement returned.
pub const DB_RESPONSE_RETURNED_ROWS: &str = "db.response.returned_rows";
/// Progress notification: how far (`mcp.progress.progress`).
pub const MCP_PROGRESS_PROGRESS: &str = "mcp.progress.progress";
/// Progress notification: the total, when known (`mcp.progress.total`).
pub const MCP_PROGRESS_TOTAL: &str = "mcp.progress.total";
/// Progress notification: its message.
pub const MCP_PROGRESS_MESSAGE: &str = "mcp.progress.message";
/// Cancellation notification: its reason.
pub const MCP_CANCELLED_REASON: &str = "mcp.cancelled.reason";

/// Metric: duration of one MCP request as the client sees it (histogram, seconds).
pub const MCP_CLIENT_OPERATION_DURATION: &str = "mcp.client.operation.duration";
/// Metric: duration of one MCP request as the server sees it (histogram, seconds).
pub const MCP_SERVER_OPERATION_DURATION: &str = "mcp.server.operation.duration";
/// Metric: how long a client's session with a server lasted (histogram, seconds).
pub const MCP_CLIENT_SESSION_DURATION: &str = "mcp.client.session.duration";
/// Metric: how long a server's session with a client lasted (histogram, seconds).
pub const MCP_SERVER_SESSION_DURATION: &str = "mcp.server.session.duration";
/// `error.type` of a request abandoned before it finished.
pub const CANCELLED: &str = "cancelled";

// Tool calls a model asked for: the GenAI conventions.

/// The model's id for one tool call it asked for.
pub const GEN_AI_TOOL_CALL_ID: &str = "gen_ai.tool.call.id";
/// The arguments of a tool call, as JSON (content: recorded only when captured).
pub const GEN_AI_TOOL_CALL_ARGUMENTS: &str = "gen_ai.tool.call.arguments";
/// The result of a tool call (content: recorded only when captured).
pub const GEN_AI_TOOL_CALL_RESULT: &str = "gen_ai.tool.call.result";

/// Most characters kept of an input or output attribute.
pub const MAX_PAYLOAD_CHARS: usize = 1000;

/// Returns `text` cut to at most `max` characters, on a character boundary.
pub fn truncate(text: &str, max: usize) -> &str {
    // A character takes at least one byte: text no longer than `max` bytes fits whole,
    // without walking its characters.
    if text.len() <= max {
        return text;
    }
    // Where the first `max` bytes are ASCII they are the first `max` characters, and the
    // next byte starts a character (the usual case for JSON and text files).
    if text.as_bytes()[..max].is_ascii() {
        return &text[..max];
    }
    match text.char_indices().nth(max) {
        Some((index, _)) => &text[..index],
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::truncate;

    #[test]
    fn truncate_counts_characters_not_bytes() {
        assert_eq!(truncate("héllo", 2), "hé");
        assert_eq!(truncate("abc", 10), "abc");
        assert_eq!(truncate("", 0), "");
        assert_eq!(truncate("abc", 3), "abc");
        assert_eq!(truncate("ééé", 3), "ééé");
        assert_eq!(truncate("abcd", 3), "abc");
        assert_eq!(truncate("abcé", 3), "abc");
        assert_eq!(truncate("abé", 3), "abé");
        assert_eq!(truncate("abéd", 3), "abé");
    }
}
