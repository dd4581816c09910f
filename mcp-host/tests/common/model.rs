//! A scripted OpenAI-compatible Chat Completions server on 127.0.0.1, for driving the
//! model agent through the real HTTP client without a model.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use http_body_util::{BodyExt, Full};
use hyper::{Response, body::Bytes};
use serde_json::{Value, json};
use test_support::loopback;

/// One scripted answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub delay: Duration,
}

impl Reply {
    /// A turn that calls tools: `(call id, function name, raw arguments)`.
    pub fn tool_calls(id: &str, calls: &[(&str, &str, &str)], usage: (u64, u64)) -> Self {
        let calls: Vec<Value> = calls
            .iter()
            .map(|(call_id, name, arguments)| {
                json!({"id": call_id, "type": "function",
                       "function": {"name": name, "arguments": arguments}})
            })
            .collect();
        Self::ok(json!({
            "id": id, "object": "chat.completion", "model": "fake-model-2026",
            "choices": [{"index": 0, "finish_reason": "tool_calls",
                         "message": {"role": "assistant", "content": null, "tool_calls": calls}}],
            "usage": {"prompt_tokens": usage.0, "completion_tokens": usage.1,
                      "total_tokens": usage.0 + usage.1}
        }))
    }

    /// A final answer.
    pub fn answer(id: &str, text: &str, usage: (u64, u64)) -> Self {
        Self::ok(json!({
            "id": id, "object": "chat.completion", "model": "fake-model-2026",
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": text}}],
            "usage": {"prompt_tokens": usage.0, "completion_tokens": usage.1,
                      "total_tokens": usage.0 + usage.1}
        }))
    }

    /// An error answer with an OpenAI-style error body.
    pub fn error(status: u16, message: &str) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: json!({"error": {"message": message, "type": "invalid_request_error"}})
                .to_string(),
            delay: Duration::ZERO,
        }
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn delayed(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    fn ok(body: Value) -> Self {
        Self {
            status: 200,
            headers: Vec::new(),
            body: body.to_string(),
            delay: Duration::ZERO,
        }
    }
}

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Value,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The `tool` message answering `call_id`.
    pub fn tool_message(&self, call_id: &str) -> String {
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
pub struct FakeModel {
    pub base_url: String,
    pub port: u16,
    requests: Arc<Mutex<Vec<Recorded>>>,
}

impl FakeModel {
    /// Answers with `script` in order; once it runs out, the last reply repeats.
    pub fn start(script: Vec<Reply>) -> Self {
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
                let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                let number = {
                    let mut sink = sink.lock().unwrap();
                    sink.push(Recorded {
                        path,
                        headers,
                        body,
                    });
                    sink.len() - 1
                };
                let reply = script[number.min(script.len() - 1)].clone();
                tokio::time::sleep(reply.delay).await;
                let mut response = Response::new(Full::new(Bytes::from(reply.body)));
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
        })
        .port();
        Self {
            base_url: format!("http://127.0.0.1:{port}/v1"),
            port,
            requests,
        }
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }
}
