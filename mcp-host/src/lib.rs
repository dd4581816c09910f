//! `mcp-host`: runs an agent across MCP servers and shows the run as one distributed trace.
//!
//! The binary parses its arguments and calls [`run`]; everything else is this library, so
//! tests and other programs can drive the same agent:
//!
//! ```no_run
//! # async fn demo(toolbox: &dyn mcp_host::agent::Toolbox) -> anyhow::Result<()> {
//! use mcp_host::agent::{Agent, History, OfflineAgent, Silent, Turn};
//! let agent: Box<dyn Agent> = Box::new(OfflineAgent::default());
//! let mut history = History::default();
//! let turn = Turn {
//!     query: "Summarize our 2024 sales data",
//!     tools: toolbox,
//!     history: &mut history,
//!     output: &Silent,
//! };
//! let answer = agent.run(turn).await?;
//! # Ok(()) }
//! ```
//!
//! The parts:
//! - [`agent`]: the [`Agent`](agent::Agent) and [`Toolbox`](agent::Toolbox) seam, the
//!   model-driven agent, the offline demo agent and its sales logic.
//! - [`chat`]: a traced, streaming client for OpenAI-compatible Chat Completions endpoints.
//! - [`conversation`]: `mcp-host chat`, one trace per turn, grouped by conversation.
//! - [`config`]: MCP client config formats (Claude Desktop, Cursor, Claude Code, VS Code).
//! - [`servers`]: MCP servers as child processes: start, discover, call, shut down.
//! - [`toolbox`]: the running servers as the agent's toolbox.
//! - [`session`]: one command's telemetry, local receiver, root span and trace view.
//! - [`receiver`] and [`view`]: the local OTLP receiver, the printed span tree, the
//!   offline HTML page (`--trace-html`) and `mcp-host view` of saved OTLP/JSON files.
//! - [`bundled`]: the bundled file and database servers, run by this same executable.
//! - [`proxy`]: `mcp-host proxy`, a tracing stdio relay in front of any MCP server;
//!   [`wrap_config`] puts it into a client's config.
//! - [`app`]: the commands; [`cli`]: their arguments; [`bench`](mod@bench): the benchmark command.

pub mod agent;
pub mod app;
pub mod bench;
pub mod bundled;
pub mod chat;
pub mod child;
pub mod cli;
pub mod config;
pub mod conversation;
pub mod evaluation;
pub mod proxy;
pub mod receiver;
pub mod servers;
pub mod session;
pub mod signals;
pub mod toolbox;
pub mod view;
pub mod wrap_config;

pub use app::{install_tls_provider, run};
pub use cli::Cli;
