//! Every OTLP exporter of a process (both span destinations and metrics) runs on one export
//! thread, which stops with the guard; no span is lost on the way (its own process:
//! telemetry is global).

use std::time::{Duration, Instant};

use test_support::otlp::{Backend, Mode};
use trace_meta::telemetry::Telemetry;

/// The names of this process's threads (`/proc/self/task/*/comm`, at most 15 bytes each).
fn threads() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .map(|name| name.trim_end().to_owned())
        .collect();
    names.sort();
    names
}

/// What `after` has that `before` has not, name by name.
fn added(before: &[String], after: &[String]) -> Vec<String> {
    let mut left = before.to_vec();
    after
        .iter()
        .filter(|name| match left.iter().position(|seen| seen == *name) {
            Some(index) => {
                left.remove(index);
                false
            }
            None => true,
        })
        .cloned()
        .collect()
}

#[test]
fn one_export_thread_carries_both_destinations_and_the_metrics() {
    trace_meta::install_tls_provider();
    let user = Backend::start(Mode::Ok);
    let local = Backend::start(Mode::Ok);
    // SAFETY: this test binary has one test and no other threads reading the environment.
    unsafe {
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("OTEL_") {
                std::env::remove_var(name);
            }
        }
        std::env::set_var("OTEL_EXPORTER_OTLP_ENDPOINT", &user.endpoint);
        std::env::set_var(
            trace_meta::telemetry::LOCAL_ENDPOINT_ENV,
            format!("{}/v1/traces", local.endpoint),
        );
    }
    let before = threads();
    let mut guard = Telemetry::new("export-thread-test").init().unwrap();
    assert!(guard.exports_metrics(), "metrics go to the user's endpoint");
    // A new thread names itself once it runs; until then it shows its parent's name.
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut new_threads = added(&before, &threads());
    while new_threads != ["trace-meta-expo"] && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
        new_threads = added(&before, &threads());
    }
    assert_eq!(
        new_threads,
        ["trace-meta-expo"],
        "one export thread, and no batch, reqwest or metrics reader threads"
    );

    // A server's one-thread runtime: its spans and metrics leave from the export thread.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    const SPANS: usize = 1000;
    runtime.block_on(async {
        let counter = opentelemetry::global::meter_provider()
            .meter("export-thread-test")
            .u64_counter("work.done")
            .build();
        for round in 0..SPANS {
            tracing::info_span!("work", round).in_scope(|| counter.add(1, &[]));
            if round % 100 == 0 {
                tokio::task::yield_now().await;
            }
        }
    });
    drop(runtime);
    guard.shutdown().expect("nothing lost");

    for (backend, name) in [(&user, "user"), (&local, "local")] {
        let spans = backend.spans();
        assert_eq!(spans.len(), SPANS, "every span reached the {name} backend");
        assert!(spans.iter().all(|s| s.service == "export-thread-test"));
    }
    let metrics = user.metrics();
    assert!(
        metrics.iter().any(|m| m.metric.name == "work.done"),
        "the last collection left at shutdown: {:?}",
        metrics.iter().map(|m| &m.metric.name).collect::<Vec<_>>()
    );
    assert_eq!(
        local.metrics_requests(),
        0,
        "metrics go to the user's backend only"
    );

    // The thread stops with the guard.
    let deadline = Instant::now() + Duration::from_secs(2);
    while threads().iter().any(|name| name == "trace-meta-expo") {
        assert!(
            Instant::now() < deadline,
            "the export thread outlived the guard"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}
