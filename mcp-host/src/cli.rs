//! Command line of `mcp-host`.

// The doc comments below are also the `--help` text, where URLs stay plain.
#![allow(rustdoc::bare_urls)]

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// The query run when none is given.
pub const DEFAULT_QUERY: &str = "Summarize our 2024 sales data";

/// Runs an AI agent's query across MCP servers and shows it as one distributed trace.
///
/// With --model, a model on any OpenAI-compatible endpoint (OpenAI, Ollama, vLLM,
/// llama.cpp, LM Studio, LiteLLM, OpenRouter) answers by calling the servers' tools.
/// Without it, the offline demo agent answers sales-summary questions from the sample
/// data, needing no key and no network, and refuses other questions.
///
/// With no --config, the host starts the two bundled servers on the sample data
/// (examples/data): a file server and a SQLite database server, each its own child
/// process over stdio. It prints the answer on stdout, then the unified span tree of all
/// three processes.
///
/// Environment: OPENAI_API_KEY (the model's key; optional for local servers),
/// OPENAI_BASE_URL (instead of --base-url), OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT
/// (true: prompts and completions on the chat spans; default off), TRACEPARENT /
/// TRACESTATE (join an outer trace), and the standard OpenTelemetry variables
/// (OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_HEADERS, ...; CONFIDENT_API_KEY for
/// Confident AI), which every server inherits. Logs go to stderr (RUST_LOG).
#[derive(Debug, Parser)]
#[command(name = "mcp-host", version, subcommand_precedence_over_arg = true)]
pub struct Cli {
    /// What to do instead of answering a query.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// The question for the agent [default: "Summarize our 2024 sales data"].
    #[arg(value_name = "QUERY")]
    pub query: Option<String>,

    /// The model settings.
    #[command(flatten)]
    pub model: ModelArgs,

    /// Options shared by every mode.
    #[command(flatten)]
    pub common: Common,
}

/// Which model answers, and how it is asked.
#[derive(Debug, Clone, clap::Args)]
pub struct ModelArgs {
    /// Let this model answer by calling the servers' tools (e.g. gpt-4o-mini, llama3.1,
    /// qwen2.5). Without it, the offline demo agent answers.
    #[arg(long, value_name = "MODEL")]
    pub model: Option<String>,

    /// Base URL of an OpenAI-compatible API, e.g. http://localhost:11434/v1 (Ollama),
    /// http://localhost:8000/v1 (vLLM), http://localhost:8080/v1 (llama.cpp)
    /// [default: OPENAI_BASE_URL, else https://api.openai.com/v1].
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,

    /// Most model requests in one run before the agent gives up.
    #[arg(long, value_name = "N", default_value_t = crate::agent::DEFAULT_MAX_STEPS,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1000))]
    pub max_steps: usize,

    /// Seconds one model request may take (each retry gets as long again).
    #[arg(long, value_name = "SECONDS", default_value_t = 120.0)]
    pub model_timeout: f64,
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

    /// Write the trace to FILE as one self-contained HTML page: every span as a bar to
    /// scale, coloured by service, nesting collapsible, errors in red, each span's
    /// attributes, events and links on a click. It opens from disk and loads nothing.
    #[arg(long, value_name = "FILE", global = true)]
    pub trace_html: Option<PathBuf>,

    /// Do not print the trace tree.
    #[arg(long, global = true)]
    pub no_trace_view: bool,

    /// Listen for spans on ADDR (e.g. 127.0.0.1:4319) instead of an ephemeral port, so
    /// that servers you run yourself (--http servers) can join the printed tree: start them
    /// with TRACE_META_LOCAL_ENDPOINT=http://ADDR/v1/traces. The host then waits up to 6 s
    /// for the spans of the calls it made to them.
    #[arg(long, value_name = "ADDR", global = true)]
    pub receiver: Option<std::net::SocketAddr>,

    /// Seconds a tool call may wait for its answer. Past it the host gives the call up and
    /// tells the server (notifications/cancelled), which stops the work.
    #[arg(long, value_name = "SECONDS", default_value = "300", global = true,
          value_parser = parse_seconds)]
    pub call_timeout: std::time::Duration,
}

/// A positive number of seconds, at most a day.
fn parse_seconds(text: &str) -> Result<std::time::Duration, String> {
    match text.trim().parse::<f64>() {
        Ok(seconds) if seconds > 0.0 && seconds <= 86_400.0 => {
            Ok(std::time::Duration::from_secs_f64(seconds))
        }
        _ => Err(format!(
            "expected a number of seconds above 0 and at most 86400, got {text:?}"
        )),
    }
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
    /// Show a saved trace without a backend: the tree of each trace in FILE, or with
    /// --html OUT one HTML page. FILE is what --trace-json wrote or any OTLP/JSON export.
    /// Starts no server. Example: `mcp-host view trace.json --html trace.html`
    View(crate::view::command::ViewArgs),
}
