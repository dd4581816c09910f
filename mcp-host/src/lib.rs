//! `mcp-host`: runs an agent across MCP servers and shows the run as one distributed trace.
//!
//! The binary parses its arguments and calls [`run`]. The modules stack one way: commands
//! on top (`app`, `conversation`, `wrap_config`, `bench`, `load`, `view`'s command; `proxy` runs the
//! trace-proxy crate), with `cli` holding their clap types and turning them into the plain
//! options below; then one command's run (`run`: its telemetry, receiver and servers; not
//! an MCP session) and the running servers as a toolbox (`toolbox`); then the agent
//! (`agent`: its traits, the model-driven and offline agents, the root span and the
//! conversation's grouping keys); then leaves (`servers`, `chat`, `config`, `child`,
//! `signals`, `receiver`, `evaluation`). Nothing below imports `cli` or `app`.
//!
//! Public only for the binary and the test suites: [`bundled`] (the servers this
//! executable also is), [`receiver`] (the local OTLP receiver), [`chat`]'s metric buckets
//! and [`bench`](mod@bench)'s memory reading. It is not a library API.

mod agent;
mod app;
mod attr;
pub mod bench;
pub mod bundled;
pub mod chat;
mod child;
mod cli;
mod config;
mod conversation;
mod evaluation;
mod load;
mod run;
mod servers;
mod signals;
mod toolbox;
mod view;
mod wrap_config;

pub use app::run;
pub use cli::Cli;
/// The process's rustls provider, installed at start by [`run`] (trace-meta's, re-exported
/// for the host's HTTPS clients and tests).
pub use trace_meta::install_tls_provider;
/// The local OTLP receiver (trace-view's), for the test suites.
pub use trace_view::receiver;
