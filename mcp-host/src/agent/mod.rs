//! The agent seam: what answers a query ([`Agent`]) and what it may call ([`Toolbox`]).
//!
//! Two agents implement it:
//! - [`ModelAgent`]: a tool-calling loop over any OpenAI-compatible Chat Completions
//!   endpoint; every tool of every server is a function the model may call.
//! - [`OfflineAgent`]: no model, no network; it answers the one kind of question it is
//!   built for (a year's sales summary) and refuses every other one, saying how to
//!   configure a model.
//!
//! Both are object-safe (`Box<dyn Agent>`), and both reach servers only through
//! `&dyn Toolbox`, so a test or another program can drive them with any toolbox.

mod grouping;
pub(crate) mod history;
mod model;
mod names;
mod offline;
pub(crate) mod sales;

use opentelemetry::{Array, StringValue, Value};
use rmcp::model::{CallToolResult, ErrorData, JsonObject, Tool};
use trace_meta::content::Capture;

use crate::attr;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

pub(crate) use grouping::Grouping;
pub(crate) use history::History;
pub(crate) use model::{DEFAULT_MAX_STEPS, ModelAgent};
pub(crate) use offline::OfflineAgent;

use crate::{chat::ChatError, servers::ServerError};

/// `confident.trace.name` of an agent run.
pub(crate) const TRACE_NAME: &str = "mcp-tool-orchestration";

/// One tool and the server that offers it.
#[derive(Debug, Clone)]
pub(crate) struct ServerTool {
    /// The server's name in the configuration.
    pub server: String,
    /// The tool as the server's `tools/list` described it.
    pub tool: Tool,
}

/// Why a tool call produced no result.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ToolboxError {
    /// No server of that name is configured.
    #[error("no server named {server:?} (configured: {known})")]
    UnknownServer {
        /// The name asked for.
        server: String,
        /// The configured names, comma-separated.
        known: String,
    },
    /// The server answered with a JSON-RPC error (e.g. invalid params): the server is fine,
    /// the call was wrong.
    #[error("server {server:?} rejected tools/call {tool}: {} (JSON-RPC error {})", .error.message, .error.code.0)]
    Rejected {
        /// The server.
        server: String,
        /// The tool.
        tool: String,
        /// The error it answered with.
        error: ErrorData,
    },
    /// The call got no answer within the call timeout and was cancelled; the server goes on.
    #[error("server {server:?} gave no answer to tools/call {tool} within {}s; the call was cancelled", .limit.as_secs_f64())]
    TimedOut {
        /// The server.
        server: String,
        /// The tool.
        tool: String,
        /// The time allowed.
        limit: std::time::Duration,
    },
    /// The server failed: it died or broke the protocol.
    #[error(transparent)]
    Server(#[from] ServerError),
}

/// The tools an agent may call, and the way to call them.
#[async_trait::async_trait]
pub(crate) trait Toolbox: Send + Sync {
    /// Every tool of every server, servers in configuration order.
    fn tools(&self) -> &[ServerTool];

    /// Calls `tool` on `server` in a traced `mcp-tool-{tool}` span, a child of the current
    /// span; `call_id` is the model's id for the call (`gen_ai.tool.call.id`), when a model
    /// asked for it. A result with `isError: true` is `Ok`: the caller decides what it means.
    async fn call(
        &self,
        server: &str,
        tool: &str,
        arguments: JsonObject,
        call_id: Option<&str>,
    ) -> Result<CallToolResult, ToolboxError>;
}

/// Where an agent's answer goes as it is written.
pub(crate) trait Output: Send + Sync {
    /// The next piece of text the agent produced: a streamed model writes its answer (and
    /// whatever it says before calling tools) in many pieces, the offline agent in one.
    fn text(&self, piece: &str);

    /// A model request ended in tool calls: what it wrote so far stands apart from what
    /// comes after the calls (a printer starts a new line).
    fn end_of_step(&self) {}
}

/// One question for an agent, with what it needs to answer it.
pub(crate) struct Turn<'a> {
    /// The user's question.
    pub query: &'a str,
    /// The tools it may call.
    pub tools: &'a dyn Toolbox,
    /// The conversation so far; the turn is added to it when it ends with an answer.
    pub history: &'a mut History,
    /// Where the answer goes as it is written.
    pub output: &'a dyn Output,
}

/// The first server's entry for a tool named `name`.
pub(crate) fn find_tool<'a>(tools: &'a [ServerTool], name: &str) -> Option<&'a ServerTool> {
    tools.iter().find(|entry| entry.tool.name == name)
}

/// Why an agent produced no answer.
#[derive(Debug, thiserror::Error)]
pub(crate) enum AgentError {
    /// The agent cannot answer this kind of question.
    #[error("{0}")]
    Unsupported(String),
    /// The model kept calling tools past the step limit.
    #[error(
        "the model did not reach a final answer within {max_steps} model requests (--max-steps {max_steps}); raise --max-steps or ask a narrower question"
    )]
    StepLimit {
        /// The limit.
        max_steps: usize,
    },
    /// The model's final turn had no text.
    #[error("the model ended its turn without an answer (finish reason: {finish_reason})")]
    EmptyAnswer {
        /// Why the model stopped.
        finish_reason: String,
    },
    /// The model stopped before the end of its answer: at its output token limit
    /// (`length`) or at its provider's content filter (`content_filter`). What it wrote
    /// is in `text`, and was shown.
    #[error("{}", incomplete_message(.reason))]
    Incomplete {
        /// The finish reason: `length` or `content_filter`.
        reason: String,
        /// The text of the turn, every step's, as it was shown.
        text: String,
    },
    /// A model request failed.
    #[error(transparent)]
    Model(#[from] ChatError),
    /// A server failed in a way the agent cannot work around.
    #[error(transparent)]
    Tool(Box<ToolboxError>),
    /// The data the tools returned is not what the agent needs (the whole chain of
    /// context in the message, so not also the `source()`).
    #[error("{0:#}")]
    Data(anyhow::Error),
}

/// What a cut-off answer's message says, by finish reason.
fn incomplete_message(reason: &str) -> String {
    match reason {
        "content_filter" => "the answer above is incomplete: the model provider's content filter \
            stopped it (finish reason \"content_filter\")"
            .to_owned(),
        _ => format!(
            "the answer above is incomplete: the model endpoint stopped it at its output token \
             limit (finish reason {reason:?}); raise the server's limit (llama.cpp's \
             llama-server: --n-predict; a hosted API: the model's max output tokens) or ask for \
             a shorter answer"
        ),
    }
}

impl AgentError {
    /// The finish reasons that mean the model's answer was cut off.
    pub(crate) const INCOMPLETE_REASONS: [&'static str; 2] = ["length", "content_filter"];

    /// The `error.type` of a turn's root span that ended this way.
    pub(crate) fn error_type(&self) -> String {
        match self {
            Self::Model(error) => error.error_type(),
            Self::Unsupported(_) => "unsupported".to_owned(),
            Self::StepLimit { .. } => "step_limit".to_owned(),
            Self::EmptyAnswer { .. } => "empty_answer".to_owned(),
            Self::Incomplete { .. } => "incomplete_answer".to_owned(),
            Self::Tool(_) => "tool_failure".to_owned(),
            Self::Data(_) => "unexpected_data".to_owned(),
        }
    }
}

impl From<anyhow::Error> for AgentError {
    fn from(error: anyhow::Error) -> Self {
        Self::Data(error)
    }
}

impl From<ToolboxError> for AgentError {
    fn from(error: ToolboxError) -> Self {
        Self::Tool(Box::new(error))
    }
}

/// Answers a query using the tools of a [`Toolbox`].
#[async_trait::async_trait]
pub(crate) trait Agent: Send + Sync {
    /// The name recorded as `gen_ai.agent.name` and `confident.agent.name`.
    fn name(&self) -> &str;

    /// The model it asks, if any (`gen_ai.request.model` of the root span).
    fn model(&self) -> Option<&str> {
        None
    }

    /// Refuses, before any server starts, a query this agent cannot answer.
    fn check(&self, _query: &str) -> Result<(), AgentError> {
        Ok(())
    }

    /// The provider of its model, if any (`gen_ai.provider.name` of the root span).
    fn provider(&self) -> Option<&str> {
        None
    }

    /// Answers one question, inside the caller's `mcp-agent` span; the answer is also
    /// written to `turn.output` as it is produced.
    async fn run(&self, turn: Turn<'_>) -> Result<String, AgentError>;
}

/// The name of an agent run's root span: `mcp-agent`, or `invoke_agent {agent}` under
/// `TRACE_META_SPAN_NAMES=semconv` (the OpenTelemetry GenAI agent conventions).
pub(crate) fn root_span_name(agent: &dyn Agent) -> String {
    match trace_meta::SpanNames::get() {
        trace_meta::SpanNames::Semconv => format!("{} {}", attr::INVOKE_AGENT, agent.name()),
        _ => "mcp-agent".to_owned(),
    }
}

/// The root span of an agent run (INTERNAL, named by [`root_span_name`]), with the
/// attributes known before it runs, the conversation's grouping among them;
/// [`record_answer`] and [`record_tools`] add the rest.
pub(crate) fn agent_span(agent: &dyn Agent, query: &str, grouping: &Grouping) -> tracing::Span {
    let span = tracing::info_span!(
        "mcp-agent",
        otel.name = %root_span_name(agent),
        otel.kind = "internal",
    );
    span.set_attribute(attr::GEN_AI_OPERATION_NAME, attr::INVOKE_AGENT);
    span.set_attribute(attr::GEN_AI_AGENT_NAME, agent.name().to_owned());
    if let Some(model) = agent.model() {
        span.set_attribute(attr::GEN_AI_REQUEST_MODEL, model.to_owned());
    }
    if let Some(provider) = agent.provider() {
        span.set_attribute(attr::GEN_AI_PROVIDER_NAME, provider.to_owned());
    }
    grouping.record(&span);
    span.set_attribute(attr::CONFIDENT_TRACE_NAME, TRACE_NAME);
    span.set_attribute(attr::CONFIDENT_SPAN_TYPE, "agent");
    if Capture::get().tools() {
        span.set_attribute(attr::CONFIDENT_TRACE_INPUT, query.to_owned());
        span.set_attribute(attr::CONFIDENT_SPAN_INPUT, query.to_owned());
    }
    span.set_attribute(attr::CONFIDENT_AGENT_NAME, agent.name().to_owned());
    span
}

/// Records the tools the agent could call on its root span.
pub(crate) fn record_tools(span: &tracing::Span, tools: &[ServerTool]) {
    let names: Vec<StringValue> = tools
        .iter()
        .map(|entry| StringValue::from(entry.tool.name.to_string()))
        .collect();
    span.set_attribute(
        attr::CONFIDENT_AGENT_AVAILABLE_TOOLS,
        Value::Array(Array::String(names)),
    );
}

/// Records why a run failed on its root span: status ERROR with the message, `error.type`
/// ([`AgentError::error_type`]), and for a cut-off answer the text that was shown.
pub(crate) fn record_failure(span: &tracing::Span, error: &AgentError) {
    span.set_status(opentelemetry::trace::Status::error(error.to_string()));
    span.set_attribute(attr::ERROR_TYPE, error.error_type());
    if let AgentError::Incomplete { text, .. } = error
        && !text.is_empty()
    {
        record_answer(span, text);
    }
}

/// Records the answer on the root span (unless no content is captured: see
/// [`trace_meta::content`]).
pub(crate) fn record_answer(span: &tracing::Span, answer: &str) {
    if Capture::get().tools() {
        span.set_attribute(attr::CONFIDENT_SPAN_OUTPUT, answer.to_owned());
        span.set_attribute(attr::CONFIDENT_TRACE_OUTPUT, answer.to_owned());
    }
}
