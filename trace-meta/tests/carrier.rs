//! The `_meta` carrier through the default propagator: round trips, hostile values, limits.

use opentelemetry::{
    Context, KeyValue,
    baggage::BaggageExt,
    propagation::TextMapPropagator,
    trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState},
};
use rmcp::model::MetaObject;
use serde_json::{Value, json};
use trace_meta::{
    carrier::{
        BAGGAGE_MAX_BYTES, BAGGAGE_MAX_MEMBERS, MetaExtractor, MetaInjector, TRACESTATE_MAX_LEN,
        TRACESTATE_MAX_MEMBERS,
    },
    propagation::propagator_from_spec,
};

const TRACE_ID: &str = "0af7651916cd43dd8448eb211c80319c";
const SPAN_ID: &str = "b7ad6b7169203331";
const VALID: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

fn meta(value: Value) -> MetaObject {
    MetaObject(value.as_object().expect("an object").clone())
}

fn extract(meta: &MetaObject) -> Context {
    propagator_from_spec(None).extract_with_context(&Context::new(), &MetaExtractor(meta))
}

fn remote_span(cx: &Context) -> SpanContext {
    cx.span().span_context().clone()
}

fn sampled_context(state: &str) -> Context {
    let span = SpanContext::new(
        TraceId::from_hex(TRACE_ID).unwrap(),
        SpanId::from_hex(SPAN_ID).unwrap(),
        TraceFlags::SAMPLED,
        true,
        state.parse::<TraceState>().unwrap(),
    );
    Context::new().with_remote_span_context(span)
}

#[test]
fn inject_writes_the_sep414_keys_and_keeps_the_rest() {
    let cx = sampled_context("vendor=abc").with_baggage(vec![
        KeyValue::new("user.id", "u-42"),
        KeyValue::new("tenant", "acme"),
    ]);
    let mut meta = meta(json!({
        "progressToken": 7,
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "com.example/flag": {"nested": true}
    }));
    propagator_from_spec(None).inject_context(&cx, &mut MetaInjector(&mut meta));

    assert_eq!(meta["traceparent"], json!(VALID));
    assert_eq!(meta["tracestate"], json!("vendor=abc"));
    let baggage = meta["baggage"].as_str().unwrap();
    assert!(
        baggage.contains("user.id=u-42") && baggage.contains("tenant=acme"),
        "{baggage}"
    );
    assert_eq!(meta["progressToken"], json!(7));
    assert_eq!(
        meta["io.modelcontextprotocol/protocolVersion"],
        json!("2026-07-28")
    );
    assert_eq!(meta["com.example/flag"], json!({"nested": true}));
    assert_eq!(meta.len(), 6);
}

#[test]
fn empty_tracestate_is_not_written() {
    let mut meta = MetaObject::default();
    propagator_from_spec(None).inject_context(&sampled_context(""), &mut MetaInjector(&mut meta));
    assert!(meta.contains_key("traceparent"));
    assert!(!meta.contains_key("tracestate"));
    assert!(!meta.contains_key("baggage"));
}

#[test]
fn round_trip_preserves_ids_flags_state_and_baggage() {
    let cx = sampled_context("a=1,b=2").with_baggage(vec![KeyValue::new("k", "v")]);
    let mut meta = MetaObject::default();
    propagator_from_spec(None).inject_context(&cx, &mut MetaInjector(&mut meta));
    let back = extract(&meta);
    let span = remote_span(&back);
    assert!(span.is_valid() && span.is_remote() && span.is_sampled());
    assert_eq!(span.trace_id().to_string(), TRACE_ID);
    assert_eq!(span.span_id().to_string(), SPAN_ID);
    assert_eq!(span.trace_state().header(), "a=1,b=2");
    assert_eq!(
        back.baggage().get("k").map(|v| v.as_str().to_owned()),
        Some("v".into())
    );
}

#[test]
fn the_reference_example_wire_shape_is_understood() {
    let meta = meta(json!({"traceparent": VALID}));
    let span = remote_span(&extract(&meta));
    assert_eq!(span.trace_id().to_string(), TRACE_ID);
    assert_eq!(span.span_id().to_string(), SPAN_ID);
    assert!(span.is_sampled());
}

#[test]
fn unsampled_flag_is_kept() {
    let meta =
        meta(json!({"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"}));
    let span = remote_span(&extract(&meta));
    assert!(span.is_valid());
    assert!(!span.is_sampled());
}

#[test]
fn invalid_traceparents_yield_no_parent() {
    let long = "0".repeat(10 * 1024);
    let invalid: Vec<Value> = vec![
        json!(42),
        json!(["00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"]),
        json!({"traceparent": VALID}),
        json!(null),
        json!(true),
        json!(""),
        json!(long),
        json!("00-0AF7651916CD43DD8448EB211C80319C-B7AD6B7169203331-01"),
        json!("ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
        json!("00-00000000000000000000000000000000-b7ad6b7169203331-01"),
        json!("00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01"),
        json!("00-0af7651916cd43dd8448eb211c80319-b7ad6b7169203331-01"),
        json!("00-0af7651916cd43dd8448eb211c80319c-b7ad6b716920333-01"),
        json!("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331"),
        json!("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra"),
        json!("00-zzf7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
        json!("traceparent"),
        json!("00-+af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
    ];
    for value in invalid {
        let shown = value.to_string();
        let meta = meta(json!({"traceparent": value, "tracestate": "a=1"}));
        let cx = extract(&meta);
        let span = remote_span(&cx);
        assert!(
            !span.is_valid(),
            "accepted {}",
            &shown[..shown.len().min(80)]
        );
        assert_eq!(
            span.trace_state().header(),
            "",
            "tracestate parsed without a valid traceparent"
        );
    }
}

#[test]
fn oversized_tracestate_is_trimmed_to_w3c_limits() {
    let members: Vec<String> = (0..1000).map(|i| format!("k{i}=v{i}")).collect();
    let meta = meta(json!({"traceparent": VALID, "tracestate": members.join(",")}));
    let span = remote_span(&extract(&meta));
    assert!(
        span.is_valid(),
        "an oversized tracestate must not discard the traceparent"
    );
    let header = span.trace_state().header();
    assert!(
        header.len() <= TRACESTATE_MAX_LEN,
        "{} characters kept",
        header.len()
    );
    assert!(header.split(',').count() <= TRACESTATE_MAX_MEMBERS);
    assert!(
        header.starts_with("k0=v0"),
        "the first members are the ones kept: {header}"
    );
}

#[test]
fn oversized_baggage_is_trimmed_to_w3c_limits() {
    let one_mb = format!("big={}", "x".repeat(1024 * 1024));
    let members: Vec<String> = (0..1000).map(|i| format!("key{i}=value{i}")).collect();
    for raw in [one_mb, members.join(",")] {
        let meta = meta(json!({"traceparent": VALID, "baggage": raw}));
        let extracted = MetaExtractor(&meta);
        let kept = opentelemetry::propagation::Extractor::get(&extracted, "baggage").unwrap();
        assert!(kept.len() <= BAGGAGE_MAX_BYTES);
        assert!(kept.split(',').count() <= BAGGAGE_MAX_MEMBERS);
        let cx = extract(&meta);
        assert!(remote_span(&cx).is_valid());
        assert!(cx.baggage().len() <= BAGGAGE_MAX_MEMBERS);
    }
}

#[test]
fn only_the_three_keys_are_offered_to_propagators() {
    let meta = meta(json!({"traceparent": VALID, "progressToken": "p", "x-other": "y"}));
    let extractor = MetaExtractor(&meta);
    assert_eq!(
        opentelemetry::propagation::Extractor::keys(&extractor),
        vec!["traceparent"]
    );
    assert_eq!(
        opentelemetry::propagation::Extractor::get(&extractor, "progressToken"),
        None
    );
}

#[test]
fn otel_propagators_none_disables_propagation() {
    let propagator = propagator_from_spec(Some("none"));
    let mut meta = MetaObject::default();
    propagator.inject_context(&sampled_context("a=1"), &mut MetaInjector(&mut meta));
    assert!(meta.is_empty());
    let only_baggage = propagator_from_spec(Some("baggage"));
    only_baggage.inject_context(&sampled_context("a=1"), &mut MetaInjector(&mut meta));
    assert!(!meta.contains_key("traceparent"));
}
