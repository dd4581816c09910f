//! `mcp-host wrap-config FILE`: the same MCP client config with every stdio server run
//! through `mcp-host proxy` (or, with `--standalone`, the `trace-proxy` binary), so that
//! adopting the proxy is one command.
//!
//! The rules, in order:
//! 1. The server tables are found where each client keeps them: `mcpServers` (Claude
//!    Desktop, Cursor, Claude Code), `projects.*.mcpServers` (Claude Code's
//!    `~/.claude.json`), `servers` (VS Code's `mcp.json`) and `mcp.servers` (VS Code's
//!    `settings.json`).
//! 2. A stdio entry (a `command`, and no `type` or `type: "stdio"`) becomes
//!    `command: PROXY`, `args: ["proxy", "--name", "NAME-proxy", COMMAND, ARGS…]` (with
//!    `--standalone`: `command: TRACE-PROXY`, `args: ["--name", "NAME-proxy", COMMAND,
//!    ARGS…]`): its name in the table, marked as the proxy's, is the proxy's service name
//!    (the server may export under that name itself, and the tree must tell the two
//!    apart). No `--`
//!    before the command: tools that append their own options to a config's args, like the
//!    MCP Inspector's CLI, split at the first `--`. Every other field (`env`, `cwd`,
//!    `type`, `disabled`, vendor fields) stays where it was.
//! 3. Entries of other transports (`url`, `http`, `sse`), entries already wrapped, and
//!    every other key of the file are kept as they are.
//! 4. `--unwrap` undoes 2 for every wrapped entry, either form; `wrap-config` then
//!    `--unwrap` gives the original back (an `args: []` comes back as no `args`, which
//!    clients read the same).
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
    /// The command that starts the proxy [default: this executable's absolute path; with
    /// --standalone, the trace-proxy beside it].
    #[arg(long, value_name = "PATH")]
    pub proxy_command: Option<String>,
    /// Run the servers through the standalone proxy, `trace-proxy` (the trace-proxy crate:
    /// `cargo install --path trace-proxy`), instead of `mcp-host proxy`.
    #[arg(long, conflicts_with = "unwrap")]
    pub standalone: bool,
}

/// The proxy a wrapped entry runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProxyCommand {
    /// The program: an `mcp-host` or a `trace-proxy` executable.
    pub program: String,
    /// `trace-proxy` itself, which takes no `proxy` subcommand.
    pub standalone: bool,
}

impl ProxyCommand {
    /// The arguments before `--name`.
    fn leading_args(&self) -> &'static [&'static str] {
        if self.standalone { &[] } else { &[PROXY_ARG] }
    }
}

/// A config that cannot be rewritten.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WrapError {
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
pub(crate) struct Summary {
    /// Servers rewritten (wrapped, or unwrapped with `--unwrap`).
    pub changed: Vec<String>,
    /// Servers kept as they were, with why.
    pub kept: Vec<(String, &'static str)>,
}

/// The first argument of an entry wrapped in `mcp-host proxy`.
const PROXY_ARG: &str = "proxy";

/// The standalone proxy's executable name.
const TRACE_PROXY: &str = "trace-proxy";

/// Wraps every stdio server of `config` in `proxy`.
pub(crate) fn wrap_config(config: &mut Value, proxy: &ProxyCommand) -> Result<Summary, WrapError> {
    let mut summary = Summary::default();
    for table in server_tables(config)? {
        for (name, entry) in table.iter_mut() {
            match wrap_entry(name, entry, proxy) {
                Ok(()) => summary.changed.push(name.clone()),
                Err(why) => summary.kept.push((name.clone(), why)),
            }
        }
    }
    Ok(summary)
}

/// Puts every wrapped server of `config` back as it was before [`wrap_config`].
pub(crate) fn unwrap_config(config: &mut Value) -> Result<Summary, WrapError> {
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
pub(crate) fn rewrite(
    text: &str,
    unwrap: bool,
    proxy: &ProxyCommand,
) -> Result<(String, Summary), WrapError> {
    let mut config: Value = serde_json::from_str(text).map_err(WrapError::Json)?;
    let summary = if unwrap {
        unwrap_config(&mut config)?
    } else {
        wrap_config(&mut config, proxy)?
    };
    let mut out = serde_json::to_string_pretty(&config).map_err(WrapError::Json)?;
    out.push('\n');
    Ok((out, summary))
}

/// `mcp-host wrap-config`: prints the rewritten config on stdout, a summary on stderr.
pub(crate) fn run(args: WrapConfigArgs) -> anyhow::Result<ExitCode> {
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
    let program = match args.proxy_command {
        Some(command) => command,
        None => default_proxy_command(args.standalone)?,
    };
    let proxy = ProxyCommand {
        program,
        standalone: args.standalone,
    };
    let (out, summary) = rewrite(&text, args.unwrap, &proxy)
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

/// This executable's absolute path, or with `standalone` the `trace-proxy` beside it.
fn default_proxy_command(standalone: bool) -> anyhow::Result<String> {
    let exe = std::env::current_exe()
        .and_then(|exe| exe.canonicalize())
        .context("finding this executable's path (or pass --proxy-command)")?;
    if !standalone {
        return Ok(exe.display().to_string());
    }
    let beside = exe.with_file_name(TRACE_PROXY);
    if !beside.is_file() {
        anyhow::bail!(
            "no {TRACE_PROXY} beside this executable ({}): build it with \
             `cargo build --release -p trace-proxy`, or pass --proxy-command PATH",
            beside.display()
        );
    }
    Ok(beside.display().to_string())
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
/// entry is not wrapped: its command is an `mcp-host` executable and its args start with
/// `proxy`, or its command is a `trace-proxy` executable; then come `--name NAME` and/or
/// `--`, and the server's command.
fn wrapped_command_index(entry: &Map<String, Value>) -> Option<usize> {
    let command = entry.get("command")?.as_str()?;
    let program = Path::new(command).file_name()?.to_string_lossy();
    let args: Vec<Option<&str>> = entry
        .get("args")?
        .as_array()?
        .iter()
        .map(Value::as_str)
        .collect();
    let mut index = if program.starts_with(TRACE_PROXY) {
        0
    } else if program.starts_with("mcp-host") && args.first() == Some(&Some(PROXY_ARG)) {
        1
    } else {
        return None;
    };
    if args.get(index) == Some(&Some("--name")) {
        index += 2;
    }
    if args.get(index) == Some(&Some("--")) {
        index += 1;
    }
    (index < args.len()).then_some(index)
}

/// Whether an entry already runs through the proxy.
fn is_wrapped(entry: &Map<String, Value>) -> bool {
    wrapped_command_index(entry).is_some()
}

/// Rule 2 for one entry; `Err` says why it is kept as it is.
fn wrap_entry(name: &str, entry: &mut Value, proxy: &ProxyCommand) -> Result<(), &'static str> {
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
    let mut args: Vec<Value> = proxy
        .leading_args()
        .iter()
        .map(|a| Value::from(*a))
        .collect();
    args.extend([
        Value::from("--name"),
        Value::from(trace_proxy::proxy_service_name(name)),
        Value::from(command),
    ]);
    match fields.get("args") {
        Some(Value::Array(old)) => args.extend(old.iter().cloned()),
        None | Some(Value::Null) => {}
        Some(_) => return Err("its args are not an array"),
    }
    *fields = with_command(
        fields,
        Value::from(proxy.program.as_str()),
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

    fn host_proxy() -> ProxyCommand {
        ProxyCommand {
            program: PROXY.to_owned(),
            standalone: false,
        }
    }

    fn round_trip(original: &str) -> (Value, Value) {
        let (wrapped, _) = rewrite(original, false, &host_proxy()).unwrap();
        let (unwrapped, _) = rewrite(&wrapped, true, &host_proxy()).unwrap();
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
        let (out, summary) = rewrite(config, true, &host_proxy()).unwrap();
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
        let (once, summary) = rewrite(original, false, &host_proxy()).unwrap();
        assert_eq!(summary.changed, ["a"]);
        let (twice, summary) = rewrite(&once, false, &host_proxy()).unwrap();
        assert_eq!(once, twice);
        assert_eq!(summary.kept, [("a".to_owned(), "already wrapped")]);
    }

    #[test]
    fn the_standalone_proxy_takes_no_subcommand_and_unwraps_too() {
        let original =
            r#"{"mcpServers": {"fs": {"command": "npx", "args": ["-y", "srv", "/tmp"]}}}"#;
        let standalone = ProxyCommand {
            program: "/opt/bin/trace-proxy".to_owned(),
            standalone: true,
        };
        let (wrapped, summary) = rewrite(original, false, &standalone).unwrap();
        assert_eq!(summary.changed, ["fs"]);
        let value: Value = serde_json::from_str(&wrapped).unwrap();
        assert_eq!(
            value["mcpServers"]["fs"],
            serde_json::json!({"command": "/opt/bin/trace-proxy",
                "args": ["--name", "fs-proxy", "npx", "-y", "srv", "/tmp"]})
        );
        let (again, summary) = rewrite(&wrapped, false, &host_proxy()).unwrap();
        assert_eq!(again, wrapped, "already wrapped, in either proxy");
        assert_eq!(summary.kept, [("fs".to_owned(), "already wrapped")]);
        let (back, _) = rewrite(&wrapped, true, &host_proxy()).unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(&back).unwrap(),
            serde_json::from_str::<Value>(original).unwrap()
        );
    }
}
