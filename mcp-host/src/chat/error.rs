//! Why a model request failed, in words that say what to fix.

use std::time::Duration;

use super::MAX_RETRY_AFTER;

/// Why a model request failed.
///
/// Each message includes its cause's text, so no variant also reports it as its
/// `source()`: a chain printer (anyhow's `{:#}`) would show it twice.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
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
    Client(reqwest::Error),
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
    #[error("{endpoint} answered HTTP {status}{}: {message}", retried_text(*.retries, *.repeated))]
    Status {
        /// The endpoint.
        endpoint: String,
        /// The status code.
        status: u16,
        /// What the server said.
        message: String,
        /// How many retries were made before giving up.
        retries: u32,
        /// Every attempt got the same status and error message: a fault that retrying
        /// did not clear.
        repeated: bool,
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
        "cannot reach the model endpoint {endpoint}: {error}; is the server running (Ollama: `ollama serve`) and is the base URL right?"
    )]
    Unreachable {
        /// The endpoint.
        endpoint: String,
        /// The transport error, without the URL.
        error: reqwest::Error,
    },
    /// The answer's stream broke off or carried an error after it began.
    #[error("{endpoint} stopped streaming its answer: {problem}")]
    StreamBroken {
        /// The endpoint.
        endpoint: String,
        /// What happened.
        problem: String,
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

fn retried_text(retries: u32, repeated: bool) -> String {
    let tried = match retries {
        0 => return String::new(),
        1 => " after 1 retry".to_owned(),
        n => format!(" after {n} retries"),
    };
    if repeated {
        format!("{tried}, the same error every time")
    } else {
        tried
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
            Self::StreamBroken { .. } => "stream_broken".to_owned(),
            Self::BaseUrl { .. } | Self::Client(_) => "configuration".to_owned(),
        }
    }
}
