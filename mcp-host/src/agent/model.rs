//! The model-driven agent: a tool-calling loop over an OpenAI-compatible endpoint.
//!
//! Each step asks the model for its next turn (a `chat {model}` span) with every tool as a
//! function, after the system prompt and the conversation's earlier turns ([`History`]).
//! A turn with tool calls runs them all concurrently (one `mcp-tool-{tool}` span each,
//! siblings under `mcp-agent`, carrying the model's call id as `gen_ai.tool.call.id`; under
//! `TRACE_META_SPAN_NAMES=semconv` each inside an `execute_tool {tool}` span) and sends each
//! result back as a `tool` message with the call's id; a turn without tool calls is the
//! answer, unless its finish reason says it was cut off (`length`, `content_filter`): then
//! the run ends in [`AgentError::Incomplete`]. Text the model streams reaches the turn's
//! output as it arrives; the run's answer is all of it, every step's, as the user saw it.
//! Mistakes the model can correct (an unknown tool, arguments that are not a JSON object,
//! a tool result with `isError: true`, a call the server rejects) go back to it as the
//! tool's answer; only a failing model endpoint or a dead server ends the run.

use futures_util::future::join_all;
use rmcp::model::JsonObject;
use trace_meta::{SpanNames, tool_result_text};
use tracing::Instrument as _;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use super::{
    Agent, AgentError, History, ServerTool, Toolbox, ToolboxError, Turn, names::exposed_names,
};
use crate::{
    attr::{self, truncate},
    chat::{
        ChatClient,
        wire::{FunctionDefinition, Message, ToolCall, ToolDefinition},
    },
    config::json_kind,
};

/// Model requests per run unless `--max-steps` says otherwise.
pub(crate) const DEFAULT_MAX_STEPS: usize = 10;

/// Most characters of one tool result sent to the model: a whole large file would crowd
/// out the conversation (and most context windows).
pub(super) const MAX_TOOL_RESULT_CHARS: usize = 100_000;

/// Instructions sent before the user's question.
const SYSTEM_PROMPT: &str = "You are an assistant that answers the user's question using the \
tools of the connected MCP servers. Call tools to get the facts you need (several at once when \
they do not depend on each other), then answer concisely from what they returned. If a tool \
reports an error, correct the call or try another tool. Do not invent data.";

/// An [`Agent`] that asks a model which tools to call.
#[derive(Debug, Clone)]
pub(crate) struct ModelAgent {
    client: ChatClient,
    max_steps: usize,
}

impl ModelAgent {
    /// An agent asking `client`'s model, for at most `max_steps` model requests per run.
    pub(crate) fn new(client: ChatClient, max_steps: usize) -> Self {
        Self {
            client,
            max_steps: max_steps.max(1),
        }
    }
}

#[async_trait::async_trait]
impl Agent for ModelAgent {
    fn name(&self) -> &str {
        "mcp-orchestrator"
    }

    fn model(&self) -> Option<&str> {
        Some(self.client.model())
    }

    fn provider(&self) -> Option<&str> {
        Some(self.client.provider())
    }

    async fn run(&self, turn: Turn<'_>) -> Result<String, AgentError> {
        let Turn {
            query,
            tools: toolbox,
            history,
            output,
        } = turn;
        let tools = toolbox.tools();
        let names = exposed_names(tools);
        let definitions = definitions(tools, &names);
        let system = Message::System {
            content: SYSTEM_PROMPT.to_owned(),
        };
        // The request is the system prompt, the earlier turns and this one; only this
        // turn's messages are built here, and they join the history once it is answered.
        let mut this_turn = vec![Message::User {
            content: query.to_owned(),
        }];
        let on_text = |piece: &str| output.text(piece);
        // Everything the user was shown this turn, every step's text: the turn's output.
        let mut shown = String::new();
        for step in 0..self.max_steps {
            let messages = request_messages(&system, history, &this_turn);
            let response = self
                .client
                .complete(&messages, &definitions, &on_text)
                .await?;
            let Some(choice) = response.choices.into_iter().next() else {
                unreachable!("ChatClient::complete returns at least one choice");
            };
            let mut calls = choice.message.tool_calls;
            for (index, call) in calls.iter_mut().enumerate() {
                if call.id.is_empty() {
                    call.id = format!("call_{step}_{index}");
                }
            }
            let content = choice.message.content.filter(|c| !c.trim().is_empty());
            if let Some(text) = &content {
                if !shown.is_empty() {
                    shown.push('\n');
                }
                shown.push_str(text.trim_end_matches('\n'));
            }
            this_turn.push(Message::Assistant {
                content: content.clone(),
                tool_calls: calls.clone(),
            });
            if calls.is_empty() {
                let reason = choice.finish_reason.unwrap_or_else(|| "none given".into());
                if AgentError::INCOMPLETE_REASONS.contains(&reason.as_str()) {
                    // The user saw the partial answer, so the model sees it next turn.
                    if content.is_some() {
                        history.push_turn(this_turn);
                    }
                    return Err(AgentError::Incomplete {
                        reason,
                        text: shown,
                    });
                }
                if content.is_none() {
                    return Err(AgentError::EmptyAnswer {
                        finish_reason: reason,
                    });
                }
                history.push_turn(this_turn);
                return Ok(shown);
            }
            output.end_of_step();
            let answers = join_all(
                calls
                    .iter()
                    .map(|call| answer_call(toolbox, tools, &names, call)),
            )
            .await;
            for (call, answer) in calls.iter().zip(answers) {
                this_turn.push(Message::Tool {
                    tool_call_id: call.id.clone(),
                    content: answer?,
                });
            }
        }
        Err(AgentError::StepLimit {
            max_steps: self.max_steps,
        })
    }
}

/// What one model request carries: the system prompt, the earlier turns, this turn so far.
fn request_messages(system: &Message, history: &History, this_turn: &[Message]) -> Vec<Message> {
    std::iter::once(system)
        .chain(history.messages())
        .chain(this_turn)
        .cloned()
        .collect()
}

/// The function definitions of `tools` under their exposed `names`.
fn definitions(tools: &[ServerTool], names: &[String]) -> Vec<ToolDefinition> {
    tools
        .iter()
        .zip(names)
        .map(|(entry, name)| ToolDefinition {
            kind: "function",
            function: FunctionDefinition {
                name: name.clone(),
                description: entry.tool.description.as_deref().unwrap_or("").to_owned(),
                parameters: serde_json::Value::Object((*entry.tool.input_schema).clone()),
            },
        })
        .collect()
}

/// Runs one tool call and returns the text the model gets back. Only a server failure
/// (death, timeout, broken protocol) is an error.
async fn answer_call(
    toolbox: &dyn Toolbox,
    tools: &[ServerTool],
    names: &[String],
    call: &ToolCall,
) -> Result<String, ToolboxError> {
    let requested = call.function.name.as_str();
    let Some(index) = names.iter().position(|name| name == requested) else {
        tracing::info!(
            tool = requested,
            "the model called a tool that does not exist"
        );
        return Ok(format!(
            "Error: there is no tool named {requested:?}. The tools are: {}.",
            names.join(", ")
        ));
    };
    let arguments = match parse_arguments(&call.function.arguments) {
        Ok(arguments) => arguments,
        Err(problem) => {
            tracing::info!(
                tool = requested,
                "the model sent arguments that are not a JSON object"
            );
            return Ok(format!(
                "Error: the arguments for {requested} are not a JSON object ({problem}). Call it again with a JSON object that matches its parameters."
            ));
        }
    };
    let entry = &tools[index];
    let call_tool = toolbox.call(&entry.server, &entry.tool.name, arguments, Some(&call.id));
    let outcome = match SpanNames::get() {
        // The GenAI agent conventions' span for the agent's side of the call; the MCP
        // CLIENT span is its child.
        SpanNames::Semconv => {
            let span = tracing::info_span!(
                "gen_ai.execute_tool",
                otel.name = %format!("{} {}", attr::EXECUTE_TOOL, entry.tool.name),
                otel.kind = "internal",
            );
            span.set_attribute(attr::GEN_AI_OPERATION_NAME, attr::EXECUTE_TOOL);
            span.set_attribute(attr::GEN_AI_TOOL_NAME, entry.tool.name.to_string());
            span.set_attribute(attr::GEN_AI_TOOL_CALL_ID, call.id.clone());
            span.set_attribute(attr::GEN_AI_TOOL_TYPE, "function");
            call_tool.instrument(span).await
        }
        _ => call_tool.await,
    };
    match outcome {
        Ok(result) if result.is_error == Some(true) => {
            Ok(format!("Error: {}", bounded(tool_result_text(&result))))
        }
        Ok(result) => Ok(bounded(tool_result_text(&result))),
        Err(ToolboxError::Rejected { error, .. }) => Ok(format!(
            "Error: the server rejected the call: {} (JSON-RPC error {})",
            error.message, error.code.0
        )),
        Err(ToolboxError::TimedOut { limit, .. }) => Ok(format!(
            "Error: the tool gave no answer within {}s and the call was cancelled",
            limit.as_secs_f64()
        )),
        Err(other) => Err(other),
    }
}

/// `text` cut to [`MAX_TOOL_RESULT_CHARS`], saying so when it was cut.
fn bounded(text: String) -> String {
    let kept = truncate(&text, MAX_TOOL_RESULT_CHARS);
    if kept.len() == text.len() {
        return text;
    }
    format!(
        "{kept}\n[truncated: the result has {} characters; the first {MAX_TOOL_RESULT_CHARS} are shown]",
        text.chars().count()
    )
}

/// A model's argument string as a JSON object; empty or `null` is no arguments.
fn parse_arguments(raw: &str) -> Result<JsonObject, String> {
    if raw.trim().is_empty() {
        return Ok(JsonObject::new());
    }
    match serde_json::from_str::<serde_json::Value>(raw) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        Ok(serde_json::Value::Null) => Ok(JsonObject::new()),
        Ok(other) => Err(format!("got {}", json_kind(&other))),
        Err(error) => Err(format!("invalid JSON: {error}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_must_be_an_object() {
        assert!(parse_arguments("").unwrap().is_empty());
        assert!(parse_arguments("null").unwrap().is_empty());
        assert_eq!(parse_arguments(r#"{"a":1}"#).unwrap()["a"], 1);
        assert!(
            parse_arguments(r#"{"path": "sales.csv""#)
                .unwrap_err()
                .starts_with("invalid JSON")
        );
        assert_eq!(parse_arguments("[1]").unwrap_err(), "got an array");
    }

    #[test]
    fn long_results_are_cut_and_say_so() {
        assert_eq!(bounded("short".into()), "short");
        let long = "é".repeat(MAX_TOOL_RESULT_CHARS + 5);
        let cut = bounded(long);
        assert!(cut.starts_with(&"é".repeat(MAX_TOOL_RESULT_CHARS)));
        assert!(cut.ends_with(&format!(
            "[truncated: the result has {} characters; the first {MAX_TOOL_RESULT_CHARS} are shown]",
            MAX_TOOL_RESULT_CHARS + 5
        )));
    }
}
