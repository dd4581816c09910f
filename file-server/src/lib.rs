//! A sandboxed filesystem MCP server over stdio, traced end to end.
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
//! - [`run`]: telemetry, the runtime and the stdio session, for this crate's binary and for
//!   any other binary that embeds the server.
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

use std::time::Duration;

use anyhow::Context as _;

pub use cli::Args;
pub use tools::FileServer;

/// How long the runtime waits for leftover tasks (a blocked stdin read) when it stops.
const RUNTIME_SHUTDOWN_TIMEOUT: Duration = Duration::from_millis(200);

/// How long the session gets to close by itself after SIGTERM/SIGINT before it is dropped.
const SIGNAL_GRACE: Duration = Duration::from_millis(500);

/// Runs the server on stdin/stdout until stdin closes or SIGTERM/SIGINT arrives, then
/// flushes the spans and returns `Ok(())`.
///
/// Fails before serving, with a message naming the directory, when an allowed directory
/// does not exist or is not a directory, or when none is given. Builds its own tokio
/// runtime, so call it from a plain `main`, not from inside a runtime.
pub fn run(args: Args) -> anyhow::Result<()> {
    let server = FileServer::from_args(&args).context("file-server cannot start")?;
    let mut telemetry =
        trace_meta::telemetry::init("file-server").context("cannot set up telemetry")?;
    tracing::info!(
        roots = ?server.roots().roots(),
        allow_write = args.allow_write,
        max_read_bytes = args.max_read_bytes,
        "file-server serving on stdio"
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .thread_name("file-server")
        .build()
        .context("cannot start the tokio runtime")?;
    let served = runtime.block_on(serve(server));
    runtime.shutdown_timeout(RUNTIME_SHUTDOWN_TIMEOUT);
    // Flush before reporting any error, so the spans of a failed session still leave.
    telemetry.shutdown();
    served.context("the MCP session failed")?;
    Ok(())
}

/// Serves `server` on stdio until stdin closes or SIGTERM/SIGINT arrives.
///
/// `trace_meta::serve_stdio` installs its signal handlers only once it is first polled, and a
/// SIGTERM before that would take the default action: death without flushing spans. The
/// handlers here are installed before serving starts, so a signal at any moment ends the
/// process through the normal path (and a clean exit status).
async fn serve(server: FileServer) -> Result<(), trace_meta::ServeError> {
    let early_signal = early_shutdown_signal();
    let serving = trace_meta::serve_stdio(trace_meta::Traced::new(server));
    tokio::pin!(serving);
    tokio::select! {
        biased;
        served = &mut serving => served,
        signal = early_signal => {
            tracing::info!("{signal}: stopping");
            // serve_stdio sees the same signal once its own handlers exist and then closes
            // the session cleanly; give it a moment to do so before dropping it.
            match tokio::time::timeout(SIGNAL_GRACE, &mut serving).await {
                Ok(served) => served,
                Err(_) => Ok(()),
            }
        }
    }
}

/// Installs SIGTERM/SIGINT handlers now and returns a future resolving on either.
fn early_shutdown_signal() -> impl std::future::Future<Output = &'static str> {
    use tokio::signal::unix::{SignalKind, signal};
    let handlers = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    );
    async move {
        match handlers {
            (Ok(mut term), Ok(mut int)) => tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            },
            // Without handlers serve_stdio's own signal handling is all there is.
            _ => std::future::pending().await,
        }
    }
}
