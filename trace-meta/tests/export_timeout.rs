//! `OTEL_EXPORTER_OTLP_TIMEOUT` and `OTEL_EXPORTER_OTLP_TRACES_TIMEOUT` bound each export
//! (their own process: the variables are the process's).

use std::time::{Duration, Instant};

use opentelemetry::trace::{Tracer as _, TracerProvider as _};
use trace_meta::telemetry::Telemetry;

/// How long flushing one span to a backend that never answers takes.
fn flush_against_a_silent_backend() -> Duration {
    let pipeline = Telemetry::new("timeout-test").build().unwrap();
    let provider = pipeline.tracer_provider().unwrap().clone();
    provider.tracer("test").in_span("work", |_| {});
    let started = Instant::now();
    let _ = provider.force_flush();
    let took = started.elapsed();
    drop(pipeline);
    took
}

#[test]
fn the_export_timeout_comes_from_the_standard_variables() {
    let silent = format!("{}/v1/traces", test_support::otlp::blackhole());
    // SAFETY: this test binary has one test and no other threads reading the environment.
    unsafe {
        for name in [
            "OTEL_SDK_DISABLED",
            "TRACE_META_LOCAL_ENDPOINT",
            "OTEL_EXPORTER_OTLP_ENDPOINT",
        ] {
            std::env::remove_var(name);
        }
        std::env::set_var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", &silent);
        std::env::set_var("OTEL_EXPORTER_OTLP_TIMEOUT", "200");
    }
    let general = flush_against_a_silent_backend();
    unsafe {
        std::env::set_var("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "700");
    }
    let traces = flush_against_a_silent_backend();
    // The default is 3 s: each flush ends when its own timeout gives the export up.
    assert!(
        general >= Duration::from_millis(150) && general < Duration::from_millis(650),
        "OTEL_EXPORTER_OTLP_TIMEOUT=200 gave up after {general:?}"
    );
    assert!(
        traces >= Duration::from_millis(650) && traces < Duration::from_millis(1500),
        "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT=700 (over the general 200) gave up after {traces:?}"
    );
}
