//! The offline demo agent: no model, no network, one kind of question.
//!
//! It answers a request for a year's sales summary ("Summarize our 2024 sales data",
//! "How was revenue in 2023?") with a fixed plan: read the sales file through a server
//! that offers `read_file`, query that year through a server that offers
//! `query_database`, and compute the answer from the rows that came back (an
//! `llm-summarize` span with model `offline-summarizer` stands where a model would).
//! Any other question is refused before a server starts, with how to configure a model.

use anyhow::Context as _;
use opentelemetry::trace::Status;
use trace_meta::{content::Capture, tool_result_text};

use crate::attr;
use tracing::Instrument as _;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use super::{
    Agent, AgentError, Toolbox, Turn, find_tool,
    sales::{Facts, SalesRow, year_in},
};

/// Model name recorded on the `llm-summarize` span: no model is involved.
pub(super) const OFFLINE_MODEL: &str = "offline-summarizer";

/// Words that make a question one the offline agent answers.
const TOPIC_WORDS: [&str; 2] = ["sales", "revenue"];

/// The deterministic agent: reads the sales file through a file server, queries the year of
/// the question through a database server, and summarises the rows it got back.
#[derive(Debug, Clone)]
pub(crate) struct OfflineAgent {
    /// The file `read_file` is asked for.
    pub sales_file: String,
    /// The table `query_database` is asked about.
    pub table: String,
    /// Recorded on its `llm-summarize` span (Confident AI's metric collection).
    pub llm_attributes: Vec<opentelemetry::KeyValue>,
}

impl Default for OfflineAgent {
    fn default() -> Self {
        Self {
            sales_file: "sales.csv".into(),
            table: "sales".into(),
            llm_attributes: Vec::new(),
        }
    }
}

impl OfflineAgent {
    /// Records `attributes` on the `llm-summarize` span.
    pub(crate) fn with_llm_attributes(mut self, attributes: Vec<opentelemetry::KeyValue>) -> Self {
        self.llm_attributes = attributes;
        self
    }

    /// Whether `query` asks for a sales summary.
    pub(crate) fn understands(query: &str) -> bool {
        let query = query.to_lowercase();
        TOPIC_WORDS.iter().any(|word| query.contains(word))
    }

    /// Calls `tool` on the first server that offers it; returns that server's name and the
    /// result text. A tool error ends the run: this agent cannot reason around one.
    async fn call(
        &self,
        tools: &dyn Toolbox,
        tool: &str,
        arguments: serde_json::Value,
    ) -> Result<(String, String), AgentError> {
        let entry = find_tool(tools.tools(), tool).with_context(|| {
            let offered: Vec<&str> = tools.tools().iter().map(|t| t.tool.name.as_ref()).collect();
            format!(
                "no configured server offers the tool {tool} that the offline agent needs (tools offered: {}); run with --model to let a model use the tools you have",
                offered.join(", ")
            )
        })?;
        let serde_json::Value::Object(arguments) = arguments else {
            unreachable!("the offline agent builds object arguments");
        };
        let result = tools.call(&entry.server, tool, arguments, None).await?;
        let text = tool_result_text(&result);
        if result.is_error == Some(true) {
            return Err(anyhow::anyhow!(
                "tool {tool} on server \"{}\" failed: {text}",
                entry.server
            )
            .into());
        }
        Ok((entry.server.clone(), text))
    }
}

#[async_trait::async_trait]
impl Agent for OfflineAgent {
    fn name(&self) -> &str {
        "mcp-orchestrator"
    }

    fn check(&self, query: &str) -> Result<(), AgentError> {
        if Self::understands(query) {
            return Ok(());
        }
        Err(AgentError::Unsupported(format!(
            "the offline demo agent answers only sales summaries (like \"Summarize our 2024 sales data\"); to answer {query:?} it needs a model:\n  \
             OpenAI:    OPENAI_API_KEY=... mcp-host --model gpt-4o-mini \"...\"\n  \
             Ollama:    mcp-host --model llama3.1 --base-url http://localhost:11434/v1 \"...\"\n  \
             vLLM / llama.cpp / LM Studio: --base-url http://HOST:PORT/v1 (or OPENAI_BASE_URL)"
        )))
    }

    async fn run(&self, turn: Turn<'_>) -> Result<String, AgentError> {
        // Every question stands alone: the plan needs no memory of earlier turns.
        let (query, tools) = (turn.query, turn.tools);
        self.check(query)?;
        let (file_server, csv) = self
            .call(
                tools,
                "read_file",
                serde_json::json!({ "path": self.sales_file }),
            )
            .await?;
        let history = SalesRow::parse_csv(&csv).with_context(|| {
            format!(
                "{} (read through read_file) is not the sales CSV",
                self.sales_file
            )
        })?;
        let year = year_in(query)
            .or_else(|| history.iter().map(|r| r.year).max())
            .context("the query names no year and the sales file has no rows")?;

        let sql = format!("SELECT * FROM {} WHERE year = {year}", self.table);
        let (db_server, result) = self
            .call(tools, "query_database", serde_json::json!({ "sql": sql }))
            .await?;
        let (rows, truncated) = SalesRow::parse_query_result(&result)
            .context("query_database returned rows without the sales columns")?;

        let span = tracing::info_span!("llm-summarize", otel.kind = "internal");
        span.set_attribute(attr::CONFIDENT_SPAN_TYPE, "llm");
        span.set_attribute(attr::CONFIDENT_LLM_MODEL, OFFLINE_MODEL);
        for kv in &self.llm_attributes {
            span.set_attribute(kv.key.clone(), kv.value.clone());
        }
        async {
            let mut facts = Facts::compute(year, &rows, truncated, &history);
            facts.db_server = db_server;
            facts.file_server = file_server;
            let span = tracing::Span::current();
            let summary = facts.summary();
            if Capture::get().tools() {
                span.set_attribute(
                    attr::CONFIDENT_SPAN_INPUT,
                    serde_json::to_string(&facts).unwrap_or_default(),
                );
                span.set_attribute(attr::CONFIDENT_SPAN_OUTPUT, summary.clone());
            }
            if rows.is_empty() {
                span.set_status(Status::error(format!("no sales rows for {year}")));
            }
            Ok(summary)
        }
        .instrument(span)
        .await
        .inspect(|summary| turn.output.text(summary))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_sales_questions_only() {
        let agent = OfflineAgent::default();
        assert!(agent.check("Summarize our 2024 sales data").is_ok());
        assert!(agent.check("How was REVENUE in 2023?").is_ok());
        for query in [
            "What files are in the data folder?",
            "How many tables does the database have?",
        ] {
            let refusal = agent.check(query).unwrap_err().to_string();
            assert!(refusal.contains("--model"), "{refusal}");
            assert!(refusal.contains(query), "{refusal}");
        }
    }
}
