//! Wiring: configuration, telemetry, servers, agent, trace view.

use std::{
    ffi::OsString,
    path::{Path, PathBuf},
    process::ExitCode,
    time::Duration,
};

use anyhow::{Context as _, bail};
use clap::Parser as _;
use opentelemetry::{Array, StringValue, Value, trace::Status};
use trace_meta::{
    attributes as attr,
    telemetry::{Telemetry, TelemetryGuard},
    tool_result_text,
};
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::{
    agent::{Agent, OfflineAgent, Toolbox},
    cli::{Cli, Command, Common},
    config::{self, ServerSpec},
    receiver::Receiver,
    servers::{Server, ServerError},
    view,
};

/// `confident.trace.name` of an agent run.
const TRACE_NAME: &str = "mcp-tool-orchestration";

/// Runs one of the bundled servers in this process (the hidden `__serve` mode).
pub fn serve_bundled(args: Vec<OsString>) -> ExitCode {
    let mut args = args.into_iter();
    let name = args.next().unwrap_or_default();
    let result = match name.to_str() {
        Some("file-server") => file_server::run(file_server::Args::parse_from(
            std::iter::once(name.clone()).chain(args),
        )),
        Some("db-server") => db_server::run(db_server::Args::parse_from(
            std::iter::once(name.clone()).chain(args),
        )),
        _ => Err(anyhow::anyhow!(
            "unknown bundled server {name:?} (known: file-server, db-server)"
        )),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{}: error: {error:#}", name.to_string_lossy());
            ExitCode::FAILURE
        }
    }
}

/// The host's entry point.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("mcp-host: error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(async {
        match run(cli).await {
            Ok(code) => code,
            Err(error) => {
                eprintln!("mcp-host: error: {error:#}");
                ExitCode::FAILURE
            }
        }
    });
    runtime.shutdown_timeout(Duration::from_millis(200));
    code
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    if let Some(Command::Bench(args)) = cli.command {
        crate::bench::run(args).await?;
        return Ok(ExitCode::SUCCESS);
    }
    let specs = match &cli.common.config {
        Some(file) => config::load(file)?,
        None => bundled_specs(cli.common.data_dir.as_deref())?,
    };
    match cli.command {
        None => {
            let query = cli.query.as_deref().unwrap_or(crate::cli::DEFAULT_QUERY);
            run_query(query, specs, &cli.common).await
        }
        Some(Command::Bench(_)) => unreachable!("handled above"),
        Some(Command::Tools) => list_tools(specs, &cli.common).await,
        Some(Command::Call {
            server,
            tool,
            arguments,
        }) => call_one(&server, &tool, &arguments, specs, &cli.common).await,
    }
}

/// The bundled servers: this executable in its hidden server mode, on the sample data.
fn bundled_specs(data_dir: Option<&Path>) -> anyhow::Result<Vec<ServerSpec>> {
    let data = match data_dir {
        Some(dir) => dir.to_owned(),
        None => default_data_dir(),
    };
    let sales = data.join("sales.csv");
    if !sales.is_file() {
        bail!(
            "the sample data {} was not found; pass --data-dir DIR (a folder with sales.csv) or --config FILE",
            sales.display()
        );
    }
    let data = data
        .canonicalize()
        .with_context(|| format!("resolving {}", data.display()))?;
    let exe =
        std::env::current_exe().context("finding this executable to start the bundled servers")?;
    let spec = |name: &str, args: Vec<String>| ServerSpec {
        name: name.to_owned(),
        command: exe.clone(),
        args: [crate::SERVE_ARG.to_owned(), name.to_owned()]
            .into_iter()
            .chain(args)
            .collect(),
        env: Default::default(),
        cwd: None,
        remote: None,
    };
    Ok(vec![
        spec(
            "file-server",
            vec!["--root".into(), data.display().to_string()],
        ),
        spec(
            "db-server",
            vec![
                "--load".into(),
                format!("sales={}", data.join("sales.csv").display()),
            ],
        ),
    ])
}

/// `examples/data` of the source tree this binary was built from, else of the current folder.
fn default_data_dir() -> PathBuf {
    let built_from = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/data");
    if built_from.is_dir() {
        built_from
    } else {
        PathBuf::from("examples/data")
    }
}

/// Telemetry and the local receiver for one run of the host.
struct Session {
    // Dropped in this order on an early return: the last spans go out while the receiver
    // still listens.
    telemetry: TelemetryGuard,
    receiver: Receiver,
}

impl Session {
    async fn start() -> anyhow::Result<Self> {
        let receiver = Receiver::start()
            .await
            .context("starting the local trace receiver on 127.0.0.1")?;
        let telemetry = Telemetry::new("mcp-host")
            .with_local_endpoint(receiver.traces_endpoint())
            .init()
            .context("setting up telemetry")?;
        Ok(Self {
            receiver,
            telemetry,
        })
    }

    /// Starts every server in parallel, as children of the current span. If one fails, the
    /// others are shut down and the first failure is returned.
    async fn start_servers(&self, specs: &[ServerSpec]) -> Result<Vec<Server>, ServerError> {
        let endpoint = self.receiver.traces_endpoint();
        let mut tasks = tokio::task::JoinSet::new();
        for (index, spec) in specs.iter().cloned().enumerate() {
            let endpoint = endpoint.clone();
            tasks.spawn(
                async move { (index, Server::start(&spec, Some(&endpoint)).await) }
                    .in_current_span(),
            );
        }
        let mut started = Vec::new();
        let mut failures = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok((index, Ok(server))) => started.push((index, server)),
                Ok((index, Err(error))) => failures.push((index, error)),
                Err(error) => failures.push((
                    usize::MAX,
                    ServerError {
                        name: "?".into(),
                        what: format!("start task failed: {error}"),
                        status: None,
                        stderr_tail: Vec::new(),
                    },
                )),
            }
        }
        started.sort_by_key(|(index, _)| *index);
        let started: Vec<Server> = started.into_iter().map(|(_, s)| s).collect();
        if let Some((_, error)) = failures.into_iter().min_by_key(|(index, _)| *index) {
            shutdown_all(started).await;
            return Err(error);
        }
        Ok(started)
    }

    /// Stops the servers, flushes every process's spans, then shows and saves the trace.
    async fn finish(
        self,
        servers: Vec<Server>,
        common: &Common,
        root_name: &str,
    ) -> anyhow::Result<()> {
        shutdown_all(servers).await;
        let Session {
            mut telemetry,
            receiver,
        } = self;
        // The exporter posts to our own receiver, which needs the runtime: flush off it.
        tokio::task::spawn_blocking(move || telemetry.shutdown())
            .await
            .context("flushing spans")?;
        let collected = receiver.collected().snapshot();
        if !common.no_trace_view {
            let rows = view::rows(&collected);
            print!("\n{}", view::render(&rows, root_name));
        }
        if let Some(path) = &common.trace_json {
            view::write_otlp_json(path, collected)?;
        }
        Ok(())
    }
}

async fn shutdown_all(servers: Vec<Server>) {
    let mut tasks = tokio::task::JoinSet::new();
    for server in servers {
        tasks.spawn(server.shutdown());
    }
    while tasks.join_next().await.is_some() {}
}

/// What stopped a run early.
enum Interrupted {
    Signal(&'static str),
}

impl Interrupted {
    fn exit_code(&self) -> ExitCode {
        match self {
            Self::Signal("SIGINT") => ExitCode::from(130),
            Self::Signal(_) => ExitCode::from(143),
        }
    }
}

/// Runs `work` unless a stop signal comes first.
async fn unless_signalled<T>(work: impl std::future::Future<Output = T>) -> Result<T, Interrupted> {
    tokio::select! {
        value = work => Ok(value),
        signal = trace_meta::shutdown_signal() => Err(Interrupted::Signal(signal)),
    }
}

async fn run_query(
    query: &str,
    specs: Vec<ServerSpec>,
    common: &Common,
) -> anyhow::Result<ExitCode> {
    let session = Session::start().await?;
    let agent = OfflineAgent::default();
    let root = tracing::info_span!("mcp-agent", otel.kind = "internal");
    root.set_attribute(attr::CONFIDENT_TRACE_NAME, TRACE_NAME);
    root.set_attribute(attr::CONFIDENT_TRACE_INPUT, query.to_owned());
    root.set_attribute(attr::CONFIDENT_SPAN_TYPE, "agent");
    root.set_attribute(attr::CONFIDENT_SPAN_INPUT, query.to_owned());
    root.set_attribute(attr::CONFIDENT_AGENT_NAME, agent.name().to_owned());

    let started = unless_signalled(session.start_servers(&specs).instrument(root.clone())).await;
    let servers = match started {
        Ok(Ok(servers)) => servers,
        Ok(Err(error)) => {
            root.set_status(Status::error(error.to_string()));
            drop(root);
            session.finish(Vec::new(), common, "mcp-agent").await?;
            return Err(error.into());
        }
        Err(interrupted) => {
            eprintln!("mcp-host: interrupted while starting the servers");
            drop(root);
            session.finish(Vec::new(), common, "mcp-agent").await?;
            return Ok(interrupted.exit_code());
        }
    };
    let mut toolbox = Toolbox { servers };
    let tools: Vec<StringValue> = toolbox
        .tool_names()
        .into_iter()
        .map(StringValue::from)
        .collect();
    root.set_attribute(
        attr::CONFIDENT_AGENT_AVAILABLE_TOOLS,
        Value::Array(Array::String(tools)),
    );

    let outcome = unless_signalled(agent.run(query, &mut toolbox).instrument(root.clone())).await;
    let (code, failure) = match &outcome {
        Ok(Ok(answer)) => {
            root.set_attribute(attr::CONFIDENT_SPAN_OUTPUT, answer.clone());
            root.set_attribute(attr::CONFIDENT_TRACE_OUTPUT, answer.clone());
            println!("{answer}");
            (ExitCode::SUCCESS, None)
        }
        Ok(Err(error)) => {
            root.set_status(Status::error(format!("{error:#}")));
            (ExitCode::FAILURE, Some(format!("{error:#}")))
        }
        Err(interrupted) => {
            root.set_status(Status::error("interrupted"));
            eprintln!("mcp-host: interrupted; stopping the servers");
            (interrupted.exit_code(), None)
        }
    };
    drop(root);
    session.finish(toolbox.servers, common, "mcp-agent").await?;
    if let Some(failure) = failure {
        eprintln!("mcp-host: error: {failure}");
    }
    Ok(code)
}

async fn list_tools(specs: Vec<ServerSpec>, common: &Common) -> anyhow::Result<ExitCode> {
    let session = Session::start().await?;
    let servers = session.start_servers(&specs).await?;
    for server in &servers {
        println!("{}:", server.name);
        for tool in &server.tools {
            // First sentence only: the whole description is for the model, not the listing.
            let description = tool
                .description
                .as_deref()
                .and_then(|d| d.split_inclusive(". ").next())
                .unwrap_or("")
                .trim();
            println!("  {:<26} {description}", tool.name);
        }
    }
    let quiet = Common {
        no_trace_view: true,
        ..common.clone()
    };
    session.finish(servers, &quiet, "tools/list").await?;
    Ok(ExitCode::SUCCESS)
}

async fn call_one(
    server: &str,
    tool: &str,
    arguments: &str,
    specs: Vec<ServerSpec>,
    common: &Common,
) -> anyhow::Result<ExitCode> {
    let arguments: serde_json::Value = serde_json::from_str(arguments)
        .with_context(|| format!("the arguments {arguments:?} are not JSON"))?;
    if !arguments.is_object() {
        bail!("the arguments must be a JSON object, like '{{\"path\": \"sales.csv\"}}'");
    }
    let names: Vec<String> = specs.iter().map(|s| s.name.clone()).collect();
    let spec = specs
        .into_iter()
        .find(|s| s.name == server)
        .with_context(|| {
            format!(
                "no server named {server:?} (configured: {})",
                names.join(", ")
            )
        })?;
    let session = Session::start().await?;
    let servers = session.start_servers(std::slice::from_ref(&spec)).await?;
    let result = unless_signalled(servers[0].call_tool(tool, arguments)).await;
    let code = match &result {
        Ok(Ok(result)) => {
            println!("{}", tool_result_text(result));
            if result.is_error == Some(true) {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Ok(Err(_)) => ExitCode::FAILURE,
        Err(interrupted) => {
            eprintln!("mcp-host: interrupted; stopping the server");
            interrupted.exit_code()
        }
    };
    session
        .finish(servers, common, &format!("mcp-tool-{tool}"))
        .await?;
    if let Ok(Err(error)) = result {
        eprintln!("mcp-host: error: {error}");
    }
    Ok(code)
}
