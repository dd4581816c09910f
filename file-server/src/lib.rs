//! A sandboxed filesystem MCP server over stdio or Streamable HTTP, traced end to end.
//!
//! `file-server` offers what the reference filesystem MCP server offers (read, list, search
//! and, with `--allow-write`, write files) inside a set of allowed directories, without the
//! path escapes that server was patched for: prefix matches (`/data2` is not inside
//! `/data`), symbolic links leading outside, FIFOs and devices, and paths swapped between
//! check and use.
//!
//! - [`sandbox`]: the path policy, independent of MCP ([`sandbox::AllowedRoots`]).
//! - [`tools`]: the MCP tools ([`tools::FileServer`], an rmcp `ServerHandler`).
//! - [`walk`]: the bounded directory walk behind `list_directory` and `search_files`.
//! - [`cli`]: the command line ([`Args`]).
//! - [`run`]: the process (telemetry, signals, stdio or `--http`, flush) through
//!   [`trace_meta::run`], for this crate's binary and for any other binary that embeds it.
//!
//! Each request runs in a SERVER span from [`trace_meta::Traced`] (`tool-{tool}` for tool
//! calls), parented on the W3C trace context in the request's `_meta`.
//!
//! ```no_run
//! use clap::Parser;
//! let args = file_server::Args::parse_from(["file-server", "--root", "/data"]);
//! file_server::run(args)?;
//! # Ok::<(), anyhow::Error>(())
//! ```

#![warn(missing_docs)]

pub mod cli;
pub mod sandbox;
pub mod tools;
pub mod walk;

use anyhow::Context as _;

pub use cli::Args;
pub use tools::FileServer;

/// Runs the server until the client leaves (stdin closes, over stdio) or SIGTERM/SIGINT
/// arrives, then flushes the spans and returns `Ok(())`. With `--http ADDR` it serves
/// Streamable HTTP at `http://ADDR/mcp` instead; [`trace_meta::run`] owns the process
/// lifecycle for both.
///
/// Fails before serving, with a message naming the directory, when an allowed directory
/// does not exist or is not a directory, or when none is given; and when `--http` or
/// `MCP_SERVER_TOKEN` is unusable. Builds its own tokio runtime, so call it from a plain
/// `main`, not from inside a runtime.
pub fn run(args: Args) -> anyhow::Result<()> {
    let server = args.server().context("cannot start")?;
    let transport = args.serve.transport().context("cannot start")?;
    tracing::debug!(
        roots = ?server.roots().roots(),
        allow_write = args.allow_write,
        max_read_bytes = args.max_read_bytes,
        "file-server starting"
    );
    let telemetry = args.serve.telemetry("file-server");
    trace_meta::run_with_telemetry(telemetry, transport, || async {
        Ok::<_, std::convert::Infallible>(server)
    })
    .context("stopped")?;
    Ok(())
}
