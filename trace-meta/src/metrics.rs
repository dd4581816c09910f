//! Metrics of MCP requests and sessions, as the OpenTelemetry MCP semantic conventions name
//! them.
//!
//! What is recorded, and when:
//! - `mcp.client.operation.duration`: when a [`TracedClient`](crate::TracedClient) request
//!   ends (a result, an error response, a timeout, a closed transport), or when its future is
//!   dropped before that (`error.type=cancelled`). Same place and same outcome as its CLIENT
//!   span.
//! - `mcp.server.operation.duration`: when a request served by [`Traced`](crate::Traced)
//!   ends, or is dropped unfinished (`error.type=cancelled`), at the end of its SERVER span.
//! - `mcp.client.session.duration` / `mcp.server.session.duration`: when a
//!   [`SessionTimer`] is dropped. This crate times a stdio server's one session (from the
//!   handshake to the end of input); `mcp-host` times each server session it opens.
//!
//! Each is a histogram in seconds with the conventions' bucket boundaries ([`BUCKETS`]).
//! Operation attributes: `mcp.method.name`, `gen_ai.tool.name` (tool calls), `error.type`
//! (failures only, the value the span gets: `tool_error`, the JSON-RPC code, `timeout`,
//! `cancelled`, ...), `network.transport`, `mcp.protocol.version` (when negotiated).
//! Session attributes: `network.transport`, `mcp.protocol.version` (when known).
//!
//! The instruments come from the global meter provider, once per process, on first use.
//! [`telemetry::init`](crate::telemetry::init) installs that provider when metrics are
//! exported (see [`telemetry`](crate::telemetry)); without it the instruments are the
//! no-op ones and a measurement costs a few small allocations.

// Recorded where client and server spans end: with neither role built, nothing records.
#![cfg_attr(not(any(feature = "client", feature = "server")), allow(dead_code))]

use std::{sync::OnceLock, time::Instant};

use opentelemetry::{
    KeyValue, Value,
    metrics::{Histogram, Meter},
};

use crate::{
    NetworkTransport, attributes as attr,
    request::{Outcome, RequestSpan, Side},
};

/// Explicit bucket boundaries, in seconds, of every histogram here (the MCP semantic
/// conventions' advice).
pub const BUCKETS: [f64; 14] = [
    0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];

/// The instrumentation scope the instruments are created under.
pub const METER_NAME: &str = "trace-meta";

/// The four histograms, created once.
struct Instruments {
    client_operation: Histogram<f64>,
    server_operation: Histogram<f64>,
    client_session: Histogram<f64>,
    server_session: Histogram<f64>,
}

fn instruments() -> &'static Instruments {
    static INSTRUMENTS: OnceLock<Instruments> = OnceLock::new();
    INSTRUMENTS.get_or_init(|| {
        let meter = opentelemetry::global::meter(METER_NAME);
        Instruments {
            client_operation: histogram(
                &meter,
                attr::MCP_CLIENT_OPERATION_DURATION,
                "Duration of MCP requests as the client sees them",
            ),
            server_operation: histogram(
                &meter,
                attr::MCP_SERVER_OPERATION_DURATION,
                "Duration of MCP requests as the server sees them",
            ),
            client_session: histogram(
                &meter,
                attr::MCP_CLIENT_SESSION_DURATION,
                "Duration of MCP sessions as the client sees them",
            ),
            server_session: histogram(
                &meter,
                attr::MCP_SERVER_SESSION_DURATION,
                "Duration of MCP sessions as the server sees them",
            ),
        }
    })
}

fn histogram(meter: &Meter, name: &'static str, description: &'static str) -> Histogram<f64> {
    meter
        .f64_histogram(name)
        .with_unit("s")
        .with_description(description)
        .with_boundaries(BUCKETS.to_vec())
        .build()
}

/// The duration of one request, recorded once: by [`finish`](Self::finish) with the
/// request's outcome, or on drop as `error.type=cancelled`.
pub(crate) struct OperationMetric {
    side: Side,
    started: Instant,
    attributes: Vec<KeyValue>,
    recorded: bool,
}

impl OperationMetric {
    /// Starts timing the request `described`, seen from `side`.
    pub(crate) fn start(
        side: Side,
        described: &RequestSpan,
        transport: NetworkTransport,
        protocol_version: Option<String>,
    ) -> Self {
        let mut attributes = Vec::with_capacity(5);
        if let Some(method) = described
            .attributes
            .iter()
            .find(|kv| kv.key.as_str() == attr::MCP_METHOD_NAME)
        {
            attributes.push(method.clone());
        }
        if let Some(tool) = &described.tool {
            attributes.push(KeyValue::new(attr::GEN_AI_TOOL_NAME, tool.clone()));
        }
        attributes.push(KeyValue::new(attr::NETWORK_TRANSPORT, transport.as_str()));
        if let Some(version) = protocol_version {
            attributes.push(KeyValue::new(attr::MCP_PROTOCOL_VERSION, version));
        }
        Self {
            side,
            started: Instant::now(),
            attributes,
            recorded: false,
        }
    }

    /// Records the duration with the outcome's `error.type`, if it has one.
    pub(crate) fn finish(mut self, outcome: &Outcome) {
        let error = outcome
            .attributes
            .iter()
            .find(|kv| kv.key.as_str() == attr::ERROR_TYPE)
            .map(|kv| kv.value.clone());
        self.record(error);
    }

    fn record(&mut self, error: Option<Value>) {
        self.recorded = true;
        if let Some(error) = error {
            self.attributes.push(KeyValue::new(attr::ERROR_TYPE, error));
        }
        let histogram = match self.side {
            Side::Client => &instruments().client_operation,
            Side::Server => &instruments().server_operation,
        };
        histogram.record(self.started.elapsed().as_secs_f64(), &self.attributes);
    }
}

impl Drop for OperationMetric {
    fn drop(&mut self) {
        if !self.recorded {
            self.record(Some(Value::from(attr::CANCELLED)));
        }
    }
}

/// Times one MCP session and records `mcp.client.session.duration` or
/// `mcp.server.session.duration` when dropped.
///
/// Start it when the session is established (after the handshake) and keep it as long as
/// the session lives:
///
/// ```
/// use trace_meta::{NetworkTransport, metrics::SessionTimer};
/// let session = SessionTimer::client(NetworkTransport::Pipe).with_protocol_version("2025-11-25");
/// // ... requests ...
/// drop(session); // records the session's duration
/// ```
#[derive(Debug)]
#[must_use = "the session is recorded when the timer is dropped"]
pub struct SessionTimer {
    side: Side,
    started: Instant,
    attributes: Vec<KeyValue>,
}

impl SessionTimer {
    /// A client's session with a server over `transport`.
    pub fn client(transport: NetworkTransport) -> Self {
        Self::start(Side::Client, transport)
    }

    /// A server's session with a client over `transport`.
    pub fn server(transport: NetworkTransport) -> Self {
        Self::start(Side::Server, transport)
    }

    fn start(side: Side, transport: NetworkTransport) -> Self {
        Self {
            side,
            started: Instant::now(),
            attributes: vec![KeyValue::new(attr::NETWORK_TRANSPORT, transport.as_str())],
        }
    }

    /// Records the negotiated protocol version as `mcp.protocol.version`.
    pub fn with_protocol_version(mut self, version: impl ToString) -> Self {
        self.attributes.push(KeyValue::new(
            attr::MCP_PROTOCOL_VERSION,
            version.to_string(),
        ));
        self
    }
}

impl Drop for SessionTimer {
    fn drop(&mut self) {
        let histogram = match self.side {
            Side::Client => &instruments().client_session,
            Side::Server => &instruments().server_session,
        };
        histogram.record(self.started.elapsed().as_secs_f64(), &self.attributes);
    }
}
