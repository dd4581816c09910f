//! The JSON-RPC boundary: each incoming message is checked here before rmcp sees it, so
//! malformed input gets the answer JSON-RPC 2.0 and MCP prescribe.
//!
//! rmcp 3.11 reads messages itself, and where the input is malformed it answers in ways the
//! specifications do not allow: it drops lines that are not JSON (no `-32700`), drops input
//! nested deeper than serde_json's recursion limit, answers `-32600` without an id where the
//! params are the problem, and reads a known method whose params do not fit as an unknown
//! custom method (`-32601`). Over HTTP it answers a body it cannot read with `415`.
//!
//! Each message is checked in these steps; the first that applies answers:
//!
//! 1. **Parse once, as rmcp would** (into [`ClientJsonRpcMessage`], serde_json's recursion
//!    limit of 128 levels bounding stack and work). A message that parses goes on to rmcp
//!    unchanged, unless step 5 applies. Valid messages are parsed exactly once.
//! 2. **Not JSON** (a syntax error, truncated input, invalid UTF-8 raw or inside a string,
//!    nesting deeper than 128 levels): `-32700 Parse error` with `"id": null`.
//! 3. **JSON, but not a JSON-RPC 2.0 message** (not an object, `jsonrpc` not `"2.0"`, an id
//!    that is not a string or an integer, a method that is not a string, params that are not
//!    an object, a batch): `-32600 Invalid Request` with `"id": null`.
//! 4. **A request or notification rmcp cannot read for its params** (e.g. `_meta` that is
//!    not an object): a request to a method of the protocol gets `-32602 Invalid params`
//!    with its id, a request to another method `-32601 Method not found`; a notification
//!    gets nothing (JSON-RPC never answers one), nor does a malformed response.
//! 5. **A request rmcp read as a custom method whose name is a protocol method** (rmcp's
//!    fallback when the params do not fit, e.g. `tools/call` without params, without a
//!    `name`, or with `arguments` that are not an object): `-32602 Invalid params`.
//!
//! Only the failing paths (steps 2 to 5) look at the input a second time. Error messages
//! name the problem but never echo the input (a secret, or megabytes).
//!
//! Where it is applied: for stdio, the line transport of `stdio.rs`, which the server
//! lifecycle hands to rmcp (its replies go through the same writer as rmcp's messages,
//! whole lines only); for Streamable HTTP, step 7 of the guards of `http/guards.rs`.

use rmcp::model::{
    CallToolRequestParams, ClientJsonRpcMessage, ClientRequest, CompleteRequestParams, ErrorCode,
    ErrorData, GetPromptRequestParams, InitializeRequestParams, JsonRpcRequest,
    PaginatedRequestParams, ReadResourceRequestParams, RequestId, SubscribeRequestParams,
    UnsubscribeRequestParams,
};
use serde_json::{Map, Value};

/// Longest error detail put in a reply, in characters.
const MAX_DETAIL_CHARS: usize = 200;

/// The UTF-8 byte order mark, which RFC 8259 lets a parser ignore (rmcp does).
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// The requests a client may send that rmcp reads into typed params: a request to one of
/// these whose params do not fit is `-32602`, never `-32601`.
const CLIENT_REQUEST_METHODS: &[&str] = &[
    "initialize",
    "ping",
    "server/discover",
    "completion/complete",
    "logging/setLevel",
    "prompts/get",
    "prompts/list",
    "resources/list",
    "resources/templates/list",
    "resources/read",
    "resources/subscribe",
    "resources/unsubscribe",
    "resources/directory/read",
    "subscriptions/listen",
    "tools/call",
    "tools/list",
    "tasks/get",
    "tasks/update",
    "tasks/cancel",
    "skills/list",
    "skills/get",
];

/// What to do with one incoming message.
#[derive(Debug)]
pub(crate) enum Inbound {
    /// A message for rmcp, as rmcp parses it.
    Message(Box<ClientJsonRpcMessage>),
    /// Answer this serialised JSON-RPC error response (no trailing newline) and go on.
    Reply(Rejection),
    /// Drop it without an answer (a notification or response that cannot be read).
    Ignore,
}

/// A JSON-RPC error response to input that never reaches rmcp.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Rejection {
    /// The error code.
    pub code: ErrorCode,
    /// The serialised response, one line of JSON without the newline.
    pub body: Vec<u8>,
}

impl Rejection {
    fn new(id: Option<&RequestId>, code: ErrorCode, message: String) -> Self {
        let id = id.map_or(Value::Null, |id| id.clone().into_json_value());
        let response = serde_json::json!({
            "jsonrpc": "2.0",
            "id": id,
            "error": {"code": code.0, "message": message},
        });
        tracing::debug!(code = code.0, "malformed input answered at the transport");
        Self {
            code,
            body: serde_json::to_vec(&response).expect("a JSON value serialises"),
        }
    }

    fn parse_error(error: &serde_json::Error) -> Self {
        Self::new(
            None,
            ErrorCode::PARSE_ERROR,
            format!("Parse error: {}", detail(&error.to_string())),
        )
    }

    fn invalid_request(why: &str) -> Self {
        Self::new(
            None,
            ErrorCode::INVALID_REQUEST,
            format!("Invalid Request: {why}"),
        )
    }
}

/// Checks one incoming message (a stdio line without its newline, or an HTTP body); see
/// the module doc.
pub(crate) fn check(input: &[u8]) -> Inbound {
    let input = input.strip_prefix(UTF8_BOM).unwrap_or(input);
    match serde_json::from_slice::<ClientJsonRpcMessage>(input) {
        Ok(message) => match misread_request(&message) {
            Some(rejection) => Inbound::Reply(rejection),
            None => Inbound::Message(Box::new(message)),
        },
        Err(error) => reject(input, &error),
    }
}

/// Step 5: a request to a protocol method that rmcp could only read as a custom method.
fn misread_request(message: &ClientJsonRpcMessage) -> Option<Rejection> {
    let ClientJsonRpcMessage::Request(JsonRpcRequest {
        id,
        request: ClientRequest::CustomRequest(custom),
        ..
    }) = message
    else {
        return None;
    };
    let error = invalid_params_of_known_method(&custom.method, custom.params.as_ref())?;
    Some(Rejection::new(
        Some(id),
        ErrorCode(error.code.0),
        error.message.into_owned(),
    ))
}

/// `-32602` for `method` with `params` when `method` is a request of the protocol (rmcp
/// routes such a request to the handler's custom method only when its params do not fit);
/// `None` for any other method.
pub(crate) fn invalid_params_of_known_method(
    method: &str,
    params: Option<&Value>,
) -> Option<ErrorData> {
    if !CLIENT_REQUEST_METHODS.contains(&method) {
        return None;
    }
    Some(ErrorData::invalid_params(
        format!(
            "Invalid params for {method}: {}",
            params_problem(method, params)
        ),
        None,
    ))
}

/// Why `params` do not fit `method`, in words that do not echo the input.
fn params_problem(method: &str, params: Option<&Value>) -> String {
    let Some(params) = params else {
        return "params are required".to_owned();
    };
    let Value::Object(object) = params else {
        return "params must be an object".to_owned();
    };
    if object.get("_meta").is_some_and(|meta| !meta.is_object()) {
        return "params._meta must be an object".to_owned();
    }
    if method == "tools/call" {
        match object.get("name") {
            None => return "params.name (the tool name) is required".to_owned(),
            Some(name) if !name.is_string() => {
                return "params.name (the tool name) must be a string".to_owned();
            }
            Some(_) => {}
        }
        if object.get("arguments").is_some_and(|a| !a.is_object()) {
            return "params.arguments must be an object".to_owned();
        }
    }
    let typed = match method {
        "tools/call" => fits::<CallToolRequestParams>(params),
        "initialize" => fits::<InitializeRequestParams>(params),
        "completion/complete" => fits::<CompleteRequestParams>(params),
        "prompts/get" => fits::<GetPromptRequestParams>(params),
        "resources/read" => fits::<ReadResourceRequestParams>(params),
        "resources/subscribe" => fits::<SubscribeRequestParams>(params),
        "resources/unsubscribe" => fits::<UnsubscribeRequestParams>(params),
        "prompts/list" | "resources/list" | "resources/templates/list" | "tools/list" => {
            fits::<PaginatedRequestParams>(params)
        }
        _ => Err(String::new()),
    };
    match typed {
        Err(problem) if !problem.is_empty() => detail(&problem),
        _ => "they do not match the method's schema".to_owned(),
    }
}

/// Whether `params` deserialise as `T`, and serde's reason when not.
fn fits<T: serde::de::DeserializeOwned>(params: &Value) -> Result<(), String> {
    serde_json::from_value::<T>(params.clone())
        .map(drop)
        .map_err(|e| e.to_string())
}

/// Steps 2 to 4, for input rmcp cannot parse.
fn reject(input: &[u8], error: &serde_json::Error) -> Inbound {
    use serde_json::error::Category;
    if !matches!(error.classify(), Category::Data) {
        return Inbound::Reply(Rejection::parse_error(error));
    }
    // Valid JSON (the error is about its shape), within the recursion limit.
    let value = match serde_json::from_slice::<Value>(input) {
        Ok(value) => value,
        Err(error) => return Inbound::Reply(Rejection::parse_error(&error)),
    };
    let Value::Object(object) = value else {
        return Inbound::Reply(Rejection::invalid_request(match value {
            Value::Array(_) => "batches are not supported by MCP; send one object per message",
            _ => "a JSON-RPC message is an object",
        }));
    };
    reject_object(&object)
}

/// Steps 3 and 4 for a JSON object rmcp could not read.
fn reject_object(object: &Map<String, Value>) -> Inbound {
    if object.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Inbound::Reply(Rejection::invalid_request(
            "\"jsonrpc\" must be exactly \"2.0\"",
        ));
    }
    let Some(method) = object.get("method") else {
        if object.contains_key("id")
            && (object.contains_key("result") || object.contains_key("error"))
        {
            // A response: JSON-RPC never answers one.
            tracing::debug!("ignoring a malformed JSON-RPC response");
            return Inbound::Ignore;
        }
        return Inbound::Reply(Rejection::invalid_request(
            "a request needs a \"method\" string",
        ));
    };
    let Some(method) = method.as_str() else {
        return Inbound::Reply(Rejection::invalid_request("\"method\" must be a string"));
    };
    let params = object.get("params");
    if params.is_some_and(|params| !params.is_object()) {
        return Inbound::Reply(Rejection::invalid_request("\"params\" must be an object"));
    }
    let id = match object.get("id") {
        None => {
            tracing::debug!(
                method,
                "ignoring a notification whose params cannot be read"
            );
            return Inbound::Ignore;
        }
        Some(Value::String(id)) => RequestId::String(id.as_str().into()),
        Some(Value::Number(id)) => match id.as_i64() {
            Some(id) => RequestId::Number(id),
            None => {
                return Inbound::Reply(Rejection::invalid_request(
                    "\"id\" must be a string or an integer",
                ));
            }
        },
        Some(_) => {
            return Inbound::Reply(Rejection::invalid_request(
                "\"id\" must be a string or an integer",
            ));
        }
    };
    let error = invalid_params_of_known_method(method, params)
        .unwrap_or_else(|| ErrorData::new(ErrorCode::METHOD_NOT_FOUND, method.to_owned(), None));
    Inbound::Reply(Rejection::new(
        Some(&id),
        error.code,
        error.message.into_owned(),
    ))
}

/// `text` cut to [`MAX_DETAIL_CHARS`], and cut before any quoted input serde repeats.
fn detail(text: &str) -> String {
    // serde quotes the offending value (`invalid type: string "…"`): keep what precedes it.
    let text = text.split_once(" \"").map_or(text, |(before, _)| before);
    match text.char_indices().nth(MAX_DETAIL_CHARS) {
        Some((end, _)) => text[..end].to_owned(),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(input: &[u8]) -> Option<i32> {
        match check(input) {
            Inbound::Reply(rejection) => {
                let value: Value = serde_json::from_slice(&rejection.body).unwrap();
                assert_eq!(value["error"]["code"], rejection.code.0);
                Some(rejection.code.0)
            }
            Inbound::Message(_) => Some(0),
            Inbound::Ignore => None,
        }
    }

    #[test]
    fn codes() {
        assert_eq!(code(b"not json"), Some(-32700));
        assert_eq!(code(b"\xff\xfe{}"), Some(-32700));
        assert_eq!(code(b"[]"), Some(-32600));
        assert_eq!(
            code(br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#),
            Some(0)
        );
        assert_eq!(
            code(br#"{"jsonrpc":"2.0","id":1,"method":"tools/call"}"#),
            Some(-32602)
        );
        assert_eq!(
            code(br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","_meta":3}}"#),
            Some(-32602)
        );
        // Notifications are never answered: dropped here, or passed to rmcp, which ignores
        // the ones it cannot read.
        for notification in [
            &br#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"x":1}}"#[..],
            br#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1,"_meta":3}}"#,
            br#"{"jsonrpc":"2.0","method":"tools/call","params":{"_meta":3}}"#,
        ] {
            assert!(matches!(code(notification), None | Some(0)));
        }
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(code(deep.as_bytes()), Some(-32700));
    }

    #[test]
    fn details_never_echo_input() {
        let reply = match check(
            br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","arguments":"s3cret"}}"#,
        ) {
            Inbound::Reply(rejection) => String::from_utf8(rejection.body).unwrap(),
            other => panic!("{other:?}"),
        };
        assert!(!reply.contains("s3cret"), "{reply}");
    }
}
