//! Child-process commands with the test's own telemetry and model settings kept away.

use std::process::Command;

/// Whether a variable of the test's environment would change where a child process sends
/// spans or logs, what parent its trace takes, or which model endpoint it uses.
pub fn is_outside_setting(key: &str) -> bool {
    key.starts_with("OTEL_")
        || key.starts_with("TRACE_META")
        || key.starts_with("OPENAI_")
        || key == "RUST_LOG"
        || key == "CONFIDENT_API_KEY"
        || key == "TRACEPARENT"
        || key == "TRACESTATE"
}

/// Removes from `command` every variable of this process for which [`is_outside_setting`]
/// holds: no OTLP endpoint, exporter, key, log filter, outer trace context or model endpoint
/// reaches the child unless the test sets it after this call.
///
/// For a `tokio::process::Command`, pass `command.as_std_mut()`.
pub fn clean_env(command: &mut Command) {
    for (key, _) in std::env::vars_os() {
        if is_outside_setting(&key.to_string_lossy()) {
            command.env_remove(key);
        }
    }
}
