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

/// A server with two tools: `echo` answers `echo: {text}` after a little work in an
/// `inner-work` span (work done with `tracing` must nest under the server span, across
/// awaits), and `fail` always answers with a tool error, `the tool refused`.
#[derive(Debug, Clone)]
pub struct EchoServer;

#[tool_router(server_handler)]
impl EchoServer {
    #[tool(description = "Sends the text back")]
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
}
