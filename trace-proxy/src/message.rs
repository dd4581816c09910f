//! One line of the stdio stream: what it is, and the one edit the proxy may make to it.
//!
//! The pass-through rules, in order:
//! 1. A line is relayed as the bytes that were read. Nothing is re-encoded: key order,
//!    whitespace, number spellings (`1.0e3`), string escapes (`\u00e9`) and unknown fields
//!    reach the other side exactly as they were written.
//! 2. Only a **request** (an object with `method` and `id`) is edited, and only its
//!    `params._meta` object: the keys `traceparent`, `tracestate` and `baggage` are removed
//!    and the proxy span's own values are written first in their place. Every other
//!    `_meta` member keeps its bytes, separators included; a removed member goes with its
//!    leading comma.
//!    ([`inject_trace_context`])
//! 3. A request without `_meta` gets one, appended as the last member of `params`; a
//!    request without `params` gets `"params":{"_meta":{…}}` appended as the last member
//!    of the message. Requests whose `params` is not an object (JSON-RPC allows arrays, MCP
//!    does not) are relayed unchanged.
//! 4. Span return (SEP-2448): a `tools/call` or `resources/read` whose `_meta` has no
//!    `otel` gets one, written with the trace keys, and the answer to it loses the `otel`
//!    and `io.github.mcp-trace/exportedTo` members of its `_meta` (the proxy takes the
//!    spans); when the client wrote `otel` itself, the answer's two members are replaced by
//!    the proxy's, with the proxy's span before the server's. The rest of the answer keeps
//!    its bytes ([`replace_members`]).
//! 5. Notifications, other responses, batches (JSON arrays, which MCP no longer allows; the
//!    receiver refuses them), blank lines and anything that does not parse are relayed
//!    unchanged. What to do about a line that is not JSON is the caller's decision.
//!
//! Parsing uses serde_json with borrowed [`RawValue`]s: the envelope's fields and the
//! `_meta` members are located in the original text, so the edit is a splice.

use std::borrow::Cow;

use serde::{
    Deserialize,
    de::{IgnoredAny, MapAccess, Visitor},
};
use serde_json::value::RawValue;
use trace_meta::carrier::TRACE_CONTEXT_KEYS;

/// What one line of the stream is.
#[derive(Debug)]
pub(crate) enum Line<'a> {
    /// A JSON-RPC message object.
    Message(Envelope<'a>),
    /// A JSON array: a JSON-RPC batch, relayed for the receiver to refuse.
    Batch,
    /// Only whitespace.
    Blank,
    /// JSON, but not a message object (a bare value, or an object with duplicate fields).
    OtherJson,
    /// Not JSON at all (or not UTF-8).
    NotJson,
}

/// The fields of a JSON-RPC message the proxy looks at, borrowed from the line.
#[derive(Debug, Deserialize)]
pub(crate) struct Envelope<'a> {
    /// Request or response id (absent in notifications; `null` reads as absent).
    #[serde(borrow, default)]
    pub id: Option<&'a RawValue>,
    /// Method of a request or notification.
    #[serde(borrow, default)]
    pub method: Option<Cow<'a, str>>,
    /// Parameters of a request or notification.
    #[serde(borrow, default)]
    pub params: Option<&'a RawValue>,
    /// Result of a successful response.
    #[serde(borrow, default)]
    pub result: Option<&'a RawValue>,
    /// Error of a failed response.
    #[serde(borrow, default)]
    pub error: Option<&'a RawValue>,
}

/// The kinds of JSON-RPC message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Has `method` and `id`.
    Request,
    /// Has `method`, no `id`.
    Notification,
    /// Has `id` and `result` or `error`, no `method`.
    Response,
    /// None of the above; relayed as it is.
    Unknown,
}

impl Envelope<'_> {
    /// Which kind of message this is.
    pub(crate) fn kind(&self) -> Kind {
        match (&self.method, &self.id) {
            (Some(_), Some(_)) => Kind::Request,
            (Some(_), None) => Kind::Notification,
            (None, Some(_)) if self.result.is_some() || self.error.is_some() => Kind::Response,
            _ => Kind::Unknown,
        }
    }
}

/// Classifies one line (its trailing newline may be included).
pub(crate) fn classify(line: &[u8]) -> Line<'_> {
    let Ok(text) = std::str::from_utf8(line) else {
        return Line::NotJson;
    };
    match text.trim_start().as_bytes().first() {
        None => Line::Blank,
        Some(b'[') => Line::Batch,
        Some(b'{') => match serde_json::from_str::<Envelope<'_>>(text) {
            Ok(envelope) => Line::Message(envelope),
            Err(_) if serde_json::from_str::<IgnoredAny>(text).is_ok() => Line::OtherJson,
            Err(_) => Line::NotJson,
        },
        Some(_) if serde_json::from_str::<IgnoredAny>(text).is_ok() => Line::OtherJson,
        Some(_) => Line::NotJson,
    }
}

/// The canonical text of a JSON value (ids, progress tokens), for matching a response to
/// its request: `7`, `"7"` and `"a"` stay distinct, insignificant whitespace does not count.
pub(crate) fn canonical(raw: &RawValue) -> String {
    serde_json::from_str::<serde_json::Value>(raw.get())
        .map(|value| value.to_string())
        .unwrap_or_else(|_| raw.get().to_owned())
}

/// `jsonrpc.request.id` of an id: a string id's value, a number's text.
pub(crate) fn id_attribute(raw: &RawValue) -> String {
    match serde_json::from_str::<serde_json::Value>(raw.get()) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => raw.get().to_owned(),
    }
}

/// The members of a JSON object in their order, each with its value's raw text.
///
/// Built by [`ObjectMembers::parse`]; duplicates are kept, as they were written.
#[derive(Debug, Default)]
pub(crate) struct ObjectMembers<'a> {
    /// `(key, value)` in document order.
    pub members: Vec<(Cow<'a, str>, &'a RawValue)>,
}

impl<'a> ObjectMembers<'a> {
    /// Parses `raw` as an object; `None` when it is not one.
    pub(crate) fn parse(raw: &'a RawValue) -> Option<Self> {
        serde_json::from_str(raw.get()).ok()
    }

    /// The value of the first member named `key`.
    pub(crate) fn get(&self, key: &str) -> Option<&'a RawValue> {
        self.members
            .iter()
            .find(|(name, _)| name == key)
            .map(|(_, value)| *value)
    }

    /// The value of `key` when it is a JSON string.
    pub(crate) fn get_str(&self, key: &str) -> Option<String> {
        self.get(key)
            .and_then(|raw| serde_json::from_str::<String>(raw.get()).ok())
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for ObjectMembers<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MembersVisitor;
        impl<'de> Visitor<'de> for MembersVisitor {
            type Value = ObjectMembers<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut members = Vec::new();
                while let Some(entry) = map.next_entry::<Cow<'de, str>, &'de RawValue>()? {
                    members.push(entry);
                }
                Ok(ObjectMembers { members })
            }
        }
        deserializer.deserialize_map(MembersVisitor)
    }
}

/// The `_meta` of a request, as found in its `params`.
#[derive(Debug, Default)]
pub(crate) struct RequestMeta<'a> {
    /// The `_meta` object's raw text, when there is one.
    pub raw: Option<&'a RawValue>,
    /// Its members.
    pub members: ObjectMembers<'a>,
}

impl<'a> RequestMeta<'a> {
    /// Finds `_meta` in a `params` object.
    pub(crate) fn of(params: &ObjectMembers<'a>) -> Self {
        let raw = params.get("_meta");
        let members = raw.and_then(ObjectMembers::parse).unwrap_or_default();
        Self { raw, members }
    }

    /// The trace-context members (`traceparent`, `tracestate`, `baggage`) whose values are
    /// strings, as a carrier for extraction.
    pub(crate) fn trace_context(&self) -> rmcp::model::MetaObject {
        let mut carrier = rmcp::model::MetaObject::default();
        for (key, value) in &self.members.members {
            if TRACE_CONTEXT_KEYS.contains(&key.as_ref())
                && let Ok(value) = serde_json::from_str::<serde_json::Value>(value.get())
            {
                carrier.insert(key.to_string(), value);
            }
        }
        carrier
    }
}

/// Byte offset of `inner` within `outer`; `inner` must be a slice of `outer`.
fn offset_in(outer: &str, inner: &str) -> usize {
    let offset = (inner.as_ptr() as usize).wrapping_sub(outer.as_ptr() as usize);
    debug_assert!(offset <= outer.len() && offset + inner.len() <= outer.len());
    offset
}

/// Returns `line` with the proxy's trace context in `params._meta`, following rules 2 to
/// 4 of the module doc; `None` when the message is to be relayed unchanged.
///
/// `trace_members` are the encoded `"key":"value"` members to write, in order. `line` is
/// the whole line the envelope was parsed from; `params` and `meta` were parsed from it.
pub(crate) fn inject_trace_context(
    line: &str,
    params: Option<&ObjectMembers<'_>>,
    params_raw: Option<&RawValue>,
    meta: &RequestMeta<'_>,
    trace_members: &[String],
) -> Option<String> {
    if trace_members.is_empty() {
        return None;
    }
    let injected = trace_members.join(",");
    let mut out = String::with_capacity(line.len() + injected.len() + 24);
    match (params_raw, params, meta.raw) {
        // No params: append them as the message's last member.
        (None, _, _) => {
            let close = line.trim_end().len().checked_sub(1)?;
            if line.as_bytes()[close] != b'}' {
                return None;
            }
            out.push_str(&line[..close]);
            out.push_str(",\"params\":{\"_meta\":{");
            out.push_str(&injected);
            out.push_str("}}");
            out.push_str(&line[close..]);
        }
        // params is not an object: leave the message alone.
        (Some(_), None, _) => return None,
        // params without _meta: append `_meta` as its last member.
        (Some(params_raw), Some(params), None) => {
            let text = params_raw.get();
            let start = offset_in(line, text);
            let close = start + text.len() - 1;
            out.push_str(&line[..close]);
            if !params.members.is_empty() {
                out.push(',');
            }
            out.push_str("\"_meta\":{");
            out.push_str(&injected);
            out.push('}');
            out.push_str(&line[close..]);
        }
        // _meta present: rebuild it from its own bytes, trace keys replaced.
        (Some(_), Some(_), Some(meta_raw)) => {
            return replace_members(
                line,
                meta_raw,
                &meta.members,
                |key| TRACE_CONTEXT_KEYS.contains(&key),
                &injected,
            );
        }
    }
    Some(out)
}

/// Returns `line` with the object `object` (a slice of it, whose members are `members`)
/// rebuilt from its own bytes: the members `drop` names removed, `injected` (encoded
/// `"key":value` members, comma-separated, or empty) written first. `None` when `object`
/// is not an object.
pub(crate) fn replace_members(
    line: &str,
    object: &RawValue,
    members: &ObjectMembers<'_>,
    drop: impl Fn(&str) -> bool,
    injected: &str,
) -> Option<String> {
    let text = object.get();
    if !text.starts_with('{') {
        // Not an object; a receiver will refuse it whatever we do.
        return None;
    }
    let start = offset_in(line, text);
    let mut out = String::with_capacity(line.len() + injected.len());
    out.push_str(&line[..start]);
    out.push('{');
    out.push_str(injected);
    // Each member's text runs from the end of the previous value (or the `{`) to the end
    // of its own value: `<ws>,<ws>"key"<ws>:<ws>value`, without the comma for the first.
    // A removed member takes its leading comma with it; a kept member has one exactly when
    // something is written before it.
    let mut previous_end = 1;
    let mut written = !injected.is_empty();
    for (index, (key, value)) in members.members.iter().enumerate() {
        let value_start = offset_in(text, value.get());
        let value_end = value_start + value.get().len();
        let member = &text[previous_end..value_end];
        previous_end = value_end;
        if drop(key) {
            continue;
        }
        if index == 0 {
            // The first member has no comma: it needs one after an injection.
            if written {
                out.push(',');
            }
            out.push_str(member);
        } else if written {
            out.push_str(member);
        } else {
            // Every member before it was dropped: it loses its comma.
            out.push_str(member.trim_start().strip_prefix(',').unwrap_or(member));
        }
        written = true;
    }
    out.push_str(&text[previous_end..]);
    out.push_str(&line[start + text.len()..]);
    Some(out)
}

/// The `name`, `uri` and `arguments` of a request's params, which name its span
/// ([`Target::params`]).
#[derive(Debug, Default)]
pub(crate) struct Target {
    /// `params.name` (tool or prompt name).
    pub name: Option<String>,
    /// `params.uri` (resource URI).
    pub uri: Option<String>,
    /// `params.arguments`, raw JSON.
    pub arguments: Option<String>,
}

impl Target {
    /// Reads them from parsed params.
    pub(crate) fn of(params: Option<&ObjectMembers<'_>>) -> Self {
        let Some(params) = params else {
            return Self::default();
        };
        Self {
            name: params.get_str("name"),
            uri: params.get_str("uri"),
            arguments: params.get("arguments").map(|raw| raw.get().to_owned()),
        }
    }

    /// As trace-meta reads them to describe the request's span.
    pub(crate) fn params(&self) -> trace_meta::RequestParams<'_> {
        trace_meta::RequestParams {
            name: self.name.as_deref(),
            uri: self.uri.as_deref(),
            arguments: self.arguments.as_deref(),
        }
    }
}

/// A JSON-RPC error object's code and message.
#[derive(Debug, Deserialize)]
pub(crate) struct ErrorObject {
    /// The error code.
    #[serde(default)]
    pub code: Option<i64>,
    /// The message.
    #[serde(default)]
    pub message: Option<String>,
}

/// What the span of a `tools/call` records from its result.
#[derive(Debug, Deserialize)]
pub(crate) struct ToolResult {
    /// The content items.
    #[serde(default)]
    pub content: Vec<ContentItem>,
    /// `isError`.
    #[serde(default, rename = "isError")]
    pub is_error: Option<bool>,
    /// `structuredContent`, raw.
    #[serde(default, rename = "structuredContent")]
    pub structured_content: Option<Box<RawValue>>,
}

/// One content item of a tool result; only text is read.
#[derive(Debug, Deserialize)]
pub(crate) struct ContentItem {
    /// The item's text, for `type: text`.
    #[serde(default)]
    pub text: Option<String>,
}

impl ToolResult {
    /// The text items joined by newlines; structured content when there is no text
    /// (as `trace_meta::tool_result_text` does).
    pub(crate) fn text(&self) -> String {
        let texts: Vec<&str> = self
            .content
            .iter()
            .filter_map(|item| item.text.as_deref())
            .collect();
        if let (true, Some(structured)) = (texts.is_empty(), &self.structured_content) {
            return structured.get().to_owned();
        }
        texts.join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the edit the proxy makes to a request line.
    fn edit(line: &str) -> Option<String> {
        let Line::Message(envelope) = classify(line.as_bytes()) else {
            panic!("not a message: {line}");
        };
        let params = envelope.params.and_then(ObjectMembers::parse);
        let meta = params.as_ref().map(RequestMeta::of).unwrap_or_default();
        inject_trace_context(
            line,
            params.as_ref(),
            envelope.params,
            &meta,
            &[r#""traceparent":"NEW""#.to_owned()],
        )
    }

    #[test]
    fn replaces_trace_keys_and_keeps_every_other_byte() {
        let line = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","arguments":{"s":"caf\u00e9","n":1.0e3},"_meta":{"progressToken":"p","traceparent":"OLD","tracestate":"a=b","com.example/k":{"z":1,"a":2}}}}"#;
        assert_eq!(
            edit(line).unwrap(),
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","arguments":{"s":"caf\u00e9","n":1.0e3},"_meta":{"traceparent":"NEW","progressToken":"p","com.example/k":{"z":1,"a":2}}}}"#
        );
    }

    #[test]
    fn trace_key_first_or_alone() {
        assert_eq!(
            edit(r#"{"id":1,"method":"m","params":{"_meta":{"traceparent":"OLD","x":1}}}"#)
                .unwrap(),
            r#"{"id":1,"method":"m","params":{"_meta":{"traceparent":"NEW","x":1}}}"#
        );
        assert_eq!(
            edit(r#"{"id":1,"method":"m","params":{"_meta":{"traceparent":"OLD"}}}"#).unwrap(),
            r#"{"id":1,"method":"m","params":{"_meta":{"traceparent":"NEW"}}}"#
        );
        assert_eq!(
            edit(r#"{"id":1,"method":"m","params":{"_meta":{}}}"#).unwrap(),
            r#"{"id":1,"method":"m","params":{"_meta":{"traceparent":"NEW"}}}"#
        );
    }

    #[test]
    fn whitespace_is_kept_around_kept_members() {
        assert_eq!(
            edit("{ \"id\" : 1 , \"method\" : \"m\" , \"params\" : { \"_meta\" : { \"a\" : 1 , \"traceparent\" : \"OLD\" , \"b\" : 2 } } }\r\n").unwrap(),
            "{ \"id\" : 1 , \"method\" : \"m\" , \"params\" : { \"_meta\" : {\"traceparent\":\"NEW\", \"a\" : 1 , \"b\" : 2 } } }\r\n"
        );
    }

    #[test]
    fn adds_meta_and_params_where_missing() {
        assert_eq!(
            edit(r#"{"jsonrpc":"2.0","id":"a","method":"tools/list"}"#).unwrap(),
            r#"{"jsonrpc":"2.0","id":"a","method":"tools/list","params":{"_meta":{"traceparent":"NEW"}}}"#
        );
        assert_eq!(
            edit("{\"id\":2,\"method\":\"tools/list\",\"params\":{}}\n").unwrap(),
            "{\"id\":2,\"method\":\"tools/list\",\"params\":{\"_meta\":{\"traceparent\":\"NEW\"}}}\n"
        );
        assert_eq!(
            edit(r#"{"id":2,"method":"tools/call","params":{"name":"x"}}"#).unwrap(),
            r#"{"id":2,"method":"tools/call","params":{"name":"x","_meta":{"traceparent":"NEW"}}}"#
        );
        assert_eq!(edit(r#"{"id":2,"method":"m","params":[1,2]}"#), None);
        assert_eq!(edit(r#"{"id":2,"method":"m","params":{"_meta":7}}"#), None);
    }

    #[test]
    fn members_are_removed_with_their_commas_and_replaced_first() {
        let edit = |line: &str, injected: &str| {
            let envelope: Envelope<'_> = serde_json::from_str(line).unwrap();
            let result = ObjectMembers::parse(envelope.result.unwrap()).unwrap();
            let meta = result.get("_meta").unwrap();
            let members = ObjectMembers::parse(meta).unwrap();
            replace_members(
                line,
                meta,
                &members,
                |k| k == "otel" || k == "x/y",
                injected,
            )
            .unwrap()
        };
        let line =
            r#"{"id":1,"result":{"_meta":{"a":1.0e3, "otel":{"t":[1]},"b":"\u00e9"},"n":2}}"#;
        assert_eq!(
            edit(line, ""),
            r#"{"id":1,"result":{"_meta":{"a":1.0e3,"b":"\u00e9"},"n":2}}"#
        );
        let first = r#"{"id":1,"result":{"_meta":{"otel":{}, "x/y":[], "b":2}}}"#;
        assert_eq!(edit(first, ""), r#"{"id":1,"result":{"_meta":{ "b":2}}}"#);
        let only = r#"{"id":1,"result":{"_meta":{"otel":{},"x/y":[]}}}"#;
        assert_eq!(edit(only, ""), r#"{"id":1,"result":{"_meta":{}}}"#);
        assert_eq!(
            edit(first, r#""otel":{"new":true}"#),
            r#"{"id":1,"result":{"_meta":{"otel":{"new":true}, "b":2}}}"#
        );
        assert_eq!(
            edit(line, r#""otel":0"#),
            r#"{"id":1,"result":{"_meta":{"otel":0,"a":1.0e3,"b":"\u00e9"},"n":2}}"#
        );
    }

    #[test]
    fn classifies_lines() {
        assert!(matches!(classify(b"  \n"), Line::Blank));
        assert!(matches!(classify(b"[{\"id\":1}]"), Line::Batch));
        assert!(matches!(classify(b"hello"), Line::NotJson));
        assert!(matches!(classify(b"{\"id\":1,"), Line::NotJson));
        assert!(matches!(classify(b"\xff\xfe"), Line::NotJson));
        assert!(matches!(classify(b"{\"id\":1,\"id\":2}"), Line::OtherJson));
        assert!(matches!(classify(b"42"), Line::OtherJson));
        let Line::Message(m) = classify(b"{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"x\"}")
        else {
            panic!()
        };
        assert_eq!(m.kind(), Kind::Notification);
        let Line::Message(m) = classify(b"{\"id\":3,\"result\":{}}") else {
            panic!()
        };
        assert_eq!(m.kind(), Kind::Response);
    }

    #[test]
    fn ids_match_by_value() {
        let raw = |s: &str| RawValue::from_string(s.to_owned()).unwrap();
        assert_eq!(canonical(&raw("7")), canonical(&raw("7")));
        assert_ne!(canonical(&raw("7")), canonical(&raw("\"7\"")));
        assert_eq!(id_attribute(&raw("\"abc\"")), "abc");
        assert_eq!(id_attribute(&raw("12")), "12");
    }
}
