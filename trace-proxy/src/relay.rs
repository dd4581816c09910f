//! The proxy's process: the wrapped server, the two relays between it and the client, and
//! how it all ends.
//!
//! The lifecycle, in order:
//! 1. Telemetry is set up for the service `--name` (default: the wrapped command's base
//!    name) with the standard `OTEL_*` variables. With nowhere to export to, the proxy
//!    relays without tracing and changes nothing at all.
//! 2. The server starts in its own process group with the proxy's environment; its stderr
//!    is the proxy's stderr.
//! 3. Two relays run until one side ends: client → server (stdin to the server's stdin) and
//!    server → client (the server's stdout to stdout). Each line is written on before
//!    anything is recorded about it, so a span costs the message only the `_meta` edit.
//! 4. The client ends (stdin EOF): the server's stdin is closed after everything read was
//!    written; its answers are still relayed; it gets [`EXIT_GRACE`] to exit, then
//!    SIGTERM, then SIGKILL (the stdio transport's shutdown sequence).
//! 5. SIGTERM or SIGINT: the server's stdin is closed and the same signal is sent to it;
//!    it gets [`EXIT_GRACE`], then SIGKILL. A second signal kills it at once.
//! 6. The server ends (its stdout closes: it exited or crashed) or writes a line that is not
//!    JSON: every client request it did not answer gets a JSON-RPC error, a message on
//!    stderr says what happened, and the proxy stops.
//! 7. Spans still open end as failed, every span is flushed, and the proxy exits with the
//!    server's status (128 + N when signal N ended it; 1 when the proxy stopped a server
//!    that broke the protocol).

use std::{
    process::{ExitCode, Stdio},
    sync::Arc,
};

use tokio::{
    io::{AsyncBufReadExt, AsyncWrite, AsyncWriteExt, BufReader},
    process::{Child, ChildStdin, ChildStdout, Command},
    sync::Mutex,
};
use trace_meta::StopSignals;

use crate::{
    ProxyArgs,
    child::{EXIT_GRACE, Stage, describe_exit, exit_code, signal_group},
    ledger::{Answer, Direction, Ledger},
    message::{self, Kind, Line},
};

/// JSON-RPC error code of the answer the proxy sends for a request the server never
/// answered (the MCP SDKs' "connection closed").
pub const CONNECTION_CLOSED: i64 = -32000;

/// Most bytes of a line the proxy reads from either side at once; longer lines are still
/// relayed, in one piece, after they have been read whole.
const READ_BUFFER: usize = 64 * 1024;

/// How the proxy runs, beyond its command line.
#[derive(Debug, Clone)]
pub struct Options {
    program: String,
    span_return: bool,
}

impl Options {
    /// Options for a proxy that calls itself `program` in what it writes on stderr and in
    /// the errors it answers with (`trace-proxy`, `mcp-host proxy`); span return on.
    pub fn new(program: impl Into<String>) -> Self {
        Self {
            program: program.into(),
            span_return: true,
        }
    }

    /// Whether each `tools/call` and `resources/read` asks the wrapped server for its spans
    /// (`_meta.otel`, SEP-2448); on unless `--no-span-return`.
    pub fn with_span_return(mut self, span_return: bool) -> Self {
        self.span_return = span_return;
        self
    }
}

/// Why the proxy could not run. Once the wrapped server runs, how it ends is the exit
/// status, not an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProxyError {
    /// The proxy's own async runtime did not start.
    #[error("cannot start the proxy's runtime")]
    Runtime(#[source] std::io::Error),
    /// Telemetry could not be set up from the `OTEL_*` variables.
    #[error("cannot set up telemetry")]
    Telemetry(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The command line names no server.
    #[error("no server command")]
    NoCommand,
    /// The wrapped server did not start.
    #[error("cannot start the wrapped server `{program}`")]
    Spawn {
        /// The program that did not start.
        program: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The wrapped server started without the pipes the proxy needs.
    #[error("the wrapped server has no stdio pipes")]
    NoPipes,
}

/// Why the server → client relay stopped.
enum ServerEnd {
    /// The server closed its stdout.
    Eof,
    /// The server wrote a line that is not JSON; the excerpt is for the message.
    Garbage(String),
    /// Writing to the client failed: it is gone.
    ClientGone,
}

/// Why the client → server relay stopped.
enum ClientEnd {
    /// The client closed stdin; everything it sent was written to the server.
    Eof,
    /// Writing to the server failed: it is gone.
    ServerGone,
}

/// Runs the proxy until the wrapped server or the client ends; returns the exit status.
/// It blocks the calling thread (inside an async runtime, call it on a blocking thread).
///
/// The relay runs on a single-threaded runtime of its own: a message then crosses the
/// proxy on the thread that read it, with no wake-up of another thread on the way (export
/// runs on trace-meta's export thread).
///
/// With span return (the default, [`Options::with_span_return`]), each `tools/call` and
/// `resources/read` asks the wrapped server for its spans (`_meta.otel`, SEP-2448): the
/// proxy exports what comes back (checked, under the server's own service name) and takes
/// it out of the answer; a client that asked itself gets the spans, after the proxy's own
/// span.
pub fn run(args: ProxyArgs, options: Options) -> Result<ExitCode, ProxyError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(ProxyError::Runtime)?;
    let code = runtime.block_on(relay(args, options));
    // Not a plain drop: on a terminal, stdin is read on a blocking thread that only returns
    // at the next line, and dropping the runtime would wait for it.
    runtime.shutdown_background();
    code
}

/// [`run`] on the current runtime.
async fn relay(args: ProxyArgs, options: Options) -> Result<ExitCode, ProxyError> {
    let Options {
        program,
        span_return,
    } = options;
    let name = args.service_name();
    let who = format!("{program}: the wrapped server \"{name}\"");
    // Span return keeps the proxy's own span for a client that asks for the spans.
    let telemetry = trace_meta::telemetry::Telemetry::new(&name).with_span_return(span_return);
    let exporting = telemetry.exports_anywhere();
    let mut guard = telemetry
        .init()
        .map_err(|error| ProxyError::Telemetry(error.into()))?;
    // `init` installed the provider globally when tracing is on.
    let tracer = (exporting && guard.provider().is_some())
        .then(|| opentelemetry::global::tracer(env!("CARGO_PKG_NAME")));
    let ledger = Arc::new(Ledger::new(tracer, span_return));

    // Before the server starts: a signal from now on reaches it through us.
    let mut signals = StopSignals::install();
    let mut child = spawn(&args.command)?;
    let (Some(server_in), Some(server_out)) = (child.stdin.take(), child.stdout.take()) else {
        return Err(ProxyError::NoPipes);
    };
    let (client_in, client_out) = client_stdio();
    let client_out = Arc::new(Mutex::new(client_out));

    let stop_reading = Arc::new(tokio::sync::Notify::new());
    let mut to_server = tokio::spawn(relay_to_server(
        client_in,
        server_in,
        ledger.clone(),
        stop_reading.clone(),
    ));
    // Two tasks, so that each direction reads as soon as its input is ready.
    let mut to_client = tokio::spawn(relay_to_client(
        server_out,
        client_out.clone(),
        ledger.clone(),
    ));

    let mut to_server_done = false;
    let mut client_ended = false;
    let mut stage: Option<(Stage, tokio::time::Instant)> = None;
    let end = loop {
        let deadline = stage.map(|(_, at)| at);
        tokio::select! {
            end = &mut to_client => break end.unwrap_or(ServerEnd::Eof),
            joined = &mut to_server, if !to_server_done => {
                to_server_done = true;
                if matches!(joined, Ok(ClientEnd::Eof)) && stage.is_none() {
                    client_ended = true;
                    stage = Some((Stage::StdinClosed, tokio::time::Instant::now() + EXIT_GRACE));
                }
            }
            signal = signals.recv() => {
                if stage.is_some_and(|(s, _)| s != Stage::StdinClosed) {
                    signal_group(&child, libc::SIGKILL);
                    stage = Some((Stage::Killed, tokio::time::Instant::now() + EXIT_GRACE));
                } else {
                    tracing::info!("{signal}: passing it on to the wrapped server");
                    // The client relay writes the lines already received, then closes the
                    // server's stdin.
                    stop_reading.notify_one();
                    client_ended = true;
                    signal_group(&child, libc::c_int::from(signal.number()));
                    stage = Some((Stage::Signalled, tokio::time::Instant::now() + EXIT_GRACE));
                }
            }
            () = sleep_until(deadline), if deadline.is_some() => {
                stage = match stage.map(|(s, _)| s) {
                    Some(now @ (Stage::StdinClosed | Stage::Signalled)) => {
                        if now == Stage::StdinClosed {
                            tracing::warn!("the wrapped server did not exit {} s after its stdin closed; sending SIGTERM", EXIT_GRACE.as_secs());
                        }
                        let next = now.escalate(&child, &who);
                        Some((next, tokio::time::Instant::now() + EXIT_GRACE))
                    }
                    // Something else holds its stdout open; stop relaying.
                    _ => {
                        to_client.abort();
                        break ServerEnd::Eof;
                    }
                };
            }
        }
    };
    // The server's output is done with: whatever the client still sends goes nowhere.
    if !to_server_done {
        to_server.abort();
        let _ = (&mut to_server).await;
    }

    let stopped_by_proxy = matches!(end, ServerEnd::Garbage(_));
    if let ServerEnd::Garbage(excerpt) = &end {
        eprintln!(
            "{who} wrote a line that is not JSON to stdout ({excerpt}); \
             a stdio MCP server may write only JSON-RPC messages there (logs belong on stderr). Stopping it."
        );
    }
    // Without a stage yet, the server's stdin has just closed (the relay stopped above).
    let from = stage.map_or(Stage::StdinClosed, |(s, _)| s);
    let status = crate::child::stop(&mut child, from, &who).await;

    let reason = match (&end, status) {
        (ServerEnd::Garbage(_), _) => {
            format!("the wrapped server \"{name}\" broke the protocol")
        }
        (_, Some(status)) => format!("the wrapped server \"{name}\" {}", describe_exit(status)),
        (_, None) => format!("the wrapped server \"{name}\" stopped answering"),
    };
    let unanswered = ledger.abandon_all(&reason);
    if !unanswered.is_empty() && !matches!(end, ServerEnd::ClientGone) {
        let answers: String = unanswered
            .iter()
            .map(|request| {
                error_answer(
                    &request.id_raw,
                    &format!("{program}: {reason} before answering {}", request.method),
                )
            })
            .collect();
        // Bounded: a client that has stopped reading must not keep the proxy alive.
        let _ = tokio::time::timeout(EXIT_GRACE, async {
            let mut out = client_out.lock().await;
            let _ = out.write_all(answers.as_bytes()).await;
            let _ = out.flush().await;
        })
        .await;
    }
    if !client_ended && !matches!(end, ServerEnd::ClientGone) && !stopped_by_proxy {
        eprintln!(
            "{program}: {reason}{}",
            match unanswered.len() {
                0 => String::new(),
                n => format!("; {n} request(s) in flight were answered with an error"),
            }
        );
    }

    // The exporters block; keep them off the async threads.
    let _ = tokio::task::spawn_blocking(move || guard.shutdown()).await;
    Ok(match (stopped_by_proxy, status) {
        (true, _) | (false, None) => ExitCode::FAILURE,
        (false, Some(status)) => exit_code(status),
    })
}

/// Our stdin and stdout, driven without blocking threads wherever the OS allows.
///
/// Hosts built on Node (Claude Desktop, VS Code, Cursor, the Inspector) start servers on
/// Unix socket pairs rather than pipes; rmcp's `stdio_pipes` covers pipes and falls back to
/// tokio's thread-backed stdio otherwise, which costs a thread hand-off per read and write.
/// Sockets are therefore taken over directly: a duplicate of each descriptor, non-blocking
/// (a flag of our end's open file, which no other process shares: the server gets its
/// own pipes), registered with the runtime.
fn client_stdio() -> (
    Box<dyn tokio::io::AsyncRead + Send + Unpin>,
    Box<dyn AsyncWrite + Send + Unpin>,
) {
    fn socket(fd: std::os::fd::BorrowedFd<'_>) -> Option<tokio::net::UnixStream> {
        use std::os::fd::AsFd as _;
        let owned = fd.try_clone_to_owned().ok()?;
        let stat = {
            let mut stat = std::mem::MaybeUninit::<libc::stat>::uninit();
            use std::os::fd::AsRawFd as _;
            // SAFETY: fstat writes a `stat` for a descriptor we own.
            if unsafe { libc::fstat(owned.as_fd().as_raw_fd(), stat.as_mut_ptr()) } != 0 {
                return None;
            }
            // SAFETY: fstat succeeded, so it initialised the struct.
            unsafe { stat.assume_init() }
        };
        if stat.st_mode & libc::S_IFMT != libc::S_IFSOCK {
            return None;
        }
        let stream = std::os::unix::net::UnixStream::from(owned);
        stream.set_nonblocking(true).ok()?;
        tokio::net::UnixStream::from_std(stream).ok()
    }
    use std::os::fd::AsFd as _;
    if let (Some(input), Some(output)) = (
        socket(std::io::stdin().as_fd()),
        socket(std::io::stdout().as_fd()),
    ) {
        tracing::debug!("stdin and stdout are sockets: driving them directly");
        return (Box::new(input), Box::new(output));
    }
    let (input, output) = rmcp::transport::io::stdio_pipes();
    (Box::new(input), Box::new(output))
}

/// Starts the wrapped server.
fn spawn(command: &[String]) -> Result<Child, ProxyError> {
    let (program, args) = command.split_first().ok_or(ProxyError::NoCommand)?;
    let mut cmd = Command::new(program);
    cmd.args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        // Its own process group, so that a stop signal reaches a server started through a
        // launcher (npx, uvx, sh -c) and not only the launcher.
        .process_group(0)
        .kill_on_drop(true);
    cmd.spawn().map_err(|source| ProxyError::Spawn {
        program: program.clone(),
        source,
    })
}

/// Client → server: every line from stdin to the server's stdin, requests with the proxy
/// span's context.
///
/// After `stop` it goes on while whole lines are waiting to be read, then stops at a line
/// boundary: what the client sent before a stop signal reaches the server whole.
async fn relay_to_server(
    client_in: impl tokio::io::AsyncRead + Unpin,
    mut server_in: ChildStdin,
    ledger: Arc<Ledger>,
    stop: Arc<tokio::sync::Notify>,
) -> ClientEnd {
    let mut reader = BufReader::with_capacity(READ_BUFFER, client_in);
    let mut buffer = Vec::with_capacity(READ_BUFFER);
    loop {
        buffer.clear();
        let read = tokio::select! {
            biased;
            read = reader.read_until(b'\n', &mut buffer) => read,
            () = stop.notified() => break,
        };
        match read {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let line = classify_for(&buffer);
        let edited = match &line {
            Some((Line::Message(envelope), text)) if envelope.kind() == Kind::Request => {
                ledger.start_request(Direction::ToServer, envelope, text)
            }
            _ => None,
        };
        let bytes = edited.as_ref().map_or(&buffer[..], |e| e.as_bytes());
        if server_in.write_all(bytes).await.is_err() {
            return ClientEnd::ServerGone;
        }
        if let Some((Line::Message(envelope), _)) = &line {
            match envelope.kind() {
                Kind::Response => ledger.finish_request(Direction::ToClient, envelope),
                Kind::Notification => ledger.notification(Direction::ToServer, envelope),
                _ => {}
            }
        }
    }
    // Dropping the server's stdin is the end of input it waits for.
    drop(server_in);
    ClientEnd::Eof
}

/// Server → client: every line from the server's stdout to stdout.
async fn relay_to_client(
    server_out: ChildStdout,
    client_out: Arc<Mutex<impl AsyncWrite + Unpin>>,
    ledger: Arc<Ledger>,
) -> ServerEnd {
    let mut reader = BufReader::with_capacity(READ_BUFFER, server_out);
    let mut buffer = Vec::with_capacity(READ_BUFFER);
    loop {
        buffer.clear();
        match reader.read_until(b'\n', &mut buffer).await {
            Ok(0) | Err(_) => return ServerEnd::Eof,
            Ok(_) => {}
        }
        let line = classify_for(&buffer);
        let mut edited = match &line {
            None => return ServerEnd::Garbage(excerpt(&buffer)),
            Some((Line::NotJson, _)) => return ServerEnd::Garbage(excerpt(&buffer)),
            Some((Line::Message(envelope), text)) if envelope.kind() == Kind::Request => {
                ledger.start_request(Direction::ToClient, envelope, text)
            }
            _ => None,
        };
        // A response whose spans were asked for is settled before it is relayed: the spans
        // it carries are checked and taken, and the line may change.
        let answered = match &line {
            Some((Line::Message(envelope), text)) if envelope.kind() == Kind::Response => {
                match ledger.answer(envelope, text) {
                    Answer::Plain => false,
                    Answer::Finished(answer) => {
                        edited = answer;
                        true
                    }
                }
            }
            _ => false,
        };
        let bytes = edited.as_ref().map_or(&buffer[..], |e| e.as_bytes());
        {
            let mut out = client_out.lock().await;
            if out.write_all(bytes).await.is_err() || out.flush().await.is_err() {
                return ServerEnd::ClientGone;
            }
        }
        if let Some((Line::Message(envelope), _)) = &line {
            match envelope.kind() {
                Kind::Response if !answered => ledger.finish_request(Direction::ToServer, envelope),
                Kind::Notification => ledger.notification(Direction::ToClient, envelope),
                _ => {}
            }
        }
    }
}

/// The line as text and what it is; `None` when it is not UTF-8.
fn classify_for(buffer: &[u8]) -> Option<(Line<'_>, &str)> {
    let text = std::str::from_utf8(buffer).ok()?;
    Some((message::classify(buffer), text))
}

/// The start of a bad line, for a message: at most 80 characters, escaped.
fn excerpt(line: &[u8]) -> String {
    let text = String::from_utf8_lossy(line);
    let text = text.trim_end();
    let cut = trace_meta::attributes::truncate(text, 80);
    let more = if cut.len() < text.len() { "…" } else { "" };
    format!("it began {cut:?}{more}")
}

/// A JSON-RPC error answer for the request with id `id_raw`.
fn error_answer(id_raw: &str, message: &str) -> String {
    let error = serde_json::json!({"code": CONNECTION_CLOSED, "message": message});
    format!("{{\"jsonrpc\":\"2.0\",\"id\":{id_raw},\"error\":{error}}}\n")
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
