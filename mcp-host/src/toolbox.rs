//! The running servers of a command as the agent's [`Toolbox`].

use rmcp::model::{CallToolResult, JsonObject};

use crate::{
    agent::{ServerTool, Toolbox, ToolboxError},
    servers::{Failure, RunningServer, ServerError},
};

/// Started servers and the tools they listed, in configuration order.
pub(crate) struct ServerSet {
    servers: Vec<RunningServer>,
    tools: Vec<ServerTool>,
}

impl ServerSet {
    /// The toolbox of `servers`.
    pub(crate) fn new(servers: Vec<RunningServer>) -> Self {
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
    pub(crate) fn servers(&self) -> &[RunningServer] {
        &self.servers
    }

    /// Gives the servers back, to shut them down.
    pub(crate) fn into_servers(self) -> Vec<RunningServer> {
        self.servers
    }
}

/// Prints every server's tools, one line each: the name and the first sentence of its
/// description (the whole description is for the model, not the listing).
pub(crate) fn print_tools(servers: &[RunningServer]) {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    for server in servers {
        let _ = writeln!(stdout, "{}:", server.name);
        for tool in &server.tools {
            let description = first_sentence(tool.description.as_deref().unwrap_or(""));
            let _ = writeln!(stdout, "  {:<26} {description}", tool.name);
        }
    }
}

/// The first sentence of `text`, its whitespace (line breaks too) collapsed to single
/// spaces.
fn first_sentence(text: &str) -> String {
    let words: Vec<&str> = text.split_whitespace().collect();
    let mut sentence = Vec::new();
    for word in words {
        sentence.push(word);
        if word.ends_with('.') {
            break;
        }
    }
    sentence.join(" ")
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

#[cfg(test)]
mod tests {
    use super::first_sentence;

    #[test]
    fn listings_show_one_line_per_tool() {
        assert_eq!(
            first_sentence("Read a file inside the\nallowed directories. Then more."),
            "Read a file inside the allowed directories."
        );
        assert_eq!(first_sentence("No full stop"), "No full stop");
        assert_eq!(first_sentence(""), "");
    }
}
