//! `mcp-host chat`: a conversation over the configured servers.
//!
//! The servers start once, in a short trace of their own (`mcp-host chat`, with the
//! conversation's grouping keys, so it sits with the turns in a backend). Then each
//! question is one turn:
//! 1. **One trace per turn**, rooted at `mcp-agent` (`invoke_agent {agent}` under
//!    `TRACE_META_SPAN_NAMES=semconv`), with the conversation id and the grouping keys
//!    ([`Grouping`]) on the root.
//! 2. **The model remembers**: each request carries the earlier turns ([`History`],
//!    bounded by `--history-turns`); a turn joins the history once it is answered.
//! 3. **The answer streams** to stdout as it is written (unless `--no-stream`).
//! 4. **Ctrl-C cancels the turn in flight**: the model request and the tool calls are
//!    dropped (each server is told, with the call's trace context), the root span ends
//!    `error.type=cancelled`, the history is unchanged, and the conversation goes on. At the
//!    prompt Ctrl-C clears the line; Ctrl-D (or the end of piped input) ends the
//!    conversation, SIGTERM too. With stdin piped, SIGINT between turns ends it (status 130).
//! 5. **Slash commands**: `/tools`, `/trace` (the last turn's tree, with the servers' spans),
//!    `/new` (forget the history, start a new conversation id), `/help`, `/quit`.
//! 6. **Piped, stdout is a transcript**: each line read is echoed as `> LINE` before what
//!    it produces, and each answer is followed by an empty line.
//!
//! Children export every [`CHILD_EXPORT_DELAY`] during a conversation, so `/trace` can show
//! their side of the last turn while they still run.

mod input;
mod printer;

use std::{process::ExitCode, time::Duration};

use opentelemetry::trace::{Status, TraceContextExt as _};
use trace_meta::{StopSignal, StopSignals};

use crate::attr;
use tracing::Instrument as _;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

pub(crate) use input::{Input, Line};
pub(crate) use printer::Printer;

use crate::{
    agent::{self, Agent, Grouping, History, Toolbox as _, Turn},
    config::ServerSpec,
    run::{Run, RunOptions},
    toolbox::ServerSet,
};

/// How often the servers export their spans during a conversation.
pub(crate) const CHILD_EXPORT_DELAY: Duration = Duration::from_millis(100);

/// How long `/trace` waits for the servers' spans of the last turn.
pub(crate) const TRACE_WAIT: Duration = Duration::from_secs(2);

/// The prompt on a terminal.
const PROMPT: &str = "> ";

/// What a line asks for.
#[derive(Debug, PartialEq, Eq)]
enum Request<'a> {
    Nothing,
    Question(&'a str),
    Help,
    Tools,
    Trace,
    New,
    Quit,
    Unknown(&'a str),
}

fn parse(line: &str) -> Request<'_> {
    let line = line.trim();
    let Some(command) = line.strip_prefix('/') else {
        return if line.is_empty() {
            Request::Nothing
        } else {
            Request::Question(line)
        };
    };
    match command.split_whitespace().next().unwrap_or_default() {
        "help" | "?" => Request::Help,
        "tools" => Request::Tools,
        "trace" => Request::Trace,
        "new" | "reset" => Request::New,
        "quit" | "exit" | "q" => Request::Quit,
        _ => Request::Unknown(line),
    }
}

/// What the offline agent says in a conversation to a question it cannot answer.
const OFFLINE_REFUSAL: &str = "\
the offline demo agent answers only sales summaries (like \"Summarize our 2024 sales data\"); \
for other questions, start the conversation with a model:
  OpenAI:    OPENAI_API_KEY=... mcp-host chat --model gpt-4o-mini
  Ollama:    mcp-host chat --model llama3.1 --base-url http://localhost:11434/v1
  vLLM / llama.cpp / LM Studio: mcp-host chat --model NAME --base-url http://HOST:PORT/v1";

/// The first line of `/help`, by agent.
const HELP_MODEL: &str =
    "Ask a question and press Enter; the model may call the servers' tools to answer.";
const HELP_OFFLINE: &str = "Ask for a sales summary (\"Summarize our 2024 sales data\") and press Enter: the \
offline demo agent reads the sales file and queries the database; `mcp-host chat --model ...` \
answers anything.";

const HELP: &str = "\
  /tools   the tools of every server
  /trace   the trace of the last answer, across all processes
  /new     forget this conversation and start a new one (a new conversation id)
  /help    this help
  /quit    end (also Ctrl-D)
Ctrl-C stops the answer being written; at the prompt it clears the line.";

/// How a turn ended.
enum TurnEnd {
    Answered,
    Failed,
    Cancelled,
    /// SIGTERM: the conversation ends.
    Terminated,
}

/// Runs a conversation to its end; see the module doc.
pub(crate) async fn run_chat(
    agent: &dyn Agent,
    history_turns: usize,
    grouping: Grouping,
    specs: Vec<ServerSpec>,
    mut options: RunOptions,
) -> anyhow::Result<ExitCode> {
    // A conversation shows trees on `/trace`, not all of them at the end.
    options.output = options.output.without_tree();
    let mut signals = StopSignals::install();
    let mut input = Input::open()?;
    let mut grouping = match grouping.conversation_id {
        Some(_) => grouping,
        None => grouping.with_conversation_id(Grouping::new_conversation_id()),
    };
    let run = Run::start(options)
        .await?
        .with_child_export_delay(CHILD_EXPORT_DELAY);
    announce(&grouping, agent, input.is_terminal());

    let start = run.root(tracing::info_span!("mcp-host chat", otel.kind = "internal"));
    let start_trace = crate::run::trace_id(&start);
    grouping.record(&start);
    let started = tokio::select! {
        started = run.start_servers(&specs).instrument(start.clone()) => started,
        signal = signals.recv() => {
            run.end_without_servers(start, start_trace, None).await?;
            return Ok(ExitCode::from(signal.exit_status()));
        }
    };
    let servers = match started {
        Ok(servers) => servers,
        Err(error) => {
            run.end_without_servers(start, start_trace, Some(&error))
                .await?;
            return Err(error.into());
        }
    };
    drop(start);
    let toolbox = ServerSet::new(servers);
    let mut history = History::new(history_turns);
    let printer = Printer::default();
    let mut code = ExitCode::SUCCESS;
    let mut answered = 0usize;
    // The trace of the last turn of the current conversation id (`/new` starts another).
    let mut last_trace = None;
    // One section of the --trace-html page for the servers' start, then one per turn.
    let mut sections = vec![trace_view::html::Section::new(
        "Servers started",
        start_trace,
    )];

    loop {
        let line = if input.is_terminal() {
            input.next(PROMPT).await?
        } else {
            // Piped: a signal between turns ends the conversation.
            tokio::select! {
                line = input.next(PROMPT) => line?,
                signal = signals.recv() => {
                    code = ExitCode::from(signal.exit_status());
                    break;
                }
            }
        };
        let text = match line {
            Line::Text(text) => text,
            Line::Interrupted => continue,
            Line::End => break,
        };
        if !input.is_terminal() && !text.trim().is_empty() {
            // Piped, stdout is a transcript: each line read is echoed as a terminal shows
            // it, so a script can tell where one turn's answer ends.
            println!("{PROMPT}{}", text.trim());
        }
        match parse(&text) {
            Request::Nothing => {}
            Request::Help => {
                let first = if agent.model().is_some() {
                    HELP_MODEL
                } else {
                    HELP_OFFLINE
                };
                println!("{first}\n{HELP}");
            }
            Request::Quit => break,
            Request::Unknown(command) => {
                eprintln!("mcp-host: unknown command {command:?}; /help lists the commands")
            }
            Request::Tools => crate::toolbox::print_tools(toolbox.servers()),
            Request::New => {
                history.clear();
                last_trace = None;
                grouping = grouping.with_conversation_id(Grouping::new_conversation_id());
                eprintln!(
                    "mcp-host: new conversation {}",
                    grouping.conversation_id.as_deref().unwrap_or_default()
                );
            }
            Request::Trace => match last_trace {
                None => {
                    eprintln!("mcp-host: no answer yet in this conversation; ask a question first")
                }
                Some(trace) => print!("{}", run.tree(trace, TRACE_WAIT).await),
            },
            Request::Question(query) => {
                if let Err(refusal) = agent.check(query) {
                    match agent.model() {
                        None => eprintln!("mcp-host: {OFFLINE_REFUSAL}"),
                        Some(_) => eprintln!("mcp-host: {refusal}"),
                    }
                    continue;
                }
                let (end, trace_id) = turn(
                    agent,
                    query,
                    &run,
                    &toolbox,
                    &mut history,
                    &grouping,
                    &printer,
                    &mut signals,
                )
                .await;
                if !input.is_terminal() {
                    println!();
                }
                answered += 1;
                last_trace = Some(trace_id);
                sections.push(trace_view::html::Section::new(
                    format!("Turn {answered}: {query}"),
                    trace_id,
                ));
                match end {
                    TurnEnd::Answered | TurnEnd::Failed | TurnEnd::Cancelled => {}
                    TurnEnd::Terminated => {
                        code = ExitCode::from(StopSignal::Terminate.exit_status());
                        break;
                    }
                }
            }
        }
    }
    if input.is_terminal() {
        eprintln!(
            "mcp-host: conversation {} ended",
            grouping.conversation_id.as_deref().unwrap_or_default()
        );
    }
    let title = format!(
        "Conversation {}",
        grouping.conversation_id.as_deref().unwrap_or_default()
    );
    run.finish_conversation(toolbox.into_servers(), &title, sections)
        .await?;
    Ok(code)
}

/// One question, answered in its own trace.
#[allow(clippy::too_many_arguments)]
async fn turn(
    agent: &dyn Agent,
    query: &str,
    run: &Run,
    toolbox: &ServerSet,
    history: &mut History,
    grouping: &Grouping,
    printer: &Printer,
    signals: &mut StopSignals,
) -> (TurnEnd, opentelemetry::trace::TraceId) {
    let root = run.root(agent::agent_span(agent, query, grouping));
    let trace_id = root.context().span().span_context().trace_id();
    (
        turn_in(agent, query, toolbox, history, printer, signals, root).await,
        trace_id,
    )
}

/// The turn, in its root span `root`.
async fn turn_in(
    agent: &dyn Agent,
    query: &str,
    toolbox: &ServerSet,
    history: &mut History,
    printer: &Printer,
    signals: &mut StopSignals,
    root: tracing::Span,
) -> TurnEnd {
    agent::record_tools(&root, toolbox.tools());
    let run = agent
        .run(Turn {
            query,
            tools: toolbox,
            history,
            output: printer,
        })
        .instrument(root.clone());
    let outcome = tokio::select! {
        outcome = run => Some(outcome),
        signal = signals.recv() => {
            // Dropping the turn's future cancels the model request and the tool calls.
            if signal == StopSignal::Terminate {
                root.set_status(Status::error("terminated"));
                root.set_attribute(attr::ERROR_TYPE, attr::CANCELLED);
                printer.finish();
                return TurnEnd::Terminated;
            }
            None
        }
    };
    printer.finish();
    match outcome {
        Some(Ok(answer)) => {
            agent::record_answer(&root, &answer);
            TurnEnd::Answered
        }
        Some(Err(error)) => {
            agent::record_failure(&root, &error);
            eprintln!("mcp-host: error: {error}");
            TurnEnd::Failed
        }
        None => {
            root.set_status(Status::error("cancelled by the user (Ctrl-C)"));
            root.set_attribute(attr::ERROR_TYPE, attr::CANCELLED);
            eprintln!("mcp-host: cancelled");
            TurnEnd::Cancelled
        }
    }
}

/// Says which conversation this is (on stderr: stdout carries the answers).
fn announce(grouping: &Grouping, agent: &dyn Agent, terminal: bool) {
    let id = grouping.conversation_id.as_deref().unwrap_or_default();
    let model = agent.model().unwrap_or("the offline demo agent");
    eprintln!("mcp-host: conversation {id} with {model}");
    if terminal {
        eprintln!("mcp-host: /help for commands, Ctrl-C stops an answer, Ctrl-D ends");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_questions_or_commands() {
        assert_eq!(parse("  "), Request::Nothing);
        assert_eq!(
            parse(" How many rows? "),
            Request::Question("How many rows?")
        );
        assert_eq!(parse("/help"), Request::Help);
        assert_eq!(parse("/tools"), Request::Tools);
        assert_eq!(parse("/trace"), Request::Trace);
        assert_eq!(parse("/new"), Request::New);
        assert_eq!(parse("/quit"), Request::Quit);
        assert_eq!(parse("/exit"), Request::Quit);
        assert_eq!(parse("/frobnicate"), Request::Unknown("/frobnicate"));
    }
}
