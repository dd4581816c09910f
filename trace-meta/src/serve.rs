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
    let transport = rmcp::transport::io::stdio_pipes();
    let running = tokio::select! {
        running = service.serve(transport) => match running {
            Ok(running) => running,
            // A client that goes away before the handshake ends the session normally.
            Err(rmcp::service::ServerInitializeError::ConnectionClosed(_)) => return Ok(()),
            Err(error) => return Err(ServeError::Initialize(Box::new(error))),
        },
        signal = shutdown_signal() => {
            tracing::info!("{signal} before the session started; exiting");
            return Ok(());
        }
    };
    let cancel = running.cancellation_token();
    let watcher = tokio::spawn(async move {
        let signal = shutdown_signal().await;
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
pub async fn shutdown_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
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
