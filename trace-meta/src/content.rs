//! What a span may record of the data that passes through it: one rule, one variable.
//!
//! Tool arguments and results, prompts and answers can hold a user's data, and spans go to
//! a backend. The process's choice decides: [`Capture::install`] (or
//! `Telemetry::with_content_capture`) when the application makes one, else
//! `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT` (the OpenTelemetry GenAI
//! conventions' switch), read once per process. Every process of a trace decides for
//! itself, and a host passes its environment to the servers it starts:
//!
//! | value | tool spans (client and server) | model spans, agent root |
//! |---|---|---|
//! | unset (the default) | `confident.span.input` (the arguments) and `confident.span.output` (the result), each cut at 1000 characters, as the Confident AI example records them | no message content; the root keeps the question and the answer |
//! | `true` (or `1`) | the same, plus the conventions' `gen_ai.tool.call.arguments` and `gen_ai.tool.call.result` | `gen_ai.input.messages` / `gen_ai.output.messages` too |
//! | `false` (or `0`) | none | none: no question or answer on the root either |
//!
//! Secrets (keys, `Authorization` headers) are never recorded, whatever the setting.

use std::sync::atomic::{AtomicU8, Ordering};

use opentelemetry::{KeyValue, trace::Status};

use crate::attributes::{self as attr, MAX_PAYLOAD_CHARS, truncate};

/// The variable that decides when the application did not ([`Capture::get`]).
pub const CAPTURE_CONTENT_ENV: &str = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT";

/// The choice [`Capture::install`] made: 0 none, then `Tools`, `All`, `Nothing`.
static INSTALLED: AtomicU8 = AtomicU8::new(0);

/// How much content spans record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Capture {
    /// Tool inputs and outputs (cut), no model messages.
    #[default]
    Tools,
    /// Everything, under the conventions' names too.
    All,
    /// Nothing.
    Nothing,
}

impl Capture {
    /// The choice a value of [`CAPTURE_CONTENT_ENV`] makes (`None`: unset).
    pub fn parse(value: Option<&str>) -> Self {
        match value.map(|v| v.trim().to_ascii_lowercase()).as_deref() {
            Some("true" | "1") => Self::All,
            Some("false" | "0") => Self::Nothing,
            _ => Self::Tools,
        }
    }

    /// This process's choice: the one [`install`](Self::install) made, else what
    /// [`CAPTURE_CONTENT_ENV`] says (read once).
    pub fn get() -> Self {
        match INSTALLED.load(Ordering::Relaxed) {
            1 => Self::Tools,
            2 => Self::All,
            3 => Self::Nothing,
            _ => {
                static FROM_ENV: std::sync::OnceLock<Capture> = std::sync::OnceLock::new();
                *FROM_ENV
                    .get_or_init(|| Self::parse(std::env::var(CAPTURE_CONTENT_ENV).ok().as_deref()))
            }
        }
    }

    /// Makes this the process's choice, over [`CAPTURE_CONTENT_ENV`]: spans recorded from
    /// now on (by [`Traced`](crate::Traced), [`TracedClient`](crate::TracedClient),
    /// [`tool_input`], [`tool_output`] and whoever reads [`get`](Self::get)) follow it.
    /// `Telemetry::with_content_capture` calls it when the pipeline is installed; call it
    /// yourself when you set up telemetry another way.
    ///
    /// ```
    /// use trace_meta::content::Capture;
    /// Capture::Nothing.install();
    /// assert!(!Capture::get().tools());
    /// ```
    pub fn install(self) {
        let code = match self {
            Self::Tools => 1,
            Self::All => 2,
            Self::Nothing => 3,
        };
        INSTALLED.store(code, Ordering::Relaxed);
    }

    /// Whether tool arguments and results are recorded.
    pub fn tools(self) -> bool {
        self != Self::Nothing
    }

    /// Whether model messages (and the conventions' tool content names) are recorded.
    pub fn messages(self) -> bool {
        self == Self::All
    }
}

/// The input attributes of a tool call's span, as this process's [`Capture`] allows:
/// `arguments` is the JSON of the call's arguments (cut at 1000 characters here).
pub fn tool_input(mut arguments: String) -> Vec<KeyValue> {
    let capture = Capture::get();
    if !capture.tools() {
        return Vec::new();
    }
    let kept = truncate(&arguments, MAX_PAYLOAD_CHARS).len();
    arguments.truncate(kept);
    let mut attributes = Vec::with_capacity(2);
    if capture.messages() {
        attributes.push(KeyValue::new(
            attr::GEN_AI_TOOL_CALL_ARGUMENTS,
            arguments.clone(),
        ));
    }
    attributes.push(KeyValue::new(attr::CONFIDENT_SPAN_INPUT, arguments));
    attributes
}

/// The outcome attributes and status of a tool call's span, as this process's [`Capture`]
/// allows: `text` is the result's text (cut at 1000 characters here), `is_error` its
/// `isError`. An error result is `error.type=tool_error` and an ERROR status whose message
/// is the text (or, when no content is captured, says only that the tool failed).
pub fn tool_output(mut text: String, is_error: bool) -> (Vec<KeyValue>, Status) {
    let capture = Capture::get();
    let mut attributes = Vec::with_capacity(3);
    if is_error {
        attributes.push(KeyValue::new(attr::ERROR_TYPE, attr::TOOL_ERROR));
    }
    if !capture.tools() {
        let status = if is_error {
            Status::error("the tool reported an error")
        } else {
            Status::Unset
        };
        return (attributes, status);
    }
    // One copy of the text, cut in place: the attribute owns it; only an error result (or
    // the conventions' name beside Confident AI's) needs a second copy.
    let kept = truncate(&text, MAX_PAYLOAD_CHARS).len();
    text.truncate(kept);
    let status = if is_error {
        Status::error(text.clone())
    } else {
        Status::Unset
    };
    if capture.messages() {
        attributes.push(KeyValue::new(attr::GEN_AI_TOOL_CALL_RESULT, text.clone()));
    }
    attributes.push(KeyValue::new(attr::CONFIDENT_SPAN_OUTPUT, text));
    (attributes, status)
}

#[cfg(test)]
mod tests {
    use super::Capture;

    #[test]
    fn values() {
        assert_eq!(Capture::parse(None), Capture::Tools);
        assert_eq!(Capture::parse(Some("")), Capture::Tools);
        assert_eq!(Capture::parse(Some(" TRUE ")), Capture::All);
        assert_eq!(Capture::parse(Some("1")), Capture::All);
        assert_eq!(Capture::parse(Some("false")), Capture::Nothing);
        assert!(Capture::Tools.tools() && !Capture::Tools.messages());
        assert!(!Capture::Nothing.tools());
    }
}
