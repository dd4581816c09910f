//! What the standard `OTEL_EXPORTER_OTLP_*` variables (and `CONFIDENT_API_KEY`) say about
//! where and how spans go: read by the OTLP/HTTP and OTLP/gRPC exporters alike.

use std::time::Duration;

use super::{env_number, env_set};

/// How long one export may take: `OTEL_EXPORTER_OTLP_{signal}_TIMEOUT`, else
/// `OTEL_EXPORTER_OTLP_TIMEOUT`, in milliseconds; else `default`. A value that is not a
/// whole number of milliseconds is ignored.
pub(super) fn export_timeout(signal: &str, default: Duration) -> Duration {
    timeout_from(
        |name| std::env::var(name).ok(),
        &format!("OTEL_EXPORTER_OTLP_{signal}_TIMEOUT"),
        default,
    )
}

fn timeout_from(
    var: impl Fn(&str) -> Option<String>,
    signal_var: &str,
    default: Duration,
) -> Duration {
    [signal_var, "OTEL_EXPORTER_OTLP_TIMEOUT"]
        .into_iter()
        .find_map(|name| env_number(&var, name))
        .map_or(default, Duration::from_millis)
}

/// Whether the standard variables name a traces endpoint.
pub(super) fn user_endpoint_set() -> bool {
    env_set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") || env_set("OTEL_EXPORTER_OTLP_ENDPOINT")
}

pub(super) fn confident_headers() -> std::collections::HashMap<String, String> {
    std::env::var("CONFIDENT_API_KEY")
        .ok()
        .filter(|key| !key.trim().is_empty())
        .map(|key| ("x-confident-api-key".to_owned(), key.trim().to_owned()))
        .into_iter()
        .collect()
}

/// The user's endpoint as logs may show it: scheme, host and path, never credentials.
pub(super) fn user_endpoint_label() -> String {
    let raw = std::env::var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        .or_else(|_| std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT"))
        .unwrap_or_default();
    crate::redact::url(&raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_timeouts_come_from_the_standard_variables() {
        let default = Duration::from_secs(3);
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(key, _)| *key == name)
                    .map(|(_, value)| (*value).to_owned())
            }
        };
        const SIGNAL: &str = "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT";
        assert_eq!(timeout_from(vars(&[]), SIGNAL, default), default);
        assert_eq!(
            timeout_from(
                vars(&[("OTEL_EXPORTER_OTLP_TIMEOUT", "250")]),
                SIGNAL,
                default
            ),
            Duration::from_millis(250)
        );
        assert_eq!(
            timeout_from(
                vars(&[(SIGNAL, " 100 "), ("OTEL_EXPORTER_OTLP_TIMEOUT", "250")]),
                SIGNAL,
                default
            ),
            Duration::from_millis(100)
        );
        assert_eq!(
            timeout_from(vars(&[(SIGNAL, "soon")]), SIGNAL, default),
            default
        );
    }
}
