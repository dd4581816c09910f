//! A traced client for OpenAI-compatible Chat Completions endpoints.
//!
//! One [`ChatClient::complete`] is one `chat {model}` CLIENT span (OpenTelemetry GenAI
//! conventions) whose context travels to the endpoint as a W3C `traceparent` header, so an
//! LLM gateway that traces joins the same trace. Around the HTTP request:
//!
//! 1. **Retries.** 429 and 5xx answers are retried up to [`MAX_RETRIES`] times with
//!    exponential backoff, honouring `Retry-After` (seconds or an HTTP date) up to
//!    [`MAX_RETRY_AFTER`]; each retry is an event on the span.
//! 2. **Timeouts.** Every attempt is bounded by the configured timeout, so nothing hangs.
//! 3. **Errors that say what to fix.** 401/403 name `OPENAI_API_KEY`; a model without tool
//!    support, an unknown model or a wrong base URL say so. The key is never in a span, a
//!    log or an error: it travels only in a sensitive `Authorization` header, and any echo
//!    of it in an error body is masked.

pub mod wire;

use std::{fmt, time::Duration};

use opentelemetry::{
    Array, KeyValue, StringValue, Value,
    trace::{Status, TraceContextExt as _},
};
use reqwest::{
    StatusCode, Url,
    header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue, RETRY_AFTER},
};
use trace_meta::attributes::{self as attr, truncate};
use tracing::Instrument as _;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use wire::{ChatRequest, ChatResponse, ErrorBody, Message, ToolDefinition};

/// The endpoint used when neither `--base-url` nor `OPENAI_BASE_URL` names one.
pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";
/// Variable holding the API key (optional: local servers need none).
pub const API_KEY_ENV: &str = "OPENAI_API_KEY";
/// Variable holding the base URL.
pub const BASE_URL_ENV: &str = "OPENAI_BASE_URL";
/// Variable that turns message content on spans on (`true`) or off (the default).
pub const CAPTURE_CONTENT_ENV: &str = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT";
/// Retries after a 429 or 5xx answer.
pub const MAX_RETRIES: u32 = 3;
/// The longest `Retry-After` the client waits for; a longer one fails the request.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);
/// First backoff when the server gives no `Retry-After`; it doubles on each retry.
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// Most characters of message content recorded on a span when capture is on.
const MAX_CAPTURED_CHARS: usize = 16_000;
/// Most characters of an error body quoted in an error message.
const MAX_QUOTED_CHARS: usize = 300;

/// An API key: sent only in the `Authorization` header, never printed.
#[derive(Clone)]
pub struct ApiKey(String);

impl ApiKey {
    /// Wraps a key.
    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into())
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(***)")
    }
}

/// Which model to ask, where, and how.
#[derive(Debug, Clone)]
pub struct ModelConfig {
    /// The model name sent in each request (`gpt-4o-mini`, `llama3.1`, ...).
    pub model: String,
    /// The API root, e.g. `https://api.openai.com/v1` or `http://localhost:11434/v1`.
    pub base_url: Url,
    /// The bearer key, if any.
    pub api_key: Option<ApiKey>,
    /// The bound on each HTTP attempt.
    pub timeout: Duration,
    /// Whether prompts and completions are recorded on spans.
    pub capture_content: bool,
}

impl ModelConfig {
    /// A configuration from the command line and the environment: the base URL from
    /// `base_url`, else `OPENAI_BASE_URL`, else OpenAI's; the key from `OPENAI_API_KEY`;
    /// content capture from `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`.
    pub fn from_env(
        model: &str,
        base_url: Option<&str>,
        timeout: Duration,
    ) -> Result<Self, ChatError> {
        let (raw, origin) = match base_url {
            Some(url) => (url.to_owned(), "--base-url"),
            None => match std::env::var(BASE_URL_ENV) {
                Ok(url) if !url.trim().is_empty() => (url, BASE_URL_ENV),
                _ => (DEFAULT_BASE_URL.to_owned(), "the default base URL"),
            },
        };
        let base_url =
            parse_base_url(raw.trim()).map_err(|problem| ChatError::BaseUrl { origin, problem })?;
        let api_key = std::env::var(API_KEY_ENV)
            .ok()
            .filter(|key| !key.trim().is_empty())
            .map(|key| ApiKey::new(key.trim()));
        let capture_content = std::env::var(CAPTURE_CONTENT_ENV)
            .is_ok_and(|v| v.trim().eq_ignore_ascii_case("true") || v.trim() == "1");
        Ok(Self {
            model: model.to_owned(),
            base_url,
            api_key,
            timeout,
            capture_content,
        })
    }
}

/// Parses a base URL; the problem is described without echoing the value (it may hold
/// credentials).
fn parse_base_url(raw: &str) -> Result<Url, &'static str> {
    let url =
        Url::parse(raw).map_err(|_| "is not a URL (expected e.g. http://localhost:11434/v1)")?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("must start with http:// or https://");
    }
    if url.host_str().is_none() {
        return Err("has no host");
    }
    Ok(url)
}

/// A base URL as messages may show it: no credentials, no query.
pub fn display_url(url: &Url) -> String {
    let mut shown = url.clone();
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.set_query(None);
    shown.set_fragment(None);
    shown.to_string().trim_end_matches('/').to_owned()
}

/// Why a model request failed.
#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    /// The base URL is unusable.
    #[error("the model endpoint given by {origin} {problem}")]
    BaseUrl {
        /// Where the URL came from.
        origin: &'static str,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// The HTTP client could not be built.
    #[error("cannot set up the HTTP client for the model: {0}")]
    Client(#[source] reqwest::Error),
    /// 401 or 403.
    #[error("{endpoint} refused the request (HTTP {status}): {}", if *.key_set {
        "check that OPENAI_API_KEY holds a valid key for this endpoint"
    } else {
        "it needs an API key; set OPENAI_API_KEY"
    })]
    Unauthorized {
        /// The endpoint, without credentials.
        endpoint: String,
        /// 401 or 403.
        status: u16,
        /// Whether a key was sent.
        key_set: bool,
    },
    /// The model cannot call tools.
    #[error(
        "the model {model:?} at {endpoint} does not support tool calling ({message}); pick a model that does (e.g. llama3.1 or qwen2.5 on Ollama, gpt-4o-mini on OpenAI)"
    )]
    NoToolSupport {
        /// The model.
        model: String,
        /// The endpoint.
        endpoint: String,
        /// What the server said.
        message: String,
    },
    /// 404: no such model or no chat completions API at this URL.
    #[error(
        "{endpoint} has no model {model:?} or no /chat/completions API (HTTP 404: {message}); check --model and --base-url / OPENAI_BASE_URL"
    )]
    NotFound {
        /// The model.
        model: String,
        /// The endpoint.
        endpoint: String,
        /// What the server said.
        message: String,
    },
    /// Any other refusal, after retries where they apply.
    #[error("{endpoint} answered HTTP {status}{}: {message}", retried_text(*.retries))]
    Status {
        /// The endpoint.
        endpoint: String,
        /// The status code.
        status: u16,
        /// What the server said.
        message: String,
        /// How many retries were made before giving up.
        retries: u32,
    },
    /// The server asked to wait longer than [`MAX_RETRY_AFTER`].
    #[error("{endpoint} is rate limiting (HTTP {status}) and asks to retry after {}s, longer than the {}s this host waits", .wait.as_secs(), MAX_RETRY_AFTER.as_secs())]
    RetryTooLate {
        /// The endpoint.
        endpoint: String,
        /// The status code.
        status: u16,
        /// The wait it asked for.
        wait: Duration,
    },
    /// No answer within the timeout.
    #[error("{endpoint} did not answer within {}s (--model-timeout)", .timeout.as_secs_f64())]
    Timeout {
        /// The endpoint.
        endpoint: String,
        /// The bound that ran out.
        timeout: Duration,
    },
    /// The connection failed.
    #[error(
        "cannot reach the model endpoint {endpoint}: {source}; is the server running (Ollama: `ollama serve`) and is the base URL right?"
    )]
    Unreachable {
        /// The endpoint.
        endpoint: String,
        /// The transport error, without the URL.
        #[source]
        source: reqwest::Error,
    },
    /// The answer is not a chat completion.
    #[error("{endpoint} sent an answer that is not a chat completion: {problem}")]
    InvalidResponse {
        /// The endpoint.
        endpoint: String,
        /// What is wrong with it.
        problem: String,
    },
}

fn retried_text(retries: u32) -> String {
    match retries {
        0 => String::new(),
        1 => " after 1 retry".to_owned(),
        n => format!(" after {n} retries"),
    }
}

impl ChatError {
    /// The `error.type` a span records for this failure: the HTTP status code where there is
    /// one, else a short class.
    pub fn error_type(&self) -> String {
        match self {
            Self::Unauthorized { status, .. }
            | Self::Status { status, .. }
            | Self::RetryTooLate { status, .. } => status.to_string(),
            Self::NotFound { .. } => "404".to_owned(),
            Self::NoToolSupport { .. } => "tools_unsupported".to_owned(),
            Self::Timeout { .. } => "timeout".to_owned(),
            Self::Unreachable { .. } => "connection_error".to_owned(),
            Self::InvalidResponse { .. } => "invalid_response".to_owned(),
            Self::BaseUrl { .. } | Self::Client(_) => "configuration".to_owned(),
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
}

impl ChatClient {
    /// Builds the client for `config`.
    pub fn new(config: ModelConfig) -> Result<Self, ChatError> {
        // reqwest is built without a default crypto provider; rustls needs one per process.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(10)))
            .build()
            .map_err(ChatError::Client)?;
        let mut url = config.base_url.clone();
        let path = format!("{}/chat/completions", url.path().trim_end_matches('/'));
        url.set_path(&path);
        let endpoint = display_url(&config.base_url);
        Ok(Self {
            http,
            config,
            url,
            endpoint,
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

    /// Asks the model for its next turn, in a `chat {model}` CLIENT span that is a child of
    /// the current span.
    pub async fn complete(
        &self,
        messages: &[Message],
        tools: &[ToolDefinition],
    ) -> Result<ChatResponse, ChatError> {
        let span = tracing::info_span!(
            target: "mcp_host::chat",
            "gen_ai.chat",
            otel.name = %format!("chat {}", self.config.model),
            otel.kind = "client",
        );
        for kv in self.request_attributes() {
            span.set_attribute(kv.key, kv.value);
        }
        if self.config.capture_content {
            let input = serde_json::to_string(messages).unwrap_or_default();
            let input = truncate(&input, MAX_CAPTURED_CHARS).to_owned();
            span.set_attribute(attr::GEN_AI_INPUT_MESSAGES, input.clone());
            span.set_attribute(attr::CONFIDENT_SPAN_INPUT, input);
        }
        let unfinished = trace_meta::UnfinishedGuard::arm(&span);
        let outcome = self
            .send_with_retries(messages, tools)
            .instrument(span.clone())
            .await;
        unfinished.disarm();
        match &outcome {
            Ok(response) => self.record_response(&span, response),
            Err(error) => {
                span.set_attribute(attr::ERROR_TYPE, error.error_type());
                span.set_status(Status::error(error.to_string()));
            }
        }
        outcome
    }

    fn request_attributes(&self) -> Vec<KeyValue> {
        let mut attributes = vec![
            KeyValue::new(attr::GEN_AI_OPERATION_NAME, attr::CHAT),
            KeyValue::new(attr::GEN_AI_PROVIDER_NAME, "openai"),
            KeyValue::new(attr::GEN_AI_REQUEST_MODEL, self.config.model.clone()),
            KeyValue::new(attr::CONFIDENT_SPAN_TYPE, "llm"),
            KeyValue::new(attr::CONFIDENT_LLM_MODEL, self.config.model.clone()),
        ];
        if let Some(host) = self.url.host_str() {
            attributes.push(KeyValue::new(attr::SERVER_ADDRESS, host.to_owned()));
        }
        if let Some(port) = self.url.port_or_known_default() {
            attributes.push(KeyValue::new(attr::SERVER_PORT, i64::from(port)));
        }
        attributes
    }

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

    /// Sends the request, retrying 429 and 5xx answers. Runs inside the chat span.
    async fn send_with_retries(
        &self,
        messages: &[Message],
        tools: &[ToolDefinition],
    ) -> Result<ChatResponse, ChatError> {
        let body = serde_json::to_vec(&ChatRequest {
            model: &self.config.model,
            messages,
            tools,
            stream: false,
        })
        .map_err(|e| self.invalid(format!("cannot encode the request: {e}")))?;
        let mut retries = 0;
        loop {
            let response = self.send_once(body.clone()).await?;
            let status = response.status();
            if status.is_success() {
                let bytes = response.bytes().await.map_err(|e| self.transport(e))?;
                return self.parse_success(&bytes);
            }
            let wait = retry_after(response.headers());
            let text = response.text().await.unwrap_or_default();
            let retryable = status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error();
            if !retryable || retries == MAX_RETRIES {
                return Err(self.refusal(status, &text, retries));
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

    async fn send_once(&self, body: Vec<u8>) -> Result<reqwest::Response, ChatError> {
        let mut headers = HeaderMap::new();
        let cx = tracing::Span::current().context();
        if cx.span().span_context().is_valid() {
            opentelemetry::global::get_text_map_propagator(|propagator| {
                propagator
                    .inject_context(&cx, &mut opentelemetry_http::HeaderInjector(&mut headers));
            });
        }
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Some(ApiKey(key)) = &self.config.api_key
            && let Ok(mut value) = HeaderValue::from_str(&format!("Bearer {key}"))
        {
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }
        self.http
            .post(self.url.clone())
            .headers(headers)
            .body(body)
            .send()
            .await
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
                source: error.without_url(),
            }
        }
    }

    fn invalid(&self, problem: String) -> ChatError {
        ChatError::InvalidResponse {
            endpoint: self.endpoint.clone(),
            problem: self.mask(&problem),
        }
    }

    /// The error for a non-success answer.
    fn refusal(&self, status: StatusCode, body: &str, retries: u32) -> ChatError {
        let endpoint = self.endpoint.clone();
        if matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
            // The body of an auth failure may quote the key: it is not shown at all.
            return ChatError::Unauthorized {
                endpoint,
                status: status.as_u16(),
                key_set: self.config.api_key.is_some(),
            };
        }
        let message = serde_json::from_str::<ErrorBody>(body)
            .map(|b| b.error.message().to_owned())
            .unwrap_or_else(|_| body.trim().to_owned());
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
        }
    }

    /// `text` with every occurrence of the API key masked.
    fn mask(&self, text: &str) -> String {
        match &self.config.api_key {
            Some(ApiKey(key)) if key.len() >= 4 => text.replace(key.as_str(), "***"),
            _ => text.to_owned(),
        }
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
    fn base_urls_are_checked_and_shown_without_credentials() {
        assert!(parse_base_url("localhost:11434").is_err());
        assert!(parse_base_url("ftp://x/v1").is_err());
        let url = parse_base_url("https://user:secret@gateway.example/v1/?key=abc").unwrap();
        assert_eq!(display_url(&url), "https://gateway.example/v1");
    }

    #[test]
    fn the_key_is_never_shown() {
        let key = ApiKey::new("sk-very-secret");
        assert_eq!(format!("{key:?}"), "ApiKey(***)");
        let client = ChatClient::new(ModelConfig {
            model: "m".into(),
            base_url: Url::parse("http://127.0.0.1:9/v1").unwrap(),
            api_key: Some(key),
            timeout: Duration::from_secs(1),
            capture_content: false,
        })
        .unwrap();
        let error = client.refusal(
            StatusCode::BAD_REQUEST,
            r#"{"error":{"message":"Incorrect API key provided: sk-very-secret"}}"#,
            0,
        );
        let text = error.to_string();
        assert!(!text.contains("sk-very-secret"), "{text}");
        assert!(text.contains("***"), "{text}");
        let error = client.refusal(StatusCode::UNAUTHORIZED, "sk-very-secret", 0);
        assert!(error.to_string().contains("OPENAI_API_KEY"));
        assert!(!error.to_string().contains("sk-very-secret"));
        assert!(!format!("{client:?}").contains("sk-very-secret"));
    }

    #[test]
    fn names_a_model_without_tool_support() {
        let client = ChatClient::new(ModelConfig {
            model: "gemma:2b".into(),
            base_url: Url::parse("http://127.0.0.1:11434/v1").unwrap(),
            api_key: None,
            timeout: Duration::from_secs(1),
            capture_content: false,
        })
        .unwrap();
        let error = client.refusal(
            StatusCode::BAD_REQUEST,
            r#"{"error":{"message":"registry.ollama.ai/library/gemma:2b does not support tools"}}"#,
            0,
        );
        assert!(matches!(error, ChatError::NoToolSupport { .. }), "{error}");
        assert_eq!(
            client.url.as_str(),
            "http://127.0.0.1:11434/v1/chat/completions"
        );
    }
}
