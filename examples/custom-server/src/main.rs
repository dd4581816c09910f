//! A custom MCP server with one tool of its own, traced with trace-meta.
//!
//! Adopting trace-meta took one call in `main`: `trace_meta::run` sets up telemetry, installs
//! the signal handlers, serves every request in a SERVER span and flushes on the way out.
//! Each `tools/call` now runs in a `tool-word_stats` SERVER span, a child of the caller's
//! span when the request carries `traceparent` in `_meta` (or, over HTTP, the `traceparent`
//! header), and the `tracing::info!` below becomes an event on it. `--http ADDR` serves
//! Streamable HTTP instead of stdio.
//!
//! Try it with the host:
//! ```text
//! cargo build -p custom-server
//! echo '{"mcpServers": {"words": {"command": "target/debug/custom-server"}}}' > /tmp/words.json
//! cargo run -p mcp-host -- --config /tmp/words.json call words word_stats '{"text": "one two two"}'
//! ```

use rmcp::{handler::server::wrapper::Parameters, schemars, tool, tool_router};

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
struct WordStatsArgs {
    /// The text to count words in.
    text: String,
}

/// A server whose only tool counts words.
#[derive(Debug, Clone, Default)]
struct WordServer;

#[tool_router(server_handler)]
impl WordServer {
    /// Counts the words of a text and names the most frequent one.
    #[tool(annotations(read_only_hint = true))]
    async fn word_stats(&self, Parameters(args): Parameters<WordStatsArgs>) -> String {
        let mut counts = std::collections::BTreeMap::<String, usize>::new();
        for word in args.text.split_whitespace() {
            *counts.entry(word.to_lowercase()).or_default() += 1;
        }
        let total: usize = counts.values().sum();
        let top = counts.iter().max_by_key(|(_, n)| **n);
        tracing::info!(total, distinct = counts.len(), "counted words");
        match top {
            Some((word, n)) => format!(
                "{total} words, {} distinct; most frequent: {word} ({n})",
                counts.len()
            ),
            None => "0 words".to_owned(),
        }
    }
}

fn main() -> anyhow::Result<()> {
    let transport = match std::env::args().skip_while(|a| a != "--http").nth(1) {
        Some(addr) => trace_meta::ServerTransport::Http {
            addr: trace_meta::http::parse_listen_address(&addr)?,
            config: trace_meta::HttpConfig::new().with_token_from_env()?,
        },
        None => trace_meta::ServerTransport::Stdio,
    };
    trace_meta::run("custom-server", WordServer, transport)?;
    Ok(())
}
