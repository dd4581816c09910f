//! The client side: checks the spans a server returned and queues them to the process's
//! destinations under the server's resource.

use std::{
    borrow::Cow,
    collections::HashMap,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use opentelemetry::{
    Array, InstrumentationScope, KeyValue, StringValue, Value as OtelValue,
    trace::{Event, Link, SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState},
};
use opentelemetry_proto::tonic::{
    common::v1::{AnyValue, KeyValue as ProtoKeyValue, any_value},
    trace::v1::{ResourceSpans, Span as ProtoSpan},
};
use opentelemetry_sdk::{
    Resource,
    trace::{SpanData, SpanEvents, SpanLinks},
};
use serde::Deserialize as _;
use serde_json::{Map, Value};

use super::{
    EXPORTED_META_KEY, MAX_INGESTED_BYTES, MAX_INGESTED_SPANS, META_KEY, destinations, fingerprint,
    json_len,
};

/// Attributes, events and links kept per span (OpenTelemetry's default span limits, which
/// SEP-2448 names as the baseline).
const MAX_PER_SPAN: usize = 128;

/// What [`ingest`] did with the spans of one answer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Ingested {
    /// Spans that passed the checks.
    pub spans: usize,
    /// Destinations they were queued to.
    pub queued: usize,
    /// Destinations left out because the server exports the spans there itself.
    pub already_there: usize,
}

/// Why the spans of an answer were dropped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Rejected {
    /// More JSON than a client takes from one answer.
    #[error("over {limit} bytes of spans")]
    TooLarge {
        /// The limit ([`MAX_INGESTED_BYTES`]).
        limit: usize,
    },
    /// More spans than a client takes from one answer.
    #[error("{spans} spans, over the limit of {limit}")]
    TooMany {
        /// How many were returned.
        spans: usize,
        /// The limit ([`MAX_INGESTED_SPANS`]).
        limit: usize,
    },
    /// Not OTLP/JSON `resourceSpans`; what the parser said is its `source()`.
    #[error("not OTLP/JSON resourceSpans")]
    Malformed(#[source] ParseFailure),
    /// A `resourceSpans` entry names no `service.name`.
    #[error("a resource without service.name")]
    NoServiceName,
    /// A span of another trace.
    #[error("span {span} is in trace {trace}, not the call's")]
    OtherTrace {
        /// The span's id, as sent.
        span: String,
        /// Its trace id, as sent.
        trace: String,
    },
    /// A span whose parent chain does not end at the call's span (or loops).
    #[error("span {span} does not descend from the call's span")]
    OutsideCall {
        /// The span's id, as sent.
        span: String,
    },
    /// The same span id twice, or the call's own span id.
    #[error("span id {span} is not unique")]
    Duplicate {
        /// The span's id, as sent.
        span: String,
    },
}

/// Why returned spans are not OTLP/JSON, as the parser said it (its text: the parser's
/// error itself is not kept, so that its type is not part of this crate's API).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseFailure(String);

impl ParseFailure {
    /// The parser's message.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Takes the spans a server returned in the `_meta` of an answer to the request whose
/// CLIENT span is `call`, checks them (see the module doc of [`span_return`](super)), and
/// queues them to this process's destinations under the server's resource, leaving out any
/// destination the server says it exports to itself.
///
/// `None` when the answer carries no spans; `Some(Err(_))` when they were dropped, for the
/// caller to report. The answer itself is not touched.
pub fn ingest(meta: &Map<String, Value>, call: &SpanContext) -> Option<Result<Ingested, Rejected>> {
    let payload = meta.get(META_KEY)?.get("traces")?.get("resourceSpans")?;
    let checked = check(payload, call);
    Some(checked.map(|returned| {
        let exported_to: Vec<&str> = meta
            .get(EXPORTED_META_KEY)
            .and_then(Value::as_array)
            .map(|list| list.iter().take(16).filter_map(Value::as_str).collect())
            .unwrap_or_default();
        queue(returned, call.trace_id(), &exported_to)
    }))
}

/// Spans of one resource, checked and converted.
struct Returned {
    resource: Resource,
    spans: Vec<SpanData>,
}

fn queue(returned: Vec<Returned>, trace_id: TraceId, exported_to: &[&str]) -> Ingested {
    let spans = returned.iter().map(|r| r.spans.len()).sum();
    let mut ingested = Ingested {
        spans,
        queued: 0,
        already_there: 0,
    };
    let Some(destinations) = destinations() else {
        return ingested;
    };
    for target in &destinations.targets {
        if exported_to.contains(&fingerprint(trace_id, target.identity()).as_str()) {
            ingested.already_there += 1;
            continue;
        }
        for group in &returned {
            target.import(group.resource.clone(), group.spans.clone());
        }
        ingested.queued += 1;
    }
    ingested
}

/// The checks, then the conversion.
fn check(payload: &Value, call: &SpanContext) -> Result<Vec<Returned>, Rejected> {
    if json_len(payload, MAX_INGESTED_BYTES).is_none() {
        return Err(Rejected::TooLarge {
            limit: MAX_INGESTED_BYTES,
        });
    }
    let groups = Vec::<ResourceSpans>::deserialize(payload)
        .map_err(|error| Rejected::Malformed(ParseFailure(error.to_string())))?;
    let count: usize = groups
        .iter()
        .flat_map(|g| &g.scope_spans)
        .map(|s| s.spans.len())
        .sum();
    if count > MAX_INGESTED_SPANS {
        return Err(Rejected::TooMany {
            spans: count,
            limit: MAX_INGESTED_SPANS,
        });
    }
    lineage(&groups, call)?;
    groups
        .into_iter()
        .map(|group| {
            let attributes = group
                .resource
                .map(|r| r.attributes)
                .unwrap_or_default()
                .into_iter()
                .take(MAX_PER_SPAN)
                .filter_map(key_value);
            let resource = Resource::builder_empty()
                .with_attributes(attributes)
                .build();
            if resource.get(&"service.name".into()).is_none() {
                return Err(Rejected::NoServiceName);
            }
            let spans = group
                .scope_spans
                .into_iter()
                .flat_map(|scope_spans| {
                    let scope = scope_spans.scope.map_or_else(
                        || InstrumentationScope::builder("").build(),
                        |scope| {
                            InstrumentationScope::builder(scope.name)
                                .with_version(scope.version)
                                .build()
                        },
                    );
                    scope_spans
                        .spans
                        .into_iter()
                        .map(move |span| span_data(span, scope.clone(), call))
                })
                .collect();
            Ok(Returned { resource, spans })
        })
        .collect()
}

/// Every span in the call's trace, unique, and descending from the call's span.
fn lineage(groups: &[ResourceSpans], call: &SpanContext) -> Result<(), Rejected> {
    let call_span = call.span_id().to_bytes();
    let call_trace = call.trace_id().to_bytes();
    let spans: Vec<&ProtoSpan> = groups
        .iter()
        .flat_map(|g| &g.scope_spans)
        .flat_map(|s| &s.spans)
        .collect();
    let mut parents: HashMap<&[u8], &[u8]> = HashMap::with_capacity(spans.len());
    for span in &spans {
        if span.trace_id.as_slice() != call_trace.as_slice() {
            return Err(Rejected::OtherTrace {
                span: hex(&span.span_id),
                trace: hex(&span.trace_id),
            });
        }
        if span.span_id.len() != 8
            || span.span_id.iter().all(|b| *b == 0)
            || span.span_id.as_slice() == call_span.as_slice()
            || parents
                .insert(&span.span_id, &span.parent_span_id)
                .is_some()
        {
            return Err(Rejected::Duplicate {
                span: hex(&span.span_id),
            });
        }
    }
    for span in &spans {
        let mut parent: &[u8] = &span.parent_span_id;
        // A chain longer than the spans there are loops.
        let mut steps = 0;
        while parent != call_span.as_slice() {
            steps += 1;
            match parents.get(parent) {
                Some(next) if steps <= spans.len() => parent = next,
                _ => {
                    return Err(Rejected::OutsideCall {
                        span: hex(&span.span_id),
                    });
                }
            }
        }
    }
    Ok(())
}

/// One checked span as the SDK's exporters take it.
fn span_data(span: ProtoSpan, scope: InstrumentationScope, call: &SpanContext) -> SpanData {
    let id = |bytes: &[u8]| SpanId::from_bytes(bytes.try_into().unwrap_or_default());
    let span_id = id(&span.span_id);
    let parent_span_id = id(&span.parent_span_id);
    let trace_state = span.trace_state.parse().unwrap_or(TraceState::NONE);
    let mut events = SpanEvents::default();
    events.events = span
        .events
        .into_iter()
        .take(MAX_PER_SPAN)
        .map(|event| {
            Event::new(
                event.name,
                time(event.time_unix_nano),
                attributes(event.attributes),
                event.dropped_attributes_count,
            )
        })
        .collect();
    let mut links = SpanLinks::default();
    links.links = span
        .links
        .into_iter()
        .take(MAX_PER_SPAN)
        .filter_map(|link| {
            let trace: [u8; 16] = link.trace_id.as_slice().try_into().ok()?;
            let context = SpanContext::new(
                TraceId::from_bytes(trace),
                id(&link.span_id),
                TraceFlags::SAMPLED,
                true,
                link.trace_state.parse().unwrap_or(TraceState::NONE),
            );
            Some(Link::new(
                context,
                attributes(link.attributes),
                link.dropped_attributes_count,
            ))
        })
        .collect();
    let status = match span.status {
        Some(status) if status.code == 2 => Status::error(status.message),
        Some(status) if status.code == 1 => Status::Ok,
        _ => Status::Unset,
    };
    SpanData {
        span_context: SpanContext::new(
            call.trace_id(),
            span_id,
            TraceFlags::SAMPLED,
            false,
            trace_state,
        ),
        parent_span_id,
        parent_span_is_remote: parent_span_id == call.span_id(),
        span_kind: match span.kind {
            2 => SpanKind::Server,
            3 => SpanKind::Client,
            4 => SpanKind::Producer,
            5 => SpanKind::Consumer,
            _ => SpanKind::Internal,
        },
        name: Cow::Owned(span.name),
        start_time: time(span.start_time_unix_nano),
        end_time: time(span.end_time_unix_nano),
        dropped_attributes_count: span
            .dropped_attributes_count
            .saturating_add(span.attributes.len().saturating_sub(MAX_PER_SPAN) as u32),
        attributes: attributes(span.attributes),
        events,
        links,
        status,
        instrumentation_scope: scope,
    }
}

fn time(nanos: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_nanos(nanos)
}

fn attributes(list: Vec<ProtoKeyValue>) -> Vec<KeyValue> {
    list.into_iter()
        .take(MAX_PER_SPAN)
        .filter_map(key_value)
        .collect()
}

fn key_value(pair: ProtoKeyValue) -> Option<KeyValue> {
    Some(KeyValue::new(pair.key, value(pair.value?)?))
}

/// An OTLP value as an attribute value: scalars and arrays of one scalar type as they are,
/// anything else (maps, bytes, mixed arrays) as its OTLP/JSON text.
fn value(any: AnyValue) -> Option<OtelValue> {
    use any_value::Value as V;
    Some(match any.value? {
        V::StringValue(s) => OtelValue::from(s),
        V::BoolValue(b) => OtelValue::Bool(b),
        V::IntValue(i) => OtelValue::I64(i),
        V::DoubleValue(d) => OtelValue::F64(d),
        V::ArrayValue(array) => {
            let items: Vec<Option<V>> = array.values.iter().map(|v| v.value.clone()).collect();
            let strings: Option<Vec<StringValue>> = items
                .iter()
                .map(|v| match v {
                    Some(V::StringValue(s)) => Some(StringValue::from(s.clone())),
                    _ => None,
                })
                .collect();
            let bools: Option<Vec<bool>> = items
                .iter()
                .map(|v| match v {
                    Some(V::BoolValue(b)) => Some(*b),
                    _ => None,
                })
                .collect();
            let ints: Option<Vec<i64>> = items
                .iter()
                .map(|v| match v {
                    Some(V::IntValue(i)) => Some(*i),
                    _ => None,
                })
                .collect();
            let doubles: Option<Vec<f64>> = items
                .iter()
                .map(|v| match v {
                    Some(V::DoubleValue(d)) => Some(*d),
                    _ => None,
                })
                .collect();
            match (strings, bools, ints, doubles) {
                (Some(s), ..) => OtelValue::Array(Array::String(s)),
                (_, Some(b), ..) => OtelValue::Array(Array::Bool(b)),
                (_, _, Some(i), _) => OtelValue::Array(Array::I64(i)),
                (.., Some(d)) => OtelValue::Array(Array::F64(d)),
                _ => OtelValue::from(serde_json::to_string(&array).ok()?),
            }
        }
        other => OtelValue::from(serde_json::to_string(&other).ok()?),
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().take(32).map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRACE: &str = "0af7651916cd43dd8448eb211c80319c";
    const CALL: &str = "b7ad6b7169203331";

    fn call() -> SpanContext {
        SpanContext::new(
            TraceId::from_hex(TRACE).unwrap(),
            SpanId::from_hex(CALL).unwrap(),
            TraceFlags::SAMPLED,
            false,
            TraceState::NONE,
        )
    }

    fn span(id: &str, parent: &str) -> Value {
        serde_json::json!({
            "traceId": TRACE, "spanId": id, "parentSpanId": parent, "name": format!("span {id}"),
            "kind": 2, "startTimeUnixNano": "1700000000000000000", "endTimeUnixNano": "1700000000100000000",
            "attributes": [
                {"key": "gen_ai.tool.name", "value": {"stringValue": "query"}},
                {"key": "db.response.returned_rows", "value": {"intValue": "3"}},
                {"key": "tags", "value": {"arrayValue": {"values": [{"stringValue": "a"}, {"stringValue": "b"}]}}},
                {"key": "mixed", "value": {"kvlistValue": {"values": [{"key": "k", "value": {"boolValue": true}}]}}}
            ],
            "status": {"code": 2, "message": "boom"}
        })
    }

    fn payload(spans: Vec<Value>) -> Map<String, Value> {
        serde_json::json!({"otel": {"traces": {"resourceSpans": [{
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "remote"}}]},
            "scopeSpans": [{"scope": {"name": "trace-meta", "version": "1"}, "spans": spans}]
        }]}}})
        .as_object()
        .unwrap()
        .clone()
    }

    #[test]
    fn a_well_formed_tree_under_the_call_is_taken_as_the_servers() {
        let meta = payload(vec![
            span("1111111111111111", CALL),
            span("2222222222222222", "1111111111111111"),
            span("3333333333333333", "2222222222222222"),
        ]);
        let Returned {
            resource, spans, ..
        } = check(&meta["otel"]["traces"]["resourceSpans"], &call())
            .unwrap()
            .remove(0);
        assert_eq!(
            resource.get(&"service.name".into()),
            Some(OtelValue::from("remote"))
        );
        assert_eq!(spans.len(), 3);
        let server = &spans[0];
        assert_eq!(server.parent_span_id, call().span_id());
        assert!(server.parent_span_is_remote);
        assert_eq!(server.span_kind, SpanKind::Server);
        assert_eq!(server.status, Status::error("boom"));
        assert_eq!(
            server.end_time.duration_since(server.start_time).unwrap(),
            Duration::from_millis(100)
        );
        let attribute = |key: &str| {
            server
                .attributes
                .iter()
                .find(|kv| kv.key.as_str() == key)
                .map(|kv| kv.value.clone())
        };
        assert_eq!(
            attribute("db.response.returned_rows"),
            Some(OtelValue::I64(3))
        );
        assert_eq!(
            attribute("tags"),
            Some(OtelValue::Array(Array::String(vec![
                "a".into(),
                "b".into()
            ])))
        );
        assert!(matches!(attribute("mixed"), Some(OtelValue::String(_))));
        assert!(!spans[2].parent_span_is_remote);
    }

    #[test]
    fn hostile_payloads_are_refused_with_the_reason() {
        let rejected = |meta: Map<String, Value>| ingest(&meta, &call()).unwrap().unwrap_err();
        let mut other = span("1111111111111111", CALL);
        other["traceId"] = "1af7651916cd43dd8448eb211c80319c".into();
        assert!(matches!(
            rejected(payload(vec![other])),
            Rejected::OtherTrace { .. }
        ));
        assert!(matches!(
            rejected(payload(vec![span("1111111111111111", "9999999999999999")])),
            Rejected::OutsideCall { .. }
        ));
        // A loop that never reaches the call.
        assert!(matches!(
            rejected(payload(vec![
                span("1111111111111111", "2222222222222222"),
                span("2222222222222222", "1111111111111111"),
            ])),
            Rejected::OutsideCall { .. }
        ));
        assert!(matches!(
            rejected(payload(vec![
                span("1111111111111111", CALL),
                span("1111111111111111", CALL),
            ])),
            Rejected::Duplicate { .. }
        ));
        assert!(matches!(
            rejected(payload(vec![span(CALL, CALL)])),
            Rejected::Duplicate { .. }
        ));
        let many: Vec<Value> = (1..=MAX_INGESTED_SPANS as u64 + 1)
            .map(|n| span(&format!("{n:016x}"), CALL))
            .collect();
        assert!(matches!(
            rejected(payload(many)),
            Rejected::TooMany { spans: 1001, .. } | Rejected::TooLarge { .. }
        ));
        let mut huge = span("1111111111111111", CALL);
        huge["name"] = "x".repeat(10 * 1024 * 1024).into();
        assert!(matches!(
            rejected(payload(vec![huge])),
            Rejected::TooLarge { .. }
        ));
        let malformed = serde_json::json!({"otel": {"traces": {"resourceSpans": "not a list"}}});
        assert!(matches!(
            rejected(malformed.as_object().unwrap().clone()),
            Rejected::Malformed(_)
        ));
        let mut base64_ids = span("1111111111111111", CALL);
        base64_ids["spanId"] = "ERERERERERE=".into();
        assert!(matches!(
            rejected(payload(vec![base64_ids])),
            Rejected::Malformed(_) | Rejected::Duplicate { .. }
        ));
        let mut nameless = payload(vec![span("1111111111111111", CALL)]);
        nameless["otel"]["traces"]["resourceSpans"][0]["resource"] = serde_json::json!({});
        assert_eq!(rejected(nameless), Rejected::NoServiceName);
        assert!(ingest(&Map::new(), &call()).is_none());
    }
}
