//! A tracing proxy for any stdio MCP server: `trace-proxy --name fs -- npx -y
//! @modelcontextprotocol/server-filesystem /tmp`.
//!
//! Put it where a server's command was in any client config, and every request through it
//! becomes a span in your OpenTelemetry backend, with no change to the host or the server:
//!
//! ```json
//! {"mcpServers": {"filesystem": {"command": "trace-proxy",
//!   "args": ["--name", "filesystem", "npx", "-y", "@modelcontextprotocol/server-filesystem", "/tmp"],
//!   "env": {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://localhost:4318"}}}}
//! ```
//!
//! To the client it is a stdio MCP server, to the wrapped server a stdio MCP client. It
//! relays the line-delimited JSON-RPC stream in both directions as the bytes it read,
//! changes only the trace context (and span return) in `_meta`, and records every request
//! as a CLIENT span named as trace-meta names a client's. It does not take part in the
//! protocol: the handshake, the protocol revision and every capability are the client's
//! and the server's to agree on.
//!
//! The same proxy is `mcp-host proxy`; this crate is it without the host (no SQLite, no
//! chat, no trace viewer, no model client). Its binary parses [`ProxyArgs`] and calls
//! [`run`]:
//!
//! ```no_run
//! use clap::Parser as _;
//! #[derive(clap::Parser)]
//! struct Cli {
//!     #[command(flatten)]
//!     proxy: trace_proxy::ProxyArgs,
//! }
//! let cli = Cli::parse();
//! let status = trace_proxy::run(cli.proxy, trace_proxy::Options::new("my-proxy"))?;
//! # Ok::<(), trace_proxy::ProxyError>(())
//! ```
//!
//! The parts, in the order a message meets them:
//! - `args`: [`ProxyArgs`], the command line, and the service name it gives the spans.
//! - `relay`: the process ([`run`]): the wrapped server, the two relays, how it all ends
//!   (its module doc lists the lifecycle step by step).
//! - `message`: one line of the stream, what it is, and the only edits the proxy may make
//!   to it (the pass-through rules, in order).
//! - `ledger`: the requests in flight in both directions, and their spans.
//! - [`child`]: how a child server is stopped (the stdio transport's shutdown sequence),
//!   shared with `mcp-host`, which starts its servers the same way.

mod args;
pub mod child;
mod ledger;
mod message;
mod relay;

pub use args::{ProxyArgs, proxy_service_name};
pub use relay::{CONNECTION_CLOSED, Options, ProxyError, run};
