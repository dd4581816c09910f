//! `TelemetryGuard::shutdown` says what failed (its own process: telemetry is global).

use trace_meta::telemetry::{Telemetry, TelemetryError};

#[test]
fn shutdown_returns_the_spans_a_destination_lost() {
    // SAFETY: this test binary has one test and no other threads reading the environment.
    unsafe {
        for name in [
            "OTEL_SDK_DISABLED",
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "TRACE_META_LOCAL_ENDPOINT",
        ] {
            std::env::remove_var(name);
        }
    }
    // Nothing listens on a port that was just released.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}/v1/traces", closed.local_addr().unwrap());
    drop(closed);
    let mut guard = Telemetry::new("shutdown-test")
        .with_local_endpoint(endpoint.clone())
        .init()
        .unwrap();
    for _ in 0..3 {
        tracing::info_span!("work").in_scope(|| {});
    }
    let error = guard.shutdown().unwrap_err();
    let TelemetryError::SpansLost(losses) = &error else {
        panic!("expected lost spans, got {error}");
    };
    assert_eq!(losses.len(), 1);
    assert_eq!(losses[0].endpoint, endpoint);
    assert_eq!(losses[0].ended, 3);
    assert_eq!(losses[0].failed + losses[0].dropped, 3);
    assert!(
        error.to_string().starts_with("3 of 3 spans did not reach"),
        "{error}"
    );
    assert!(guard.shutdown().is_ok(), "a second shutdown does nothing");
}
