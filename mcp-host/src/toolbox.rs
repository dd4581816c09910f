//! The running servers of a command as the agent's [`Toolbox`].

use rmcp::model::{CallToolResult, JsonObject};

use crate::{
    agent::{ServerTool, Toolbox, ToolboxError},
    servers::{Failure, Server, ServerError},
};

/// Started servers and the tools they listed, in configuration order.
pub struct ServerSet {
    servers: Vec<Server>,
    tools: Vec<ServerTool>,
}

impl ServerSet {
    /// The toolbox of `servers`.
    pub fn new(servers: Vec<Server>) -> Self {
        let tools = servers
            .iter()
            .flat_map(|server| {
                server.tools.iter().map(|tool| ServerTool {
                    server: server.name.clone(),
                    tool: tool.clone(),
                })
            })
            .collect();
        Self { servers, tools }
    }

    /// The servers, in configuration order.
    pub fn servers(&self) -> &[Server] {
        &self.servers
    }

    /// Gives the servers back, to shut them down.
    pub fn into_servers(self) -> Vec<Server> {
        self.servers
    }
}

#[async_trait::async_trait]
impl Toolbox for ServerSet {
    fn tools(&self) -> &[ServerTool] {
        &self.tools
    }

    async fn call(
        &self,
        server: &str,
        tool: &str,
        arguments: JsonObject,
        call_id: Option<&str>,
    ) -> Result<CallToolResult, ToolboxError> {
        let Some(target) = self.servers.iter().find(|s| s.name == server) else {
            return Err(ToolboxError::UnknownServer {
                server: server.to_owned(),
                known: self
                    .servers
                    .iter()
                    .map(|s| s.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        };
        match target
            .call_tool(tool, serde_json::Value::Object(arguments), call_id)
            .await
        {
            Ok(result) => Ok(result),
            Err(ServerError {
                failure: Failure::Rejected { error, .. },
                ..
            }) => Err(ToolboxError::Rejected {
                server: server.to_owned(),
                tool: tool.to_owned(),
                error,
            }),
            Err(ServerError {
                failure: Failure::TimedOut { limit, .. },
                ..
            }) => Err(ToolboxError::TimedOut {
                server: server.to_owned(),
                tool: tool.to_owned(),
                limit,
            }),
            Err(error) => Err(ToolboxError::Server(error)),
        }
    }
}
