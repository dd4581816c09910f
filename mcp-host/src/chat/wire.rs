//! The subset of the OpenAI Chat Completions wire format that a tool-calling agent uses.
//!
//! Only the fields this host sends or reads are modelled; unknown response fields are
//! ignored, so any OpenAI-compatible server (OpenAI, Ollama, vLLM, llama.cpp, LM Studio,
//! LiteLLM, OpenRouter) can answer.

use serde::{Deserialize, Serialize};

/// A `POST /chat/completions` request body.
#[derive(Debug, Clone, Serialize)]
pub struct ChatRequest<'a> {
    /// The model to ask.
    pub model: &'a str,
    /// The conversation so far.
    pub messages: &'a [Message],
    /// The functions the model may call.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub tools: &'a [ToolDefinition],
    /// Whether the answer comes as server-sent events of [`ChatChunk`]s.
    pub stream: bool,
    /// With `stream`: ask for the token counts in a last chunk.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_options: Option<StreamOptions>,
}

/// `stream_options` of a streamed request.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct StreamOptions {
    /// A last chunk with `usage` and no choices.
    pub include_usage: bool,
}

/// One `chat.completion.chunk` of a streamed answer (the `data:` of one server-sent event).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ChatChunk {
    /// The response id (the same in every chunk).
    #[serde(default)]
    pub id: Option<String>,
    /// The model that answered.
    #[serde(default)]
    pub model: Option<String>,
    /// What this chunk adds to each candidate turn; empty in the usage chunk.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub choices: Vec<ChunkChoice>,
    /// Token counts: in the last chunk, when `include_usage` was asked for and honoured.
    #[serde(default)]
    pub usage: Option<Usage>,
}

/// What one chunk adds to one candidate turn.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ChunkChoice {
    /// Which candidate (the agent reads `0`).
    #[serde(default)]
    pub index: u32,
    /// The new pieces.
    #[serde(default)]
    pub delta: Delta,
    /// Set in the chunk that ends the candidate.
    #[serde(default)]
    pub finish_reason: Option<String>,
}

/// The pieces of a turn in one chunk.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Delta {
    /// More text.
    #[serde(default)]
    pub content: Option<String>,
    /// Pieces of tool calls, each naming the call it continues by `index`.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub tool_calls: Vec<ToolCallDelta>,
}

/// A piece of one tool call: the first piece of a call carries its id and name, the
/// arguments arrive in fragments to be concatenated.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ToolCallDelta {
    /// Which call of the turn this continues. Some servers leave it out and send each
    /// call whole.
    #[serde(default)]
    pub index: Option<usize>,
    /// The call's id (first piece).
    #[serde(default)]
    pub id: Option<String>,
    /// The function's name and a fragment of its arguments.
    #[serde(default)]
    pub function: FunctionDelta,
}

/// A piece of a [`FunctionCall`].
#[derive(Debug, Clone, Default, Deserialize)]
pub struct FunctionDelta {
    /// The function's name (first piece; some servers repeat it).
    #[serde(default)]
    pub name: Option<String>,
    /// The next fragment of the arguments string (an object, for servers that send the
    /// arguments whole as JSON).
    #[serde(default, deserialize_with = "optional_string_or_json")]
    pub arguments: Option<String>,
}

fn optional_string_or_json<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<String>, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::Null => None,
        serde_json::Value::String(text) => Some(text),
        other => Some(other.to_string()),
    })
}

/// One message of the conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "lowercase")]
pub enum Message {
    /// Instructions for the model.
    System {
        /// The instructions.
        content: String,
    },
    /// The user's question.
    User {
        /// The question.
        content: String,
    },
    /// A model turn: an answer, tool calls, or both.
    Assistant {
        /// The text of the turn, if any. Sent as `""` when there is none: the API allows it
        /// beside tool calls, and it is the one form every server takes (llama-cpp-python
        /// refuses `null`, and its chat templates fail on a message without the key).
        #[serde(default, serialize_with = "empty_if_none")]
        content: Option<String>,
        /// The tools the model asks for.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        tool_calls: Vec<ToolCall>,
    },
    /// The result of one tool call, sent back to the model.
    Tool {
        /// The `id` of the [`ToolCall`] this answers.
        tool_call_id: String,
        /// The result as text.
        content: String,
    },
}

fn empty_if_none<S: serde::Serializer>(content: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(content.as_deref().unwrap_or(""))
}

/// A function the model may call.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolDefinition {
    /// Always `function`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The function.
    pub function: FunctionDefinition,
}

/// Name, description and JSON Schema of a function.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FunctionDefinition {
    /// The name the model calls it by.
    pub name: String,
    /// What it does, for the model.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// JSON Schema of its arguments (the MCP tool's `inputSchema`).
    pub parameters: serde_json::Value,
}

/// A tool call in a model turn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// Identifies the call; the tool message answering it repeats it. Some local servers
    /// leave it out; the agent then assigns one.
    #[serde(default)]
    pub id: String,
    /// Always `function`.
    #[serde(rename = "type", default = "function_kind")]
    pub kind: String,
    /// The function and its arguments.
    pub function: FunctionCall,
}

fn function_kind() -> String {
    "function".to_owned()
}

/// The function a [`ToolCall`] names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionCall {
    /// The function's name.
    pub name: String,
    /// Its arguments, a JSON object encoded as a string (which the model may get wrong).
    /// Servers that send the object itself are read too.
    #[serde(default, deserialize_with = "string_or_json")]
    pub arguments: String,
}

fn string_or_json<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(text) => text,
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    })
}

/// A `/chat/completions` response body (or the whole of a streamed one, assembled).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ChatResponse {
    /// The response id.
    #[serde(default)]
    pub id: Option<String>,
    /// The model that answered.
    #[serde(default)]
    pub model: Option<String>,
    /// The candidate turns; the agent reads the first.
    #[serde(default)]
    pub choices: Vec<Choice>,
    /// Token counts, when the server reports them.
    #[serde(default)]
    pub usage: Option<Usage>,
}

/// One candidate turn.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Choice {
    /// The turn.
    pub message: ResponseMessage,
    /// Why the model stopped (`stop`, `tool_calls`, `length`, ...).
    #[serde(default)]
    pub finish_reason: Option<String>,
}

/// The assistant message of a [`Choice`].
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ResponseMessage {
    /// The text, if any.
    #[serde(default)]
    pub content: Option<String>,
    /// The tool calls, if any (`null` is read as none).
    #[serde(default, deserialize_with = "null_as_empty")]
    pub tool_calls: Vec<ToolCall>,
}

fn null_as_empty<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

/// Token counts of one request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub struct Usage {
    /// Tokens of the prompt.
    #[serde(default)]
    pub prompt_tokens: u64,
    /// Tokens of the completion.
    #[serde(default)]
    pub completion_tokens: u64,
}

/// The error body OpenAI-compatible servers send: `{"error": {"message": ...}}`, or
/// `{"error": "..."}` (Ollama, llama.cpp).
#[derive(Debug, Deserialize)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// The error itself, an object or a plain string.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum ErrorDetail {
    /// `{"message": ..., "type": ..., "code": ...}`.
    Object {
        /// What went wrong.
        #[serde(default)]
        message: String,
    },
    /// A bare message.
    Text(String),
}

impl ErrorDetail {
    /// The message.
    pub fn message(&self) -> &str {
        match self {
            Self::Object { message } | Self::Text(message) => message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_serialise_as_the_api_expects() {
        let messages = [
            Message::User {
                content: "hi".into(),
            },
            Message::Assistant {
                content: None,
                tool_calls: vec![ToolCall {
                    id: "call_1".into(),
                    kind: "function".into(),
                    function: FunctionCall {
                        name: "read_file".into(),
                        arguments: r#"{"path":"a"}"#.into(),
                    },
                }],
            },
            Message::Tool {
                tool_call_id: "call_1".into(),
                content: "text".into(),
            },
        ];
        let json = serde_json::to_value(messages).unwrap();
        assert_eq!(
            json,
            serde_json::json!([
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": "", "tool_calls": [{"id": "call_1", "type": "function",
                    "function": {"name": "read_file", "arguments": "{\"path\":\"a\"}"}}]},
                {"role": "tool", "tool_call_id": "call_1", "content": "text"},
            ])
        );
    }

    #[test]
    fn reads_responses_with_null_and_missing_fields() {
        let response: ChatResponse = serde_json::from_str(
            r#"{"id":"x","object":"chat.completion","choices":[{"index":0,
               "message":{"role":"assistant","content":"done","tool_calls":null},
               "finish_reason":"stop"}]}"#,
        )
        .unwrap();
        assert_eq!(response.choices[0].message.content.as_deref(), Some("done"));
        assert!(response.choices[0].message.tool_calls.is_empty());
        assert!(response.usage.is_none());
    }

    #[test]
    fn reads_lenient_tool_calls() {
        let message: ResponseMessage = serde_json::from_str(
            r#"{"content":"","tool_calls":[{"function":{"name":"t","arguments":{"a":1}}}]}"#,
        )
        .unwrap();
        let call = &message.tool_calls[0];
        assert_eq!(call.id, "");
        assert_eq!(call.kind, "function");
        assert_eq!(call.function.arguments, r#"{"a":1}"#);
    }

    #[test]
    fn reads_stream_chunks_with_nulls_and_a_usage_chunk() {
        let chunk: ChatChunk = serde_json::from_str(
            r#"{"id":"c1","object":"chat.completion.chunk","model":"m","choices":[{"index":0,
               "delta":{"role":"assistant","content":null,"tool_calls":[{"index":1,"id":"call_b",
               "type":"function","function":{"name":"read_file","arguments":"{\"pa"}}]},
               "finish_reason":null}],"usage":null}"#,
        )
        .unwrap();
        let piece = &chunk.choices[0].delta.tool_calls[0];
        assert_eq!(piece.index, Some(1));
        assert_eq!(piece.function.arguments.as_deref(), Some("{\"pa"));
        assert!(chunk.usage.is_none());
        let last: ChatChunk = serde_json::from_str(
            r#"{"id":"c1","choices":[],"usage":{"prompt_tokens":7,"completion_tokens":3}}"#,
        )
        .unwrap();
        assert_eq!(
            last.usage,
            Some(Usage {
                prompt_tokens: 7,
                completion_tokens: 3
            })
        );
        let request = serde_json::to_value(ChatRequest {
            model: "m",
            messages: &[],
            tools: &[],
            stream: true,
            stream_options: Some(StreamOptions {
                include_usage: true,
            }),
        })
        .unwrap();
        assert_eq!(
            request,
            serde_json::json!({"model": "m", "messages": [], "stream": true,
                               "stream_options": {"include_usage": true}})
        );
    }

    #[test]
    fn reads_both_error_shapes() {
        let object: ErrorBody =
            serde_json::from_str(r#"{"error":{"message":"bad","type":"x"}}"#).unwrap();
        assert_eq!(object.error.message(), "bad");
        let text: ErrorBody = serde_json::from_str(r#"{"error":"model not found"}"#).unwrap();
        assert_eq!(text.error.message(), "model not found");
    }
}
