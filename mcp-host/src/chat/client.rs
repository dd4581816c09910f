//! The traced client: one `chat {model}` CLIENT span per model request, around the HTTP
//! exchange with its retries, timeouts, streaming and fallbacks.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU8, Ordering},
    },
    time::{Duration, Instant},
};

use crate::attr::{self, truncate};
use futures_util::StreamExt as _;
use opentelemetry::{
    Array, KeyValue, StringValue, Value,
    trace::{Status, TraceContextExt as _},
};
use reqwest::{
    StatusCode, Url,
    header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue, RETRY_AFTER},
};
use tracing::Instrument as _;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use super::{
    ChatError, FIRST_BACKOFF, MAX_CAPTURED_CHARS, MAX_QUOTED_CHARS, MAX_RETRIES, MAX_RETRY_AFTER,
    ModelConfig,
    config::display_url,
    metrics,
    stream::Assembly,
    wire::{
        ChatChunk, ChatRequest, ChatResponse, ErrorBody, Message, StreamOptions, ToolDefinition,
    },
};

/// How answers are asked for; a server that refuses a form is asked in the next one, and
/// the client remembers it for the rest of the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum StreamMode {
    /// `stream: true` with `stream_options.include_usage`.
    WithUsage = 0,
    /// `stream: true` alone, for servers that refuse `stream_options`.
    Plain = 1,
    /// Whole answers.
    Off = 2,
}

impl StreamMode {
    fn from_u8(value: u8) -> Self {
        match value {
            0 => Self::WithUsage,
            1 => Self::Plain,
            _ => Self::Off,
        }
    }

    /// The form to try after a server refused this one with `message`, if any.
    fn fallback(self, message: &str) -> Option<Self> {
        let lower = message.to_ascii_lowercase();
        match self {
            Self::WithUsage
                if lower.contains("stream_options") || lower.contains("include_usage") =>
            {
                Some(Self::Plain)
            }
            Self::WithUsage | Self::Plain if lower.contains("stream") => Some(Self::Off),
            _ => None,
        }
    }
}

/// A traced client for one model at one endpoint.
#[derive(Debug, Clone)]
pub struct ChatClient {
    http: reqwest::Client,
    config: ModelConfig,
    url: Url,
    endpoint: String,
    mode: Arc<AtomicU8>,
}

impl ChatClient {
    /// Builds the client for `config`. Over `https://` it needs the process's rustls
    /// provider, which the host installs at start ([`crate::install_tls_provider`]).
    pub fn new(config: ModelConfig) -> Result<Self, ChatError> {
        // No total timeout: a streamed answer may take longer than any one wait in it.
        // Every wait is bounded instead (`config.timeout`): the answer's first byte, each
        // next chunk, a whole body.
        let http = reqwest::Client::builder()
            .connect_timeout(config.timeout.min(Duration::from_secs(10)))
            .build()
            .map_err(ChatError::Client)?;
        let mut url = config.base_url.clone();
        let path = format!("{}/chat/completions", url.path().trim_end_matches('/'));
        url.set_path(&path);
        let endpoint = display_url(&config.base_url);
        let mode = if config.stream {
            StreamMode::WithUsage
        } else {
            StreamMode::Off
        };
        Ok(Self {
            http,
            config,
            url,
            endpoint,
            mode: Arc::new(AtomicU8::new(mode as u8)),
        })
    }

    /// The model asked.
    pub fn model(&self) -> &str {
        &self.config.model
    }

    /// The endpoint as messages show it.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// `gen_ai.provider.name` of this client's requests.
    pub fn provider(&self) -> &'static str {
        "openai"
    }

    /// Asks the model for its next turn, in a `chat {model}` CLIENT span that is a child of
    /// the current span. When the answer streams, `on_text` gets each piece of its text as
    /// it arrives; otherwise it gets the whole text once.
    pub async fn complete(
        &self,
        messages: &[Message],
        tools: &[ToolDefinition],
        on_text: &(dyn Fn(&str) + Sync),
    ) -> Result<ChatResponse, ChatError> {
        let span = tracing::info_span!(
            target: "mcp_host::chat",
            "gen_ai.chat",
            otel.name = %format!("chat {}", self.config.model),
            otel.kind = "client",
        );
        let attributes = self.request_attributes();
        for kv in &attributes {
            span.set_attribute(kv.key.clone(), kv.value.clone());
        }
        span.set_attribute(attr::CONFIDENT_SPAN_TYPE, "llm");
        span.set_attribute(attr::CONFIDENT_LLM_MODEL, self.config.model.clone());
        for kv in &self.config.span_attributes {
            span.set_attribute(kv.key.clone(), kv.value.clone());
        }
        if self.config.capture_content {
            let input = serde_json::to_string(messages).unwrap_or_default();
            let input = truncate(&input, MAX_CAPTURED_CHARS).to_owned();
            span.set_attribute(attr::GEN_AI_INPUT_MESSAGES, input.clone());
            span.set_attribute(attr::CONFIDENT_SPAN_INPUT, input);
        }
        let started = Instant::now();
        let mut metric = MetricGuard {
            attributes: Some(attributes),
            started,
        };
        let unfinished = trace_meta::UnfinishedGuard::arm(&span);
        let outcome = self
            .send_with_retries(messages, tools, on_text)
            .instrument(span.clone())
            .await;
        unfinished.disarm();
        match &outcome {
            Ok(answered) => {
                self.record_response(&span, answered);
                let usage = answered
                    .usage
                    .map(|u| (u.prompt_tokens, u.completion_tokens));
                metric.finish(answered.model.as_deref(), None, usage);
            }
            Err(error) => {
                span.set_attribute(attr::ERROR_TYPE, error.error_type());
                span.set_status(Status::error(error.to_string()));
                metric.finish(None, Some(error.error_type()), None);
            }
        }
        outcome
    }

    fn request_attributes(&self) -> Vec<KeyValue> {
        let mut attributes = vec![
            KeyValue::new(attr::GEN_AI_OPERATION_NAME, attr::CHAT),
            KeyValue::new(attr::GEN_AI_PROVIDER_NAME, self.provider()),
            KeyValue::new(attr::GEN_AI_REQUEST_MODEL, self.config.model.clone()),
        ];
        if let Some(host) = self.url.host_str() {
            attributes.push(KeyValue::new(attr::SERVER_ADDRESS, host.to_owned()));
        }
        if let Some(port) = self.url.port_or_known_default() {
            attributes.push(KeyValue::new(attr::SERVER_PORT, i64::from(port)));
        }
        attributes
    }

    /// Records a successful answer; whether it streamed and its time to first chunk are
    /// already recorded ([`Self::read_answer`]), so that a stream that breaks or is
    /// cancelled keeps them.
    fn record_response(&self, span: &tracing::Span, response: &ChatResponse) {
        if let Some(model) = &response.model {
            span.set_attribute(attr::GEN_AI_RESPONSE_MODEL, model.clone());
        }
        if let Some(id) = &response.id {
            span.set_attribute(attr::GEN_AI_RESPONSE_ID, id.clone());
        }
        let reasons: Vec<StringValue> = response
            .choices
            .iter()
            .filter_map(|c| c.finish_reason.clone())
            .map(StringValue::from)
            .collect();
        span.set_attribute(
            attr::GEN_AI_RESPONSE_FINISH_REASONS,
            Value::Array(Array::String(reasons)),
        );
        if let Some(usage) = response.usage {
            let input = i64::try_from(usage.prompt_tokens).unwrap_or(i64::MAX);
            let output = i64::try_from(usage.completion_tokens).unwrap_or(i64::MAX);
            span.set_attribute(attr::GEN_AI_USAGE_INPUT_TOKENS, input);
            span.set_attribute(attr::GEN_AI_USAGE_OUTPUT_TOKENS, output);
            span.set_attribute(attr::CONFIDENT_LLM_INPUT_TOKEN_COUNT, input);
            span.set_attribute(attr::CONFIDENT_LLM_OUTPUT_TOKEN_COUNT, output);
        }
        if self.config.capture_content
            && let Some(choice) = response.choices.first()
        {
            let output = serde_json::json!([{
                "role": "assistant",
                "content": choice.message.content,
                "tool_calls": choice.message.tool_calls,
            }])
            .to_string();
            let output = truncate(&output, MAX_CAPTURED_CHARS).to_owned();
            span.set_attribute(attr::GEN_AI_OUTPUT_MESSAGES, output.clone());
            span.set_attribute(attr::CONFIDENT_SPAN_OUTPUT, output);
        }
    }

    /// Sends the request, retrying 429 and 5xx answers and falling back to a form of
    /// streaming the server accepts. Runs inside the chat span.
    async fn send_with_retries(
        &self,
        messages: &[Message],
        tools: &[ToolDefinition],
        on_text: &(dyn Fn(&str) + Sync),
    ) -> Result<ChatResponse, ChatError> {
        let mut retries = 0;
        // The status and body of the first refusal, and whether every one since matched.
        let mut first_refusal: Option<(StatusCode, String)> = None;
        let mut repeated = true;
        loop {
            let mode = StreamMode::from_u8(self.mode.load(Ordering::Relaxed));
            let body = serde_json::to_vec(&ChatRequest {
                model: &self.config.model,
                messages,
                tools,
                stream: mode != StreamMode::Off,
                stream_options: (mode == StreamMode::WithUsage).then_some(StreamOptions {
                    include_usage: true,
                }),
            })
            .map_err(|e| self.invalid(format!("cannot encode the request: {e}")))?;
            let started = Instant::now();
            let response = self.send_once(body).await?;
            let status = response.status();
            if status.is_success() {
                return self.read_answer(response, started, on_text).await;
            }
            let wait = retry_after(response.headers());
            let text = match self.within_timeout(response.text()).await {
                Ok(Ok(text)) => text,
                _ => String::new(),
            };
            if status.is_client_error()
                && status != StatusCode::TOO_MANY_REQUESTS
                && let Some(next) = mode.fallback(&error_message(&text))
            {
                // Only this client changes its mind: another one may talk to a server that
                // streams.
                self.mode.store(next as u8, Ordering::Relaxed);
                tracing::Span::current().add_event(
                    "stream_fallback",
                    vec![
                        KeyValue::new(attr::HTTP_RESPONSE_STATUS_CODE, i64::from(status.as_u16())),
                        KeyValue::new(
                            "stream_fallback.to",
                            match next {
                                StreamMode::Plain => "stream without stream_options",
                                _ => "no streaming",
                            },
                        ),
                    ],
                );
                tracing::info!(
                    status = status.as_u16(),
                    "the model endpoint refused this form of streaming; asking again without it"
                );
                continue;
            }
            let retryable = status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error();
            match &first_refusal {
                None => first_refusal = Some((status, text.clone())),
                Some((first_status, first_text)) => {
                    repeated &= *first_status == status && *first_text == text;
                }
            }
            if !retryable || retries == MAX_RETRIES {
                return Err(self.refusal(status, &text, retries, repeated));
            }
            let wait = wait.unwrap_or(FIRST_BACKOFF * 2u32.pow(retries));
            if wait > MAX_RETRY_AFTER {
                return Err(ChatError::RetryTooLate {
                    endpoint: self.endpoint.clone(),
                    status: status.as_u16(),
                    wait,
                });
            }
            retries += 1;
            tracing::Span::current().add_event(
                "retry",
                vec![
                    KeyValue::new(attr::HTTP_RESPONSE_STATUS_CODE, i64::from(status.as_u16())),
                    KeyValue::new(attr::RETRY_WAIT_MS, wait.as_millis() as i64),
                    KeyValue::new(attr::RETRY_ATTEMPT, i64::from(retries)),
                ],
            );
            tracing::debug!(
                status = status.as_u16(),
                ?wait,
                retries,
                "retrying the model request"
            );
            tokio::time::sleep(wait).await;
        }
    }

    /// Reads a success: a stream of server-sent events, or a whole JSON body (also when a
    /// streamed answer was asked for and the server answered whole).
    async fn read_answer(
        &self,
        response: reqwest::Response,
        started: Instant,
        on_text: &(dyn Fn(&str) + Sync),
    ) -> Result<ChatResponse, ChatError> {
        let event_stream = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim_start().starts_with("text/event-stream"));
        // Inside the chat span: recorded now, it stays when the answer fails or is
        // cancelled half-way.
        tracing::Span::current().set_attribute(attr::GEN_AI_REQUEST_STREAM, event_stream);
        if event_stream {
            return self.read_stream(response, started, on_text).await;
        }
        let bytes = self
            .within_timeout(response.bytes())
            .await?
            .map_err(|e| self.transport(e))?;
        let response = self.parse_success(&bytes)?;
        if let Some(text) = response
            .choices
            .first()
            .and_then(|c| c.message.content.as_deref())
            .filter(|t| !t.trim().is_empty())
        {
            on_text(text);
        }
        Ok(response)
    }

    /// Reads a streamed answer chunk by chunk, each wait bounded by the timeout.
    async fn read_stream(
        &self,
        response: reqwest::Response,
        started: Instant,
        on_text: &(dyn Fn(&str) + Sync),
    ) -> Result<ChatResponse, ChatError> {
        let mut events = sse_stream::SseStream::from_bytes_stream(response.bytes_stream());
        let mut answer = Assembly::new(started);
        let mut chunks = 0usize;
        loop {
            let Some(event) = self.within_timeout(events.next()).await? else {
                // The connection ended without `[DONE]`: what arrived is the answer, when
                // something did (some servers send no `[DONE]`).
                if chunks == 0 {
                    return Err(self.broken("the stream ended before its first chunk".into()));
                }
                break;
            };
            let event = event.map_err(|e| self.broken(e.to_string()))?;
            let Some(data) = event.data else { continue };
            let data = data.trim();
            if data == "[DONE]" {
                break;
            }
            if data.is_empty() {
                continue;
            }
            let value: serde_json::Value = serde_json::from_str(data).map_err(|e| {
                self.broken(format!(
                    "a chunk is not JSON ({e}); it began with {:?}",
                    truncate(data, 120)
                ))
            })?;
            if let Some(error) = value.get("error") {
                let message =
                    serde_json::from_value::<ErrorBody>(serde_json::json!({"error": error}))
                        .map(|b| b.error.message().to_owned())
                        .unwrap_or_else(|_| error.to_string());
                return Err(self.broken(format!(
                    "it sent an error: {}",
                    truncate(&message, MAX_QUOTED_CHARS)
                )));
            }
            let chunk: ChatChunk = serde_json::from_value(value)
                .map_err(|e| self.broken(format!("a chunk is not a chat completion chunk: {e}")))?;
            chunks += 1;
            let first = answer.time_to_first_chunk().is_none();
            let text = answer.push(chunk);
            if first && let Some(waited) = answer.time_to_first_chunk() {
                tracing::Span::current().set_attribute(
                    attr::GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK,
                    waited.as_secs_f64(),
                );
            }
            if let Some(text) = text {
                on_text(&text);
            }
        }
        Ok(answer.finish())
    }

    /// `future`, failing as [`ChatError::Timeout`] past the configured timeout.
    async fn within_timeout<T>(&self, future: impl Future<Output = T>) -> Result<T, ChatError> {
        tokio::time::timeout(self.config.timeout, future)
            .await
            .map_err(|_| ChatError::Timeout {
                endpoint: self.endpoint.clone(),
                timeout: self.config.timeout,
            })
    }

    async fn send_once(&self, body: Vec<u8>) -> Result<reqwest::Response, ChatError> {
        let mut headers = HeaderMap::new();
        let cx = tracing::Span::current().context();
        if cx.span().span_context().is_valid() {
            // `traceparent` and `tracestate` only: baggage may hold user data, and the
            // model endpoint is not ours.
            trace_meta::propagation::inject_headers(&cx, &mut headers);
        }
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Some(key) = &self.config.api_key
            && let Ok(mut value) = HeaderValue::from_str(&format!("Bearer {}", key.expose()))
        {
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }
        let send = self
            .http
            .post(self.url.clone())
            .headers(headers)
            .body(body)
            .send();
        self.within_timeout(send)
            .await?
            .map_err(|e| self.transport(e))
    }

    fn parse_success(&self, bytes: &[u8]) -> Result<ChatResponse, ChatError> {
        let response: ChatResponse = serde_json::from_slice(bytes).map_err(|e| {
            self.invalid(format!(
                "{e}; it began with {:?}",
                truncate(&String::from_utf8_lossy(bytes), 120)
            ))
        })?;
        if response.choices.is_empty() {
            return Err(self.invalid("it has no choices".to_owned()));
        }
        Ok(response)
    }

    fn transport(&self, error: reqwest::Error) -> ChatError {
        if error.is_timeout() {
            ChatError::Timeout {
                endpoint: self.endpoint.clone(),
                timeout: self.config.timeout,
            }
        } else {
            ChatError::Unreachable {
                endpoint: self.endpoint.clone(),
                error: error.without_url(),
            }
        }
    }

    fn invalid(&self, problem: String) -> ChatError {
        ChatError::InvalidResponse {
            endpoint: self.endpoint.clone(),
            problem: self.mask(&problem),
        }
    }

    fn broken(&self, problem: String) -> ChatError {
        ChatError::StreamBroken {
            endpoint: self.endpoint.clone(),
            problem: self.mask(&problem),
        }
    }

    /// The error for a non-success answer.
    fn refusal(&self, status: StatusCode, body: &str, retries: u32, repeated: bool) -> ChatError {
        let endpoint = self.endpoint.clone();
        if matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
            // The body of an auth failure may quote the key: it is not shown at all.
            return ChatError::Unauthorized {
                endpoint,
                status: status.as_u16(),
                key_set: self.config.api_key.is_some(),
            };
        }
        let message = error_message(body);
        let message = self.mask(truncate(&message, MAX_QUOTED_CHARS));
        let lower = message.to_ascii_lowercase();
        if status.is_client_error() && lower.contains("tool") && lower.contains("support") {
            return ChatError::NoToolSupport {
                model: self.config.model.clone(),
                endpoint,
                message,
            };
        }
        if status == StatusCode::NOT_FOUND {
            return ChatError::NotFound {
                model: self.config.model.clone(),
                endpoint,
                message,
            };
        }
        ChatError::Status {
            endpoint,
            status: status.as_u16(),
            message,
            retries,
            repeated,
        }
    }

    /// `text` with every occurrence of the API key masked.
    fn mask(&self, text: &str) -> String {
        match &self.config.api_key {
            Some(key) if key.expose().len() >= 4 => text.replace(key.expose(), "***"),
            _ => text.to_owned(),
        }
    }
}

/// The message of an error body: `{"error": {"message": ...}}`, `{"error": "..."}`, or
/// the body itself.
fn error_message(body: &str) -> String {
    serde_json::from_str::<ErrorBody>(body)
        .map(|b| b.error.message().to_owned())
        .unwrap_or_else(|_| body.trim().to_owned())
}

/// Records `gen_ai.client.*` for one request, once: when it ends, or as `cancelled` when
/// its future is dropped before that.
struct MetricGuard {
    attributes: Option<Vec<KeyValue>>,
    started: Instant,
}

impl MetricGuard {
    fn finish(
        &mut self,
        response_model: Option<&str>,
        error_type: Option<String>,
        usage: Option<(u64, u64)>,
    ) {
        if let Some(attributes) = self.attributes.take() {
            let seconds = self.started.elapsed().as_secs_f64();
            metrics::record(attributes, seconds, response_model, error_type, usage);
        }
    }
}

impl Drop for MetricGuard {
    fn drop(&mut self) {
        self.finish(None, Some(attr::CANCELLED.to_owned()), None);
    }
}

/// The wait a `Retry-After` header asks for: delay-seconds or an HTTP date.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<f64>() {
        return (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(
        at.duration_since(std::time::SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::config::ApiKey;

    fn client(model: &str, key: Option<ApiKey>) -> ChatClient {
        crate::install_tls_provider();
        ChatClient::new(ModelConfig {
            model: model.into(),
            base_url: Url::parse("http://127.0.0.1:11434/v1").unwrap(),
            api_key: key,
            timeout: Duration::from_secs(1),
            capture_content: false,
            stream: true,
            span_attributes: Vec::new(),
        })
        .unwrap()
    }

    #[test]
    fn reads_retry_after_in_both_forms() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_static("2"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(2)));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("0.25"));
        assert_eq!(retry_after(&headers), Some(Duration::from_millis(250)));
        let later = std::time::SystemTime::now() + Duration::from_secs(30);
        let date = httpdate::fmt_http_date(later);
        headers.insert(RETRY_AFTER, HeaderValue::from_str(&date).unwrap());
        let wait = retry_after(&headers).unwrap();
        assert!(
            wait > Duration::from_secs(27) && wait <= Duration::from_secs(30),
            "{wait:?}"
        );
        headers.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&headers), None);
        headers.insert(RETRY_AFTER, HeaderValue::from_static("-1"));
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn the_key_is_never_shown() {
        let key = ApiKey::new("sk-very-secret");
        assert_eq!(format!("{key:?}"), "ApiKey(***)");
        let client = client("m", Some(key));
        let error = client.refusal(
            StatusCode::BAD_REQUEST,
            r#"{"error":{"message":"Incorrect API key provided: sk-very-secret"}}"#,
            0,
            false,
        );
        let text = error.to_string();
        assert!(!text.contains("sk-very-secret"), "{text}");
        assert!(text.contains("***"), "{text}");
        let error = client.refusal(StatusCode::UNAUTHORIZED, "sk-very-secret", 0, false);
        assert!(error.to_string().contains("OPENAI_API_KEY"));
        assert!(!error.to_string().contains("sk-very-secret"));
        assert!(!format!("{client:?}").contains("sk-very-secret"));
        let broken = client.broken("it sent an error: bad key sk-very-secret".into());
        assert!(!broken.to_string().contains("sk-very-secret"));
    }

    #[test]
    fn names_a_model_without_tool_support() {
        let client = client("gemma:2b", None);
        let error = client.refusal(
            StatusCode::BAD_REQUEST,
            r#"{"error":{"message":"registry.ollama.ai/library/gemma:2b does not support tools"}}"#,
            0,
            false,
        );
        assert!(matches!(error, ChatError::NoToolSupport { .. }), "{error}");
        assert_eq!(
            client.url.as_str(),
            "http://127.0.0.1:11434/v1/chat/completions"
        );
    }

    #[test]
    fn a_refused_form_of_streaming_falls_back_one_step() {
        use StreamMode::*;
        assert_eq!(
            WithUsage.fallback("Unrecognized request argument supplied: stream_options"),
            Some(Plain)
        );
        assert_eq!(WithUsage.fallback("streaming is not supported"), Some(Off));
        assert_eq!(Plain.fallback("Streaming not supported"), Some(Off));
        assert_eq!(Off.fallback("stream"), None);
        assert_eq!(WithUsage.fallback("model not found"), None);
    }
}
