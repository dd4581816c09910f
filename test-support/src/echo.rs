//! A minimal MCP server with tools whose outcome a test knows in advance.

use rmcp::{
    handler::server::wrapper::Parameters,
    model::{CallToolResult, ContentBlock},
    schemars, tool, tool_router,
};
use serde::Deserialize;
use tracing::Instrument;

/// The arguments of [`EchoServer`]'s `echo` tool.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct EchoArgs {
    /// Text to send back.
    pub text: String,
}

/// The arguments of [`EchoServer`]'s `wait` tool.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct WaitArgs {
    /// How long to wait, in milliseconds.
    pub ms: u64,
}

/// A server with three tools: `echo` answers `echo: {text}` after a little work in an
/// `inner-work` span (work done with `tracing` must nest under the server span, across
/// awaits; it is marked read-only, so safe to repeat), `fail` always answers with a tool
/// error, `the tool refused`, and `wait` answers `waited` after `ms` milliseconds (a call
/// for a client to abandon; no annotations, so not safe to repeat).
#[derive(Debug, Clone)]
pub struct EchoServer;

#[tool_router(server_handler)]
impl EchoServer {
    #[tool(
        description = "Sends the text back",
        annotations(read_only_hint = true)
    )]
    async fn echo(&self, Parameters(EchoArgs { text }): Parameters<EchoArgs>) -> CallToolResult {
        async {
            tokio::task::yield_now().await;
            tracing::info!("echoing");
        }
        .instrument(tracing::info_span!("inner-work"))
        .await;
        CallToolResult::success(vec![ContentBlock::text(format!("echo: {text}"))])
    }

    #[tool(description = "Always fails")]
    async fn fail(&self) -> CallToolResult {
        CallToolResult::error(vec![ContentBlock::text("the tool refused")])
    }

    #[tool(description = "Waits ms milliseconds, then answers")]
    async fn wait(&self, Parameters(WaitArgs { ms }): Parameters<WaitArgs>) -> CallToolResult {
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
        CallToolResult::success(vec![ContentBlock::text("waited")])
    }
}
