//! Server configuration in the formats MCP clients already use.
//!
//! - Claude Desktop, Cursor, Claude Code: `{"mcpServers": {"name": {"command", "args", "env"}}}`
//! - VS Code (`.vscode/mcp.json`): `{"servers": {"name": {"type": "stdio", "command", "args", "env"}}}`
//!
//! Entries of other transports (`http`, `sse`, or a `url` instead of a `command`) are skipped
//! with a warning naming them. A relative `command` path (one with a `/`) resolves against
//! the config file's folder, and servers start in that folder, so relative arguments work
//! the way they do for the client the file was written for.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use serde::Deserialize;

/// How to start one MCP server over stdio.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSpec {
    /// The name the config gives it.
    pub name: String,
    /// The program to run.
    pub command: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
    /// Extra environment variables.
    pub env: BTreeMap<String, String>,
    /// Working directory (the config file's folder), if any.
    pub cwd: Option<PathBuf>,
}

/// A config file that cannot be used, with the file, server and field it concerns.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config {file}: {source}")]
    Read {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file is not JSON.
    #[error("config {file} is not valid JSON: {source}")]
    Json {
        file: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    /// Neither `mcpServers` nor `servers` is present.
    #[error(
        "config {file} has neither \"mcpServers\" (Claude Desktop, Cursor, Claude Code) nor \"servers\" (VS Code)"
    )]
    NoServers { file: PathBuf },
    /// One server entry is wrong.
    #[error("config {file}: server \"{server}\": field \"{field}\": {problem}")]
    Field {
        file: PathBuf,
        server: String,
        field: &'static str,
        problem: String,
    },
    /// Every entry was skipped.
    #[error("config {file} has no stdio server this host can start")]
    Empty { file: PathBuf },
}

#[derive(Deserialize)]
struct RawFile {
    #[serde(rename = "mcpServers")]
    mcp_servers: Option<serde_json::Map<String, serde_json::Value>>,
    servers: Option<serde_json::Map<String, serde_json::Value>>,
}

/// The JSON type of `value`, for messages that must not echo it.
fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// Reads the servers of a config file, in file order.
pub fn load(file: &Path) -> Result<Vec<ServerSpec>, ConfigError> {
    let text = std::fs::read_to_string(file).map_err(|source| ConfigError::Read {
        file: file.to_owned(),
        source,
    })?;
    parse(&text, file)
}

/// Parses config text; `file` names it in errors and anchors relative paths.
pub fn parse(text: &str, file: &Path) -> Result<Vec<ServerSpec>, ConfigError> {
    let raw: RawFile = serde_json::from_str(text).map_err(|source| ConfigError::Json {
        file: file.to_owned(),
        source,
    })?;
    let entries = raw
        .mcp_servers
        .or(raw.servers)
        .ok_or_else(|| ConfigError::NoServers {
            file: file.to_owned(),
        })?;
    // Absolute, because a server starts in this folder: a relative command resolved against
    // it must not be resolved against it a second time.
    let folder = file
        .parent()
        .map(|p| {
            if p.as_os_str().is_empty() {
                Path::new(".")
            } else {
                p
            }
        })
        .and_then(|p| std::path::absolute(p).ok());

    let mut specs = Vec::new();
    for (name, entry) in entries {
        let field_error = |field: &'static str, problem: String| ConfigError::Field {
            file: file.to_owned(),
            server: name.clone(),
            field,
            problem,
        };
        let object = entry
            .as_object()
            .ok_or_else(|| field_error("(entry)", "must be an object".into()))?;
        if object.get("disabled").and_then(|v| v.as_bool()) == Some(true) {
            eprintln!(
                "mcp-host: skipping server \"{name}\" in {}: disabled",
                file.display()
            );
            continue;
        }
        let kind = object
            .get("type")
            .and_then(|v| v.as_str())
            .unwrap_or("stdio");
        if kind != "stdio" || (object.contains_key("url") && !object.contains_key("command")) {
            let kind = if kind == "stdio" { "url" } else { kind };
            eprintln!(
                "mcp-host: skipping server \"{name}\" in {}: transport \"{kind}\" is not supported (stdio only)",
                file.display()
            );
            continue;
        }
        let command = match object.get("command") {
            Some(serde_json::Value::String(c)) if !c.trim().is_empty() => c.clone(),
            Some(serde_json::Value::String(_)) => {
                return Err(field_error("command", "is empty".into()));
            }
            Some(_) => return Err(field_error("command", "must be a string".into())),
            None => return Err(field_error("command", "is missing".into())),
        };
        let args = match object.get("args") {
            None | Some(serde_json::Value::Null) => Vec::new(),
            Some(serde_json::Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    item.as_str().map(str::to_owned).ok_or_else(|| {
                        field_error("args", format!("item {i} must be a string, found {item}"))
                    })
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(field_error("args", "must be an array of strings".into())),
        };
        let env = match object.get("env") {
            None | Some(serde_json::Value::Null) => BTreeMap::new(),
            Some(serde_json::Value::Object(vars)) => vars
                .iter()
                .map(|(key, value)| match value {
                    serde_json::Value::String(s) => Ok((key.clone(), s.clone())),
                    serde_json::Value::Number(n) => Ok((key.clone(), n.to_string())),
                    serde_json::Value::Bool(b) => Ok((key.clone(), b.to_string())),
                    other => Err(field_error(
                        "env",
                        // Only the kind: env values are often secrets.
                        format!("{key} must be a string, found {}", json_kind(other)),
                    )),
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(field_error("env", "must be an object of strings".into())),
        };
        let mut command = PathBuf::from(command);
        if let (true, Some(folder)) = (
            command.is_relative() && command.components().count() > 1,
            &folder,
        ) {
            command = folder.join(command);
        }
        specs.push(ServerSpec {
            name,
            command,
            args,
            env,
            cwd: folder.clone(),
        });
    }
    if specs.is_empty() {
        return Err(ConfigError::Empty {
            file: file.to_owned(),
        });
    }
    Ok(specs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_claude_desktop_format() {
        let specs = parse(
            r#"{"mcpServers": {"files": {"command": "./bin/file-server", "args": ["--root", "data"], "env": {"RUST_LOG": "info"}}}}"#,
            Path::new("/etc/mcp/config.json"),
        )
        .unwrap();
        assert_eq!(specs.len(), 1);
        assert_eq!(specs[0].name, "files");
        assert_eq!(
            specs[0].command,
            PathBuf::from("/etc/mcp/./bin/file-server")
        );
        assert_eq!(specs[0].args, ["--root", "data"]);
        assert_eq!(specs[0].env["RUST_LOG"], "info");
        assert_eq!(specs[0].cwd.as_deref(), Some(Path::new("/etc/mcp")));
    }

    #[test]
    fn relative_commands_of_a_relative_config_path_become_absolute() {
        let specs = parse(
            r#"{"mcpServers": {"db": {"command": "../target/debug/db-server"}}}"#,
            Path::new("examples/mcp-servers.json"),
        )
        .unwrap();
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(
            specs[0].command,
            cwd.join("examples/../target/debug/db-server")
        );
        assert_eq!(
            specs[0].cwd.as_deref(),
            Some(cwd.join("examples").as_path())
        );
    }

    #[test]
    fn reads_vscode_format_and_skips_other_transports() {
        let specs = parse(
            r#"{"servers": {
                "db": {"type": "stdio", "command": "db-server", "args": []},
                "remote": {"type": "http", "url": "https://example.com/mcp"}
            }}"#,
            Path::new("mcp.json"),
        )
        .unwrap();
        assert_eq!(specs.len(), 1);
        assert_eq!(
            specs[0].command,
            PathBuf::from("db-server"),
            "PATH lookups stay bare"
        );
    }

    #[test]
    fn errors_name_file_server_and_field() {
        let error = parse(
            r#"{"mcpServers": {"files": {"args": ["x"]}}}"#,
            Path::new("claude.json"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            error.contains("claude.json")
                && error.contains("\"files\"")
                && error.contains("\"command\""),
            "{error}"
        );

        let error = parse(
            r#"{"mcpServers": {"files": {"command": "x", "args": [1]}}}"#,
            Path::new("c.json"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            error.contains("\"args\"") && error.contains("item 0"),
            "{error}"
        );

        let error = parse(r#"{"other": {}}"#, Path::new("c.json"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("mcpServers"), "{error}");

        let error = parse("{not json", Path::new("c.json"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("not valid JSON"), "{error}");
    }
}
