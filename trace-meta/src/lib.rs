//! W3C trace context through MCP `_meta` (SEP-414), for rmcp servers and clients.
//!
//! One agent request fans out into tool calls on several MCP servers, each its own process,
//! often in another language. This crate makes it **one distributed trace**: the client puts
//! the W3C `traceparent`, `tracestate` and `baggage` of its CLIENT span directly under
//! `params._meta` of each request, and the server makes its SERVER span a child of it.
//!
//! # Adopting it in a server
//!
//! Three lines: set up telemetry, wrap the handler in [`Traced`], serve.
//!
//! ```no_run
//! # #[derive(Clone)] struct MyServer;
//! # impl rmcp::ServerHandler for MyServer {}
//! #[tokio::main]
//! async fn main() -> anyhow::Result<()> {
//!     let _telemetry = trace_meta::telemetry::init("my-server")?;
//!     trace_meta::serve_stdio(trace_meta::Traced::new(MyServer)).await?;
//!     Ok(())
//! }
//! ```
//!
//! Every request then runs in a SERVER span (`tool-{tool}` for tool calls) parented on the
//! caller's context, and whatever the tool logs or traces with `tracing` nests under it.
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
//! # The parts
//! - [`carrier`]: `_meta` as an OpenTelemetry injector/extractor, with the W3C size limits.
//! - [`propagation`]: inject/extract through the configured propagator (`OTEL_PROPAGATORS`).
//! - [`client`]: [`TracedClient`], CLIENT spans around requests.
//! - [`server`]: [`Traced`], SERVER spans around any `ServerHandler`.
//! - [`telemetry`]: one call per process for export (`OTEL_*`, Confident AI) and logs on stderr.
//! - [`attributes`]: the attribute names of the trace conventions.
//! - [`serve_stdio`]: serve until stdin closes or SIGTERM/SIGINT, so the guard can flush.

#![warn(missing_docs)]

pub mod attributes;
pub mod carrier;
pub mod client;
pub mod propagation;
mod request;
mod serve;
pub mod server;
pub mod telemetry;

pub use client::TracedClient;
pub use request::{UnfinishedGuard, tool_result_text};
pub use serve::{ServeError, serve_stdio, shutdown_signal};
pub use server::Traced;

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
