//! Which model is asked, where and how: from the command line and the environment.

use std::{fmt, time::Duration};

use reqwest::Url;

use super::{API_KEY_ENV, BASE_URL_ENV, ChatError, DEFAULT_BASE_URL};

/// An API key: sent only in the `Authorization` header, never printed.
#[derive(Clone)]
pub struct ApiKey(String);

impl ApiKey {
    /// Wraps a key.
    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into())
    }

    /// The key, for the one header that carries it.
    pub(super) fn expose(&self) -> &str {
        &self.0
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
    /// The bound on each HTTP attempt; when streaming, on the wait for the answer's first
    /// byte and then for each next chunk.
    pub timeout: Duration,
    /// Whether prompts and completions are recorded on spans.
    pub capture_content: bool,
    /// Whether answers are requested as a stream (`stream: true`), printed as they arrive.
    pub stream: bool,
    /// Recorded on every model span besides what the span records itself (Confident AI's
    /// metric collection and prices).
    pub span_attributes: Vec<opentelemetry::KeyValue>,
}

impl ModelConfig {
    /// A configuration from the command line and the environment: the base URL from
    /// `base_url`, else `OPENAI_BASE_URL`, else OpenAI's; the key from `OPENAI_API_KEY`;
    /// content capture from `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`. Answers
    /// stream unless [`with_stream`](Self::with_stream) turns it off.
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
        let capture_content = trace_meta::content::Capture::get().messages();
        Ok(Self {
            model: model.to_owned(),
            base_url,
            api_key,
            timeout,
            capture_content,
            stream: true,
            span_attributes: Vec::new(),
        })
    }

    /// Requests whole answers (`false`, `--no-stream`) or streamed ones (`true`).
    pub fn with_stream(mut self, stream: bool) -> Self {
        self.stream = stream;
        self
    }

    /// Records `attributes` on every model span.
    pub fn with_span_attributes(mut self, attributes: Vec<opentelemetry::KeyValue>) -> Self {
        self.span_attributes = attributes;
        self
    }
}

/// Parses a base URL; the problem is described without echoing the value (it may hold
/// credentials).
pub(super) fn parse_base_url(raw: &str) -> Result<Url, &'static str> {
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

/// A base URL as messages may show it: no credentials, no query
/// ([`trace_meta::redact::url`]), no trailing slash.
pub fn display_url(url: &Url) -> String {
    trace_meta::redact::url(url.as_str())
        .trim_end_matches('/')
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_are_checked_and_shown_without_credentials() {
        assert!(parse_base_url("localhost:11434").is_err());
        assert!(parse_base_url("ftp://x/v1").is_err());
        let url = parse_base_url("https://user:secret@gateway.example/v1/?key=abc").unwrap();
        assert_eq!(display_url(&url), "https://gateway.example/v1");
    }
}
