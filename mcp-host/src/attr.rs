//! The attribute names only the host records: the agent's root span, its model requests
//! (the OpenTelemetry GenAI conventions) and Confident AI's trace-level keys. The names
//! every MCP span shares (and the servers and the proxy record) are trace-meta's, all
//! re-exported here, so `attr::` reaches both.

pub(crate) use trace_meta::attributes::*;

/// Confident AI: trace name, set on the root span.
pub(crate) const CONFIDENT_TRACE_NAME: &str = "confident.trace.name";
/// Confident AI: trace input, set on the root span.
pub(crate) const CONFIDENT_TRACE_INPUT: &str = "confident.trace.input";
/// Confident AI: trace output, set on the root span.
pub(crate) const CONFIDENT_TRACE_OUTPUT: &str = "confident.trace.output";
/// Confident AI: agent name.
pub(crate) const CONFIDENT_AGENT_NAME: &str = "confident.agent.name";
/// Confident AI: the agent's tools, as a string array.
pub(crate) const CONFIDENT_AGENT_AVAILABLE_TOOLS: &str = "confident.agent.available_tools";
/// Confident AI: model of an `llm` span.
pub(crate) const CONFIDENT_LLM_MODEL: &str = "confident.llm.model";
/// Confident AI: prompt tokens of an `llm` span.
pub(crate) const CONFIDENT_LLM_INPUT_TOKEN_COUNT: &str = "confident.llm.input_token_count";
/// Confident AI: completion tokens of an `llm` span.
pub(crate) const CONFIDENT_LLM_OUTPUT_TOKEN_COUNT: &str = "confident.llm.output_token_count";
/// GenAI: the provider of a model (`openai` for OpenAI-compatible endpoints).
pub(crate) const GEN_AI_PROVIDER_NAME: &str = "gen_ai.provider.name";
/// GenAI: the model a request asks for.
pub(crate) const GEN_AI_REQUEST_MODEL: &str = "gen_ai.request.model";
/// GenAI: the model that answered.
pub(crate) const GEN_AI_RESPONSE_MODEL: &str = "gen_ai.response.model";
/// GenAI: the id of a model response.
pub(crate) const GEN_AI_RESPONSE_ID: &str = "gen_ai.response.id";
/// GenAI: why the model stopped, one entry per choice (string array).
pub(crate) const GEN_AI_RESPONSE_FINISH_REASONS: &str = "gen_ai.response.finish_reasons";
/// GenAI: prompt tokens of a model request.
pub(crate) const GEN_AI_USAGE_INPUT_TOKENS: &str = "gen_ai.usage.input_tokens";
/// GenAI: completion tokens of a model request.
pub(crate) const GEN_AI_USAGE_OUTPUT_TOKENS: &str = "gen_ai.usage.output_tokens";
/// GenAI: the messages sent to the model (JSON), when content capture is on.
pub(crate) const GEN_AI_INPUT_MESSAGES: &str = "gen_ai.input.messages";
/// GenAI: the messages the model answered with (JSON), when content capture is on.
pub(crate) const GEN_AI_OUTPUT_MESSAGES: &str = "gen_ai.output.messages";
/// GenAI: the agent's name, on the `invoke_agent` span.
pub(crate) const GEN_AI_AGENT_NAME: &str = "gen_ai.agent.name";
/// `gen_ai.operation.name` of the agent's root span.
pub(crate) const INVOKE_AGENT: &str = "invoke_agent";
/// `gen_ai.operation.name` of a model request.
pub(crate) const CHAT: &str = "chat";
/// HTTP status code of a response.
pub(crate) const HTTP_RESPONSE_STATUS_CODE: &str = "http.response.status_code";
/// Retry event of a model request: the wait before the next attempt, in milliseconds.
pub(crate) const RETRY_WAIT_MS: &str = "retry.wait_ms";
/// Retry event of a model request: which retry this is (1-based).
pub(crate) const RETRY_ATTEMPT: &str = "retry.attempt";
/// The conversation (thread) a turn belongs to, on every turn's root span.
pub(crate) const GEN_AI_CONVERSATION_ID: &str = "gen_ai.conversation.id";
/// The kind of a tool the agent calls (`function`).
pub(crate) const GEN_AI_TOOL_TYPE: &str = "gen_ai.tool.type";
/// Whether a model request asked for a streamed answer.
pub(crate) const GEN_AI_REQUEST_STREAM: &str = "gen_ai.request.stream";
/// Seconds from a streamed request to the first chunk of its answer.
pub(crate) const GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK: &str = "gen_ai.response.time_to_first_chunk";
/// Which side of a request a token count is for: `input` or `output`.
pub(crate) const GEN_AI_TOKEN_TYPE: &str = "gen_ai.token.type";
/// Metric: tokens used by one model request (histogram, `{token}`).
pub(crate) const GEN_AI_CLIENT_TOKEN_USAGE: &str = "gen_ai.client.token.usage";
/// Metric: duration of one model request (histogram, seconds).
pub(crate) const GEN_AI_CLIENT_OPERATION_DURATION: &str = "gen_ai.client.operation.duration";
/// Confident AI: the thread (conversation) a trace belongs to.
pub(crate) const CONFIDENT_TRACE_THREAD_ID: &str = "confident.trace.thread_id";
/// Confident AI: the user a trace is for.
pub(crate) const CONFIDENT_TRACE_USER_ID: &str = "confident.trace.user_id";
/// Confident AI: tags of a trace (string array).
pub(crate) const CONFIDENT_TRACE_TAGS: &str = "confident.trace.tags";
/// Confident AI: metadata of a trace (a JSON object, as a string).
pub(crate) const CONFIDENT_TRACE_METADATA: &str = "confident.trace.metadata";
/// Confident AI: the environment a trace comes from (`production`, `staging`, ...).
pub(crate) const CONFIDENT_TRACE_ENVIRONMENT: &str = "confident.trace.environment";
