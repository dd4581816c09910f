//! One span flattened out of OTLP: the span model of the view, of the host's test suites
//! and of the workspace's loopback test backend.
//!
//! OTLP nests a span in its scope and its scope in its resource, with ids as bytes and
//! values as a tagged union. Whoever reads spans wants each one on its own: ids in hex,
//! the service that sent it, its attributes as plain values. [`rows`] is the one place
//! that turns OTLP (`ResourceSpans`, from an OTLP/JSON file through
//! [`load_otlp_json`](crate::load_otlp_json) or from a protobuf request) into [`Span`]s.

pub use opentelemetry_proto::tonic::trace::v1::{span::SpanKind, status::StatusCode};
use opentelemetry_proto::tonic::{
    common::v1::{AnyValue, KeyValue, any_value},
    resource::v1::Resource,
    trace::v1::{self as otlp, ResourceSpans},
};
use serde_json::{Map, Value};

use crate::{attr, hex};

/// Attributes by key, values as JSON (see [`any_json`]), in the order the span gave them.
pub type Attributes = Map<String, Value>;

/// One span, flattened out of its resource and scope.
#[derive(Debug, Clone, PartialEq)]
pub struct Span {
    /// The trace id, lower-case hex (32 digits in a well-formed span).
    pub trace_id: String,
    /// The span id, lower-case hex (16 digits in a well-formed span).
    pub span_id: String,
    /// The parent's span id, lower-case hex; empty for a root.
    pub parent_span_id: String,
    /// The W3C `tracestate` the span carried; usually empty.
    pub trace_state: String,
    /// The span's name.
    pub name: String,
    /// SERVER, CLIENT, INTERNAL...; a number OTLP does not know reads as `Unspecified`.
    pub kind: SpanKind,
    /// Start, nanoseconds since the Unix epoch.
    pub start: u64,
    /// End, nanoseconds since the Unix epoch.
    pub end: u64,
    /// The status code: unset, OK or error.
    pub status_code: StatusCode,
    /// The status message; empty unless the span set one.
    pub status_message: String,
    /// `service.name` of its resource (`unknown` without one).
    pub service: String,
    /// Every attribute of its resource (`service.name`, `process.pid`...).
    pub resource: Attributes,
    /// Its instrumentation scope: `name` or `name version`.
    pub scope: String,
    /// The span's attributes.
    pub attributes: Attributes,
    /// Its events, in the order recorded.
    pub events: Vec<Event>,
    /// Its links to other spans.
    pub links: Vec<Link>,
    /// Where it sits in the `ResourceSpans` [`rows`] read it from.
    pub origin: Origin,
}

/// An event of a span: something that happened at an instant during it.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The event's name.
    pub name: String,
    /// When, nanoseconds since the Unix epoch.
    pub time: u64,
    /// Its attributes.
    pub attributes: Attributes,
}

/// A link from a span to another span, of the same trace or another.
#[derive(Debug, Clone, PartialEq)]
pub struct Link {
    /// The linked span's trace id, lower-case hex.
    pub trace_id: String,
    /// The linked span's id, lower-case hex.
    pub span_id: String,
    /// The link's attributes.
    pub attributes: Attributes,
}

/// Indices of a span in the `ResourceSpans` [`rows`] read it from:
/// `resource_spans[resource].scope_spans[scope].spans[span]`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Origin {
    /// Index of its `ResourceSpans`.
    pub resource: usize,
    /// Index of its `ScopeSpans` within the resource.
    pub scope: usize,
    /// Index of the span within the scope.
    pub span: usize,
}

impl Default for Span {
    fn default() -> Self {
        Self {
            trace_id: String::new(),
            span_id: String::new(),
            parent_span_id: String::new(),
            trace_state: String::new(),
            name: String::new(),
            kind: SpanKind::Unspecified,
            start: 0,
            end: 0,
            status_code: StatusCode::Unset,
            status_message: String::new(),
            service: UNKNOWN_SERVICE.to_owned(),
            resource: Attributes::new(),
            scope: String::new(),
            attributes: Attributes::new(),
            events: Vec::new(),
            links: Vec::new(),
            origin: Origin::default(),
        }
    }
}

/// The service of a resource without `service.name`.
const UNKNOWN_SERVICE: &str = "unknown";

impl Span {
    /// Flattens one OTLP span of the resource `resource` and the scope `scope`; `origin`
    /// says where it was found.
    pub fn from_otlp(
        span: &otlp::Span,
        resource: Option<&Resource>,
        scope: &str,
        origin: Origin,
    ) -> Self {
        let status = span.status.as_ref();
        Self {
            trace_id: hex(&span.trace_id),
            span_id: hex(&span.span_id),
            parent_span_id: hex(&span.parent_span_id),
            trace_state: span.trace_state.clone(),
            name: span.name.clone(),
            kind: SpanKind::try_from(span.kind).unwrap_or(SpanKind::Unspecified),
            start: span.start_time_unix_nano,
            end: span.end_time_unix_nano,
            status_code: status
                .and_then(|s| StatusCode::try_from(s.code).ok())
                .unwrap_or(StatusCode::Unset),
            status_message: status.map(|s| s.message.clone()).unwrap_or_default(),
            service: service_name(resource),
            resource: resource
                .map(|r| attributes(&r.attributes))
                .unwrap_or_default(),
            scope: scope.to_owned(),
            attributes: attributes(&span.attributes),
            events: span
                .events
                .iter()
                .map(|e| Event {
                    name: e.name.clone(),
                    time: e.time_unix_nano,
                    attributes: attributes(&e.attributes),
                })
                .collect(),
            links: span
                .links
                .iter()
                .map(|l| Link {
                    trace_id: hex(&l.trace_id),
                    span_id: hex(&l.span_id),
                    attributes: attributes(&l.attributes),
                })
                .collect(),
            origin,
        }
    }

    /// How long it took in nanoseconds (0 when its end is before its start).
    pub fn duration(&self) -> u64 {
        self.end.saturating_sub(self.start)
    }

    /// Whether its status is ERROR.
    pub fn is_error(&self) -> bool {
        self.status_code == StatusCode::Error
    }

    /// The attribute `key`, if the span has it.
    pub fn attribute(&self, key: &str) -> Option<&Value> {
        self.attributes.get(key)
    }

    /// The attribute `key` as text (see [`text`]).
    pub fn attribute_text(&self, key: &str) -> Option<String> {
        self.attribute(key).map(text)
    }

    /// Whether any attribute's key or value (as text) contains `needle`: for checks that
    /// something, a secret say, appears nowhere in the span.
    pub fn mentions(&self, needle: &str) -> bool {
        self.attributes
            .iter()
            .any(|(key, value)| key.contains(needle) || text(value).contains(needle))
    }

    /// `process.pid` of its resource: the process that recorded it.
    pub fn pid(&self) -> Option<i64> {
        self.resource.get(attr::PROCESS_PID).and_then(Value::as_i64)
    }

    /// The event named `name`, the first if there are several.
    pub fn event(&self, name: &str) -> Option<&Event> {
        self.events.iter().find(|e| e.name == name)
    }

    /// `confident.span.type` (`agent`, `tool`, `llm`), when set.
    pub fn span_type(&self) -> Option<String> {
        self.attribute_text(attr::CONFIDENT_SPAN_TYPE)
    }

    /// `confident.trace.name`, when set (on the root).
    pub fn trace_name(&self) -> Option<String> {
        self.attribute_text(attr::CONFIDENT_TRACE_NAME)
    }

    /// `gen_ai.tool.name` of a CLIENT span: the caller's side of a tool call.
    pub fn called_tool(&self) -> Option<String> {
        (self.kind == SpanKind::Client)
            .then(|| self.attribute_text(attr::GEN_AI_TOOL_NAME))
            .flatten()
    }

    /// The status message of a span whose status is ERROR.
    pub fn error(&self) -> Option<&str> {
        self.is_error().then_some(self.status_message.as_str())
    }
}

impl Event {
    /// The attribute `key` as text (see [`text`]).
    pub fn attribute_text(&self, key: &str) -> Option<String> {
        self.attributes.get(key).map(text)
    }
}

/// Flattens everything received into spans, in the order they came.
pub fn rows(resource_spans: &[ResourceSpans]) -> Vec<Span> {
    let mut rows = Vec::new();
    for (r, resource) in resource_spans.iter().enumerate() {
        for (s, scope) in resource.scope_spans.iter().enumerate() {
            let scope_name = scope.scope.as_ref().map_or_else(String::new, |s| {
                if s.version.is_empty() {
                    s.name.clone()
                } else {
                    format!("{} {}", s.name, s.version)
                }
            });
            for (i, span) in scope.spans.iter().enumerate() {
                let origin = Origin {
                    resource: r,
                    scope: s,
                    span: i,
                };
                rows.push(Span::from_otlp(
                    span,
                    resource.resource.as_ref(),
                    &scope_name,
                    origin,
                ));
            }
        }
    }
    rows
}

/// `service.name` of a resource, `unknown` without one.
pub fn service_name(resource: Option<&Resource>) -> String {
    resource
        .and_then(|r| r.attributes.iter().find(|kv| kv.key == attr::SERVICE_NAME))
        .map(|kv| any_json(kv.value.as_ref()))
        .map_or_else(|| UNKNOWN_SERVICE.to_owned(), |v| text(&v))
}

/// OTLP attributes as a map; a key given twice keeps its last value.
pub fn attributes(list: &[KeyValue]) -> Attributes {
    list.iter()
        .map(|kv| (kv.key.clone(), any_json(kv.value.as_ref())))
        .collect()
}

/// An OTLP value as JSON: strings, booleans and numbers as themselves, arrays as arrays,
/// key-value lists as objects, bytes as hex; a double that JSON cannot hold (NaN, ±∞) as
/// its text, and no value as `null`.
pub fn any_json(value: Option<&AnyValue>) -> Value {
    let Some(value) = value.and_then(|v| v.value.as_ref()) else {
        return Value::Null;
    };
    match value {
        any_value::Value::StringValue(s) => Value::String(s.clone()),
        any_value::Value::BoolValue(b) => Value::Bool(*b),
        any_value::Value::IntValue(i) => Value::from(*i),
        any_value::Value::DoubleValue(d) => serde_json::Number::from_f64(*d)
            .map_or_else(|| Value::String(d.to_string()), Value::Number),
        any_value::Value::ArrayValue(array) => {
            Value::Array(array.values.iter().map(|v| any_json(Some(v))).collect())
        }
        any_value::Value::KvlistValue(list) => Value::Object(attributes(&list.values)),
        any_value::Value::BytesValue(bytes) => Value::String(hex(bytes)),
        // Other value kinds (string references of the profiles signal) carry no text.
        #[allow(unreachable_patterns)]
        _ => Value::Null,
    }
}

/// A value as text: a string as itself, a number as Rust prints it (`7`, `0.5`, `1`), a
/// boolean as `true` or `false`, anything else as JSON.
pub fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => i.to_string(),
            (None, Some(f)) => f.to_string(),
            _ => n.to_string(),
        },
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::{
        common::v1::{ArrayValue, InstrumentationScope},
        trace::v1::{ScopeSpans, Status, span},
    };

    fn kv(key: &str, value: any_value::Value) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(AnyValue { value: Some(value) }),
            ..KeyValue::default()
        }
    }

    #[test]
    fn a_span_is_flattened_with_its_resource_and_scope() {
        use any_value::Value as V;
        let resource = Resource {
            attributes: vec![
                kv("service.name", V::StringValue("db-server".into())),
                kv("process.pid", V::IntValue(4242)),
            ],
            ..Resource::default()
        };
        let span = otlp::Span {
            trace_id: vec![0xab; 16],
            span_id: vec![1; 8],
            parent_span_id: vec![2; 8],
            name: "tool-query_database".into(),
            kind: SpanKind::Client as i32,
            start_time_unix_nano: 10,
            end_time_unix_nano: 25,
            attributes: vec![
                kv("gen_ai.tool.name", V::StringValue("query_database".into())),
                kv("n", V::IntValue(i64::MAX)),
                kv("ratio", V::DoubleValue(0.5)),
                kv("nan", V::DoubleValue(f64::NAN)),
                kv(
                    "list",
                    V::ArrayValue(ArrayValue {
                        values: vec![AnyValue {
                            value: Some(V::BoolValue(true)),
                        }],
                    }),
                ),
                kv("bytes", V::BytesValue(vec![0xca, 0xfe])),
            ],
            events: vec![span::Event {
                name: "retry".into(),
                time_unix_nano: 12,
                attributes: vec![kv("attempt", V::IntValue(2))],
                ..span::Event::default()
            }],
            status: Some(Status {
                code: StatusCode::Error as i32,
                message: "locked".into(),
            }),
            ..otlp::Span::default()
        };
        let resource_spans = [ResourceSpans {
            resource: Some(resource),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "trace-meta".into(),
                    version: "0.1.0".into(),
                    ..InstrumentationScope::default()
                }),
                spans: vec![otlp::Span::default(), span],
                ..ScopeSpans::default()
            }],
            ..ResourceSpans::default()
        }];
        let spans = rows(&resource_spans);
        let flat = &spans[1];
        assert_eq!(flat.trace_id, "ab".repeat(16));
        assert_eq!(flat.span_id, "0101010101010101");
        assert_eq!(flat.parent_span_id, "0202020202020202");
        assert_eq!(flat.kind, SpanKind::Client);
        assert_eq!(flat.duration(), 15);
        assert_eq!(flat.service, "db-server");
        assert_eq!(flat.pid(), Some(4242));
        assert_eq!(flat.scope, "trace-meta 0.1.0");
        assert_eq!(flat.error(), Some("locked"));
        assert_eq!(flat.called_tool().as_deref(), Some("query_database"));
        assert_eq!(flat.attributes["n"], i64::MAX);
        assert_eq!(flat.attribute_text("ratio").as_deref(), Some("0.5"));
        assert_eq!(flat.attributes["nan"], "NaN");
        assert_eq!(flat.attributes["list"], serde_json::json!([true]));
        assert_eq!(flat.attributes["bytes"], "cafe");
        assert!(flat.mentions("query_dat") && flat.mentions("ratio") && !flat.mentions("zz"));
        let retry = flat.event("retry").unwrap();
        assert_eq!(
            (retry.time, retry.attribute_text("attempt")),
            (12, Some("2".into()))
        );
        assert_eq!(
            flat.origin,
            Origin {
                resource: 0,
                scope: 0,
                span: 1
            }
        );
        // Nothing set: no service, no kind, no status.
        let empty = &spans[0];
        assert_eq!(
            (empty.service.as_str(), empty.kind, empty.is_error()),
            ("db-server", SpanKind::Unspecified, false)
        );
        assert_eq!(service_name(None), "unknown");
    }
}
