//! The span queue is bounded by `OTEL_BSP_MAX_QUEUE_SIZE`: while a backend is slow, spans
//! beyond it are dropped, never waited for, and the guard reports exactly how many (its own
//! process: telemetry is global).

use std::time::{Duration, Instant};

use test_support::otlp::{Backend, Mode};
use trace_meta::telemetry::{Telemetry, TelemetryError};

#[test]
fn a_slow_backend_fills_the_queue_and_the_guard_counts_what_was_dropped() {
    let backend = Backend::start(Mode::SlowFirst {
        requests: 1,
        delay: Duration::from_millis(400),
    });
    const QUEUE: usize = 100;
    const BATCH: usize = 10;
    const SPANS: usize = 600;
    // SAFETY: this test binary has one test and no other threads reading the environment.
    unsafe {
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("OTEL_") {
                std::env::remove_var(name);
            }
        }
        std::env::set_var("OTEL_BSP_MAX_QUEUE_SIZE", QUEUE.to_string());
        std::env::set_var("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", BATCH.to_string());
    }
    let endpoint = format!("{}/v1/traces", backend.endpoint);
    let mut guard = Telemetry::new("export-queue-test")
        .with_local_endpoint(endpoint.clone())
        .init()
        .unwrap();
    let started = Instant::now();
    for round in 0..SPANS {
        tracing::info_span!("work", round).in_scope(|| {});
    }
    let ending = started.elapsed();
    let error = guard.shutdown().unwrap_err();
    let TelemetryError::SpansLost(losses) = &error else {
        panic!("expected dropped spans, got {error}");
    };
    let received = backend.spans().len();
    assert_eq!(losses.len(), 1);
    let loss = &losses[0];
    assert_eq!(
        (loss.endpoint.as_str(), loss.ended, loss.failed),
        (endpoint.as_str(), 600, 0)
    );
    assert_eq!(
        loss.dropped as usize,
        SPANS - received,
        "every span that did not arrive is counted as dropped"
    );
    // While the first export waits, the queue holds at most QUEUE spans (and the batch in
    // flight BATCH more): the rest are dropped.
    assert!(
        (BATCH..=QUEUE + BATCH).contains(&received),
        "{received} spans arrived"
    );
    assert!(
        ending < Duration::from_millis(300),
        "ending spans never waits for the backend ({ending:?} for {SPANS})"
    );
}
