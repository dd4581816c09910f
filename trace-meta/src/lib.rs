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
//!     trace_meta::run("my-server", MyServer, trace_meta::Transport::Stdio)?;
//!     Ok(())
//! }
//! ```
//!
//! Every request then runs in a SERVER span (`tool-{tool}` for tool calls) parented on the
//! caller's context, and whatever the tool logs or traces with `tracing` nests under it.
//! For Streamable HTTP, pass
//! `Transport::Http(HttpConfig::new(addr).with_token_from_env()?)` instead: see [`http`].
//!
//! # Adopting it in a client
//!
//! ```no_run
//! # async fn demo(service: rmcp::service::RunningService<rmcp::RoleClient, ()>) -> anyhow::Result<()> {
//! use rmcp::model::CallToolRequestParams;
//! let client = trace_meta::TracedClient::new(service.peer().clone());
//! let result = client.call_tool(CallToolRequestParams::new("list_tables")).await?;
//! # Ok(()) }
//! ```
//!
//! The call runs in a `mcp-tool-{tool}` CLIENT span, a child of your current span.
//!
//! # Span names
//! Tool calls are `mcp-tool-{tool}` (CLIENT) and `tool-{tool}` (SERVER), other requests
//! `{mcp.method.name} {target}`. `TRACE_META_SPAN_NAMES=semconv` ([`SpanNames`]) names tool
//! calls `tools/call {tool}` on both sides too, as the OpenTelemetry MCP semantic
//! conventions do.
//!
//! # The parts
//! - [`carrier`]: `_meta` as an OpenTelemetry injector/extractor, with the W3C size limits.
//! - [`propagation`]: inject/extract through the configured propagator (`OTEL_PROPAGATORS`).
//! - [`client`]: [`TracedClient`], CLIENT spans around requests.
//! - [`server`]: [`Traced`], SERVER spans around any `ServerHandler`.
//! - [`telemetry`]: one call per process for export (`OTEL_*`, Confident AI) and logs on stderr.
//! - [`attributes`]: the attribute names of the trace conventions.
//! - [`metrics`]: `mcp.{client,server}.operation.duration` and the session durations,
//!   recorded where the spans end.
//! - [`run`] and [`serve`]: the server process for both transports: telemetry, signals (or a
//!   shutdown future), serving, flushing.
//! - [`http`]: Streamable HTTP on a TCP listener, with its guards (token, `Origin`/`Host`,
//!   body cap, timeouts, connection cap).
//! - [`jsonrpc`]: the boundary where messages enter, on both transports: malformed input
//!   gets the exact JSON-RPC error (`-32700`, `-32600`, `-32601`, `-32602`), never silence.
//! - [`http_client`]: an rmcp HTTP client wrapper that repeats `_meta`'s trace context in
//!   the W3C `traceparent`/`tracestate` headers of each POST, for gateways that read headers.

#![warn(missing_docs)]

pub mod attributes;
pub mod carrier;
#[cfg(feature = "cli")]
pub mod cli;
pub mod client;
pub mod http;
pub mod http_client;
pub mod jsonrpc;
pub mod metrics;
pub mod propagation;
mod request;
mod serve;
pub mod server;
pub mod telemetry;

pub use client::TracedClient;
pub use http::{HttpConfig, HttpServer};
pub use request::{SPAN_NAMES_ENV, SpanNames, UnfinishedGuard, tool_result_text};
pub use serve::{
    RunError, SHUTDOWN_GRACE, ServeError, StopSignal, Transport, run, serve, serve_stdio,
    serve_stdio_until, shutdown_signal,
};
pub use server::{ConnectionInfo, Traced};

/// The transport a span records as `network.transport`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
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
