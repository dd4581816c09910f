//! The server process: telemetry, signals, a transport, and a flush on the way out.
//!
//! [`run`] is the whole life of a server process in one call, for both transports:
//! 1. set up telemetry ([`telemetry::init`](crate::telemetry::init));
//! 2. start a single-threaded tokio runtime and install the SIGTERM/SIGINT handlers before
//!    anything is served, so a signal at any moment ends the process through the normal path;
//! 3. [`serve`] over stdio or Streamable HTTP until the client leaves (stdin EOF) or a signal
//!    comes;
//! 4. give requests in flight their grace ([`STDIO_SHUTDOWN_GRACE`] over stdio,
//!    [`HttpConfig::with_shutdown_grace`](crate::HttpConfig::with_shutdown_grace) over HTTP),
//!    then flush the spans.
//!
//! [`serve`] is step 3 alone, with shutdown as a future the caller passes in (mini-redis
//! style), so tests stop a server without sending signals.

use std::future::Future;

use rmcp::{RoleServer, ServerHandler, Service, ServiceExt};

#[cfg(feature = "http-server")]
use crate::http::{HttpConfig, HttpServeError, HttpServer};

/// Why serving stopped early.
///
/// Each message says what failed; the cause is its `source()` (print the chain, e.g. with
/// anyhow's `{:#}`, to see both).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The session could not be set up (a broken handshake, not a closed stdin).
    #[error("MCP session setup failed")]
    Initialize(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The session's task failed.
    #[error("MCP session ended with an error")]
    Session(#[from] tokio::task::JoinError),
    /// The HTTP listener could not be set up, or stopped accepting.
    #[cfg(feature = "http-server")]
    #[error(transparent)]
    Http(#[from] HttpServeError),
}

/// Why [`run`] failed.
///
/// Each message says what failed; the cause is its `source()` (print the chain, e.g. with
/// anyhow's `{:#}`, to see both).
#[cfg(feature = "telemetry")]
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// Telemetry could not be set up.
    #[error("cannot set up telemetry")]
    Telemetry(#[from] crate::telemetry::TelemetryError),
    /// The tokio runtime could not be started.
    #[error("cannot start the tokio runtime")]
    Runtime(#[source] std::io::Error),
    /// The handler could not be built ([`run_with`]): the builder's error, as it is
    /// (its message and its `source()`).
    #[error(transparent)]
    Setup(Box<dyn std::error::Error + Send + Sync>),
    /// Serving failed.
    #[error(transparent)]
    Serve(#[from] ServeError),
}

/// The transport a server speaks.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ServerTransport {
    /// JSON-RPC on stdin/stdout, one session, until stdin closes.
    Stdio,
    /// Streamable HTTP on a TCP listener bound to `addr`, any number of clients, until shut
    /// down.
    #[cfg(feature = "http-server")]
    Http {
        /// Where to listen (port 0: a free port, announced on stderr).
        addr: std::net::SocketAddr,
        /// The guards and limits.
        config: HttpConfig,
    },
}

/// Runs a server process from start to exit; see the module doc.
///
/// It builds its own runtime and blocks, so call it from a plain `main`:
///
/// ```no_run
/// # #[derive(Clone)] struct MyServer;
/// # impl rmcp::ServerHandler for MyServer {}
/// fn main() -> anyhow::Result<()> {
///     trace_meta::run("my-server", MyServer, trace_meta::ServerTransport::Stdio)?;
///     Ok(())
/// }
/// ```
#[cfg(feature = "telemetry")]
pub fn run<H>(service_name: &str, handler: H, transport: ServerTransport) -> Result<(), RunError>
where
    H: ServerHandler,
{
    run_with(service_name, transport, || async {
        Ok::<_, std::convert::Infallible>(handler)
    })
}

/// [`run`] with a handler built by `make` inside the server's runtime, once telemetry is
/// up and the signal handlers are installed: for a handler whose setup is async or must
/// live on that runtime (a database pool, whose connections are tasks of it). When `make`
/// fails, nothing is served; the spans recorded so far are flushed and the error is
/// returned as [`RunError::Setup`].
///
/// ```no_run
/// # #[derive(Clone)] struct MyServer;
/// # impl rmcp::ServerHandler for MyServer {}
/// # async fn connect() -> Result<MyServer, std::io::Error> { Ok(MyServer) }
/// fn main() -> anyhow::Result<()> {
///     trace_meta::run_with("my-server", trace_meta::ServerTransport::Stdio, connect)?;
///     Ok(())
/// }
/// ```
#[cfg(feature = "telemetry")]
pub fn run_with<H, F, Fut, E>(
    service_name: &str,
    transport: ServerTransport,
    make: F,
) -> Result<(), RunError>
where
    H: ServerHandler,
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<H, E>>,
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    run_with_telemetry(
        crate::telemetry::Telemetry::new(service_name),
        transport,
        make,
    )
}

/// [`run_with`] with telemetry set up as `telemetry` says (a default log filter, span
/// return, an exporter of your own) rather than from the service name and the environment
/// alone. `cli::ServeArgs::telemetry` builds one from a server's flags.
///
/// ```no_run
/// # #[derive(Clone)] struct MyServer;
/// # impl rmcp::ServerHandler for MyServer {}
/// # async fn connect() -> Result<MyServer, std::io::Error> { Ok(MyServer) }
/// fn main() -> anyhow::Result<()> {
///     let telemetry = trace_meta::telemetry::Telemetry::new("my-server").with_default_log_filter("info");
///     trace_meta::run_with_telemetry(telemetry, trace_meta::ServerTransport::Stdio, connect)?;
///     Ok(())
/// }
/// ```
#[cfg(feature = "telemetry")]
pub fn run_with_telemetry<H, F, Fut, E>(
    telemetry: crate::telemetry::Telemetry,
    transport: ServerTransport,
    make: F,
) -> Result<(), RunError>
where
    H: ServerHandler,
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<H, E>>,
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let service_name = telemetry.service_name().to_owned();
    let mut telemetry = telemetry.init()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .thread_name(service_name)
        .build()
        .map_err(RunError::Runtime)?;
    let served = runtime.block_on(async {
        // Before anything else: a signal during setup must still end the process cleanly.
        let mut signals = StopSignals::install();
        let handler = tokio::select! {
            made = make() => made.map_err(|e| RunError::Setup(e.into()))?,
            signal = signals.recv() => {
                tracing::info!("{signal}: shutting down before serving");
                return Ok(());
            }
        };
        // The first signal starts the shutdown (an HTTP server drains); a second one cuts
        // the drain short, so an operator is never stuck behind a long grace.
        let (first, first_seen) = tokio::sync::oneshot::channel::<()>();
        let shutdown = async move {
            let _ = first_seen.await;
        };
        let serving = serve(handler, transport, shutdown);
        tokio::pin!(serving);
        let signal = tokio::select! {
            served = &mut serving => return served.map_err(RunError::from),
            signal = signals.recv() => signal,
        };
        tracing::info!("{signal}: shutting down");
        let _ = first.send(());
        tokio::select! {
            served = &mut serving => served.map_err(RunError::from),
            again = signals.recv() => {
                tracing::warn!("{again} again: requests still in flight are abandoned");
                Ok(())
            }
        }
    });
    // A statement still running on a blocking thread has no one to answer, and when stdin
    // is not a pipe rmcp reads it on a blocking thread: neither may hold the exit up. The
    // short wait lets the runtime drop the tasks it still has, which ends their spans so
    // the flush below exports them.
    runtime.shutdown_timeout(RUNTIME_SHUTDOWN_TIMEOUT);
    // Flush before reporting any error, so the spans of a failed session still leave. A
    // failed flush is logged inside and does not change how the session ended.
    let _logged = telemetry.shutdown();
    served
}

/// How long the runtime waits for leftover tasks (a blocked stdin read) when it stops.
#[cfg(feature = "telemetry")]
const RUNTIME_SHUTDOWN_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(200);

/// Serves `handler`, each request in a SERVER span ([`Traced`](crate::Traced)), over
/// `transport` until the client leaves (stdio) or `shutdown` resolves.
///
/// Over HTTP it first binds the address and writes `listening on http://ADDR/mcp` to stderr
/// (the actual port, when the address asked for port 0).
pub async fn serve<H>(
    handler: H,
    transport: ServerTransport,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServeError>
where
    H: ServerHandler,
{
    match transport {
        ServerTransport::Stdio => serve_stdio(crate::Traced::new(handler), shutdown).await,
        #[cfg(feature = "http-server")]
        ServerTransport::Http { addr, config } => {
            let server = HttpServer::bind(addr, config).await?;
            announce(&server.url());
            Ok(server.serve(handler, shutdown).await?)
        }
    }
}

#[cfg(feature = "http-server")]
/// Tells whoever started the server where it listens (stderr: stdout is not ours to use).
fn announce(url: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "listening on {url}");
    tracing::info!(url, "serving MCP over Streamable HTTP");
}

/// Serves `service` on stdin/stdout until stdin reaches EOF or `shutdown` resolves.
///
/// Every line is checked before rmcp reads it, so malformed input gets the JSON-RPC error
/// it should (`-32700`, `-32600`, `-32601`, `-32602`; see `jsonrpc.rs`).
/// Stdout carries JSON-RPC only; logs belong on stderr (which
/// [`telemetry::init`](crate::telemetry::init) arranges). Where stdin and stdout are pipes,
/// as MCP clients launch servers, they are driven without blocking threads, so a shutdown
/// never waits on a pending read.
async fn serve_stdio<S: Service<RoleServer>>(
    service: S,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServeError> {
    let (reader, writer) = rmcp::transport::io::stdio_pipes();
    let (closing, mut closed) = tokio::sync::watch::channel(false);
    let reader = NotifyOnEof {
        inner: reader,
        closing: closing.clone(),
    };
    // Malformed lines are answered at the boundary, as JSON-RPC prescribes; valid ones
    // reach rmcp unchanged (see `crate::jsonrpc`).
    let transport = crate::stdio::StdioTransport::new(reader, writer);
    // Polled on the caller's task, not a spawned one: it need not be Send or 'static.
    tokio::pin!(shutdown);
    let running = tokio::select! {
        running = service.serve(transport) => match running {
            Ok(running) => running,
            // A client that goes away before the handshake ends the session normally.
            Err(rmcp::service::ServerInitializeError::ConnectionClosed(_)) => return Ok(()),
            Err(error) => return Err(ServeError::Initialize(Box::new(error))),
        },
        () = &mut shutdown => {
            tracing::info!("shutdown before the session started; exiting");
            return Ok(());
        }
    };
    // One stdio connection is one session: timed from the handshake to the end of serving.
    let _session = session_timer(running.peer().peer_info().as_deref());
    let cancel = running.cancellation_token();
    let watcher = async {
        (&mut shutdown).await;
        let _ = closing.send(true);
        cancel.cancel();
        std::future::pending::<()>().await
    };
    // Once the client has gone (stdin EOF) or shutdown came, requests still running get
    // STDIO_SHUTDOWN_GRACE to finish; rmcp alone would wait up to 5 s for them, longer than a
    // client waits before it kills the server and its unflushed spans.
    let abandoned = async {
        let _ = closed.wait_for(|closed| *closed).await;
        tokio::time::sleep(STDIO_SHUTDOWN_GRACE).await;
    };
    let reason = tokio::select! {
        reason = running.waiting() => reason,
        () = watcher => unreachable!("the watcher never finishes"),
        () = abandoned => {
            tracing::warn!(
                "requests still running {} ms after the session closed are abandoned",
                STDIO_SHUTDOWN_GRACE.as_millis()
            );
            return Ok(());
        }
    };
    let reason = reason?;
    tracing::debug!(?reason, "session ended");
    Ok(())
}

/// The timer of a stdio session, with the protocol version the client asked for.
fn session_timer(
    client: Option<&rmcp::model::InitializeRequestParams>,
) -> crate::metrics::SessionTimer {
    let timer = crate::metrics::SessionTimer::server(crate::NetworkTransport::Pipe);
    match client {
        Some(client) => timer.with_protocol_version(&client.protocol_version),
        None => timer,
    }
}

/// How long requests in flight may run on after a stdio session closes (stdin EOF or a
/// signal): short, because the client that closed it waits for the process to exit. Over
/// HTTP the grace is [`HttpConfig::with_shutdown_grace`](crate::HttpConfig::with_shutdown_grace).
pub const STDIO_SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_millis(500);

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

/// A signal that asks the process to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StopSignal {
    /// SIGTERM: an MCP client or a supervisor ends the process.
    Terminate,
    /// SIGINT: Ctrl-C (also Ctrl-C where there are no Unix signals).
    Interrupt,
}

impl StopSignal {
    /// The signal's number (15, 2), as a shell's `128 + N` exit status counts it.
    pub fn number(self) -> u8 {
        match self {
            Self::Terminate => 15,
            Self::Interrupt => 2,
        }
    }

    /// The exit status a shell reports for a process this signal ended: `128 + N` (143,
    /// 130).
    pub fn exit_status(self) -> u8 {
        128 + self.number()
    }
}

impl std::fmt::Display for StopSignal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Terminate => "SIGTERM",
            Self::Interrupt => "SIGINT",
        })
    }
}

/// Resolves when the process receives SIGTERM or SIGINT, saying which.
///
/// The handlers are installed when this is first polled.
pub async fn shutdown_signal() -> StopSignal {
    StopSignals::install().recv().await
}

/// SIGTERM and SIGINT handlers, installed on creation and kept: a signal that arrives while
/// no one waits is kept for the next [`recv`](Self::recv). For a process that handles
/// several signals over its life (a conversation that cancels a turn on each Ctrl-C); a
/// single wait is [`shutdown_signal`].
pub struct StopSignals {
    #[cfg(unix)]
    streams: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
}

impl std::fmt::Debug for StopSignals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StopSignals").finish_non_exhaustive()
    }
}

impl StopSignals {
    /// Installs the handlers; when they cannot be installed, says so once on the log and
    /// [`recv`](Self::recv) never resolves (only the client can end the process).
    pub fn install() -> Self {
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
                        "cannot listen for SIGTERM/SIGINT; only the client (or SIGKILL) can end this process"
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

    /// The next SIGTERM or SIGINT.
    pub async fn recv(&mut self) -> StopSignal {
        #[cfg(unix)]
        {
            let Some((term, int)) = &mut self.streams else {
                return std::future::pending().await;
            };
            tokio::select! {
                _ = term.recv() => StopSignal::Terminate,
                _ = int.recv() => StopSignal::Interrupt,
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            StopSignal::Interrupt
        }
    }
}
