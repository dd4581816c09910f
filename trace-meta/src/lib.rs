//! W3C trace context through MCP `_meta` (SEP-414), for rmcp servers and clients.
//!
//! One agent request fans out into tool calls on several MCP servers, each its own process,
//! often in another language. This crate makes it **one distributed trace**: the client puts
//! the W3C `traceparent`, `tracestate` and `baggage` of its CLIENT span directly under
//! `params._meta` of each request, and the server makes its SERVER span a child of it.
//!
//! # Adopting it in a server
//!
//! One call: [`run`] sets up telemetry, installs the signal handlers, serves the handler
//! (each request in a [`Traced`] SERVER span) over the transport you pick, and flushes the
//! spans on the way out.
//!
//! ```no_run
//! # #[derive(Clone)] struct MyServer;
//! # impl rmcp::ServerHandler for MyServer {}
//! fn main() -> anyhow::Result<()> {
//!     trace_meta::run("my-server", MyServer, trace_meta::ServerTransport::Stdio)?;
//!     Ok(())
//! }
//! ```
//!
//! Every request then runs in a SERVER span (`tool-{tool}` for tool calls) parented on the
//! caller's context, and whatever the tool logs or traces with `tracing` nests under it.
//! For Streamable HTTP, pass
//! `ServerTransport::Http { addr, config: HttpConfig::new().with_token_from_env()? }` instead: see
//! [`http`]. A server with its own process lifecycle wraps its handler in [`Traced`] and
//! serves it as it likes, or calls [`serve`] with a shutdown future.
//!
//! # Adopting it in a client
//!
//! ```no_run
//! # async fn demo(service: rmcp::service::RunningService<rmcp::RoleClient, ()>) -> anyhow::Result<()> {
//! use rmcp::model::CallToolRequestParams;
//! let _telemetry = trace_meta::telemetry::init("my-client")?; // once per process
//! let client = trace_meta::TracedClient::new(service.peer().clone());
//! let result = client.call_tool(CallToolRequestParams::new("list_tables")).await?;
//! # Ok(()) }
//! ```
//!
//! The call runs in a `mcp-tool-{tool}` CLIENT span, a child of your current span; the
//! crate's `examples/traced-client.rs` is a whole client.
//!
//! # Span names
//! Tool calls are `mcp-tool-{tool}` (CLIENT) and `tool-{tool}` (SERVER), other requests
//! `{mcp.method.name} {target}`. `TRACE_META_SPAN_NAMES=semconv` ([`SpanNames`]) names tool
//! calls `tools/call {tool}` on both sides too, as the OpenTelemetry MCP semantic
//! conventions do; `Telemetry::with_span_names` (or [`SpanNames::install`]) decides in
//! code, over the variable.
//!
//! # Features
//! An instrumentation library should cost what its role needs, so each role is a feature;
//! the default is all of them but `cli`, `grpc` and TLS (`tls`, `tls-ring`): the crypto
//! provider is the application's choice.
//!
//! | feature | what it adds |
//! |---|---|
//! | `client` | [`TracedClient`] |
//! | `server` | [`Traced`], the stdio transport with its JSON-RPC checks, [`serve`] |
//! | `http-server` | [`HttpServer`] and its guards (with `server`) |
//! | `http-client` | [`http_client::TraceHeaders`] (with `client`) |
//! | `telemetry` | [`telemetry`]: the tracer provider, the `tracing` layers, logs; with `server`, [`run`] |
//! | `otlp` | OTLP/HTTP export from the `OTEL_EXPORTER_OTLP_*` variables (with `telemetry`) |
//! | `tls` | rustls for `https://` endpoints, with the crypto provider the application installs (with `otlp`) |
//! | `tls-ring` | `tls` on ring: [`install_tls_provider`], called for you when an exporter needs TLS |
//! | `metrics` | the MCP operation and session histograms ([`metrics`](mod@metrics)); exported with `otlp` |
//! | `cli` | `cli::ServeArgs`, the `--http` flags for clap (with `http-server`) |
//! | `grpc` | OTLP/gRPC export (with `otlp`) |
//! | `span-return` | [`span_return`]: a server's spans returned to the client in the answer (SEP-2448), in [`Traced`] and [`TracedClient`] |
//!
//! Without any feature the crate is the [`carrier`], [`propagation`], the attribute names
//! and [`SpanNames`], on the OpenTelemetry API (and the SDK's W3C propagators).
//!
//! # The parts
//! - [`carrier`]: `_meta` as an OpenTelemetry injector/extractor, with the W3C size limits.
//! - [`propagation`]: inject/extract through the configured propagator (`OTEL_PROPAGATORS`).
//! - `client`: [`TracedClient`], CLIENT spans around requests.
//! - `server`: [`Traced`], SERVER spans around any `ServerHandler`.
//! - `telemetry`: a builder for export (`OTEL_*`, Confident AI) and logs on stderr, composable
//!   with your own `tracing` subscriber, and a one-call `init`.
//! - [`attributes`]: the attribute names of the trace conventions.
//! - `metrics`: `mcp.{client,server}.operation.duration` and the session durations,
//!   recorded where the spans end.
//! - [`run`] and [`serve`]: the server process for both transports: telemetry, signals (or a
//!   shutdown future), serving, flushing.
//! - `http`: Streamable HTTP on a TCP listener, with its guards (token, `Origin`/`Host`,
//!   body cap, timeouts, connection cap).
//! - `http_client`: an rmcp HTTP client wrapper that repeats `_meta`'s trace context in
//!   the W3C `traceparent`/`tracestate` headers of each POST, for gateways that read headers.
//! - [`redact`]: what messages may show of a URL; [`content`]: what spans may record of the
//!   data that passes through them.
//!
//! Every incoming message, on both transports, is checked at the boundary before rmcp reads
//! it: malformed input gets the exact JSON-RPC error (`-32700`, `-32600`, `-32601`,
//! `-32602`), never silence.

#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod attributes;
pub mod carrier;
// Used by the messages of OTLP export and of a client's span return; absent both, by nothing.
#[cfg_attr(
    not(any(feature = "otlp", all(feature = "client", feature = "span-return"))),
    allow(dead_code)
)]
mod causes;
#[cfg(feature = "cli")]
pub mod cli;
#[cfg(feature = "client")]
pub mod client;
pub mod content;
#[cfg(feature = "http-server")]
pub mod http;
#[cfg(feature = "http-client")]
pub mod http_client;
#[cfg(feature = "server")]
mod jsonrpc;
#[cfg(feature = "server")]
mod lifecycle;
#[cfg(feature = "metrics")]
pub mod metrics;
#[cfg(not(feature = "metrics"))]
#[path = "metrics_off.rs"]
mod metrics;
pub mod propagation;
pub mod redact;
// What a span says about a request, shared by the client and the server side: with only
// one of them built, part of it goes unused.
#[cfg_attr(not(all(feature = "client", feature = "server")), allow(dead_code))]
mod request;
#[cfg(feature = "server")]
pub mod server;
#[cfg(feature = "span-return")]
pub mod span_return;
#[cfg(feature = "server")]
mod stdio;
#[cfg(feature = "telemetry")]
pub mod telemetry;
#[cfg(feature = "tls-ring")]
mod tls;

#[cfg(feature = "client")]
pub use client::{Retry, TracedClient};
#[cfg(feature = "http-server")]
pub use http::{HttpConfig, HttpServer};
#[cfg(all(feature = "server", feature = "telemetry"))]
pub use lifecycle::{RunError, run, run_with, run_with_telemetry};
#[cfg(feature = "server")]
pub use lifecycle::{
    STDIO_SHUTDOWN_GRACE, ServeError, ServerTransport, StopSignal, StopSignals, serve,
    shutdown_signal,
};
pub use request::{
    RequestParams, RequestSpan, SPAN_NAMES_ENV, SpanNames, UnfinishedGuard, tool_result_text,
};
#[cfg(feature = "server")]
pub use server::{ConnectionInfo, Traced};
#[cfg(feature = "tls-ring")]
pub use tls::install_tls_provider;

/// The transport a span records as `network.transport`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum NetworkTransport {
    /// stdio: `pipe`.
    #[default]
    Pipe,
    /// Streamable HTTP: `tcp`.
    Tcp,
}

impl NetworkTransport {
    /// The attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pipe => "pipe",
            Self::Tcp => "tcp",
        }
    }
}
