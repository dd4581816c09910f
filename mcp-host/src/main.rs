//! `mcp-host`: runs an agent across MCP servers and shows the run as one distributed trace.
//!
//! The modules: [`config`] (MCP client config formats), [`servers`] (child processes and
//! their sessions), [`agent`] (what to do with a query), [`receiver`] (the local OTLP
//! receiver), [`view`] (the span tree and OTLP/JSON), [`app`] (wiring them together).

mod agent;
mod app;
mod bench;
mod cli;
mod config;
pub mod proxy;
mod receiver;
mod servers;
mod view;
pub mod wrap_config;

use std::process::ExitCode;

/// First argument of the hidden mode in which this executable is one of the bundled servers.
pub const SERVE_ARG: &str = "__serve";

fn main() -> ExitCode {
    let mut args = std::env::args_os();
    if args.nth(1).is_some_and(|a| a == SERVE_ARG) {
        return app::serve_bundled(args.collect());
    }
    app::main()
}
