//! `mcp-host wrap-config FILE`: the same MCP client config with every stdio server run
//! through `mcp-host proxy`, so that adopting the proxy is one command.
//!
//! The rules, in order:
//! 1. The server tables are found where each client keeps them: `mcpServers` (Claude
//!    Desktop, Cursor, Claude Code), `projects.*.mcpServers` (Claude Code's
//!    `~/.claude.json`), `servers` (VS Code's `mcp.json`) and `mcp.servers` (VS Code's
//!    `settings.json`).
//! 2. A stdio entry (a `command`, and no `type` or `type: "stdio"`) becomes
//!    `command: PROXY`, `args: ["proxy", "--name", "NAME-proxy", COMMAND, ARGS…]`: its name
//!    in the table, marked as the proxy's, is the proxy's service name (the server may
//!    export under that name itself, and the tree must tell the two apart). No `--`
//!    before the command: tools that append their own options to a config's args, like the
//!    MCP Inspector's CLI, split at the first `--`. Every other field (`env`, `cwd`,
//!    `type`, `disabled`, vendor fields) stays where it was.
//! 3. Entries of other transports (`url`, `http`, `sse`), entries already wrapped, and
//!    every other key of the file are kept as they are.
//! 4. `--unwrap` undoes 2 for every wrapped entry; `wrap-config` then `--unwrap` gives the
//!    original back (an `args: []` comes back as no `args`, which clients read the same).
//!
//! The output is the whole file as pretty JSON (two-space indent) in the original key
//! order. JSON with comments (allowed in VS Code files) is refused: remove the comments.

use std::{
    io::Read as _,
    path::{Path, PathBuf},
    process::ExitCode,
};

use anyhow::Context as _;
use serde_json::{Map, Value};

/// Arguments of `mcp-host wrap-config`.
#[derive(Debug, Clone, clap::Args)]
pub struct WrapConfigArgs {
    /// The client config: Claude Desktop, Cursor or Claude Code ({"mcpServers": …}), or
    /// VS Code ({"servers": …}, or settings.json's {"mcp": {"servers": …}}). `-` reads stdin.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Put every wrapped server back as it was.
    #[arg(long)]
    pub unwrap: bool,
    /// The command that starts the proxy [default: this executable's absolute path].
    #[arg(long, value_name = "PATH")]
    pub proxy_command: Option<String>,
}

/// A config that cannot be rewritten.
#[derive(Debug, thiserror::Error)]
pub enum WrapError {
    /// Not JSON.
    #[error(
        "the config is not valid JSON ({0}); if it has comments (VS Code allows them), remove them first"
    )]
    Json(serde_json::Error),
    /// No server table anywhere.
    #[error("the config has no server table: {}", crate::config::NO_SERVER_TABLE)]
    NoServers,
}

/// What a rewrite did, server by server.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Servers rewritten (wrapped, or unwrapped with `--unwrap`).
    pub changed: Vec<String>,
    /// Servers kept as they were, with why.
    pub kept: Vec<(String, &'static str)>,
}

/// The first argument of a wrapped entry.
const PROXY_ARG: &str = "proxy";

/// Wraps every stdio server of `config` in the proxy started by `proxy_command`.
pub fn wrap_config(config: &mut Value, proxy_command: &str) -> Result<Summary, WrapError> {
    let mut summary = Summary::default();
    for table in server_tables(config)? {
        for (name, entry) in table.iter_mut() {
            match wrap_entry(name, entry, proxy_command) {
                Ok(()) => summary.changed.push(name.clone()),
                Err(why) => summary.kept.push((name.clone(), why)),
            }
        }
    }
    Ok(summary)
}

/// Puts every wrapped server of `config` back as it was before [`wrap_config`].
pub fn unwrap_config(config: &mut Value) -> Result<Summary, WrapError> {
    let mut summary = Summary::default();
    for table in server_tables(config)? {
        for (name, entry) in table.iter_mut() {
            match unwrap_entry(entry) {
                Ok(()) => summary.changed.push(name.clone()),
                Err(why) => summary.kept.push((name.clone(), why)),
            }
        }
    }
    Ok(summary)
}

/// Rewrites the config text; see the module doc.
pub fn rewrite(
    text: &str,
    unwrap: bool,
    proxy_command: &str,
) -> Result<(String, Summary), WrapError> {
    let mut config: Value = serde_json::from_str(text).map_err(WrapError::Json)?;
    let summary = if unwrap {
        unwrap_config(&mut config)?
    } else {
        wrap_config(&mut config, proxy_command)?
    };
    let mut out = serde_json::to_string_pretty(&config).map_err(WrapError::Json)?;
    out.push('\n');
    Ok((out, summary))
}

/// `mcp-host wrap-config`: prints the rewritten config on stdout, a summary on stderr.
pub fn run(args: WrapConfigArgs) -> anyhow::Result<ExitCode> {
    let text = if args.file == Path::new("-") {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading the config from stdin")?;
        text
    } else {
        std::fs::read_to_string(&args.file)
            .with_context(|| format!("cannot read config {}", args.file.display()))?
    };
    let proxy_command = match args.proxy_command {
        Some(command) => command,
        None => std::env::current_exe()
            .and_then(|exe| exe.canonicalize())
            .context("finding this executable's path (or pass --proxy-command)")?
            .display()
            .to_string(),
    };
    let (out, summary) = rewrite(&text, args.unwrap, &proxy_command)
        .with_context(|| format!("config {}", args.file.display()))?;
    print!("{out}");
    let verb = if args.unwrap { "unwrapped" } else { "wrapped" };
    eprintln!(
        "mcp-host wrap-config: {verb} {} server(s){}{}",
        summary.changed.len(),
        if summary.changed.is_empty() {
            String::new()
        } else {
            format!(": {}", summary.changed.join(", "))
        },
        summary
            .kept
            .iter()
            .map(|(name, why)| format!("; kept \"{name}\" ({why})"))
            .collect::<String>()
    );
    Ok(ExitCode::SUCCESS)
}

/// Every server table in the config (rule 1): the host's one reader of client configs.
fn server_tables(config: &mut Value) -> Result<Vec<&mut Map<String, Value>>, WrapError> {
    let tables = crate::config::server_tables(config);
    if tables.is_empty() {
        return Err(WrapError::NoServers);
    }
    Ok(tables)
}

/// Where the wrapped server's command starts in a wrapped entry's args, `None` when the
/// entry is not wrapped: its command is an `mcp-host` executable, and its args start with
/// `proxy`, then `--name NAME` and/or `--`.
fn wrapped_command_index(entry: &Map<String, Value>) -> Option<usize> {
    let command = entry.get("command")?.as_str()?;
    let program = Path::new(command).file_name()?.to_string_lossy();
    if !program.starts_with("mcp-host") {
        return None;
    }
    let args: Vec<Option<&str>> = entry
        .get("args")?
        .as_array()?
        .iter()
        .map(Value::as_str)
        .collect();
    if args.first() != Some(&Some(PROXY_ARG)) {
        return None;
    }
    let mut index = 1;
    if args.get(index) == Some(&Some("--name")) {
        index += 2;
    }
    if args.get(index) == Some(&Some("--")) {
        index += 1;
    }
    (index > 1 && index < args.len()).then_some(index)
}

/// Whether an entry already runs through the proxy.
fn is_wrapped(entry: &Map<String, Value>) -> bool {
    wrapped_command_index(entry).is_some()
}

/// Rule 2 for one entry; `Err` says why it is kept as it is.
fn wrap_entry(name: &str, entry: &mut Value, proxy_command: &str) -> Result<(), &'static str> {
    let Value::Object(fields) = entry else {
        return Err("not an object");
    };
    match crate::config::transport(fields) {
        Ok(crate::config::Transport::Stdio) => {}
        Ok(_) => return Err("not a stdio server"),
        Err(_) => return Err("its type is not a string"),
    }
    let Some(command) = fields.get("command").and_then(Value::as_str) else {
        return Err("no command: not a stdio server");
    };
    if is_wrapped(fields) {
        return Err("already wrapped");
    }
    let mut args = vec![
        Value::from(PROXY_ARG),
        Value::from("--name"),
        Value::from(trace_proxy::proxy_service_name(name)),
        Value::from(command),
    ];
    match fields.get("args") {
        Some(Value::Array(old)) => args.extend(old.iter().cloned()),
        None | Some(Value::Null) => {}
        Some(_) => return Err("its args are not an array"),
    }
    *fields = with_command(
        fields,
        Value::from(proxy_command),
        Value::Array(args),
        false,
    );
    Ok(())
}

/// Rule 4 for one entry; `Err` says why it is kept as it is.
fn unwrap_entry(entry: &mut Value) -> Result<(), &'static str> {
    let Value::Object(fields) = entry else {
        return Err("not an object");
    };
    let Some(start) = wrapped_command_index(fields) else {
        return Err("not wrapped");
    };
    let args = fields
        .get("args")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut original = args.into_iter().skip(start);
    let Some(command) = original.next() else {
        return Err("no command");
    };
    let rest: Vec<Value> = original.collect();
    *fields = with_command(fields, command, Value::Array(rest), true);
    Ok(())
}

/// `fields` with `command` and `args` replaced in place; `args` goes right after
/// `command` when it was absent, and is dropped when empty and `drop_empty_args`.
fn with_command(
    fields: &Map<String, Value>,
    command: Value,
    args: Value,
    drop_empty_args: bool,
) -> Map<String, Value> {
    let keep_args = !(drop_empty_args && args.as_array().is_some_and(Vec::is_empty));
    let had_args = fields.contains_key("args");
    let mut out = Map::new();
    let mut args = Some(args);
    for (key, value) in fields {
        match key.as_str() {
            "command" => {
                out.insert(key.clone(), command.clone());
                if !had_args && keep_args {
                    out.insert("args".into(), args.take().unwrap_or_default());
                }
            }
            "args" => {
                if keep_args {
                    out.insert(key.clone(), args.take().unwrap_or_default());
                }
            }
            _ => {
                out.insert(key.clone(), value.clone());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROXY: &str = "/opt/bin/mcp-host";

    fn round_trip(original: &str) -> (Value, Value) {
        let (wrapped, _) = rewrite(original, false, PROXY).unwrap();
        let (unwrapped, _) = rewrite(&wrapped, true, PROXY).unwrap();
        (
            serde_json::from_str(&wrapped).unwrap(),
            serde_json::from_str(&unwrapped).unwrap(),
        )
    }

    #[test]
    fn claude_desktop_round_trips_and_keeps_other_keys() {
        let original = r#"{"globalShortcut": "Ctrl+Space", "mcpServers": {
            "fs": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-filesystem", "/tmp"], "env": {"K": "v"}},
            "remote": {"url": "https://example.com/mcp"}}}"#;
        let (wrapped, back) = round_trip(original);
        assert_eq!(wrapped["mcpServers"]["fs"]["command"], PROXY);
        assert_eq!(
            wrapped["mcpServers"]["fs"]["args"],
            serde_json::json!([
                "proxy",
                "--name",
                "fs-proxy",
                "npx",
                "-y",
                "@modelcontextprotocol/server-filesystem",
                "/tmp"
            ])
        );
        assert_eq!(wrapped["mcpServers"]["fs"]["env"]["K"], "v");
        assert_eq!(
            wrapped["mcpServers"]["remote"],
            serde_json::json!({"url": "https://example.com/mcp"})
        );
        assert_eq!(back, serde_json::from_str::<Value>(original).unwrap());
    }

    #[test]
    fn unwraps_hand_written_entries_and_leaves_look_alikes() {
        let config = r#"{"mcpServers": {
            "a": {"command": "mcp-host", "args": ["proxy", "--", "srv", "x"]},
            "b": {"command": "other-tool", "args": ["proxy", "--name", "n", "srv"]}}}"#;
        let (out, summary) = rewrite(config, true, PROXY).unwrap();
        let out: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            out["mcpServers"]["a"],
            serde_json::json!({"command": "srv", "args": ["x"]})
        );
        assert_eq!(summary.changed, ["a"]);
        assert_eq!(out["mcpServers"]["b"]["command"], "other-tool");
    }

    #[test]
    fn wrapping_twice_changes_nothing() {
        let original = r#"{"mcpServers": {"a": {"command": "a-server"}}}"#;
        let (once, summary) = rewrite(original, false, PROXY).unwrap();
        assert_eq!(summary.changed, ["a"]);
        let (twice, summary) = rewrite(&once, false, PROXY).unwrap();
        assert_eq!(once, twice);
        assert_eq!(summary.kept, [("a".to_owned(), "already wrapped")]);
    }
}
