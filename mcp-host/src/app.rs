//! The commands: answer a query, list tools, make one call. Each is one trace with one
//! root span.

use std::{process::ExitCode, time::Duration};

use anyhow::{Context as _, bail};
use opentelemetry::trace::Status;
use trace_meta::tool_result_text;

use crate::attr;
use tracing::Instrument as _;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use crate::{
    agent::{
        self, Agent, AgentError, Grouping, History, ModelAgent, OfflineAgent, Toolbox as _, Turn,
    },
    bundled,
    chat::{ChatClient, ModelConfig},
    cli::{Cli, Command, ModelArgs},
    config::{self, ServerSpec},
    conversation::{self, Printer},
    evaluation::Evaluation,
    run::{self, RUNTIME_SHUTDOWN, Run, RunOptions},
    signals::unless_signalled,
    toolbox::ServerSet,
};

/// Exit code when the agent cannot answer this kind of question (the offline agent
/// without a model).
pub(crate) const EXIT_UNSUPPORTED: u8 = 2;

/// Exit code when the model's answer was cut off (its finish reason `length` or
/// `content_filter`): the partial answer was printed, and stderr says why it stopped.
pub(crate) const EXIT_INCOMPLETE: u8 = 3;

/// Runs a parsed command line to its exit code, printing errors on stderr.
pub fn run(cli: Cli) -> ExitCode {
    // The host's HTTPS clients (the model endpoint, remote servers, the OTLP exporter) need
    // the process's rustls provider, and reqwest is built without picking one.
    trace_meta::install_tls_provider();
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
        match dispatch(cli).await {
            Ok(code) => code,
            Err(error) => {
                eprintln!("mcp-host: error: {error:#}");
                ExitCode::FAILURE
            }
        }
    });
    runtime.shutdown_timeout(RUNTIME_SHUTDOWN);
    code
}

async fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Some(Command::Proxy(args)) => {
            let options = trace_proxy::Options::new("mcp-host proxy")
                .with_span_return(cli.common.span_return().is_some());
            // The proxy runs its own one-thread runtime; it blocks until the server ends.
            let code = tokio::task::spawn_blocking(move || trace_proxy::run(args, options))
                .await
                .context("the proxy's thread failed")??;
            return Ok(code);
        }
        Some(Command::WrapConfig(args)) => return crate::wrap_config::run(args),
        Some(Command::View(args)) => {
            return crate::view::run(&args, &cli.common.trace_output());
        }
        _ => {}
    }
    if let Some(Command::Bench(args)) = cli.command {
        crate::bench::run(args).await?;
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(Command::Load(args)) = cli.command {
        let calls = cli.common.run_options(Vec::new()).calls;
        crate::load::run(*args, calls).await?;
        return Ok(ExitCode::SUCCESS);
    }
    let specs = match &cli.common.config {
        Some(file) => config::load(file)?,
        None => bundled::specs(
            cli.common.data_dir.as_deref(),
            cli.common.database_url.as_deref(),
        )?,
    };
    match cli.command {
        None => {
            let query = cli.query.as_deref().unwrap_or(crate::cli::DEFAULT_QUERY);
            let evaluation = cli.evaluation.evaluation();
            let grouping = cli.grouping.grouping().with_evaluation(evaluation.clone());
            let agent = agent_for(&cli.model, &evaluation)?;
            let options = cli.common.run_options(evaluation.tool_attributes());
            run_query(agent.as_ref(), query, &grouping, specs, options).await
        }
        Some(Command::Chat(args)) => {
            let evaluation = args.evaluation.evaluation();
            let grouping = args.grouping.grouping().with_evaluation(evaluation.clone());
            let agent = agent_for(&args.model, &evaluation)?;
            let options = cli.common.run_options(evaluation.tool_attributes());
            conversation::run_chat(agent.as_ref(), args.history_turns, grouping, specs, options)
                .await
        }
        Some(
            Command::Bench(_)
            | Command::Load(_)
            | Command::Proxy(_)
            | Command::WrapConfig(_)
            | Command::View(_),
        ) => {
            unreachable!("handled above")
        }
        Some(Command::Tools) => list_tools(specs, cli.common.run_options(Vec::new())).await,
        Some(Command::Call {
            server,
            tool,
            arguments,
        }) => {
            let options = cli.common.run_options(Vec::new());
            call_one(&server, &tool, &arguments, specs, options).await
        }
    }
}

/// The model agent when `--model` names a model, else the offline agent; their model spans
/// carry `evaluation`'s collection (and, for a real model, its prices).
pub(crate) fn agent_for(
    args: &ModelArgs,
    evaluation: &Evaluation,
) -> anyhow::Result<Box<dyn Agent>> {
    let Some(model) = &args.model else {
        let offline = OfflineAgent::default().with_llm_attributes(
            Evaluation {
                cost_per_input_token: None,
                cost_per_output_token: None,
                ..evaluation.clone()
            }
            .model_attributes(),
        );
        return Ok(Box::new(offline));
    };
    if !(args.model_timeout.is_finite() && args.model_timeout > 0.0) {
        bail!("--model-timeout must be a positive number of seconds");
    }
    let config = ModelConfig::from_env(
        model,
        args.base_url.as_deref(),
        Duration::from_secs_f64(args.model_timeout),
    )?
    .with_stream(!args.no_stream)
    .with_span_attributes(evaluation.model_attributes());
    let client = ChatClient::new(config)?;
    Ok(Box::new(ModelAgent::new(client, args.max_steps)))
}

/// Answers `query` with `agent` over the servers of `specs`: one `mcp-agent` trace, the
/// answer streamed to stdout as it is written.
pub(crate) async fn run_query(
    agent: &dyn Agent,
    query: &str,
    grouping: &Grouping,
    specs: Vec<ServerSpec>,
    options: RunOptions,
) -> anyhow::Result<ExitCode> {
    if let Err(refusal) = agent.check(query) {
        eprintln!("mcp-host: {refusal}");
        return Ok(ExitCode::from(EXIT_UNSUPPORTED));
    }
    let run = Run::start(options).await?;
    let root = run.root(agent::agent_span(agent, query, grouping));
    let trace = run::trace_id(&root);

    let started = unless_signalled(run.start_servers(&specs).instrument(root.clone())).await;
    let servers = match started {
        Ok(Ok(servers)) => servers,
        Ok(Err(error)) => {
            run.end_without_servers(root, trace, Some(&error)).await?;
            return Err(error.into());
        }
        Err(interrupted) => {
            eprintln!("mcp-host: interrupted while starting the servers");
            run.end_without_servers(root, trace, None).await?;
            return Ok(interrupted.exit_code());
        }
    };
    let toolbox = ServerSet::new(servers);
    agent::record_tools(&root, toolbox.tools());

    let printer = Printer::default();
    let mut history = History::new(0);
    let turn = Turn {
        query,
        tools: &toolbox,
        history: &mut history,
        output: &printer,
    };
    let outcome = unless_signalled(agent.run(turn).instrument(root.clone())).await;
    printer.finish();
    let (code, failure) = match outcome {
        Ok(Ok(answer)) => {
            agent::record_answer(&root, &answer);
            (ExitCode::SUCCESS, None)
        }
        Ok(Err(error)) => {
            agent::record_failure(&root, &error);
            let code = match error {
                AgentError::Unsupported(_) => ExitCode::from(EXIT_UNSUPPORTED),
                AgentError::Incomplete { .. } => ExitCode::from(EXIT_INCOMPLETE),
                _ => ExitCode::FAILURE,
            };
            (code, Some(error))
        }
        Err(interrupted) => {
            root.set_status(Status::error("interrupted"));
            eprintln!("mcp-host: interrupted; stopping the servers");
            (interrupted.exit_code(), None)
        }
    };
    drop(root);
    run.finish(toolbox.into_servers(), trace).await?;
    if let Some(failure) = failure {
        eprintln!("mcp-host: error: {failure}");
    }
    Ok(code)
}

/// Prints every server's tools: one `mcp-host tools` trace with each server's discovery.
pub(crate) async fn list_tools(
    specs: Vec<ServerSpec>,
    mut options: RunOptions,
) -> anyhow::Result<ExitCode> {
    // The tool list is what it prints; the tree only on --trace-html / --trace-json.
    options.output = options.output.without_tree();
    let run = Run::start(options).await?;
    let root = run.root(tracing::info_span!(
        "mcp-host tools",
        otel.kind = "internal"
    ));
    let trace = run::trace_id(&root);
    let started = run.start_servers(&specs).instrument(root.clone()).await;
    let servers = match started {
        Ok(servers) => servers,
        Err(error) => {
            run.end_without_servers(root, trace, Some(&error)).await?;
            return Err(error.into());
        }
    };
    crate::toolbox::print_tools(&servers);
    drop(root);
    run.finish(servers, trace).await?;
    Ok(ExitCode::SUCCESS)
}

/// Makes one tool call and prints its result: one `mcp-host call` trace.
pub(crate) async fn call_one(
    server: &str,
    tool: &str,
    arguments: &str,
    specs: Vec<ServerSpec>,
    options: RunOptions,
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
    let run = Run::start(options).await?;
    let root = run.root(tracing::info_span!("mcp-host call", otel.kind = "internal"));
    let trace = run::trace_id(&root);
    root.set_attribute(attr::GEN_AI_TOOL_NAME, tool.to_owned());
    let servers = match run
        .start_servers(std::slice::from_ref(&spec))
        .instrument(root.clone())
        .await
    {
        Ok(servers) => servers,
        Err(error) => {
            run.end_without_servers(root, trace, Some(&error)).await?;
            return Err(error.into());
        }
    };
    let outcome = unless_signalled(
        servers[0]
            .call_tool(tool, arguments, None)
            .instrument(root.clone()),
    )
    .await;
    let (code, failure) = match outcome {
        Ok(Ok(result)) => {
            println!("{}", tool_result_text(&result));
            let code = if result.is_error == Some(true) {
                root.set_status(Status::error("the tool reported an error"));
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            };
            (code, None)
        }
        Ok(Err(error)) => (ExitCode::FAILURE, Some(error)),
        Err(interrupted) => {
            eprintln!("mcp-host: interrupted; stopping the server");
            root.set_status(Status::error("interrupted"));
            (interrupted.exit_code(), None)
        }
    };
    if let Some(error) = &failure {
        root.set_status(Status::error(error.to_string()));
    }
    drop(root);
    run.finish(servers, trace).await?;
    if let Some(error) = failure {
        eprintln!("mcp-host: error: {error}");
    }
    Ok(code)
}
