//! A streamed answer put back together: the `chat.completion.chunk`s of one request become
//! the [`ChatResponse`] a whole answer would have been.
//!
//! The rules, for the first candidate (`index` 0; others are ignored):
//! 1. Text: each `delta.content` is appended, and handed to the caller as it arrives.
//! 2. Tool calls: each piece names its call by `index`. The first piece of a call brings
//!    its `id` and function name; `arguments` arrive as fragments, concatenated in order.
//!    Calls may interleave (pieces of call 1 between pieces of call 0). A server that
//!    leaves `index` out sends each call whole: a piece with an id not seen yet starts a
//!    new call, a piece without one continues the last.
//! 3. `finish_reason`: the last one given.
//! 4. `id`, `model`: the first given. `usage`: the last chunk's (sent with
//!    `stream_options.include_usage`, usually with no choices), if the server sends one.

use std::time::{Duration, Instant};

use super::wire::{
    ChatChunk, ChatResponse, Choice, FunctionCall, ResponseMessage, ToolCall, ToolCallDelta, Usage,
};

/// A streamed answer as far as it has arrived.
#[derive(Debug)]
pub(super) struct Assembly {
    started: Instant,
    first_chunk: Option<Duration>,
    id: Option<String>,
    model: Option<String>,
    content: String,
    calls: Vec<ToolCall>,
    finish_reason: Option<String>,
    usage: Option<Usage>,
}

impl Assembly {
    /// An answer whose request was sent at `started`.
    pub(super) fn new(started: Instant) -> Self {
        Self {
            started,
            first_chunk: None,
            id: None,
            model: None,
            content: String::new(),
            calls: Vec::new(),
            finish_reason: None,
            usage: None,
        }
    }

    /// Adds a chunk; returns the text it brought, if any.
    pub(super) fn push(&mut self, chunk: ChatChunk) -> Option<String> {
        self.first_chunk
            .get_or_insert_with(|| self.started.elapsed());
        if self.id.is_none() {
            self.id = chunk.id;
        }
        if self.model.is_none() {
            self.model = chunk.model;
        }
        if chunk.usage.is_some() {
            self.usage = chunk.usage;
        }
        let mut text = None;
        for choice in chunk.choices.into_iter().filter(|c| c.index == 0) {
            if let Some(reason) = choice.finish_reason {
                self.finish_reason = Some(reason);
            }
            if let Some(piece) = choice.delta.content.filter(|t| !t.is_empty()) {
                self.content.push_str(&piece);
                text.get_or_insert_with(String::new).push_str(&piece);
            }
            for piece in choice.delta.tool_calls {
                self.add_call_piece(piece);
            }
        }
        text
    }

    fn add_call_piece(&mut self, piece: ToolCallDelta) {
        let position = match (piece.index, piece.id.as_deref()) {
            (Some(index), _) => {
                while self.calls.len() <= index {
                    self.calls.push(empty_call());
                }
                index
            }
            (None, Some(id)) => match self.calls.iter().position(|call| call.id == id) {
                Some(position) => position,
                None => {
                    self.calls.push(empty_call());
                    self.calls.len() - 1
                }
            },
            (None, None) => {
                if self.calls.is_empty() {
                    self.calls.push(empty_call());
                }
                self.calls.len() - 1
            }
        };
        let call = &mut self.calls[position];
        if let Some(id) = piece.id.filter(|id| !id.is_empty()) {
            call.id = id;
        }
        if let Some(name) = piece.function.name.filter(|name| !name.is_empty()) {
            // Some servers repeat the name in every piece; it is the same name.
            if call.function.name != name {
                call.function.name.push_str(&name);
            }
        }
        if let Some(arguments) = piece.function.arguments {
            call.function.arguments.push_str(&arguments);
        }
    }

    /// How long after the request the first chunk came, once one has.
    pub(super) fn time_to_first_chunk(&self) -> Option<Duration> {
        self.first_chunk
    }

    /// The whole answer, as a non-streamed response would have said it. Calls that never
    /// got a name (a server's empty placeholder) are dropped.
    pub(super) fn finish(self) -> ChatResponse {
        let calls = self
            .calls
            .into_iter()
            .filter(|call| !call.function.name.is_empty())
            .collect();
        ChatResponse {
            id: self.id,
            model: self.model,
            choices: vec![Choice {
                message: ResponseMessage {
                    content: (!self.content.is_empty()).then_some(self.content),
                    tool_calls: calls,
                },
                finish_reason: self.finish_reason,
            }],
            usage: self.usage,
        }
    }
}

fn empty_call() -> ToolCall {
    ToolCall {
        id: String::new(),
        kind: "function".to_owned(),
        function: FunctionCall {
            name: String::new(),
            arguments: String::new(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(json: &str) -> ChatChunk {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn text_arrives_in_pieces_and_usage_comes_last() {
        let mut answer = Assembly::new(Instant::now());
        assert_eq!(
            answer.push(chunk(
                r#"{"id":"r1","model":"m-1","choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}"#
            )),
            None
        );
        assert!(answer.time_to_first_chunk().is_some());
        assert_eq!(
            answer
                .push(chunk(
                    r#"{"id":"r1","choices":[{"index":0,"delta":{"content":"Hel"}}]}"#
                ))
                .as_deref(),
            Some("Hel")
        );
        answer.push(chunk(
            r#"{"id":"r1","choices":[{"index":0,"delta":{"content":"lo"},"finish_reason":"stop"}]}"#,
        ));
        answer.push(chunk(
            r#"{"id":"r1","choices":[],"usage":{"prompt_tokens":11,"completion_tokens":2}}"#,
        ));
        let response = answer.finish();
        assert_eq!(response.id.as_deref(), Some("r1"));
        assert_eq!(response.model.as_deref(), Some("m-1"));
        let choice = &response.choices[0];
        assert_eq!(choice.message.content.as_deref(), Some("Hello"));
        assert_eq!(choice.finish_reason.as_deref(), Some("stop"));
        assert!(choice.message.tool_calls.is_empty());
        assert_eq!(
            response.usage,
            Some(Usage {
                prompt_tokens: 11,
                completion_tokens: 2
            })
        );
    }

    #[test]
    fn interleaved_tool_calls_are_assembled_by_index() {
        let mut answer = Assembly::new(Instant::now());
        for json in [
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"read_file","arguments":""}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_b","type":"function","function":{"name":"query_database","arguments":"{\"sql\":"}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"path\":"}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"function":{"arguments":" \"SELECT 1\"}"}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":" \"sales.csv\"}"}}]}}]}"#,
            r#"{"choices":[{"index":1,"delta":{"content":"another candidate"}}]}"#,
            r#"{"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#,
        ] {
            assert_eq!(answer.push(chunk(json)), None);
        }
        let response = answer.finish();
        let choice = &response.choices[0];
        assert_eq!(choice.finish_reason.as_deref(), Some("tool_calls"));
        assert_eq!(choice.message.content, None);
        let calls: Vec<(&str, &str, &str)> = choice
            .message
            .tool_calls
            .iter()
            .map(|c| {
                (
                    c.id.as_str(),
                    c.function.name.as_str(),
                    c.function.arguments.as_str(),
                )
            })
            .collect();
        assert_eq!(
            calls,
            [
                ("call_a", "read_file", r#"{"path": "sales.csv"}"#),
                ("call_b", "query_database", r#"{"sql": "SELECT 1"}"#),
            ]
        );
        assert!(response.usage.is_none(), "no usage chunk, no usage");
    }

    #[test]
    fn calls_without_an_index_are_told_apart_by_id() {
        let mut answer = Assembly::new(Instant::now());
        answer.push(chunk(
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[
                {"id":"x","function":{"name":"a","arguments":{"k":1}}},
                {"id":"y","function":{"name":"b","arguments":"{}"}}]}}]}"#,
        ));
        let response = answer.finish();
        let calls = &response.choices[0].message.tool_calls;
        assert_eq!(calls.len(), 2);
        assert_eq!(calls[0].function.arguments, r#"{"k":1}"#);
        assert_eq!(calls[1].function.name, "b");
    }
}
