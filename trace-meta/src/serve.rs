//! Serving a traced handler over stdio until the client leaves or the process is told to stop.

use rmcp::{RoleServer, Service, ServiceExt};

/// Why [`serve_stdio`] stopped early.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The session could not be set up (a broken handshake, not a closed stdin).
    #[error("MCP session setup failed: {0}")]
    Initialize(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The session's task failed.
    #[error("MCP session ended with an error: {0}")]
    Session(#[from] tokio::task::JoinError),
}

/// Serves `service` on this process's stdin/stdout until stdin reaches EOF, or until
/// SIGTERM or SIGINT arrives; then returns so the caller's telemetry guard can flush.
///
/// Stdout carries JSON-RPC only; logs belong on stderr (which
/// [`telemetry::init`](crate::telemetry::init) arranges). Where stdin and stdout are pipes,
/// as MCP clients launch servers, they are driven without blocking threads, so a signal
/// never waits on a pending read.
pub async fn serve_stdio<S: Service<RoleServer>>(service: S) -> Result<(), ServeError> {
    // Listen before anything else: a signal that arrives during the handshake must stop
    // the server cleanly, not kill it with its spans unflushed.
    let mut signals = ShutdownSignals::install();
    let transport = rmcp::transport::io::stdio_pipes();
    let running = tokio::select! {
        running = service.serve(transport) => match running {
            Ok(running) => running,
            // A client that goes away before the handshake ends the session normally.
            Err(rmcp::service::ServerInitializeError::ConnectionClosed(_)) => return Ok(()),
            Err(error) => return Err(ServeError::Initialize(Box::new(error))),
        },
        signal = signals.recv() => {
            tracing::info!("{signal} before the session started; exiting");
            return Ok(());
        }
    };
    let cancel = running.cancellation_token();
    let watcher = tokio::spawn(async move {
        let signal = signals.recv().await;
        tracing::info!("{signal}: closing the session");
        cancel.cancel();
    });
    let reason = running.waiting().await;
    watcher.abort();
    let reason = reason?;
    tracing::debug!(?reason, "session ended");
    Ok(())
}

/// Resolves when the process receives SIGTERM or SIGINT, naming the signal.
///
/// The handlers are installed when this is first polled; [`serve_stdio`] installs its own
/// at once instead.
pub async fn shutdown_signal() -> &'static str {
    ShutdownSignals::install().recv().await
}

/// SIGTERM and SIGINT handlers, installed on creation.
struct ShutdownSignals {
    #[cfg(unix)]
    streams: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
}

impl ShutdownSignals {
    fn install() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let streams = match (
                signal(SignalKind::terminate()),
                signal(SignalKind::interrupt()),
            ) {
                (Ok(term), Ok(int)) => Some((term, int)),
                _ => {
                    tracing::warn!(
                        "cannot listen for SIGTERM/SIGINT; the server stops on stdin EOF only"
                    );
                    None
                }
            };
            Self { streams }
        }
        #[cfg(not(unix))]
        {
            Self {}
        }
    }

    async fn recv(&mut self) -> &'static str {
        #[cfg(unix)]
        {
            let Some((term, int)) = &mut self.streams else {
                return std::future::pending().await;
            };
            tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            "Ctrl-C"
        }
    }
}
