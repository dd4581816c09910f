//! Span return (SEP-2448, "server execution telemetry"): a server hands the spans it recorded
//! for a request back to the client in the result's `_meta.otel`, so a remote server's work
//! shows in the caller's trace even when the two export to different backends (or the server
//! exports nowhere).
//!
//! # The wire
//! The client asks on `tools/call` or `resources/read`, beside `traceparent`:
//! ```json
//! {"_meta": {"traceparent": "00-…-…-01", "otel": {"traces": {"request": true, "detailed": false}}}}
//! ```
//! and the server answers in the result's `_meta` (or, for a JSON-RPC error, in
//! `error.data._meta`) with OTLP/JSON, the body an OTLP/HTTP receiver takes at `/v1/traces`:
//! ```json
//! {"_meta": {"otel": {"traces": {"resourceSpans": [{"resource": {…}, "scopeSpans": […]}]}}}}
//! ```
//! `detailed: false` (the default) returns the SERVER span and its direct children;
//! `true` the whole tree under it. The SEP needs no handshake; a server that allows it also
//! lists [`EXTENSION_ID`] in `capabilities.extensions`, which clients may show but must not
//! rely on.
//!
//! # Server side
//! Off unless the operator allows it, because spans can hold data: [`ENV`]
//! (`TRACE_META_RETURN_SPANS=true`) or [`Telemetry::with_span_return`]. Then [`Traced`]
//! returns, for a request that asks, the spans that descend from its SERVER span and ended
//! before the answer was sent: never a span of another request, and at most
//! [`MAX_RETURNED_SPANS`] spans in [`MAX_RETURNED_BYTES`] of JSON (the SERVER span first,
//! then its children in the order they started). The spans are the ones the server exports,
//! recorded under the same content rule (`OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`),
//! and only sampled ones (an unsampled `traceparent` gets nothing back). The server's own
//! export is unchanged.
//!
//! # Client side
//! [`TracedClient::with_span_return`] asks every server on `tools/call` and
//! `resources/read`; [`ingest`] is the same step for a client that speaks JSON itself. What
//! comes back is untrusted: it is kept only when it is well-formed OTLP/JSON of at most
//! [`MAX_INGESTED_SPANS`] spans in [`MAX_INGESTED_BYTES`], every span in the call's trace,
//! and every span's parent chain ends at the call's CLIENT span; anything else is dropped
//! with one warning and the call's result is unchanged. Kept spans go to the process's
//! OTLP destinations under the **server's** resource (never the client's).
//!
//! # Nothing twice
//! A server that also exports to a backend the client exports to would see its spans arrive
//! twice there. So a trace-meta server adds [`EXPORTED_META_KEY`] beside `otel`: one
//! fingerprint per destination it exports to (a SHA-256 of the trace id and the
//! destination's endpoint and headers, so it names neither and differs from trace to trace),
//! and the client leaves out each of its own destinations whose fingerprint is listed. A
//! server that says nothing (any other implementation) is taken to export nowhere the client
//! does.
//!
//! [`Traced`]: crate::Traced
//! [`TracedClient::with_span_return`]: crate::TracedClient::with_span_return
//! [`Telemetry::with_span_return`]: crate::telemetry::Telemetry::with_span_return

// The collector serves `Traced` and is installed by telemetry setup; with only one of them
// built, part of it goes unused.
#![cfg_attr(
    not(all(feature = "server", feature = "telemetry")),
    allow(dead_code, unused_imports)
)]

mod collect;
mod ingest;

use std::sync::{Arc, PoisonError, RwLock};

use opentelemetry::trace::TraceId;
use serde_json::{Map, Value};

pub(crate) use collect::{Capture, Collector, CollectorProcessor};
pub use ingest::{Ingested, ParseFailure, Rejected, ingest};

/// The extension's identifier (SEP-2133), listed in `capabilities.extensions` by a server
/// that returns spans.
pub const EXTENSION_ID: &str = "io.modelcontextprotocol/server-execution-telemetry";

/// The `_meta` key of the request and of the answer.
pub const META_KEY: &str = "otel";

/// The `_meta` key beside [`META_KEY`] in which a trace-meta server lists the fingerprints of
/// the destinations it exports the returned spans to itself (see the module doc). Not part
/// of SEP-2448; other clients ignore it.
pub const EXPORTED_META_KEY: &str = "io.github.mcp-trace/exportedTo";

/// Environment variable that lets a server return spans (`true`); anything else, or unset,
/// keeps them in.
pub const ENV: &str = "TRACE_META_RETURN_SPANS";

/// Most spans a server returns for one request.
pub const MAX_RETURNED_SPANS: usize = 256;
/// Most bytes of OTLP/JSON a server returns for one request.
pub const MAX_RETURNED_BYTES: usize = 256 * 1024;
/// Most spans a client takes from one answer.
pub const MAX_INGESTED_SPANS: usize = 1000;
/// Most bytes of OTLP/JSON a client takes from one answer.
pub const MAX_INGESTED_BYTES: usize = 1024 * 1024;

/// Whether [`ENV`] lets this process's servers return spans.
pub fn allowed_by_env() -> bool {
    std::env::var(ENV).is_ok_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

/// What a request asked for in `_meta.otel.traces`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpanRequest {
    /// The whole tree under the SERVER span (`true`), or the SERVER span and its direct
    /// children (`false`, the default).
    pub detailed: bool,
}

impl SpanRequest {
    /// The request in `meta` (a request's `_meta`), when it asks for spans
    /// (`otel.traces.request: true`).
    pub fn from_meta(meta: &Map<String, Value>) -> Option<Self> {
        let traces = meta.get(META_KEY)?.get("traces")?;
        (traces.get("request")? == &Value::Bool(true)).then(|| Self {
            detailed: traces.get("detailed") == Some(&Value::Bool(true)),
        })
    }

    /// Writes this request into `meta` (a request's `_meta`), keeping its other keys.
    pub fn insert_into(self, meta: &mut Map<String, Value>) {
        meta.insert(
            META_KEY.to_owned(),
            serde_json::json!({"traces": {"request": true, "detailed": self.detailed}}),
        );
    }
}

/// Where this process's spans go: its destinations, as fingerprints are made from them, and
/// the way to queue spans another process returned. Set by
/// [`Pipeline::install_globals`](crate::telemetry::Pipeline::install_globals).
#[derive(Default)]
pub(crate) struct Destinations {
    /// One per OTLP destination of the pipeline, in its order.
    pub(crate) targets: Vec<Box<dyn Destination>>,
}

/// One OTLP destination of this process.
pub(crate) trait Destination: Send + Sync {
    /// What identifies it: the endpoint and headers (hashed before it leaves the process).
    fn identity(&self) -> &str;
    /// Queues spans another process recorded, under that process's resource. `false` when
    /// the queue is full and they were dropped.
    fn import(
        &self,
        resource: opentelemetry_sdk::Resource,
        spans: Vec<opentelemetry_sdk::trace::SpanData>,
    ) -> bool;
}

impl std::fmt::Debug for Destinations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Destinations")
            .field("targets", &self.targets.len())
            .finish()
    }
}

impl Destinations {
    /// The fingerprints of the destinations, for the trace `trace_id`.
    pub(crate) fn fingerprints(&self, trace_id: TraceId) -> Vec<String> {
        self.targets
            .iter()
            .map(|target| fingerprint(trace_id, target.identity()))
            .collect()
    }
}

/// The process's globals: the span collector of a server that may return spans, and the
/// destinations returned spans are queued to.
#[derive(Default)]
struct Globals {
    collector: Option<Arc<Collector>>,
    destinations: Option<Arc<Destinations>>,
}

static GLOBALS: RwLock<Globals> = RwLock::new(Globals {
    collector: None,
    destinations: None,
});

/// Installs (or, with `None`, removes) the process's collector and destinations.
pub(crate) fn install(collector: Option<Arc<Collector>>, destinations: Option<Arc<Destinations>>) {
    let mut globals = GLOBALS.write().unwrap_or_else(PoisonError::into_inner);
    globals.collector = collector;
    globals.destinations = destinations;
}

/// Removes the process's collector and destinations if they are still `destinations`'s
/// (a later pipeline may have replaced them).
pub(crate) fn uninstall(destinations: Option<&Arc<Destinations>>) {
    let mut globals = GLOBALS.write().unwrap_or_else(PoisonError::into_inner);
    let ours = match (&globals.destinations, destinations) {
        (Some(installed), Some(mine)) => Arc::ptr_eq(installed, mine),
        _ => false,
    };
    if ours {
        globals.collector = None;
        globals.destinations = None;
    }
}

/// The collector, when this process may return spans.
pub(crate) fn collector() -> Option<Arc<Collector>> {
    GLOBALS
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .collector
        .clone()
}

/// Where returned spans go, when the process exports anywhere.
pub(crate) fn destinations() -> Option<Arc<Destinations>> {
    GLOBALS
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .destinations
        .clone()
}

/// The spans of one request being kept for its answer: what [`Traced`](crate::Traced) does
/// for each request that asks, for a relay that answers for a request itself (a proxy).
///
/// Started on a span of this process that has started and not ended; every span that
/// starts under it (all of them when `detailed`, its direct children otherwise) and ends
/// before [`finish`](Recording::finish) is kept, and the span itself once it ends.
#[derive(Debug)]
pub struct Recording {
    capture: Capture,
    trace_id: TraceId,
}

impl Recording {
    /// Starts keeping the spans of `span` when this process may return spans (see
    /// [`Telemetry::with_span_return`](crate::telemetry::Telemetry::with_span_return)) and
    /// the span is sampled; `None` otherwise.
    pub fn start(span: &opentelemetry::trace::SpanContext, request: SpanRequest) -> Option<Self> {
        if !span.is_valid() || !span.is_sampled() {
            return None;
        }
        let collector = collector()?;
        Some(Self {
            capture: collector.capture(span.span_id(), request),
            trace_id: span.trace_id(),
        })
    }

    /// Stops keeping spans and returns the `_meta` entries of the answer: `otel` with the
    /// spans kept as OTLP/JSON `resourceSpans` (followed by `relayed`, the `resourceSpans`
    /// entries a server further on returned, already checked), and [`EXPORTED_META_KEY`]
    /// with the fingerprints of this process's destinations and `relayed_exported_to`.
    pub fn finish(self, relayed: &[Value], relayed_exported_to: &[String]) -> Map<String, Value> {
        let mut exported = destinations()
            .map(|destinations| destinations.fingerprints(self.trace_id))
            .unwrap_or_default();
        exported.extend(relayed_exported_to.iter().cloned());
        self.capture.finish(relayed, exported)
    }
}

/// Whether this process's servers return spans (a collector is installed).
pub fn enabled() -> bool {
    collector().is_some()
}

/// The fingerprint of a destination for one trace: the first 16 hex digits of
/// SHA-256(trace id, identity).
pub(crate) fn fingerprint(trace_id: TraceId, identity: &str) -> String {
    use sha2::Digest as _;
    let mut hash = sha2::Sha256::new();
    hash.update(trace_id.to_bytes());
    hash.update([0]);
    hash.update(identity.as_bytes());
    let digest = hash.finalize();
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// The length of `value` as JSON when it is at most `limit` bytes; `None` past it. Counted
/// by a writer that writes nowhere and stops at the limit, so an oversized value costs no
/// copy and no more than `limit` bytes of work.
pub(crate) fn json_len(value: &impl serde::Serialize, limit: usize) -> Option<usize> {
    struct Count {
        bytes: usize,
        limit: usize,
    }
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.bytes += buf.len();
            if self.bytes > self.limit {
                return Err(std::io::Error::other("over the limit"));
            }
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count { bytes: 0, limit };
    serde_json::to_writer(&mut count, value).ok()?;
    Some(count.bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_asks_with_request_true_only() {
        let meta = |v: Value| v.as_object().unwrap().clone();
        assert_eq!(
            SpanRequest::from_meta(&meta(
                serde_json::json!({"otel": {"traces": {"request": true}}})
            )),
            Some(SpanRequest { detailed: false })
        );
        assert_eq!(
            SpanRequest::from_meta(&meta(
                serde_json::json!({"otel": {"traces": {"request": true, "detailed": true}}})
            )),
            Some(SpanRequest { detailed: true })
        );
        for no in [
            serde_json::json!({}),
            serde_json::json!({"otel": {"traces": {"request": false}}}),
            serde_json::json!({"otel": {"traces": {"request": "true"}}}),
            serde_json::json!({"otel": true}),
        ] {
            assert_eq!(SpanRequest::from_meta(&meta(no)), None);
        }
        let mut written = meta(serde_json::json!({"progressToken": 1}));
        SpanRequest { detailed: true }.insert_into(&mut written);
        assert_eq!(
            Value::Object(written),
            serde_json::json!({"progressToken": 1, "otel": {"traces": {"request": true, "detailed": true}}})
        );
    }

    #[test]
    fn fingerprints_differ_by_trace_and_by_destination() {
        let a = TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").unwrap();
        let b = TraceId::from_hex("1af7651916cd43dd8448eb211c80319c").unwrap();
        let one = fingerprint(a, "http://127.0.0.1:4318/v1/traces");
        assert_eq!(one.len(), 16);
        assert_eq!(one, fingerprint(a, "http://127.0.0.1:4318/v1/traces"));
        assert_ne!(one, fingerprint(b, "http://127.0.0.1:4318/v1/traces"));
        assert_ne!(one, fingerprint(a, "http://127.0.0.1:4319/v1/traces"));
    }
}
