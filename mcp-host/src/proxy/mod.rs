//! `mcp-host proxy -- COMMAND ARGS…`: a tracing stdio MCP proxy.
//!
//! Put it where a server's command was in any client config. To the client it is a stdio
//! MCP server, to the wrapped server a stdio MCP client; it relays the line-delimited
//! JSON-RPC stream in both directions ([`message`] states what it may change: the trace
//! context in a request's `params._meta`, and the span return of SEP-2448 in `_meta.otel`
//! of a `tools/call` or `resources/read` and of its answer) and records every request as a
//! span ([`ledger`]). It does not take part in the protocol: the handshake, the protocol
//! revision and every capability are the client's and the server's to agree on.
//!
//! The process lifecycle, in order:
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

pub mod ledger;
pub mod message;

use std::{
    path::Path,
    process::{ExitCode, Stdio},
    sync::Arc,
};

use anyhow::Context as _;
use tokio::{
    io::{AsyncBufReadExt, AsyncWrite, AsyncWriteExt, BufReader},
    process::{Child, ChildStdin, ChildStdout, Command},
    sync::Mutex,
};
use trace_meta::StopSignals;

use crate::child::{Stage, describe_exit, exit_code, signal_group};
use ledger::{Answer, Direction, Ledger};
use message::{Kind, Line};

/// How long the wrapped server gets to exit after its stdin closes, and again after a
/// signal, before the next step.
pub use crate::child::EXIT_GRACE;

/// JSON-RPC error code of the answer the proxy sends for a request the server never
/// answered (the MCP SDKs' "connection closed").
pub const CONNECTION_CLOSED: i64 = -32000;

/// Most bytes of a line the proxy reads from either side at once; longer lines are still
/// relayed, in one piece, after they have been read whole.
const READ_BUFFER: usize = 64 * 1024;

/// Arguments of `mcp-host proxy`.
#[derive(Debug, Clone, clap::Args)]
pub struct ProxyArgs {
    /// The `service.name` of the proxy's spans [default: the wrapped command's base name
    /// and `-proxy`, so that the tree tells the proxy from a server that exports itself].
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// The server command and its arguments. Everything from the first argument that is
    /// not an option of the proxy on belongs to the server; a `--` before it is optional.
    #[arg(
        required = true,
        num_args = 1..,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "COMMAND"
    )]
    pub command: Vec<String>,
}

impl ProxyArgs {
    /// The service name: `--name`, or the command's base name marked as the proxy's.
    pub fn service_name(&self) -> String {
        if let Some(name) = self.name.as_deref().filter(|n| !n.trim().is_empty()) {
            return name.to_owned();
        }
        let program = self.command.first().map(String::as_str).unwrap_or_default();
        Path::new(program)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .filter(|n| !n.is_empty())
            .map_or_else(|| "mcp-proxy".to_owned(), |n| proxy_service_name(&n))
    }
}

/// The proxy's service name for a server called `server`: `{server}-proxy` (unless it
/// already ends in `proxy`).
pub fn proxy_service_name(server: &str) -> String {
    if server.ends_with("proxy") {
        server.to_owned()
    } else {
        format!("{server}-proxy")
    }
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
///
/// The relay runs on a single-threaded runtime of its own, whatever runtime calls this: a
/// message then crosses the proxy on the thread that read it, with no wake-up of another
/// thread on the way (export runs on the batch processor's own thread).
///
/// With `span_return` (unless `--no-span-return`), each `tools/call` and `resources/read`
/// asks the wrapped server for its spans (`_meta.otel`, SEP-2448): the proxy exports what
/// comes back (checked, under the server's own service name) and takes it out of the
/// answer; a client that asked itself gets the spans, after the proxy's own span.
pub async fn run_proxy(args: ProxyArgs, span_return: bool) -> anyhow::Result<ExitCode> {
    tokio::task::spawn_blocking(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting the proxy's runtime")?;
        let code = runtime.block_on(relay(args, span_return));
        // Not a plain drop: on a terminal, stdin is read on a blocking thread that only
        // returns at the next line, and dropping the runtime would wait for it.
        runtime.shutdown_background();
        code
    })
    .await
    .context("the proxy's thread failed")?
}

/// [`run_proxy`] on the current runtime.
async fn relay(args: ProxyArgs, span_return: bool) -> anyhow::Result<ExitCode> {
    let name = args.service_name();
    let who = format!("mcp-host proxy: the wrapped server \"{name}\"");
    // Span return keeps the proxy's own span for a client that asks for the spans.
    let telemetry = trace_meta::telemetry::Telemetry::new(&name).with_span_return(span_return);
    let exporting = telemetry.exports_anywhere();
    let mut guard = telemetry.init().context("setting up telemetry")?;
    // `init` installed the provider globally when tracing is on.
    let tracer = (exporting && guard.provider().is_some())
        .then(|| opentelemetry::global::tracer("mcp-host-proxy"));
    let ledger = Arc::new(Ledger::new(tracer, span_return));

    // Before the server starts: a signal from now on reaches it through us.
    let mut signals = StopSignals::install();
    let mut child = spawn(&args.command)?;
    let (Some(server_in), Some(server_out)) = (child.stdin.take(), child.stdout.take()) else {
        anyhow::bail!("the wrapped server has no stdio pipes");
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
            "mcp-host proxy: the wrapped server \"{name}\" wrote a line that is not JSON to stdout ({excerpt}); \
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
                    &format!("{reason} before answering {}", request.method),
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
            "mcp-host proxy: {reason}{}",
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
fn spawn(command: &[String]) -> anyhow::Result<Child> {
    let (program, args) = command.split_first().context("no server command")?;
    let mut cmd = Command::new(program);
    cmd.args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        // Its own process group, so that a stop signal reaches a server started through a
        // launcher (npx, uvx, sh -c) and not only the launcher.
        .process_group(0)
        .kill_on_drop(true);
    cmd.spawn()
        .with_context(|| format!("cannot start the wrapped server `{program}`"))
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
    let error = serde_json::json!({"code": CONNECTION_CLOSED, "message": format!("mcp-host proxy: {message}")});
    format!("{{\"jsonrpc\":\"2.0\",\"id\":{id_raw},\"error\":{error}}}\n")
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(name: Option<&str>, command: &[&str]) -> ProxyArgs {
        ProxyArgs {
            name: name.map(str::to_owned),
            command: command.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    #[test]
    fn service_name_is_the_name_or_the_commands_base_name() {
        assert_eq!(args(Some("fs"), &["npx", "-y", "x"]).service_name(), "fs");
        assert_eq!(
            args(None, &["/usr/local/bin/npx", "-y"]).service_name(),
            "npx-proxy"
        );
        assert_eq!(
            args(Some(" "), &["uvx", "mcp-server-git"]).service_name(),
            "uvx-proxy"
        );
        assert_eq!(proxy_service_name("fs-proxy"), "fs-proxy");
    }

    #[test]
    fn the_command_needs_no_separator() {
        use clap::Parser as _;
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            proxy: ProxyArgs,
        }
        for line in [
            "proxy --name fs npx -y pkg --root /tmp",
            "proxy --name fs -- npx -y pkg --root /tmp",
        ] {
            let cli = Cli::parse_from(line.split(' '));
            assert_eq!(cli.proxy.name.as_deref(), Some("fs"), "{line}");
            assert_eq!(
                cli.proxy.command,
                ["npx", "-y", "pkg", "--root", "/tmp"],
                "{line}"
            );
        }
    }
}
