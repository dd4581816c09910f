//! A scripted OpenAI-compatible Chat Completions server on 127.0.0.1, for driving the
//! model agent through the real HTTP client without a model.
//!
//! A reply is a whole JSON answer, or (the streaming mode) server-sent events written one
//! by one with a pause between them, as a model writes tokens: `chat.completion.chunk`s
//! with the text in pieces, tool calls whose arguments arrive in fragments (several calls
//! interleaved by index), the usage in a last chunk, then `[DONE]`.

use std::{
    convert::Infallible,
    sync::{Arc, Mutex},
    time::Duration,
};

use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::{
    Response,
    body::{Bytes, Frame},
};
use serde_json::{Value, json};
use test_support::loopback;

/// One scripted answer.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub delay: Duration,
    /// Server-sent events (each the `data:` of one event) written one by one, `pause`
    /// apart, instead of `body`.
    pub events: Option<Vec<String>>,
    pub pause: Duration,
    /// Text every request must carry somewhere in its messages (the history it refers
    /// to); without it the fake answers 400 naming what is missing.
    pub requires: Vec<String>,
}

/// The model name the fake answers as.
pub(crate) const FAKE_MODEL: &str = "fake-model-2026";

impl Reply {
    /// A turn that calls tools: `(call id, function name, raw arguments)`.
    pub(crate) fn tool_calls(id: &str, calls: &[(&str, &str, &str)], usage: (u64, u64)) -> Self {
        Self::tool_calls_saying(id, None, calls, usage)
    }

    /// A turn that writes `text` and calls tools: `(call id, function name, raw arguments)`.
    pub(crate) fn tool_calls_saying(
        id: &str,
        text: Option<&str>,
        calls: &[(&str, &str, &str)],
        usage: (u64, u64),
    ) -> Self {
        let calls: Vec<Value> = calls
            .iter()
            .map(|(call_id, name, arguments)| {
                json!({"id": call_id, "type": "function",
                       "function": {"name": name, "arguments": arguments}})
            })
            .collect();
        Self::ok(json!({
            "id": id, "object": "chat.completion", "model": FAKE_MODEL,
            "choices": [{"index": 0, "finish_reason": "tool_calls",
                         "message": {"role": "assistant", "content": text, "tool_calls": calls}}],
            "usage": {"prompt_tokens": usage.0, "completion_tokens": usage.1,
                      "total_tokens": usage.0 + usage.1}
        }))
    }

    /// A final answer.
    pub(crate) fn answer(id: &str, text: &str, usage: (u64, u64)) -> Self {
        Self::answer_ending(id, text, usage, "stop")
    }

    /// An answer with the finish reason `finish` (`length`: cut at the token limit).
    pub(crate) fn answer_ending(id: &str, text: &str, usage: (u64, u64), finish: &str) -> Self {
        Self::ok(json!({
            "id": id, "object": "chat.completion", "model": FAKE_MODEL,
            "choices": [{"index": 0, "finish_reason": finish,
                         "message": {"role": "assistant", "content": text}}],
            "usage": {"prompt_tokens": usage.0, "completion_tokens": usage.1,
                      "total_tokens": usage.0 + usage.1}
        }))
    }

    /// An error answer with an OpenAI-style error body.
    pub(crate) fn error(status: u16, message: &str) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: json!({"error": {"message": message, "type": "invalid_request_error"}})
                .to_string(),
            delay: Duration::ZERO,
            events: None,
            pause: Duration::ZERO,
            requires: Vec::new(),
        }
    }

    pub(crate) fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub(crate) fn delayed(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// A streamed final answer: `pieces` of text, one chunk each, then the finish chunk,
    /// then (when given) a usage chunk, then `[DONE]`.
    pub(crate) fn streamed_answer(id: &str, pieces: &[&str], usage: Option<(u64, u64)>) -> Self {
        Self::streamed_answer_ending(id, pieces, usage, "stop")
    }

    /// [`Reply::streamed_answer`] with the finish reason `finish`.
    pub(crate) fn streamed_answer_ending(
        id: &str,
        pieces: &[&str],
        usage: Option<(u64, u64)>,
        finish: &str,
    ) -> Self {
        let mut events = vec![chunk(id, json!({"role": "assistant", "content": ""}), None)];
        for piece in pieces {
            events.push(chunk(id, json!({"content": piece}), None));
        }
        events.push(chunk(id, json!({}), Some(finish)));
        Self::streamed(id, events, usage)
    }

    /// A streamed turn that calls tools: each call's first chunk brings its id and name,
    /// then the arguments arrive `split` characters at a time, the calls' fragments
    /// interleaved by index.
    pub(crate) fn streamed_tool_calls(
        id: &str,
        calls: &[(&str, &str, &str)],
        split: usize,
        usage: Option<(u64, u64)>,
    ) -> Self {
        let mut events = vec![chunk(
            id,
            json!({"role": "assistant", "content": null}),
            None,
        )];
        for (index, (call_id, name, _)) in calls.iter().enumerate() {
            events.push(chunk(
                id,
                json!({"tool_calls": [{"index": index, "id": call_id, "type": "function",
                                       "function": {"name": name, "arguments": ""}}]}),
                None,
            ));
        }
        let fragments: Vec<Vec<String>> = calls
            .iter()
            .map(|(_, _, arguments)| {
                let chars: Vec<char> = arguments.chars().collect();
                chars
                    .chunks(split.max(1))
                    .map(|c| c.iter().collect())
                    .collect()
            })
            .collect();
        let longest = fragments.iter().map(Vec::len).max().unwrap_or(0);
        for round in 0..longest {
            for (index, pieces) in fragments.iter().enumerate() {
                if let Some(piece) = pieces.get(round) {
                    events.push(chunk(
                        id,
                        json!({"tool_calls": [{"index": index, "function": {"arguments": piece}}]}),
                        None,
                    ));
                }
            }
        }
        events.push(chunk(id, json!({}), Some("tool_calls")));
        Self::streamed(id, events, usage)
    }

    fn streamed(id: &str, mut events: Vec<String>, usage: Option<(u64, u64)>) -> Self {
        if let Some((input, output)) = usage {
            events.push(
                json!({"id": id, "object": "chat.completion.chunk", "model": FAKE_MODEL,
                       "choices": [],
                       "usage": {"prompt_tokens": input, "completion_tokens": output,
                                 "total_tokens": input + output}})
                .to_string(),
            );
        }
        events.push("[DONE]".to_owned());
        Self {
            status: 200,
            headers: vec![("content-type".into(), "text/event-stream".into())],
            body: String::new(),
            delay: Duration::ZERO,
            events: Some(events),
            pause: Duration::from_millis(5),
            requires: Vec::new(),
        }
    }

    /// Writes the events `pause` apart (streamed replies only).
    pub(crate) fn paced(mut self, pause: Duration) -> Self {
        self.pause = pause;
        self
    }

    /// Answers 400 unless the request's messages contain `text`.
    pub(crate) fn requiring(mut self, text: &str) -> Self {
        self.requires.push(text.to_owned());
        self
    }

    fn ok(body: Value) -> Self {
        Self {
            status: 200,
            headers: Vec::new(),
            body: body.to_string(),
            delay: Duration::ZERO,
            events: None,
            pause: Duration::ZERO,
            requires: Vec::new(),
        }
    }
}

/// One `chat.completion.chunk` event's data.
fn chunk(id: &str, delta: Value, finish_reason: Option<&str>) -> String {
    json!({"id": id, "object": "chat.completion.chunk", "model": FAKE_MODEL,
           "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}]})
    .to_string()
}

type Body = BoxBody<Bytes, Infallible>;

/// The response of `reply` to a request whose body is `request`.
fn respond(reply: Reply, request: &Value) -> Response<Body> {
    let messages = request["messages"].to_string();
    if let Some(missing) = reply
        .requires
        .iter()
        .find(|t| !messages.contains(t.as_str()))
    {
        let body = json!({"error": {"message": format!("the history lacks {missing:?}")}});
        let mut response = Response::new(Full::new(Bytes::from(body.to_string())).boxed());
        *response.status_mut() = hyper::StatusCode::BAD_REQUEST;
        return response;
    }
    let body: Body = match reply.events {
        None => Full::new(Bytes::from(reply.body)).boxed(),
        Some(events) => {
            let pause = reply.pause;
            let frames =
                futures_util::stream::unfold(events.into_iter(), move |mut rest| async move {
                    let event = rest.next()?;
                    tokio::time::sleep(pause).await;
                    let frame = Frame::data(Bytes::from(format!("data: {event}\n\n")));
                    Some((Ok::<_, Infallible>(frame), rest))
                });
            StreamBody::new(frames).boxed()
        }
    };
    let mut response = Response::new(body);
    *response.status_mut() = hyper::StatusCode::from_u16(reply.status).unwrap();
    response.headers_mut().insert(
        "content-type",
        hyper::header::HeaderValue::from_static("application/json"),
    );
    for (name, value) in reply.headers {
        response.headers_mut().insert(
            hyper::header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            hyper::header::HeaderValue::from_str(&value).unwrap(),
        );
    }
    response
}

/// One request the fake received.
#[derive(Debug, Clone)]
pub(crate) struct Recorded {
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Value,
}

impl Recorded {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The `tool` message answering `call_id`.
    pub(crate) fn tool_message(&self, call_id: &str) -> String {
        self.body["messages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["role"] == "tool" && m["tool_call_id"] == call_id)
            .unwrap_or_else(|| panic!("no tool message for {call_id}"))["content"]
            .as_str()
            .unwrap()
            .to_owned()
    }
}

/// The fake server; it stops with the test process.
pub(crate) struct FakeModel {
    pub base_url: String,
    pub port: u16,
    requests: Arc<Mutex<Vec<Recorded>>>,
}

impl FakeModel {
    /// Answers with `script` in order; once it runs out, the last reply repeats.
    pub(crate) fn start(script: Vec<Reply>) -> Self {
        assert!(!script.is_empty());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let sink = requests.clone();
        let script = Arc::new(script);
        let port = loopback::serve(move |request: hyper::Request<hyper::body::Incoming>| {
            let (sink, script) = (sink.clone(), script.clone());
            async move {
                let path = request.uri().path().to_owned();
                let headers = loopback::headers(&request);
                let bytes = request.into_body().collect().await.unwrap().to_bytes();
                let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                let number = {
                    let mut sink = sink.lock().unwrap();
                    sink.push(Recorded {
                        path,
                        headers,
                        body: body.clone(),
                    });
                    sink.len() - 1
                };
                let reply = script[number.min(script.len() - 1)].clone();
                tokio::time::sleep(reply.delay).await;
                respond(reply, &body)
            }
        })
        .port();
        Self {
            base_url: format!("http://127.0.0.1:{port}/v1"),
            port,
            requests,
        }
    }

    pub(crate) fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }
}
