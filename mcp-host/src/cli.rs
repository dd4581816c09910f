//! Command line of `mcp-host`.

// The doc comments below are also the `--help` text, where URLs stay plain.
#![allow(rustdoc::bare_urls)]

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::{run::RunOptions, servers::Calls, view::TraceOutput};

/// The query run when none is given.
pub(crate) const DEFAULT_QUERY: &str = "Summarize our 2024 sales data";

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
/// `mcp-host chat` holds a conversation instead: each question is one trace, all of them
/// with one conversation id, and the model remembers the earlier turns.
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

    /// How the traces of a conversation are grouped in the backend.
    #[command(flatten)]
    pub grouping: GroupingArgs,

    /// What Confident AI evaluates and how it prices the model calls.
    #[command(flatten)]
    pub evaluation: EvaluationArgs,

    /// Options shared by every mode.
    #[command(flatten)]
    pub common: Common,
}

impl Cli {
    /// Parses the command line (exiting on `--help`, `--version` and errors, as clap does)
    /// and refuses, with the reason, an option the chosen command would ignore: an agent
    /// option (model, grouping, evaluation) before a command that runs no agent (or before
    /// `chat`, which takes them after its name), and a server or trace option given to
    /// `view`, `proxy`, `bench` or `wrap-config`, which do not use it.
    pub fn parse_checked() -> Self {
        use clap::{CommandFactory as _, FromArgMatches as _};
        let mut command = Self::command();
        let matches = command.clone().get_matches();
        if let Err(message) = check_applicable(&matches, &command) {
            clap::Error::raw(
                clap::error::ErrorKind::ArgumentConflict,
                format!("{message}\n"),
            )
            .with_cmd(&command)
            .exit();
        }
        Self::from_arg_matches(&matches).unwrap_or_else(|error| error.format(&mut command).exit())
    }
}

/// The ids of the options of `T`.
fn ids_of<T: clap::Args>() -> Vec<String> {
    T::augment_args(clap::Command::new("ids"))
        .get_arguments()
        .map(|arg| arg.get_id().to_string())
        .collect()
}

/// Whether `id` was given on the command line (not taken from the environment or a default).
fn given(matches: &clap::ArgMatches, id: &str) -> bool {
    matches.try_contains_id(id).is_ok_and(|present| present)
        && matches.value_source(id) == Some(clap::parser::ValueSource::CommandLine)
}

/// The shared options ([`Common`]) a subcommand uses, when it does not use them all.
fn common_options_used_by(subcommand: &str) -> Option<&'static [&'static str]> {
    match subcommand {
        "view" => Some(&["trace_json", "trace_html", "no_trace_view"]),
        "proxy" => Some(&["no_span_return"]),
        "bench" | "wrap-config" => Some(&[]),
        "load" => Some(&["call_timeout", "no_span_return", "retries"]),
        _ => None,
    }
}

/// The refusal of [`Cli::parse_checked`], if any.
fn check_applicable(matches: &clap::ArgMatches, command: &clap::Command) -> Result<(), String> {
    let Some((name, sub)) = matches.subcommand() else {
        return Ok(());
    };
    let flag = |id: &str| {
        command
            .get_arguments()
            .find(|arg| arg.get_id() == id)
            .and_then(|arg| arg.get_long())
            .map_or_else(|| id.to_owned(), |long| format!("--{long}"))
    };
    let agent = [
        ids_of::<ModelArgs>(),
        ids_of::<GroupingArgs>(),
        ids_of::<EvaluationArgs>(),
    ]
    .concat();
    if let Some(id) = agent.iter().find(|id| given(matches, id)) {
        let option = flag(id);
        return Err(if name == "chat" {
            format!("{option} goes after `chat`: mcp-host chat {option} ...")
        } else {
            format!(
                "{option} is for a question the agent answers (mcp-host {option} ... \"QUESTION\") or `chat`; `{name}` does not use it"
            )
        });
    }
    let Some(used) = common_options_used_by(name) else {
        return Ok(());
    };
    let unused = ids_of::<Common>()
        .into_iter()
        .filter(|id| !used.contains(&id.as_str()))
        .find(|id| given(sub, id) || given(matches, id));
    match unused {
        Some(id) => Err(format!("`{name}` does not use {}", flag(&id))),
        None => Ok(()),
    }
}

/// Options of `mcp-host chat` beyond the shared ones.
#[derive(Debug, Clone, clap::Args)]
pub struct ChatArgs {
    /// Earlier turns the model is sent with each question (0: none, every question stands
    /// alone). Older turns are dropped whole; so are turns past about 400,000 characters.
    #[arg(long, value_name = "N", default_value_t = crate::agent::history::DEFAULT_MAX_TURNS)]
    pub history_turns: usize,

    /// The model settings.
    #[command(flatten)]
    pub model: ModelArgs,

    /// How the conversation's traces are grouped in the backend.
    #[command(flatten)]
    pub grouping: GroupingArgs,

    /// What Confident AI evaluates and how it prices the model calls.
    #[command(flatten)]
    pub evaluation: EvaluationArgs,
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

    /// Most model requests for one question before the agent gives up.
    #[arg(long, value_name = "N", default_value_t = crate::agent::DEFAULT_MAX_STEPS,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1000))]
    pub max_steps: usize,

    /// Seconds a model request may wait: for the answer to begin, then for each next piece
    /// of a streamed answer (each retry gets as long again).
    #[arg(long, value_name = "SECONDS", default_value_t = 120.0)]
    pub model_timeout: f64,

    /// Ask for whole answers instead of streamed ones (stream: false). By default answers
    /// stream and are printed as they are written.
    #[arg(long)]
    pub no_stream: bool,
}

/// How the traces of a conversation are grouped in a backend: set on every turn's root
/// span as `gen_ai.conversation.id` and Confident AI's `confident.trace.*`. Nothing given,
/// nothing recorded (but `mcp-host chat` always has a conversation id).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct GroupingArgs {
    /// The conversation (thread) id: groups the turns of one conversation, and resumes one
    /// in the backend when given again [chat default: a new random id].
    #[arg(long, value_name = "ID", env = "MCP_HOST_THREAD_ID")]
    pub thread_id: Option<String>,

    /// The user the conversation is for (confident.trace.user_id).
    #[arg(long, value_name = "ID", env = "MCP_HOST_USER_ID")]
    pub user_id: Option<String>,

    /// A tag for the traces (confident.trace.tags). Repeatable; from the environment,
    /// comma-separated.
    #[arg(
        long = "tag",
        value_name = "TAG",
        env = "MCP_HOST_TAGS",
        value_delimiter = ','
    )]
    pub tags: Vec<String>,

    /// A KEY=VALUE pair for the traces' metadata (confident.trace.metadata, a JSON object).
    /// Repeatable; from the environment, comma-separated.
    #[arg(long = "metadata", value_name = "KEY=VALUE", env = "MCP_HOST_METADATA",
          value_delimiter = ',', value_parser = parse_key_value)]
    pub metadata: Vec<(String, String)>,

    /// The environment the traces come from, e.g. production, staging
    /// (confident.trace.environment).
    #[arg(long, value_name = "NAME", env = "MCP_HOST_ENVIRONMENT")]
    pub environment: Option<String>,
}

/// `KEY=VALUE`, the key not empty.
fn parse_key_value(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => {
            Ok((key.trim().to_owned(), value.trim().to_owned()))
        }
        _ => Err(format!("expected KEY=VALUE, got {text:?}")),
    }
}

/// Options shared by every mode.
#[derive(Debug, Clone, clap::Args)]
pub struct Common {
    /// MCP client config to take servers from, as the client wrote it: Claude Desktop,
    /// Cursor, Windsurf, Claude Code ({"mcpServers": ...}, and ~/.claude.json's per-project
    /// tables), VS Code (mcp.json's {"servers": ...}, settings.json's {"mcp": {"servers":
    /// ...}}); stdio and http entries. Default: the bundled servers.
    #[arg(long, short, value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,

    /// Folder of sample data for the bundled servers (default: the repository's examples/data).
    #[arg(long, value_name = "DIR", global = true)]
    pub data_dir: Option<PathBuf>,

    /// Point the bundled db-server at this database instead of the sample data: a
    /// PostgreSQL URL (postgres://USER@HOST:PORT/DATABASE) or sqlite:PATH. It reaches
    /// db-server as its DATABASE_URL variable, never on a command line; prefer
    /// MCP_HOST_DATABASE_URL to the flag for a URL with a password. A DATABASE_URL of your
    /// shell is not used: the bundled servers serve the sample data unless this is given.
    #[arg(
        long,
        value_name = "URL",
        env = "MCP_HOST_DATABASE_URL",
        hide_env_values = true,
        global = true
    )]
    pub database_url: Option<String>,

    /// Write every collected span to FILE as OTLP/JSON (an ExportTraceServiceRequest).
    #[arg(long, value_name = "FILE", global = true)]
    pub trace_json: Option<PathBuf>,

    /// Write the trace to FILE as one self-contained HTML page: every span as a bar to
    /// scale, coloured by service, nesting collapsible, errors in red, each span's
    /// attributes, events and links on a click. It opens from disk and loads nothing.
    /// `chat` writes one page for the conversation, a section for the servers' start and
    /// one per turn.
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

    /// Do not ask servers for the spans of their tool calls and resource reads. By default
    /// the host asks (`_meta.otel`, SEP-2448 span return), so a server that returns them
    /// (file-server and db-server with --return-spans, Arcade's passback middleware) shows
    /// its work in the trace even when it exports nowhere the host does. Returned spans are
    /// checked (same trace, under the call's span, at most 1000 spans in 1 MiB) and sent
    /// on under the server's own service name; a server that also exports them where the
    /// host does says so, and they are not sent twice.
    #[arg(long, global = true)]
    pub no_span_return: bool,

    /// Times a tool call that failed on the way (a connection reset or refused, a load
    /// balancer's 502, 503 or 504) is sent again, when its server lists the tool as safe to
    /// repeat (readOnlyHint or idempotentHint). Behind a load balancer the new attempt
    /// reaches another replica. A write, an answered call (any other HTTP status) and a
    /// timed-out call are never repeated; --call-timeout bounds each attempt. 0: never; at
    /// most 10.
    #[arg(long, value_name = "N", default_value_t = 2, global = true,
          value_parser = clap::value_parser!(u32).range(0..=10))]
    pub retries: u32,
}

/// Confident AI's online evaluations and costs: a metric collection (made in Confident AI's
/// dashboard) named on a trace or a span has its metrics run on it as it arrives; a model
/// span's token counts are priced with the costs it carries. Nothing given, nothing
/// recorded.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct EvaluationArgs {
    /// Metric collection Confident AI evaluates every turn's trace with
    /// (confident.trace.metric_collection on the root span).
    #[arg(long, value_name = "NAME", env = "MCP_HOST_METRIC_COLLECTION")]
    pub metric_collection: Option<String>,

    /// Metric collection for the agent span (confident.span.metric_collection on mcp-agent).
    #[arg(long, value_name = "NAME", env = "MCP_HOST_AGENT_METRIC_COLLECTION")]
    pub agent_metric_collection: Option<String>,

    /// Metric collection for each model call (confident.span.metric_collection on the
    /// chat spans, and on llm-summarize offline).
    #[arg(long, value_name = "NAME", env = "MCP_HOST_LLM_METRIC_COLLECTION")]
    pub llm_metric_collection: Option<String>,

    /// Metric collection for each tool call (confident.span.metric_collection on the
    /// mcp-tool-* spans).
    #[arg(long, value_name = "NAME", env = "MCP_HOST_TOOL_METRIC_COLLECTION")]
    pub tool_metric_collection: Option<String>,

    /// The model's price in USD per million input tokens; Confident AI shows each model
    /// call's cost from it (confident.llm.cost_per_input_token on the chat spans).
    #[arg(long, value_name = "USD", env = "MCP_HOST_PRICE_INPUT",
          value_parser = parse_price)]
    pub price_input: Option<f64>,

    /// The model's price in USD per million output tokens
    /// (confident.llm.cost_per_output_token on the chat spans).
    #[arg(long, value_name = "USD", env = "MCP_HOST_PRICE_OUTPUT",
          value_parser = parse_price)]
    pub price_output: Option<f64>,
}

impl EvaluationArgs {
    /// The collections and per-token prices given; blank names are not given.
    pub fn evaluation(&self) -> crate::evaluation::Evaluation {
        let given = |value: &Option<String>| {
            value
                .as_deref()
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        crate::evaluation::Evaluation {
            trace: given(&self.metric_collection),
            agent: given(&self.agent_metric_collection),
            llm: given(&self.llm_metric_collection),
            tool: given(&self.tool_metric_collection),
            cost_per_input_token: self.price_input.map(|usd| usd / 1e6),
            cost_per_output_token: self.price_output.map(|usd| usd / 1e6),
        }
    }
}

/// A price: a finite number of dollars, zero or more.
fn parse_price(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(usd) if usd.is_finite() && usd >= 0.0 => Ok(usd),
        _ => Err(format!(
            "expected a price in USD per million tokens (e.g. 0.15), got {text:?}"
        )),
    }
}

impl GroupingArgs {
    /// The grouping keys given.
    pub fn grouping(&self) -> crate::agent::Grouping {
        crate::agent::Grouping::given(
            self.thread_id.as_deref(),
            self.user_id.as_deref(),
            &self.tags,
            &self.metadata,
            self.environment.as_deref(),
        )
    }
}

impl Common {
    /// What the host asks servers for back on each call: the whole tree under their span.
    pub fn span_return(&self) -> Option<trace_meta::span_return::SpanRequest> {
        (!self.no_span_return).then_some(trace_meta::span_return::SpanRequest { detailed: true })
    }

    /// What becomes of a command's trace.
    pub fn trace_output(&self) -> TraceOutput {
        TraceOutput {
            tree: !self.no_trace_view,
            json: self.trace_json.clone(),
            html: self.trace_html.clone(),
        }
    }

    /// How a run of the host is set up, its tool calls recording `tool_attributes`.
    pub fn run_options(&self, tool_attributes: Vec<opentelemetry::KeyValue>) -> RunOptions {
        RunOptions {
            receiver: self.receiver,
            calls: Calls {
                timeout: self.call_timeout,
                span_return: self.span_return(),
                tool_attributes,
                retry: trace_meta::Retry::new(self.retries),
            },
            output: self.trace_output(),
        }
    }
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
    /// Hold a conversation: ask a question per line, each answered over the same servers
    /// (one trace per question, one conversation id for all). The model remembers earlier
    /// turns. With a terminal: line editing and history, Ctrl-C cancels the answer in
    /// progress, Ctrl-D ends; /help lists the commands. With stdin piped: one question per
    /// line, answered in turn. Example:
    /// `mcp-host chat --model llama3.1 --base-url http://localhost:11434/v1`
    Chat(Box<ChatArgs>),
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
    /// Send many traced tool calls to one server (a command after --, or --url, e.g. a load
    /// balancer in front of replicas) through the host's call path, with retries of calls
    /// safe to repeat; report outcomes, latency, and the memory, descriptors and threads of
    /// each process over the run (a soak). Each call is its own trace, exported where the
    /// OTEL_* variables say. Example:
    /// `mcp-host load --calls 100000 -- target/release/db-server`
    Load(Box<crate::load::LoadArgs>),
    /// Trace any stdio MCP server: relay it unchanged, each request a span. Example:
    /// `mcp-host proxy --name fs -- npx -y @modelcontextprotocol/server-filesystem /tmp`
    Proxy(trace_proxy::ProxyArgs),
    /// Print an MCP client config with every stdio server wrapped in `mcp-host proxy` (or,
    /// with --standalone, in the trace-proxy binary).
    WrapConfig(crate::wrap_config::WrapConfigArgs),
    /// Show a saved trace without a backend: the tree of each trace in FILE, or with
    /// --html OUT one HTML page. FILE is what --trace-json wrote or any OTLP/JSON export.
    /// Starts no server. Example: `mcp-host view trace.json --html trace.html`
    View(crate::view::ViewArgs),
}
