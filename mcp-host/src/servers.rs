//! MCP servers: child processes over stdio (start, discover, call, and shut down as the stdio
//! transport prescribes: close stdin, wait, SIGTERM, wait, SIGKILL), or servers already
//! running elsewhere over Streamable HTTP (`servers/remote.rs`). Both are a [`RunningServer`] to the rest of
//! the host, and both sessions are traced the same way.

mod remote;

use std::{
    collections::VecDeque,
    process::{ExitStatus, Stdio},
    sync::{Arc, Mutex},
    time::Duration,
};

use rmcp::{
    RoleClient, ServiceError,
    model::{CallToolRequestParams, CallToolResult, ProtocolVersion, Tool},
    service::{ClientLifecycleMode, ClientServiceExt, RunningService},
};
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
};
use trace_meta::{
    NetworkTransport, TracedClient, metrics::SessionTimer, span_return::SpanRequest,
    telemetry::LOCAL_ENDPOINT_ENV,
};

use crate::{
    child::{EXIT_GRACE, Stage, exit_status},
    config::{RemoteSpec, ServerSpec},
};

/// How long a server may take to answer `initialize` and `tools/list`.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);
/// How long shutdown waits for the cancellations of abandoned calls to be written.
const CANCEL_GRACE: Duration = Duration::from_millis(500);
/// Lines of a server's stderr kept for error messages.
const STDERR_TAIL_LINES: usize = 20;

/// A server that failed, with what it said on the way out.
#[derive(Debug, thiserror::Error)]
#[error("server \"{name}\" {failure}{status}{tail}", status = status_text(.status), tail = tail_text(.stderr_tail))]
pub(crate) struct ServerError {
    /// The server's name in the configuration.
    pub name: String,
    /// What went wrong.
    pub failure: Failure,
    /// Its exit status, if it has exited.
    pub status: Option<ExitStatus>,
    /// The last lines it wrote to stderr.
    pub stderr_tail: Vec<String>,
}

/// An error of any kind, from the layers under a session (rmcp, the transport).
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What went wrong with a server.
///
/// Each message includes its cause's text, so no variant also reports it as its
/// `source()`: a chain printer (anyhow's `{:#}`) would show it twice.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Failure {
    /// The command could not be run.
    #[error("could not be started: `{}`: {error}", .command.display())]
    Spawn {
        /// The command.
        command: std::path::PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// The child has no stdin/stdout/stderr pipes.
    #[error("has no stdio pipes")]
    NoPipes,
    /// The handshake or the tool listing failed.
    #[error("failed to start: {0}")]
    Handshake(BoxError),
    /// A remote server could not be reached or refused the session.
    #[error("could not be reached: {0}")]
    Unreachable(BoxError),
    /// No answer to the handshake and tool listing in time.
    #[error("did not answer {steps} within {}s", .limit.as_secs())]
    StartTimeout {
        /// The requests that went unanswered.
        steps: &'static str,
        /// The time allowed.
        limit: Duration,
    },
    /// The server is alive and answered the call with a JSON-RPC error (e.g. invalid
    /// params).
    #[error("rejected tools/call {tool}: {} (JSON-RPC error {})", .error.message, .error.code.0)]
    Rejected {
        /// The tool.
        tool: String,
        /// The error it answered with.
        error: rmcp::model::ErrorData,
    },
    /// The call got no answer in time (`--call-timeout`). The server was told to stop it
    /// and is still serving.
    #[error("gave no answer to tools/call {tool} within {}s; the call was cancelled", .limit.as_secs_f64())]
    TimedOut {
        /// The tool.
        tool: String,
        /// The time allowed.
        limit: Duration,
    },
    /// The session failed during a call: the server died or broke the protocol.
    #[error("failed during tools/call {tool}: {error}")]
    Call {
        /// The tool.
        tool: String,
        /// What the session reported.
        error: ServiceError,
    },
    /// The task starting the server panicked or was cancelled.
    #[error("start task failed: {0}")]
    Task(tokio::task::JoinError),
}

impl ServerError {
    /// An error of the server `name` that has left no status or stderr behind.
    pub(crate) fn new(name: &str, failure: Failure) -> Self {
        Self {
            name: name.to_owned(),
            failure,
            status: None,
            stderr_tail: Vec::new(),
        }
    }
}

fn status_text(status: &Option<ExitStatus>) -> String {
    status.map_or_else(String::new, |status| {
        format!(" ({})", crate::child::describe_exit(status))
    })
}

fn tail_text(tail: &[String]) -> String {
    if tail.is_empty() {
        String::new()
    } else {
        format!("; its stderr ended with:\n    {}", tail.join("\n    "))
    }
}

/// A running MCP server and the session with it.
pub(crate) struct RunningServer {
    /// The server's name in the configuration.
    pub name: String,
    /// The traced session.
    pub client: TracedClient,
    /// What `tools/list` reported.
    pub tools: Vec<Tool>,
    session: RunningService<RoleClient, ()>,
    /// Records `mcp.client.session.duration` when the session ends.
    session_timer: SessionTimer,
    process: Option<Process>,
}

/// The child process of a server this host started (none for a remote server).
struct Process {
    // Locked only to read an exit status after a failure, so concurrent calls through
    // `&self` never wait on each other.
    child: tokio::sync::Mutex<Child>,
    stderr: StderrTail,
}

#[derive(Clone, Default)]
struct StderrTail {
    lines: Arc<Mutex<VecDeque<String>>>,
    reader: Arc<Mutex<Option<tokio::task::JoinHandle<()>>>>,
}

impl StderrTail {
    /// Keeps the last lines of `stderr` and passes every line on to ours, prefixed.
    fn follow(name: &str, stderr: tokio::process::ChildStderr) -> Self {
        let tail = Self::default();
        let lines = tail.lines.clone();
        let prefix = format!("[{name}] ");
        let reader = tokio::spawn(async move {
            use std::io::Write as _;
            // Bytes, not lines of UTF-8: a server may write anything to stderr, and the pipe
            // must be drained to the end whatever it writes, or the server's next write fails.
            let mut reader = BufReader::new(stderr);
            let mut raw = Vec::new();
            loop {
                raw.clear();
                match reader.read_until(b'\n', &mut raw).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
                let line = String::from_utf8_lossy(&raw);
                let line = line.trim_end_matches(['\n', '\r']);
                let _ = writeln!(std::io::stderr(), "{prefix}{line}");
                let mut lines = lines.lock().expect("stderr tail lock");
                if lines.len() == STDERR_TAIL_LINES {
                    lines.pop_front();
                }
                lines.push_back(line.to_owned());
            }
        });
        *tail.reader.lock().expect("stderr reader lock") = Some(reader);
        tail
    }

    /// The kept lines, after giving the reader a moment to drain what the process wrote last.
    async fn snapshot(&self) -> Vec<String> {
        let reader = self.reader.lock().expect("stderr reader lock").take();
        if let Some(reader) = reader {
            let _ = tokio::time::timeout(Duration::from_millis(500), reader).await;
        }
        self.lines
            .lock()
            .expect("stderr tail lock")
            .iter()
            .cloned()
            .collect()
    }
}

/// How the host's calls to a server are made.
#[derive(Debug, Clone)]
pub struct Calls {
    /// A call that gets no answer within it fails as timed out, and the server is told to
    /// stop it.
    pub timeout: Duration,
    /// What each tool call asks the server for back (SEP-2448).
    pub span_return: Option<SpanRequest>,
    /// Recorded on every tool call's span (Confident AI's metric collection).
    pub tool_attributes: Vec<opentelemetry::KeyValue>,
    /// A call of a tool safe to repeat that failed on the way is sent again.
    pub retry: trace_meta::Retry,
}

impl Calls {
    fn client(&self, client: TracedClient) -> TracedClient {
        client
            .with_timeout(self.timeout)
            .with_span_return(self.span_return)
            .with_tool_call_attributes(self.tool_attributes.clone())
            .with_retry(self.retry)
    }
}

impl RunningServer {
    /// Starts the server, initialises the session and lists its tools (traced requests,
    /// children of the caller's span).
    ///
    /// A remote server (a `url` entry) is not started but connected to over Streamable HTTP;
    /// its spans reach whatever backend it exports to, not `local_endpoint`.
    ///
    /// How each call is made: see [`Calls`].
    pub(crate) async fn start(
        spec: &ServerSpec,
        local_endpoint: Option<&str>,
        calls: &Calls,
    ) -> Result<Self, ServerError> {
        if let Some(remote) = &spec.remote {
            return Self::connect(&spec.name, remote, calls).await;
        }
        let mut command = Command::new(&spec.command);
        command
            .args(&spec.args)
            .envs(&spec.env)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group, so that SIGTERM and SIGKILL reach a server started
            // through a launcher (npx, uvx, sh -c) and not only the launcher.
            .process_group(0)
            .kill_on_drop(true);
        if !spec.env.contains_key("OTEL_SERVICE_NAME") {
            // The host's service name is the host's; each server names itself.
            command.env_remove("OTEL_SERVICE_NAME");
        }
        if let Some(cwd) = &spec.cwd {
            command.current_dir(cwd);
        }
        if let Some(endpoint) = local_endpoint {
            command.env(LOCAL_ENDPOINT_ENV, endpoint);
        }
        let mut child = command.spawn().map_err(|source| {
            ServerError::new(
                &spec.name,
                Failure::Spawn {
                    command: spec.command.clone(),
                    error: source,
                },
            )
        })?;
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(ServerError::new(&spec.name, Failure::NoPipes));
        };
        let stderr = StderrTail::follow(&spec.name, stderr);

        let setup = async {
            // Try the 2026-07-28 lifecycle (`server/discover`) first and fall back to
            // `initialize` (2025-11-25) for servers that do not know it.
            let lifecycle = ClientLifecycleMode::Auto {
                preferred_versions: vec![ProtocolVersion::V_2026_07_28],
                legacy_version: Some(ProtocolVersion::V_2025_11_25),
            };
            let session = ().serve_with_lifecycle((stdout, stdin), lifecycle).await?;
            let client = calls.client(TracedClient::new(session.peer().clone()));
            let tools = client.list_all_tools().await?;
            Ok::<_, BoxError>((session, client, tools))
        };
        let outcome = tokio::time::timeout(STARTUP_TIMEOUT, setup).await;
        match outcome {
            Ok(Ok((session, client, tools))) => Ok(Self {
                name: spec.name.clone(),
                client,
                tools,
                session_timer: session_timer(&session, NetworkTransport::Pipe),
                session,
                process: Some(Process {
                    child: tokio::sync::Mutex::new(child),
                    stderr,
                }),
            }),
            Ok(Err(error)) => {
                let status = exit_status(&mut child, Duration::from_secs(1)).await;
                Err(ServerError {
                    name: spec.name.clone(),
                    failure: Failure::Handshake(error),
                    status,
                    stderr_tail: stderr.snapshot().await,
                })
            }
            Err(_) => {
                let _ = child.kill().await;
                Err(ServerError {
                    name: spec.name.clone(),
                    failure: Failure::StartTimeout {
                        steps: "initialize and tools/list",
                        limit: STARTUP_TIMEOUT,
                    },
                    status: None,
                    stderr_tail: stderr.snapshot().await,
                })
            }
        }
    }

    /// Connects to a running server over Streamable HTTP and lists its tools.
    async fn connect(name: &str, remote: &RemoteSpec, calls: &Calls) -> Result<Self, ServerError> {
        let setup = async {
            let session = remote::connect(remote).await?;
            let mut client = calls
                .client(TracedClient::new(session.peer().clone()))
                .with_transport(NetworkTransport::Tcp);
            if let Some((address, port)) = remote::server_of(&remote.url) {
                client = client.with_http_server(address, port);
            }
            let tools = client.list_all_tools().await?;
            Ok::<_, BoxError>((session, client, tools))
        };
        match tokio::time::timeout(STARTUP_TIMEOUT, setup).await {
            Ok(Ok((session, client, tools))) => Ok(Self {
                name: name.to_owned(),
                client,
                tools,
                session_timer: session_timer(&session, NetworkTransport::Tcp),
                session,
                process: None,
            }),
            Ok(Err(error)) => Err(ServerError::new(name, Failure::Unreachable(error))),
            Err(_) => Err(ServerError::new(
                name,
                Failure::StartTimeout {
                    steps: "discovery and tools/list",
                    limit: STARTUP_TIMEOUT,
                },
            )),
        }
    }

    /// Calls a tool in a traced `mcp-tool-{tool}` span (with the model's `call_id` as
    /// `gen_ai.tool.call.id`, when a model asked for the call). A server that dies or breaks
    /// the protocol yields an error naming it, with its exit status and last stderr lines.
    pub(crate) async fn call_tool(
        &self,
        tool: &str,
        arguments: serde_json::Value,
        call_id: Option<&str>,
    ) -> Result<CallToolResult, ServerError> {
        let mut params = CallToolRequestParams::new(tool.to_owned());
        if let serde_json::Value::Object(arguments) = arguments {
            params = params.with_arguments(arguments);
        }
        let called = match call_id {
            Some(id) => self.client.call_tool_with_id(params, id).await,
            None => self.client.call_tool(params).await,
        };
        match called {
            Ok(result) => Ok(result),
            Err(ServiceError::McpError(error)) => Err(ServerError::new(
                &self.name,
                Failure::Rejected {
                    tool: tool.to_owned(),
                    error,
                },
            )),
            Err(ServiceError::Timeout { timeout }) => Err(ServerError::new(
                &self.name,
                Failure::TimedOut {
                    tool: tool.to_owned(),
                    limit: timeout,
                },
            )),
            Err(other) => {
                let (status, stderr_tail) = match &self.process {
                    Some(process) => {
                        let status = {
                            let mut child = process.child.lock().await;
                            exit_status(&mut child, Duration::from_secs(1)).await
                        };
                        (status, process.stderr.snapshot().await)
                    }
                    None => (None, Vec::new()),
                };
                Err(ServerError {
                    name: self.name.clone(),
                    failure: Failure::Call {
                        tool: tool.to_owned(),
                        error: other,
                    },
                    status,
                    stderr_tail,
                })
            }
        }
    }

    /// The process id of a server this host started; `None` for a remote server.
    pub(crate) fn pid(&self) -> Option<u32> {
        self.process.as_ref()?.child.try_lock().ok()?.id()
    }

    /// Ends the session and the process: close stdin and wait, then SIGTERM and wait, then
    /// SIGKILL. Returns how the process ended; `None` for a remote server, whose session is
    /// closed (a 2025-11-25 session is deleted) and which keeps running.
    ///
    /// Calls abandoned on the way here (Ctrl-C) are cancelled on the server first, so it
    /// stops their work and its spans say `cancelled`.
    pub(crate) async fn shutdown(self) -> Option<ExitStatus> {
        self.client.flush_cancellations(CANCEL_GRACE).await;
        let _ = tokio::time::timeout(EXIT_GRACE, self.session.cancel()).await;
        drop(self.session_timer);
        let process = self.process?;
        let mut child = process.child.into_inner();
        let who = format!("mcp-host: server \"{}\"", self.name);
        let status = crate::child::stop(&mut child, Stage::StdinClosed, &who).await;
        // Drain what it wrote last, so its final stderr lines are passed on.
        let _ = process.stderr.snapshot().await;
        status
    }
}

/// The timer of a session just established, with the protocol version it negotiated.
fn session_timer(
    session: &RunningService<RoleClient, ()>,
    transport: NetworkTransport,
) -> SessionTimer {
    let timer = SessionTimer::client(transport);
    match session.peer().peer_info() {
        Some(info) => timer.with_protocol_version(&info.protocol_version),
        None => timer,
    }
}
