//! Confident AI's evaluation and cost keys.
//!
//! Confident AI runs the metrics of a *metric collection* (made in its dashboard) on every
//! trace or span that names one, as the trace arrives ("online evaluation"), and prices a
//! model span from its token counts and the per-token costs it carries. The host names
//! them only when asked:
//!
//! | key | where | set by |
//! |---|---|---|
//! | `confident.trace.metric_collection` | every turn's root span | `--metric-collection` |
//! | `confident.span.metric_collection` | the root (`mcp-agent`) | `--agent-metric-collection` |
//! | `confident.span.metric_collection` | model spans (`chat {model}`, `llm-summarize`) | `--llm-metric-collection` |
//! | `confident.span.metric_collection` | tool calls (`mcp-tool-*`) | `--tool-metric-collection` |
//! | `confident.llm.cost_per_input_token`, `cost_per_output_token` | `chat {model}` spans | `--price-input`, `--price-output` (USD per million tokens) |
//!
//! Nothing given, nothing recorded.

use opentelemetry::KeyValue;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// `confident.trace.metric_collection`: the collection evaluated on the whole trace.
pub(crate) const TRACE_METRIC_COLLECTION: &str = "confident.trace.metric_collection";
/// `confident.span.metric_collection`: the collection evaluated on one span.
pub(crate) const SPAN_METRIC_COLLECTION: &str = "confident.span.metric_collection";
/// `confident.llm.cost_per_input_token`, in USD.
pub(crate) const COST_PER_INPUT_TOKEN: &str = "confident.llm.cost_per_input_token";
/// `confident.llm.cost_per_output_token`, in USD.
pub(crate) const COST_PER_OUTPUT_TOKEN: &str = "confident.llm.cost_per_output_token";

/// The metric collections and prices a run names (see the module doc).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Evaluation {
    /// Evaluated on each turn's trace.
    pub trace: Option<String>,
    /// Evaluated on the agent span.
    pub agent: Option<String>,
    /// Evaluated on each model span.
    pub llm: Option<String>,
    /// Evaluated on each tool call span.
    pub tool: Option<String>,
    /// USD per input token.
    pub cost_per_input_token: Option<f64>,
    /// USD per output token.
    pub cost_per_output_token: Option<f64>,
}

impl Evaluation {
    /// Records the trace's and the agent's collections on a turn's root span.
    pub fn record_root(&self, span: &tracing::Span) {
        if let Some(name) = &self.trace {
            span.set_attribute(TRACE_METRIC_COLLECTION, name.clone());
        }
        if let Some(name) = &self.agent {
            span.set_attribute(SPAN_METRIC_COLLECTION, name.clone());
        }
    }

    /// The model spans' collection and prices, as attributes.
    pub fn model_attributes(&self) -> Vec<KeyValue> {
        let mut attributes = Vec::new();
        if let Some(name) = &self.llm {
            attributes.push(KeyValue::new(SPAN_METRIC_COLLECTION, name.clone()));
        }
        if let Some(cost) = self.cost_per_input_token {
            attributes.push(KeyValue::new(COST_PER_INPUT_TOKEN, cost));
        }
        if let Some(cost) = self.cost_per_output_token {
            attributes.push(KeyValue::new(COST_PER_OUTPUT_TOKEN, cost));
        }
        attributes
    }

    /// The tool call spans' collection, as attributes.
    pub fn tool_attributes(&self) -> Vec<KeyValue> {
        self.tool
            .iter()
            .map(|name| KeyValue::new(SPAN_METRIC_COLLECTION, name.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_given_nothing_recorded() {
        let none = Evaluation::default();
        assert!(none.model_attributes().is_empty());
        assert!(none.tool_attributes().is_empty());
        let all = Evaluation {
            llm: Some("answers".into()),
            tool: Some("tools".into()),
            cost_per_input_token: Some(2.5e-6),
            ..Evaluation::default()
        };
        let keys: Vec<String> = all
            .model_attributes()
            .iter()
            .map(|kv| kv.key.to_string())
            .collect();
        assert_eq!(
            keys,
            [SPAN_METRIC_COLLECTION, COST_PER_INPUT_TOKEN],
            "only what was given"
        );
        assert_eq!(all.tool_attributes().len(), 1);
    }
}
