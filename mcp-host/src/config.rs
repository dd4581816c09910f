//! Server configuration in the formats MCP clients already use: the one reader of client
//! configs, for `--config` and `wrap-config` alike ([`server_tables`], [`transport`]).
//!
//! - Claude Desktop, Cursor, Windsurf, Claude Code's `.mcp.json`:
//!   `{"mcpServers": {"name": {"command", "args", "env"}}}` (Windsurf's remote entries:
//!   `{"serverUrl": …}`)
//! - Claude Code's `~/.claude.json`: the same table at the top and per project, under
//!   `projects.*.mcpServers` (all are read; a name already read is skipped with a warning)
//! - VS Code (`.vscode/mcp.json`): `{"servers": {"name": {"type": "stdio", "command", "args", "env"}}}`
//! - VS Code's `settings.json`: `{"mcp": {"servers": {…}}}`
//!
//! Remote servers over Streamable HTTP, in the shapes those clients write them:
//! - Claude Code, Cursor: `{"url": "https://…/mcp", "headers": {"Authorization": "Bearer ${TOKEN}"}}`
//!   or `{"type": "http", "url": …}`;
//! - VS Code: `{"type": "http", "url": …, "headers": {…}}`.
//!
//! `${VAR}`, `${env:VAR}` and `${VAR:-default}` in a `url`, a header value or an `env` value
//! are replaced by the environment variable (as Claude Code, Cursor and VS Code do), so a
//! config names `"DATABASE_URL": "${DATABASE_URL}"` rather than the secret itself; a variable that is not set is an error naming it (never its
//! value, nor a header's). Entries of the legacy `sse` transport are skipped with a warning
//! naming them. A relative `command` path (one with a `/`) resolves against the config
//! file's folder, and servers start in that folder, so relative arguments work the way they
//! do for the client the file was written for.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

/// How to reach one MCP server: a program to start over stdio, or, when [`Self::remote`]
/// is set, a URL to call over Streamable HTTP.
///
/// Environment values are often credentials (`DATABASE_URL`, API keys): `Debug` shows
/// their names only.
#[derive(Clone, PartialEq, Eq)]
pub struct ServerSpec {
    /// The name the config gives it.
    pub name: String,
    /// The program to run (unused for a remote server).
    pub command: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
    /// Extra environment variables.
    pub env: BTreeMap<String, String>,
    /// Working directory (the config file's folder), if any.
    pub cwd: Option<PathBuf>,
    /// A server already running elsewhere, reached over Streamable HTTP; `None` for a
    /// program this host starts.
    pub remote: Option<RemoteSpec>,
}

/// A Streamable HTTP server: its endpoint and the headers every request carries.
///
/// Header values are often credentials: `Debug` shows their names only.
#[derive(Clone, PartialEq, Eq)]
pub struct RemoteSpec {
    /// The endpoint URL (`http://127.0.0.1:8931/mcp`), variables expanded.
    pub url: String,
    /// Headers for every request (`Authorization`, API keys), variables expanded.
    pub headers: BTreeMap<String, String>,
    /// The environment variables the `Authorization` header is built from, each with
    /// whether it was set: what a refused token's message names.
    pub auth_vars: Vec<(String, bool)>,
}

impl std::fmt::Debug for ServerSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerSpec")
            .field("name", &self.name)
            .field("command", &self.command)
            .field("args", &self.args)
            .field("env", &self.env.keys().collect::<Vec<_>>())
            .field("cwd", &self.cwd)
            .field("remote", &self.remote)
            .finish()
    }
}

impl std::fmt::Debug for RemoteSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteSpec")
            .field("url", &trace_meta::redact::url(&self.url))
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// A config file that cannot be used, with the file, server and field it concerns.
///
/// Each message includes its cause's text, so no variant also reports it as its
/// `source()`: a chain printer (anyhow's `{:#}`) would show it twice.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config {file}: {error}")]
    Read {
        file: PathBuf,
        error: std::io::Error,
    },
    /// The file is not JSON.
    #[error("config {file} is not valid JSON: {error}")]
    Json {
        file: PathBuf,
        error: serde_json::Error,
    },
    /// No server table anywhere ([`server_tables`]).
    #[error("config {file} has no server table: {NO_SERVER_TABLE}")]
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
    #[error("config {file} has no stdio or http server this host can use")]
    Empty { file: PathBuf },
}

/// Reads the `url` and `headers` of a Streamable HTTP entry and expands their variables.
fn remote_spec(
    object: &serde_json::Map<String, serde_json::Value>,
    field_error: &dyn Fn(&'static str, String) -> ConfigError,
) -> Result<RemoteSpec, ConfigError> {
    let url = match object.get("url").or_else(|| object.get("serverUrl")) {
        Some(serde_json::Value::String(url)) if !url.trim().is_empty() => {
            expand_vars(url.trim()).map_err(|problem| field_error("url", problem))?
        }
        Some(serde_json::Value::String(_)) => return Err(field_error("url", "is empty".into())),
        Some(_) => return Err(field_error("url", "must be a string".into())),
        None => return Err(field_error("url", "is missing".into())),
    };
    let scheme_ok = ["http://", "https://"]
        .iter()
        .any(|scheme| url.len() > scheme.len() && url[..scheme.len()].eq_ignore_ascii_case(scheme));
    if !scheme_ok {
        return Err(field_error(
            "url",
            "must be an http:// or https:// URL".into(),
        ));
    }
    let headers = match object.get("headers") {
        None | Some(serde_json::Value::Null) => BTreeMap::new(),
        Some(serde_json::Value::Object(headers)) => headers
            .iter()
            .map(|(key, value)| {
                let valid_name = !key.is_empty()
                    && key
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
                if !valid_name {
                    return Err(field_error(
                        "headers",
                        format!("{key:?} is not a header name"),
                    ));
                }
                match value {
                    serde_json::Value::String(text) => {
                        let expanded = expand_vars(text).map_err(|problem| {
                            field_error("headers", format!("{key}: {problem}"))
                        })?;
                        if expanded.bytes().any(|b| b.is_ascii_control() && b != b'\t') {
                            // Only the name: header values are often secrets.
                            return Err(field_error(
                                "headers",
                                format!("{key} holds a control character or line break"),
                            ));
                        }
                        Ok((key.clone(), expanded))
                    }
                    other => Err(field_error(
                        "headers",
                        format!("{key} must be a string, found {}", json_kind(other)),
                    )),
                }
            })
            .collect::<Result<_, _>>()?,
        Some(_) => {
            return Err(field_error(
                "headers",
                "must be an object of strings".into(),
            ));
        }
    };
    let auth_vars = object
        .get("headers")
        .and_then(serde_json::Value::as_object)
        .into_iter()
        .flatten()
        .filter(|(key, _)| key.eq_ignore_ascii_case("authorization"))
        .filter_map(|(_, value)| value.as_str())
        .flat_map(variables_in)
        .map(|name| {
            let set = std::env::var_os(&name).is_some_and(|v| !v.is_empty());
            (name, set)
        })
        .collect();
    Ok(RemoteSpec {
        url,
        headers,
        auth_vars,
    })
}

/// The names of the environment variables `text` refers to (`${VAR}`, `${env:VAR}`,
/// `${VAR:-default}`).
fn variables_in(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else { break };
        let inner = &after[..end];
        let name = inner.split_once(":-").map_or(inner, |(name, _)| name);
        names.push(name.strip_prefix("env:").unwrap_or(name).to_owned());
        rest = &after[end + 1..];
    }
    names
}

/// Replaces `${VAR}`, `${env:VAR}` and `${VAR:-default}` with the environment's values.
///
/// The error names the variable and never shows a value.
pub(crate) fn expand_vars(text: &str) -> Result<String, String> {
    expand_vars_with(text, |name| std::env::var(name).ok())
}

fn expand_vars_with(text: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            return Err("has a \"${\" without its closing \"}\"".into());
        };
        let inner = &after[..end];
        let (name, default) = match inner.split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (inner, None),
        };
        let name = name.strip_prefix("env:").unwrap_or(name);
        if name.starts_with("input:") {
            return Err(format!(
                "uses ${{{name}}}: VS Code input prompts are not supported; use an environment variable"
            ));
        }
        let valid =
            !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !valid {
            return Err(format!(
                "has ${{{name}}}, which is not an environment variable name"
            ));
        }
        match (lookup(name), default) {
            (Some(value), _) => out.push_str(&value),
            (None, Some(default)) => out.push_str(default),
            (None, None) => {
                return Err(format!(
                    "uses the environment variable {name}, which is not set"
                ));
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Where the clients keep their server tables, for messages about a file without one.
pub(crate) const NO_SERVER_TABLE: &str = "neither \"mcpServers\" (Claude Desktop, Cursor, \
Windsurf, Claude Code), \"projects.*.mcpServers\" (Claude Code's ~/.claude.json), \"servers\" \
(VS Code's mcp.json) nor \"mcp.servers\" (VS Code's settings.json)";

/// Every server table of a client config, in file order: `mcpServers`, `servers`,
/// `mcp.servers`, and each `projects.*.mcpServers`. Empty when it has none.
pub(crate) fn server_tables(
    config: &mut serde_json::Value,
) -> Vec<&mut serde_json::Map<String, serde_json::Value>> {
    use serde_json::Value;
    let Value::Object(root) = config else {
        return Vec::new();
    };
    let mut tables = Vec::new();
    for (key, value) in root.iter_mut() {
        match (key.as_str(), value) {
            ("mcpServers" | "servers", Value::Object(table)) => tables.push(table),
            ("mcp", Value::Object(mcp)) => {
                if let Some(Value::Object(table)) = mcp.get_mut("servers") {
                    tables.push(table);
                }
            }
            ("projects", Value::Object(projects)) => {
                for project in projects.values_mut() {
                    if let Some(Value::Object(table)) = project.get_mut("mcpServers") {
                        tables.push(table);
                    }
                }
            }
            _ => {}
        }
    }
    tables
}

/// How a config entry's server is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport<'a> {
    /// A program to start: `type: "stdio"`, or no `type` and a `command`.
    Stdio,
    /// Streamable HTTP: `type: "http"` (or `streamable-http`, `streamableHttp`), or no
    /// `type`, a `url` (Windsurf: `serverUrl`) and no `command`.
    Http,
    /// Another transport (`sse`, …), which this host does not speak.
    Other(&'a str),
}

/// The transport of one entry; `Err` when its `type` is not a string.
pub(crate) fn transport(
    entry: &serde_json::Map<String, serde_json::Value>,
) -> Result<Transport<'_>, &'static str> {
    use serde_json::Value;
    match entry.get("type") {
        None | Some(Value::Null) => Ok(
            if (entry.contains_key("url") || entry.contains_key("serverUrl"))
                && !entry.contains_key("command")
            {
                Transport::Http
            } else {
                Transport::Stdio
            },
        ),
        Some(Value::String(kind)) => Ok(match kind.as_str() {
            "stdio" => Transport::Stdio,
            "http" | "streamable-http" | "streamableHttp" => Transport::Http,
            other => Transport::Other(other),
        }),
        Some(_) => Err("must be a string"),
    }
}

/// The JSON type of `value`, for messages that must not echo it.
pub(crate) fn json_kind(value: &serde_json::Value) -> &'static str {
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
pub(crate) fn load(file: &Path) -> Result<Vec<ServerSpec>, ConfigError> {
    let text = std::fs::read_to_string(file).map_err(|error| ConfigError::Read {
        file: file.to_owned(),
        error,
    })?;
    parse(&text, file)
}

/// Parses config text; `file` names it in errors and anchors relative paths.
pub(crate) fn parse(text: &str, file: &Path) -> Result<Vec<ServerSpec>, ConfigError> {
    let mut config: serde_json::Value =
        serde_json::from_str(text).map_err(|error| ConfigError::Json {
            file: file.to_owned(),
            error,
        })?;
    let tables = server_tables(&mut config);
    if tables.is_empty() {
        return Err(ConfigError::NoServers {
            file: file.to_owned(),
        });
    }
    let mut seen = std::collections::HashSet::new();
    let entries = tables
        .into_iter()
        .flat_map(std::mem::take)
        .filter(|(name, _)| {
            let first = seen.insert(name.clone());
            if !first {
                eprintln!(
                    "mcp-host: skipping a second server \"{name}\" in {}: the first of that name is used",
                    file.display()
                );
            }
            first
        });
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
        let remote = match transport(object).map_err(|e| field_error("type", e.into()))? {
            Transport::Http => true,
            Transport::Stdio => false,
            Transport::Other(other) => {
                eprintln!(
                    "mcp-host: skipping server \"{name}\" in {}: transport \"{other}\" is not supported (stdio and http only)",
                    file.display()
                );
                continue;
            }
        };
        if remote {
            specs.push(ServerSpec {
                name: name.clone(),
                command: PathBuf::new(),
                args: Vec::new(),
                env: BTreeMap::new(),
                cwd: None,
                remote: Some(remote_spec(object, &field_error)?),
            });
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
                    serde_json::Value::String(s) => expand_vars(s)
                        .map(|value| (key.clone(), value))
                        .map_err(|problem| field_error("env", format!("{key} {problem}"))),
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
            remote: None,
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
    fn reads_every_clients_server_table() {
        let at = Path::new("/home/me/.config/x.json");
        // Claude Code's ~/.claude.json: the top table and each project's; a name read
        // already is skipped.
        let specs = parse(
            r#"{"numStartups": 3, "mcpServers": {"files": {"command": "fs"}},
                "projects": {"/src/a": {"mcpServers": {"db": {"type": "stdio", "command": "db"},
                                                       "files": {"command": "other"}}},
                             "/src/b": {"allowedTools": []}}}"#,
            at,
        )
        .unwrap();
        let found: Vec<(&str, &str)> = specs
            .iter()
            .map(|s| (s.name.as_str(), s.command.to_str().unwrap()))
            .collect();
        assert_eq!(found, [("files", "fs"), ("db", "db")]);
        // VS Code's settings.json, with a remote entry.
        let specs = parse(
            r#"{"editor.fontSize": 13, "mcp": {"servers": {
                "db": {"type": "stdio", "command": "db-server"},
                "remote": {"type": "http", "url": "http://127.0.0.1:8932/mcp"}}}}"#,
            at,
        )
        .unwrap();
        assert_eq!(specs.len(), 2);
        assert!(specs[1].remote.is_some());
        // Windsurf: Claude Desktop's format, remote servers under `serverUrl`.
        let specs = parse(
            r#"{"mcpServers": {"remote": {"serverUrl": "http://127.0.0.1:8931/mcp"}}}"#,
            at,
        )
        .unwrap();
        assert_eq!(
            specs[0].remote.as_ref().unwrap().url,
            "http://127.0.0.1:8931/mcp"
        );
        let error = parse(r#"{"theme": "dark"}"#, at).unwrap_err().to_string();
        assert!(
            error.contains("projects.*.mcpServers") && error.contains("mcp.servers"),
            "{error}"
        );
    }

    #[test]
    fn the_transport_rules_are_one() {
        let entry = |json: &str| -> serde_json::Map<String, serde_json::Value> {
            serde_json::from_str(json).unwrap()
        };
        for (json, expected) in [
            (r#"{"command": "x"}"#, Ok(Transport::Stdio)),
            (r#"{"type": "stdio", "command": "x"}"#, Ok(Transport::Stdio)),
            (r#"{"url": "http://h/mcp"}"#, Ok(Transport::Http)),
            (
                r#"{"url": "http://h/mcp", "command": "x"}"#,
                Ok(Transport::Stdio),
            ),
            (
                r#"{"type": "streamableHttp", "url": "u"}"#,
                Ok(Transport::Http),
            ),
            (
                r#"{"type": "sse", "url": "u"}"#,
                Ok(Transport::Other("sse")),
            ),
            (r#"{"type": 3}"#, Err("must be a string")),
        ] {
            let entry = entry(json);
            assert_eq!(transport(&entry), expected, "{json}");
        }
    }

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
    fn env_values_take_variables_from_the_environment() {
        // PATH is set in every test environment; the config names it, not its value.
        let specs = parse(
            r#"{"mcpServers": {"db": {"command": "db-server", "env": {"SEARCH": "${PATH}", "PLAIN": "x", "DEFAULTED": "${MCP_TRACE_UNSET_VAR:-fallback}"}}}}"#,
            Path::new("/etc/mcp/config.json"),
        )
        .unwrap();
        assert_eq!(specs[0].env["SEARCH"], std::env::var("PATH").unwrap());
        assert_eq!(specs[0].env["PLAIN"], "x");
        assert_eq!(specs[0].env["DEFAULTED"], "fallback");
        let error = parse(
            r#"{"mcpServers": {"db": {"command": "db-server", "env": {"DATABASE_URL": "${MCP_TRACE_UNSET_VAR}"}}}}"#,
            Path::new("/etc/mcp/config.json"),
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("MCP_TRACE_UNSET_VAR"), "{error}");
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
    fn reads_vscode_format_and_skips_sse() {
        let specs = parse(
            r#"{"servers": {
                "db": {"type": "stdio", "command": "db-server", "args": []},
                "old": {"type": "sse", "url": "https://example.com/sse"},
                "remote": {"type": "http", "url": "https://example.com/mcp", "headers": {"X-Team": "a"}}
            }}"#,
            Path::new("mcp.json"),
        )
        .unwrap();
        assert_eq!(specs.len(), 2);
        assert_eq!(
            specs[0].command,
            PathBuf::from("db-server"),
            "PATH lookups stay bare"
        );
        assert_eq!(specs[0].remote, None);
        let remote = specs[1].remote.as_ref().unwrap();
        assert_eq!(remote.url, "https://example.com/mcp");
        assert_eq!(remote.headers["X-Team"], "a");
    }

    #[test]
    fn reads_claude_code_and_cursor_url_entries() {
        let specs = parse(
            r#"{"mcpServers": {
                "cursor": {"url": "http://127.0.0.1:8931/mcp"},
                "claude": {"type": "http", "url": "http://localhost:8932/mcp", "headers": {"Authorization": "Bearer x"}}
            }}"#,
            Path::new("c.json"),
        )
        .unwrap();
        assert_eq!(specs.len(), 2);
        assert_eq!(
            specs[0].remote.as_ref().unwrap().url,
            "http://127.0.0.1:8931/mcp"
        );
        assert_eq!(
            specs[1].remote.as_ref().unwrap().headers["Authorization"],
            "Bearer x"
        );
    }

    #[test]
    fn the_remote_example_config_reads() {
        let specs = parse(
            include_str!("../../examples/remote-mcp.json"),
            Path::new("examples/remote-mcp.json"),
        )
        .unwrap();
        assert_eq!(specs.len(), 2);
        assert!(specs.iter().all(|spec| spec.remote.is_some()));
    }

    #[test]
    fn variables_expand_and_missing_ones_are_named_not_shown() {
        let lookup = |name: &str| (name == "TOKEN").then(|| "s3cret".to_owned());
        assert_eq!(
            expand_vars_with("Bearer ${TOKEN}", lookup).unwrap(),
            "Bearer s3cret"
        );
        assert_eq!(
            expand_vars_with("Bearer ${env:TOKEN}", lookup).unwrap(),
            "Bearer s3cret"
        );
        assert_eq!(
            expand_vars_with("${HOST:-localhost}:1", lookup).unwrap(),
            "localhost:1"
        );
        assert_eq!(
            expand_vars_with("plain $TOKEN", lookup).unwrap(),
            "plain $TOKEN"
        );
        let error = expand_vars_with("${NOPE}", lookup).unwrap_err();
        assert!(error.contains("NOPE"), "{error}");
        assert!(expand_vars_with("${input:key}", lookup).is_err());
        assert!(expand_vars_with("${TOKEN", lookup).is_err());
        assert!(expand_vars_with("${A B}", lookup).is_err());
    }

    #[test]
    fn remote_errors_never_echo_header_values() {
        let error = parse(
            r#"{"mcpServers": {"r": {"url": "http://h/mcp", "headers": {"Authorization": 7}}}}"#,
            Path::new("c.json"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            error.contains("Authorization") && error.contains("a number"),
            "{error}"
        );
        let error = parse(
            r#"{"mcpServers": {"r": {"url": "ftp://h/mcp"}}}"#,
            Path::new("c.json"),
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("\"url\""), "{error}");
        let spec = RemoteSpec {
            url: "https://user:pw@h.example/mcp?key=k".into(),
            headers: BTreeMap::from([("Authorization".into(), "Bearer s3cret".into())]),
            auth_vars: Vec::new(),
        };
        let shown = format!("{spec:?}");
        assert!(
            !shown.contains("s3cret") && !shown.contains("pw") && !shown.contains("key=k"),
            "{shown}"
        );
    }

    #[test]
    fn the_variables_of_a_header_are_named() {
        assert_eq!(
            variables_in("Bearer ${MCP_SERVER_TOKEN:-none} ${env:B}${C}"),
            ["MCP_SERVER_TOKEN", "B", "C"]
        );
        assert!(variables_in("Bearer abc").is_empty());
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
