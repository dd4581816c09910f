//! How the traces of one conversation are grouped in a backend.
//!
//! Every turn's root span carries the same conversation id twice, as the OpenTelemetry
//! GenAI conventions name it (`gen_ai.conversation.id`) and as Confident AI does
//! (`confident.trace.thread_id`), plus whatever the user gave of Confident AI's other
//! grouping keys: `confident.trace.user_id`, `confident.trace.tags` (a string array),
//! `confident.trace.metadata` (a JSON object, as a string) and
//! `confident.trace.environment`. What is not given is not recorded.

use crate::attr;
use opentelemetry::{Array, StringValue, Value};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// The grouping keys of a conversation's traces.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Grouping {
    /// The conversation (thread) id.
    pub conversation_id: Option<String>,
    /// The user.
    pub user_id: Option<String>,
    /// Tags, in the order given, without repeats.
    pub tags: Vec<String>,
    /// Metadata, keys in the order given (a later value for a key wins).
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// The environment.
    pub environment: Option<String>,
    /// Confident AI's metric collections for the trace and the agent span.
    pub evaluation: crate::evaluation::Evaluation,
}

impl Grouping {
    /// The keys a user gave: blank values are not given, a repeated tag counts once, a
    /// later metadata value for a key wins.
    pub fn given(
        thread_id: Option<&str>,
        user_id: Option<&str>,
        tags: &[String],
        metadata: &[(String, String)],
        environment: Option<&str>,
    ) -> Self {
        let given = |value: Option<&str>| {
            value
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let mut kept: Vec<String> = Vec::new();
        for tag in tags.iter().map(|t| t.trim()).filter(|t| !t.is_empty()) {
            if !kept.iter().any(|t| t == tag) {
                kept.push(tag.to_owned());
            }
        }
        let metadata = metadata
            .iter()
            .map(|(key, value)| (key.clone(), serde_json::Value::String(value.clone())))
            .collect();
        Self {
            conversation_id: given(thread_id),
            user_id: given(user_id),
            tags: kept,
            metadata,
            environment: given(environment),
            evaluation: crate::evaluation::Evaluation::default(),
        }
    }

    /// The same keys, and the metric collections of `evaluation` for each turn's root.
    pub fn with_evaluation(mut self, evaluation: crate::evaluation::Evaluation) -> Self {
        self.evaluation = evaluation;
        self
    }

    /// The same keys for the conversation `id`.
    pub fn with_conversation_id(mut self, id: impl Into<String>) -> Self {
        self.conversation_id = Some(id.into());
        self
    }

    /// A new random conversation id (`/new`, or a chat started without `--thread-id`).
    pub fn new_conversation_id() -> String {
        uuid::Uuid::new_v4().to_string()
    }

    /// Records the keys on a turn's root span.
    pub fn record(&self, span: &tracing::Span) {
        if let Some(id) = &self.conversation_id {
            span.set_attribute(attr::GEN_AI_CONVERSATION_ID, id.clone());
            span.set_attribute(attr::CONFIDENT_TRACE_THREAD_ID, id.clone());
        }
        if let Some(user) = &self.user_id {
            span.set_attribute(attr::CONFIDENT_TRACE_USER_ID, user.clone());
        }
        if !self.tags.is_empty() {
            let tags: Vec<StringValue> = self.tags.iter().cloned().map(Into::into).collect();
            span.set_attribute(
                attr::CONFIDENT_TRACE_TAGS,
                Value::Array(Array::String(tags)),
            );
        }
        if !self.metadata.is_empty() {
            span.set_attribute(
                attr::CONFIDENT_TRACE_METADATA,
                serde_json::Value::Object(self.metadata.clone()).to_string(),
            );
        }
        if let Some(environment) = &self.environment {
            span.set_attribute(attr::CONFIDENT_TRACE_ENVIRONMENT, environment.clone());
        }
        self.evaluation.record_root(span);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_and_repeated_values_are_dropped() {
        let grouping = Grouping::given(
            Some("  "),
            Some(" ada "),
            &["demo".into(), " ".into(), "demo".into(), "eu".into()],
            &[
                ("team".into(), "data".into()),
                ("team".into(), "sales".into()),
            ],
            None,
        );
        assert_eq!(grouping.conversation_id, None);
        assert_eq!(grouping.user_id.as_deref(), Some("ada"));
        assert_eq!(grouping.tags, ["demo", "eu"]);
        assert_eq!(
            serde_json::Value::Object(grouping.metadata).to_string(),
            r#"{"team":"sales"}"#
        );
        assert_eq!(
            Grouping::given(None, None, &[], &[], None),
            Grouping::default()
        );
        let id = Grouping::new_conversation_id();
        assert_eq!(id.len(), 36);
        assert_ne!(id, Grouping::new_conversation_id());
    }
}
