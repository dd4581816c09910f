//! The OpenTelemetry GenAI client metrics of each model request.
//!
//! - `gen_ai.client.operation.duration` (s): every request, when it ends, with
//!   `error.type` when it failed.
//! - `gen_ai.client.token.usage` ({token}): twice per answered request that reported its
//!   usage, `gen_ai.token.type` = `input` and `output`. A server that sends no usage
//!   records no tokens.
//!
//! Attributes: `gen_ai.operation.name` (`chat`), `gen_ai.provider.name`,
//! `gen_ai.request.model`, `gen_ai.response.model` (when answered), `server.address`,
//! `server.port`, `error.type` (failures). The bucket boundaries are the conventions'
//! advice. The instruments come from the global meter provider, which trace-meta's telemetry
//! installs when metrics are exported (they go where the MCP metrics go).

use std::sync::OnceLock;

use crate::attr;
use opentelemetry::{
    KeyValue,
    metrics::{Histogram, Meter},
};

/// `gen_ai.client.operation.duration` boundaries, in seconds.
pub const DURATION_BUCKETS: [f64; 14] = [
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
];

/// `gen_ai.client.token.usage` boundaries, in tokens.
pub const TOKEN_BUCKETS: [f64; 14] = [
    1.0, 4.0, 16.0, 64.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 1048576.0, 4194304.0,
    16777216.0, 67108864.0,
];

/// The instrumentation scope of these metrics.
pub const METER_NAME: &str = "mcp-host";

struct Instruments {
    duration: Histogram<f64>,
    tokens: Histogram<u64>,
}

fn instruments() -> &'static Instruments {
    static INSTRUMENTS: OnceLock<Instruments> = OnceLock::new();
    INSTRUMENTS.get_or_init(|| {
        let meter: Meter = opentelemetry::global::meter(METER_NAME);
        Instruments {
            duration: meter
                .f64_histogram(attr::GEN_AI_CLIENT_OPERATION_DURATION)
                .with_unit("s")
                .with_description("GenAI operation duration")
                .with_boundaries(DURATION_BUCKETS.to_vec())
                .build(),
            tokens: meter
                .u64_histogram(attr::GEN_AI_CLIENT_TOKEN_USAGE)
                .with_unit("{token}")
                .with_description("Number of input and output tokens used")
                .with_boundaries(TOKEN_BUCKETS.to_vec())
                .build(),
        }
    })
}

/// Records one request: its duration, and its token counts when it has them.
pub(super) fn record(
    mut attributes: Vec<KeyValue>,
    seconds: f64,
    response_model: Option<&str>,
    error_type: Option<String>,
    usage: Option<(u64, u64)>,
) {
    if let Some(model) = response_model {
        attributes.push(KeyValue::new(attr::GEN_AI_RESPONSE_MODEL, model.to_owned()));
    }
    if let Some(error) = error_type {
        attributes.push(KeyValue::new(attr::ERROR_TYPE, error));
    }
    let instruments = instruments();
    instruments.duration.record(seconds, &attributes);
    if let Some((input, output)) = usage {
        for (kind, count) in [("input", input), ("output", output)] {
            let mut with_type = attributes.clone();
            with_type.push(KeyValue::new(attr::GEN_AI_TOKEN_TYPE, kind));
            instruments.tokens.record(count, &with_type);
        }
    }
}
