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
    let (reader, writer) = rmcp::transport::io::stdio_pipes();
    let (closing, mut closed) = tokio::sync::watch::channel(false);
    let reader = NotifyOnEof {
        inner: reader,
        closing: closing.clone(),
    };
    let running = tokio::select! {
        running = service.serve((reader, writer)) => match running {
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
        let _ = closing.send(true);
        cancel.cancel();
    });
    // Once the client has gone (stdin EOF) or a signal came, requests still running get
    // SHUTDOWN_GRACE to finish; rmcp alone would wait up to 5 s for them, longer than a
    // client waits before it kills the server and its unflushed spans.
    let abandoned = async {
        let _ = closed.wait_for(|closed| *closed).await;
        tokio::time::sleep(SHUTDOWN_GRACE).await;
    };
    let reason = tokio::select! {
        reason = running.waiting() => reason,
        () = abandoned => {
            tracing::warn!(
                "requests still running {} ms after the session closed are abandoned",
                SHUTDOWN_GRACE.as_millis()
            );
            watcher.abort();
            return Ok(());
        }
    };
    watcher.abort();
    let reason = reason?;
    tracing::debug!(?reason, "session ended");
    Ok(())
}

/// How long requests in flight may run on after the session closes.
pub const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_millis(500);

/// Passes reads through and reports end of input, which rmcp handles out of sight.
struct NotifyOnEof<R> {
    inner: R,
    closing: tokio::sync::watch::Sender<bool>,
}

impl<R: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for NotifyOnEof<R> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = std::pin::Pin::new(&mut self.inner).poll_read(cx, buf);
        let at_end = match &polled {
            std::task::Poll::Ready(Ok(())) => buf.filled().len() == before && buf.remaining() > 0,
            std::task::Poll::Ready(Err(_)) => true,
            std::task::Poll::Pending => false,
        };
        if at_end {
            let _ = self.closing.send(true);
        }
        polled
    }
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
