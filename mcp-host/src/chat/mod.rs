//! A traced client for OpenAI-compatible Chat Completions endpoints.
//!
//! One [`ChatClient::complete`] is one `chat {model}` CLIENT span (OpenTelemetry GenAI
//! conventions) whose context travels to the endpoint as a W3C `traceparent` header (never
//! `baggage`), so an LLM gateway that traces joins the same trace. Around the HTTP request:
//!
//! 0. **Streaming.** Answers are asked for as a stream (`stream: true` with
//!    `stream_options.include_usage`) and handed to the caller piece by piece as they
//!    arrive; tool calls that arrive in fragments are put back together (`stream.rs`). A
//!    server that refuses `stream_options` is asked again without it, one that refuses
//!    streaming is asked for whole answers (each a `stream_fallback` event, remembered for
//!    the rest of the process), and one that answers a streamed request whole is read
//!    whole. The span records `gen_ai.request.stream` and, when the answer streamed,
//!    `gen_ai.response.time_to_first_chunk`; usage comes from the last chunk, when the
//!    server sends it.
//! 1. **Retries.** 429 and 5xx answers are retried up to [`MAX_RETRIES`] times with
//!    exponential backoff, honouring `Retry-After` (seconds or an HTTP date) up to
//!    [`MAX_RETRY_AFTER`]; each retry is an event on the span.
//! 2. **Timeouts.** Every wait is bounded by the configured timeout (the answer's first
//!    byte, each next chunk, a whole body), so nothing hangs.
//! 3. **Errors that say what to fix.** 401/403 name `OPENAI_API_KEY`; a model without tool
//!    support, an unknown model or a wrong base URL say so. The key is never in a span, a
//!    log or an error: it travels only in a sensitive `Authorization` header, and any echo
//!    of it in an error body is masked.
//!
//! Each request also records the GenAI client metrics (`metrics.rs`).
//!
//! The files: `config.rs` (which model, where), `error.rs` (what went wrong), `client.rs`
//! (the span and the HTTP exchange), `stream.rs` (a streamed answer put together),
//! `metrics.rs`, and [`wire`] (the JSON of the API).

mod client;
mod config;
mod error;
pub mod metrics;
mod stream;
pub mod wire;

use std::time::Duration;

pub use client::ChatClient;
pub use config::{ApiKey, ModelConfig, display_url};
pub use error::ChatError;

/// The endpoint used when neither `--base-url` nor `OPENAI_BASE_URL` names one.
pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";
/// Variable holding the API key (optional: local servers need none).
pub const API_KEY_ENV: &str = "OPENAI_API_KEY";
/// Variable holding the base URL.
pub const BASE_URL_ENV: &str = "OPENAI_BASE_URL";
/// Variable that turns message content on spans on (`true`) or off (the default); the
/// rule for all content is [`trace_meta::content`].
pub const CAPTURE_CONTENT_ENV: &str = trace_meta::content::CAPTURE_CONTENT_ENV;
/// Retries after a 429 or 5xx answer.
pub const MAX_RETRIES: u32 = 3;
/// The longest `Retry-After` the client waits for; a longer one fails the request.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);
/// First backoff when the server gives no `Retry-After`; it doubles on each retry.
pub(crate) const FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// Most characters of message content recorded on a span when capture is on.
pub(crate) const MAX_CAPTURED_CHARS: usize = 16_000;
/// Most characters of an error body quoted in an error message.
pub(crate) const MAX_QUOTED_CHARS: usize = 300;
