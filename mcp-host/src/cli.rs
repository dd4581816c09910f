//! Command line of `mcp-host`.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// The query run when none is given.
pub const DEFAULT_QUERY: &str = "Summarize our 2024 sales data";

/// Runs an AI agent's query across MCP servers and shows it as one distributed trace.
///
/// With no --config, the host starts the two bundled servers on the sample data
/// (examples/data): a file server and a SQLite database server, each its own child
/// process over stdio. It prints the answer on stdout, then the unified span tree of all
/// three processes.
///
/// Traces also go to your OpenTelemetry backend when the standard variables name one
/// (OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_HEADERS, ...; CONFIDENT_API_KEY for
/// Confident AI); every server inherits them. Logs go to stderr (RUST_LOG).
#[derive(Debug, Parser)]
#[command(name = "mcp-host", version, subcommand_precedence_over_arg = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// The question for the agent [default: "Summarize our 2024 sales data"].
    #[arg(value_name = "QUERY")]
    pub query: Option<String>,

    #[command(flatten)]
    pub common: Common,
}

/// Options shared by every mode.
#[derive(Debug, Clone, clap::Args)]
pub struct Common {
    /// MCP client config to take servers from: Claude Desktop / Cursor / Claude Code
    /// ({"mcpServers": ...}) or VS Code ({"servers": ...}). Default: the bundled servers.
    #[arg(long, short, value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,

    /// Folder of sample data for the bundled servers (default: the repository's examples/data).
    #[arg(long, value_name = "DIR", global = true)]
    pub data_dir: Option<PathBuf>,

    /// Write every collected span to FILE as OTLP/JSON (an ExportTraceServiceRequest).
    #[arg(long, value_name = "FILE", global = true)]
    pub trace_json: Option<PathBuf>,

    /// Do not print the trace tree.
    #[arg(long, global = true)]
    pub no_trace_view: bool,
}

/// What to do instead of running a query.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List every configured server's tools.
    Tools,
    /// Make one traced tool call and print its result.
    Call {
        /// Server name, as in the config (bundled: file-server, db-server).
        server: String,
        /// Tool name.
        tool: String,
        /// Arguments, a JSON object.
        #[arg(default_value = "{}")]
        arguments: String,
    },
    /// Benchmark any stdio MCP server: cold start, latency, throughput, trace-context cost,
    /// peak RSS and span delivery. Example:
    /// `mcp-host bench -- target/release/file-server --root examples/data`
    Bench(crate::bench::BenchArgs),
    /// Trace any stdio MCP server: relay it unchanged, each request a span. Example:
    /// `mcp-host proxy --name fs -- npx -y @modelcontextprotocol/server-filesystem /tmp`
    Proxy(crate::proxy::ProxyArgs),
    /// Print an MCP client config with every stdio server wrapped in `mcp-host proxy`.
    WrapConfig(crate::wrap_config::WrapConfigArgs),
}
