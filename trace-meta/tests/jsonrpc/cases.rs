//! The malformed inputs of issue #12 and the one answer each must get, shared by the stdio
//! suite (`file-server/tests/jsonrpc_errors.rs`, through the real binary) and the
//! Streamable HTTP suite (`trace-meta/tests/jsonrpc_errors.rs`).
//!
//! `jsonrpc_cases!(generate)` calls `generate! { name: case, ... }`; each suite turns every
//! case into its own test.

#![allow(dead_code)]

use serde_json::{Value, json};

/// JSON-RPC 2.0 error codes.
pub(crate) const PARSE_ERROR: i64 = -32700;
/// Valid JSON, not a JSON-RPC request object.
pub(crate) const INVALID_REQUEST: i64 = -32600;
/// A method the server does not have.
pub(crate) const METHOD_NOT_FOUND: i64 = -32601;
/// A method the server has, params it cannot take.
pub(crate) const INVALID_PARAMS: i64 = -32602;
/// The id every request case carries.
pub(crate) const CASE_ID: i64 = 900;

/// What a case must be answered with.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Expect {
    /// Exactly one error response with `code`, its `id` the request's or `null`.
    Error { code: i64, id: Value },
    /// No answer at all (a notification).
    Nothing,
}

/// One malformed input: the bytes of one message (no newline) and the answer it must get.
#[derive(Debug, Clone)]
pub(crate) struct Case {
    pub input: Vec<u8>,
    pub expect: Expect,
}

/// -32700 with `id: null`.
pub(crate) fn parse(input: impl Into<Vec<u8>>) -> Case {
    Case {
        input: input.into(),
        expect: Expect::Error {
            code: PARSE_ERROR,
            id: Value::Null,
        },
    }
}

/// -32600 with `id: null`.
pub(crate) fn invalid(input: &str) -> Case {
    Case {
        input: input.as_bytes().to_vec(),
        expect: Expect::Error {
            code: INVALID_REQUEST,
            id: Value::Null,
        },
    }
}

/// A request (id [`CASE_ID`]) for `method` with `params` (none when `Value::Null`), that
/// must get `code` with its id.
pub(crate) fn request(method: &str, params: Value, code: i64) -> Case {
    let mut message = json!({"jsonrpc": "2.0", "id": CASE_ID, "method": method});
    if !params.is_null() {
        message["params"] = params;
    }
    Case {
        input: serde_json::to_vec(&message).unwrap(),
        expect: Expect::Error {
            code,
            id: json!(CASE_ID),
        },
    }
}

/// A notification: never answered.
pub(crate) fn notification(message: Value) -> Case {
    Case {
        input: serde_json::to_vec(&message).unwrap(),
        expect: Expect::Nothing,
    }
}

/// `depth` nested arrays.
pub(crate) fn deep_arrays(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}

/// `depth` nested objects.
pub(crate) fn deep_objects(depth: usize) -> String {
    format!("{}1{}", r#"{"a":"#.repeat(depth), "}".repeat(depth))
}

macro_rules! jsonrpc_cases {
    ($generate:ident) => {
        $generate! {
            // -32700 Parse error, id null.
            not_json: parse("not json"),
            truncated_request: parse(r#"{"jsonrpc":"2.0","id":77,"method":"tools/list""#),
            truncated_after_id: parse(r#"{"jsonrpc":"2.0","id":"#),
            control_bytes: parse(&b"\x01\x02\x03"[..]),
            reversed_braces: parse("}{"),
            trailing_garbage: parse(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"} x"#),
            invalid_utf8_raw: parse(&b"\xff\xfe{\"jsonrpc\":\"2.0\"}"[..]),
            invalid_utf8_in_a_string:
                parse(&b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/\xff\xfe\"}"[..]),
            lone_surrogate_in_a_string: parse(r#"{"jsonrpc":"2.0","id":1,"method":"\ud800"}"#),
            arrays_nested_100000_deep: parse(deep_arrays(100_000)),
            objects_nested_100000_deep: parse(deep_objects(100_000)),
            arguments_nested_100000_deep: parse(format!(
                r#"{{"jsonrpc":"2.0","id":900,"method":"tools/call","params":{{"name":"read_file","arguments":{{"path":{}}}}}}}"#,
                deep_arrays(100_000)
            )),
            // -32600 Invalid Request, id null.
            empty_array: invalid("[]"),
            batch: invalid(r#"[{"jsonrpc":"2.0","id":50,"method":"tools/list"}]"#),
            number: invalid("42"),
            string: invalid(r#""a string""#),
            null: invalid("null"),
            boolean: invalid("true"),
            object_without_method: invalid(r#"{"foo":1}"#),
            version_1_0: invalid(r#"{"jsonrpc":"1.0","id":60,"method":"tools/list"}"#),
            version_missing: invalid(r#"{"id":63,"method":"tools/list"}"#),
            version_a_number: invalid(r#"{"jsonrpc":2.0,"id":62,"method":"tools/list"}"#),
            notification_with_version_1_0:
                invalid(r#"{"jsonrpc":"1.0","method":"notifications/initialized"}"#),
            id_null: invalid(r#"{"jsonrpc":"2.0","id":null,"method":"tools/list"}"#),
            id_fractional: invalid(r#"{"jsonrpc":"2.0","id":1.5,"method":"tools/list"}"#),
            id_an_object: invalid(r#"{"jsonrpc":"2.0","id":{"a":1},"method":"tools/list"}"#),
            method_a_number: invalid(r#"{"jsonrpc":"2.0","id":51,"method":42}"#),
            params_a_number: invalid(r#"{"jsonrpc":"2.0","id":52,"method":"tools/list","params":42}"#),
            params_an_array:
                invalid(r#"{"jsonrpc":"2.0","id":53,"method":"tools/call","params":["read_file"]}"#),
            // -32601 Method not found, only for methods the server does not have.
            unknown_method: request("no/such/method", json!({}), METHOD_NOT_FOUND),
            near_miss_method: request("tools/lists", json!({}), METHOD_NOT_FOUND),
            empty_method: request("", json!({}), METHOD_NOT_FOUND),
            unknown_method_with_meta_a_number:
                request("no/such/method", json!({"_meta": 1}), METHOD_NOT_FOUND),
            // -32602 Invalid params, with the request's id.
            tools_call_without_params: request("tools/call", Value::Null, INVALID_PARAMS),
            tools_call_with_empty_params: request("tools/call", json!({}), INVALID_PARAMS),
            tools_call_without_name:
                request("tools/call", json!({"arguments": {}}), INVALID_PARAMS),
            tools_call_name_a_number:
                request("tools/call", json!({"name": 42, "arguments": {}}), INVALID_PARAMS),
            tools_call_name_null:
                request("tools/call", json!({"name": null, "arguments": {}}), INVALID_PARAMS),
            tools_call_arguments_a_string: request(
                "tools/call",
                json!({"name": "read_file", "arguments": "sales.csv"}),
                INVALID_PARAMS
            ),
            tools_call_arguments_an_array: request(
                "tools/call",
                json!({"name": "read_file", "arguments": ["sales.csv"]}),
                INVALID_PARAMS
            ),
            tools_call_arguments_a_number:
                request("tools/call", json!({"name": "read_file", "arguments": 42}), INVALID_PARAMS),
            tools_call_meta_a_number: request(
                "tools/call",
                json!({"name": "read_file", "arguments": {"path": "sales.csv"}, "_meta": 1}),
                INVALID_PARAMS
            ),
            tools_call_meta_a_string: request(
                "tools/call",
                json!({"name": "read_file", "arguments": {"path": "sales.csv"}, "_meta": "x"}),
                INVALID_PARAMS
            ),
            tools_call_meta_an_array: request(
                "tools/call",
                json!({"name": "read_file", "arguments": {"path": "sales.csv"}, "_meta": []}),
                INVALID_PARAMS
            ),
            tools_call_unknown_tool:
                request("tools/call", json!({"name": "no_such_tool", "arguments": {}}), INVALID_PARAMS),
            tools_list_meta_a_number: request("tools/list", json!({"_meta": 1}), INVALID_PARAMS),
            // Notifications: never answered, whatever is wrong with them.
            unknown_notification: notification(json!({"jsonrpc": "2.0", "method": "notifications/no_such"})),
            cancelled_notification_with_bad_params: notification(
                json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": {}}})
            ),
            notification_with_meta_a_number: notification(
                json!({"jsonrpc": "2.0", "method": "notifications/initialized", "params": {"_meta": 1}})
            ),
            tools_call_as_a_notification:
                notification(json!({"jsonrpc": "2.0", "method": "tools/call"})),
        }
    };
}

#[allow(unused_imports)]
pub(crate) use jsonrpc_cases;

/// Asserts that `answer` is the JSON-RPC error `code` for the request `id` (`null` when
/// the request could not be read).
pub(crate) fn assert_error_answer(shown: &str, answer: &Value, code: i64, id: &Value) {
    assert_eq!(
        answer["error"]["code"], code,
        "{shown}: wrong code: {answer}"
    );
    assert!(
        answer.as_object().unwrap().contains_key("id") && answer["id"] == *id,
        "{shown}: the answer must carry id {id}: {answer}"
    );
}
