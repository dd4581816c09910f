//! Inject into and extract from an MCP request's `_meta`, through the default propagator.
//!
//! `cargo bench -p trace-meta --bench propagation`

use criterion::{Criterion, criterion_group, criterion_main};
use opentelemetry::{
    Context, KeyValue,
    baggage::BaggageExt,
    trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState},
};
use rmcp::model::RequestMetaObject;
use std::hint::black_box;

fn context(with_state: bool) -> Context {
    let state = if with_state {
        "vendor=abc,other=xyz".parse().unwrap()
    } else {
        TraceState::default()
    };
    let span = SpanContext::new(
        TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").unwrap(),
        SpanId::from_hex("b7ad6b7169203331").unwrap(),
        TraceFlags::SAMPLED,
        true,
        state,
    );
    Context::new().with_remote_span_context(span)
}

fn bench(c: &mut Criterion) {
    trace_meta::propagation::install_propagator();
    let cx = context(false);
    c.bench_function("inject traceparent into _meta", |b| {
        b.iter(|| {
            let mut meta = RequestMetaObject::default();
            trace_meta::propagation::inject(black_box(&cx), &mut meta);
            meta
        })
    });
    let full = context(true).with_baggage(vec![KeyValue::new("user.id", "u-42")]);
    c.bench_function("inject traceparent, tracestate and baggage", |b| {
        b.iter(|| {
            let mut meta = RequestMetaObject::default();
            trace_meta::propagation::inject(black_box(&full), &mut meta);
            meta
        })
    });

    let mut meta = RequestMetaObject::default();
    trace_meta::propagation::inject(&cx, &mut meta);
    meta.insert("progressToken".into(), 1.into());
    c.bench_function("extract traceparent from _meta", |b| {
        b.iter(|| trace_meta::propagation::extract(black_box(&meta)))
    });
    let mut full_meta = RequestMetaObject::default();
    trace_meta::propagation::inject(&full, &mut full_meta);
    c.bench_function("extract traceparent, tracestate and baggage", |b| {
        b.iter(|| trace_meta::propagation::extract(black_box(&full_meta)))
    });
    let mut hostile = RequestMetaObject::default();
    hostile.insert("traceparent".into(), "0".repeat(10 * 1024).into());
    hostile.insert("baggage".into(), "k=v,".repeat(250_000).into());
    c.bench_function(
        "extract hostile _meta (10 KB traceparent, 1 MB baggage)",
        |b| b.iter(|| trace_meta::propagation::extract(black_box(&hostile))),
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
