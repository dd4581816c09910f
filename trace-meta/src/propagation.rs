//! Injecting and extracting trace context through the configured propagator.
//!
//! [`inject`] and [`extract`] use OpenTelemetry's global
//! [`opentelemetry::propagation::TextMapPropagator`], which
//! [`install_propagator`] (called by [`telemetry::init`](crate::telemetry::init)) sets from
//! `OTEL_PROPAGATORS`: W3C trace context plus W3C baggage unless told otherwise.

use opentelemetry::{
    Context,
    propagation::{TextMapCompositePropagator, TextMapPropagator},
};
use opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};
use rmcp::model::MetaObject;

use crate::carrier::{HeaderExtractor, HeaderInjector, MetaExtractor, MetaInjector};

/// Builds the propagator named by a `OTEL_PROPAGATORS` value (`None`: the variable is unset).
///
/// Understood entries are `tracecontext`, `baggage` and `none`; the default is
/// `tracecontext,baggage`. Other entries (`b3`, `jaeger`, ...) are not built into this crate:
/// they are skipped with a warning on stderr.
pub fn propagator_from_spec(spec: Option<&str>) -> TextMapCompositePropagator {
    let spec = spec
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or("tracecontext,baggage");
    let mut propagators: Vec<Box<dyn TextMapPropagator + Send + Sync>> = Vec::new();
    for name in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        match name {
            "tracecontext" => propagators.push(Box::new(TraceContextPropagator::new())),
            "baggage" => propagators.push(Box::new(BaggagePropagator::new())),
            "none" => return TextMapCompositePropagator::new(Vec::new()),
            other => tracing::warn!(
                propagator = other,
                "OTEL_PROPAGATORS names a propagator trace-meta does not provide; it is skipped"
            ),
        }
    }
    TextMapCompositePropagator::new(propagators)
}

/// Sets OpenTelemetry's global propagator from `OTEL_PROPAGATORS`.
///
/// [`telemetry::init`](crate::telemetry::init) calls this; call it yourself only when you
/// set up OpenTelemetry without trace-meta's telemetry module.
pub fn install_propagator() {
    let spec = std::env::var("OTEL_PROPAGATORS").ok();
    opentelemetry::global::set_text_map_propagator(propagator_from_spec(spec.as_deref()));
}

/// Writes the trace context of `cx` into `meta` with the global propagator.
///
/// Keys other than `traceparent`, `tracestate` and `baggage` are left as they are.
pub fn inject(cx: &Context, meta: &mut MetaObject) {
    opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.inject_context(cx, &mut MetaInjector(meta));
    });
}

/// Reads the trace context in `meta` with the global propagator.
///
/// The result is built on an empty context, never on the caller's current one: inside an
/// rmcp handler the current context belongs to the whole session, and a request without a
/// valid `traceparent` must start a new trace rather than join that one. Invalid values
/// yield a context without a remote span, so the caller starts a new root.
pub fn extract(meta: &MetaObject) -> Context {
    opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.extract_with_context(&Context::new(), &MetaExtractor(meta))
    })
}

/// Reads the trace context in W3C HTTP headers (`traceparent`, `tracestate`, `baggage`)
/// with the global propagator; like [`extract`], built on an empty context.
pub fn extract_headers(headers: &http::HeaderMap) -> Context {
    opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.extract_with_context(&Context::new(), &HeaderExtractor(headers))
    })
}

/// Writes the trace context of `cx` as `traceparent` / `tracestate` HTTP headers.
pub fn inject_headers(cx: &Context, headers: &mut http::HeaderMap) {
    opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.inject_context(cx, &mut HeaderInjector(headers));
    });
}
