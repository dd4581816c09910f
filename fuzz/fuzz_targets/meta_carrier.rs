//! Fuzzes the SEP-414 `_meta` carrier of trace-meta (`MetaExtractor` / `MetaInjector`)
//! through the default propagator (`tracecontext,baggage`).
//!
//! Input format (two modes, so seeds stay human-readable):
//! * bytes that parse as a JSON object are used as the whole `_meta` object;
//! * anything else is split on `\n` into at most three parts, read as (lossy) UTF-8, and
//!   put under `traceparent`, `tracestate` and `baggage` (missing parts are absent).
//!
//! Invariants:
//! * extraction never panics;
//! * the extracted `tracestate` header is at most 512 characters;
//! * the extracted baggage has at most 180 members;
//! * a valid extracted span context re-injects as a 55-character `traceparent` that extracts
//!   to the same trace id and span id (and is again valid and remote).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use opentelemetry::{
    Context,
    baggage::BaggageExt,
    propagation::{TextMapCompositePropagator, TextMapPropagator},
    trace::TraceContextExt,
};
use rmcp::model::MetaObject;
use trace_meta::carrier::{BAGGAGE, MetaExtractor, MetaInjector, TRACEPARENT, TRACESTATE};

fn propagator() -> &'static TextMapCompositePropagator {
    static PROPAGATOR: OnceLock<TextMapCompositePropagator> = OnceLock::new();
    PROPAGATOR.get_or_init(|| trace_meta::propagation::propagator_from_spec(None))
}

fn meta_from_bytes(data: &[u8]) -> MetaObject {
    if let Ok(object) = serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(data)
    {
        return MetaObject(object);
    }
    let mut meta = MetaObject::default();
    for (key, part) in [TRACEPARENT, TRACESTATE, BAGGAGE]
        .into_iter()
        .zip(data.splitn(3, |&b| b == b'\n'))
    {
        meta.0.insert(
            key.to_owned(),
            serde_json::Value::String(String::from_utf8_lossy(part).into_owned()),
        );
    }
    meta
}

fuzz_target!(|data: &[u8]| {
    let meta = meta_from_bytes(data);
    let propagator = propagator();

    let cx = propagator.extract_with_context(&Context::new(), &MetaExtractor(&meta));

    let span = cx.span();
    let sc = span.span_context();
    let tracestate = sc.trace_state().header();
    assert!(
        tracestate.chars().count() <= 512,
        "extracted tracestate is {} chars: {tracestate:?}",
        tracestate.chars().count()
    );
    let baggage_members = cx.baggage().len();
    assert!(
        baggage_members <= 180,
        "extracted baggage has {baggage_members} members"
    );

    // Re-inject into a fresh carrier.
    let mut out = MetaObject::default();
    propagator.inject_context(&cx, &mut MetaInjector(&mut out));
    // Only the three SEP-414 keys may ever be written.
    assert!(
        out.0
            .keys()
            .all(|k| [TRACEPARENT, TRACESTATE, BAGGAGE].contains(&k.as_str())),
        "injector wrote a non-SEP-414 key: {:?}",
        out.0.keys().collect::<Vec<_>>()
    );

    if sc.is_valid() {
        let traceparent = out
            .0
            .get(TRACEPARENT)
            .and_then(|v| v.as_str())
            .unwrap_or_else(|| panic!("valid span context re-injected no traceparent: {out:?}"));
        assert_eq!(
            traceparent.len(),
            55,
            "re-injected traceparent is not 55 chars: {traceparent:?}"
        );
        let cx2 = propagator.extract_with_context(&Context::new(), &MetaExtractor(&out));
        let span2 = cx2.span();
        let sc2 = span2.span_context();
        assert!(
            sc2.is_valid() && sc2.is_remote(),
            "re-injected traceparent {traceparent:?} did not extract to a valid remote context"
        );
        assert_eq!(sc2.trace_id(), sc.trace_id(), "trace id changed on round trip");
        assert_eq!(sc2.span_id(), sc.span_id(), "span id changed on round trip");
    } else {
        assert!(
            !out.0.contains_key(TRACEPARENT),
            "invalid span context still injected a traceparent: {out:?}"
        );
    }
});
