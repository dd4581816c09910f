//! The MCP tools: an rmcp [`ServerHandler`] over the [`sandbox`](crate::sandbox) policy.
//!
//! Every failure a client can cause (a refused path, a missing file, binary content, a file
//! over the read limit) is a tool result with `isError: true` whose text names the rule, not
//! a JSON-RPC error: the model sees why, and the session goes on.

use std::{
    fmt::Display,
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::SystemTime,
};

use globset::GlobBuilder;
use rmcp::{
    ServerHandler,
    handler::server::{router::tool::ToolRouter, wrapper::Parameters},
    model::{CallToolResult, ContentBlock, Implementation, ServerCapabilities, ServerConfig},
    schemars, tool, tool_handler, tool_router,
};
use serde::Deserialize;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::{
    sandbox::{AllowedRoots, FileKind, SandboxError},
    walk::{read_dir_sorted, search},
};

/// Most entries `list_directory` returns.
pub const MAX_LIST_ENTRIES: usize = 10_000;
/// Most paths one `read_multiple_files` call takes.
pub const MAX_MULTIPLE_FILES: usize = 64;
/// Names of the tools offered only with `--allow-write`.
pub const WRITE_TOOLS: [&str; 2] = ["write_file", "create_directory"];

/// Arguments of `read_file` and `read_text_file`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct ReadFileArgs {
    /// Path of the file: absolute inside an allowed directory, or relative to the first
    /// allowed directory.
    pub path: String,
    /// Return only the first N lines of the file.
    #[serde(default)]
    pub head: Option<usize>,
    /// Return only the last N lines of the file.
    #[serde(default)]
    pub tail: Option<usize>,
}

/// Arguments of `read_multiple_files`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct ReadMultipleFilesArgs {
    /// Paths of the files (at most 64), each absolute inside an allowed directory or
    /// relative to the first allowed directory. A path that fails does not fail the others.
    pub paths: Vec<String>,
}

/// Arguments of the tools that take one path.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct PathArgs {
    /// The path: absolute inside an allowed directory, or relative to the first allowed
    /// directory.
    pub path: String,
}

/// Arguments of `search_files`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct SearchFilesArgs {
    /// Directory to search in: absolute inside an allowed directory, or relative to the
    /// first allowed directory.
    pub path: String,
    /// Glob pattern. Without a `/` it is matched against each entry's file name (`*.csv`);
    /// with one, against the path relative to the searched directory (`reports/**/*.md`).
    pub pattern: String,
}

/// Arguments of `write_file`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct WriteFileArgs {
    /// Path of the file to create or replace: absolute inside an allowed directory, or
    /// relative to the first allowed directory. Its parent directory must exist.
    pub path: String,
    /// The complete new content of the file, as text.
    pub content: String,
}

/// Largest file the read tools return unless told otherwise, in bytes: 1 MiB.
pub const DEFAULT_MAX_READ_BYTES: u64 = 1024 * 1024;

/// Settings of a [`FileServer`] besides its roots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Offer `write_file` and `create_directory`.
    pub allow_write: bool,
    /// Largest file the read tools return, in bytes.
    pub max_read_bytes: u64,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            allow_write: false,
            max_read_bytes: DEFAULT_MAX_READ_BYTES,
        }
    }
}

/// The filesystem MCP server: its tools, the allowed roots and the options.
#[derive(Debug, Clone)]
pub struct FileServer {
    roots: Arc<AllowedRoots>,
    options: Options,
    tool_router: ToolRouter<Self>,
}

/// A tool result carrying an error message.
fn failure(message: impl Display) -> CallToolResult {
    let message = message.to_string();
    tracing::info!(%message, "tool call failed");
    CallToolResult::error(vec![ContentBlock::text(message)])
}

/// A successful tool result carrying text.
fn success(text: impl Into<String>) -> CallToolResult {
    CallToolResult::success(vec![ContentBlock::text(text.into())])
}

/// Records the path a tool works on as the `file.path` attribute of the request's span.
fn record_path(path: &Path) {
    tracing::Span::current().set_attribute(
        trace_meta::attributes::FILE_PATH,
        path.display().to_string(),
    );
}

impl FileServer {
    /// A server over `roots`; the write tools are routed only when `options.allow_write`.
    pub fn new(roots: AllowedRoots, options: Options) -> Self {
        let mut tool_router = Self::tool_router();
        if !options.allow_write {
            for name in WRITE_TOOLS {
                tool_router.remove_route(name);
            }
        }
        Self {
            roots: Arc::new(roots),
            options,
            tool_router,
        }
    }

    /// The allowed roots.
    pub fn roots(&self) -> &AllowedRoots {
        &self.roots
    }

    /// The options.
    pub fn options(&self) -> Options {
        self.options
    }

    /// Reads one file as text, `head` or `tail` lines of it when asked.
    fn read_one(&self, args: &ReadFileArgs) -> Result<(PathBuf, String), String> {
        if args.head.is_some() && args.tail.is_some() {
            return Err("refused: give head or tail, not both".to_owned());
        }
        let (path, text) = self
            .roots
            .read_text(&args.path, self.options.max_read_bytes)
            .map_err(|error| error.to_string())?;
        let text = match (args.head, args.tail) {
            (Some(count), _) => text.split_inclusive('\n').take(count).collect(),
            (_, Some(count)) => {
                let lines: Vec<&str> = text.split_inclusive('\n').collect();
                lines[lines.len().saturating_sub(count)..].concat()
            }
            _ => text,
        };
        Ok((path, text))
    }

    fn read_file_result(&self, args: ReadFileArgs) -> CallToolResult {
        match self.read_one(&args) {
            Ok((path, text)) => {
                record_path(&path);
                tracing::debug!(path = %path.display(), bytes = text.len(), "read file");
                success(text)
            }
            Err(message) => failure(message),
        }
    }
}

#[tool_router]
impl FileServer {
    /// Read a text file (UTF-8) inside the allowed directories. Optionally only its first
    /// `head` or last `tail` lines. Binary files, special files and files over the read
    /// limit are refused.
    #[tool(annotations(title = "Read file", read_only_hint = true, open_world_hint = false))]
    async fn read_file(&self, Parameters(args): Parameters<ReadFileArgs>) -> CallToolResult {
        self.read_file_result(args)
    }

    /// Read a text file (UTF-8) inside the allowed directories; the same as read_file.
    #[tool(annotations(
        title = "Read text file",
        read_only_hint = true,
        open_world_hint = false
    ))]
    async fn read_text_file(&self, Parameters(args): Parameters<ReadFileArgs>) -> CallToolResult {
        self.read_file_result(args)
    }

    /// Read several text files at once. Each file's content, or the reason it could not be
    /// read, is returned under its path; one failing path does not fail the others.
    #[tool(annotations(
        title = "Read multiple files",
        read_only_hint = true,
        open_world_hint = false
    ))]
    async fn read_multiple_files(
        &self,
        Parameters(args): Parameters<ReadMultipleFilesArgs>,
    ) -> CallToolResult {
        if args.paths.is_empty() {
            return failure("refused: paths is empty; give at least one path");
        }
        if args.paths.len() > MAX_MULTIPLE_FILES {
            return failure(format!(
                "refused: {} paths given, over the limit of {MAX_MULTIPLE_FILES} per call",
                args.paths.len()
            ));
        }
        let sections: Vec<String> = args
            .paths
            .iter()
            .map(|raw| {
                let one = ReadFileArgs {
                    path: raw.clone(),
                    head: None,
                    tail: None,
                };
                match self.read_one(&one) {
                    Ok((path, text)) => format!("{}:\n{text}", path.display()),
                    Err(message) => format!("{raw}: Error - {message}"),
                }
            })
            .collect();
        success(sections.join("\n---\n"))
    }

    /// List the entries of a directory inside the allowed directories, each marked [DIR],
    /// [FILE] (with its size in bytes), [SYMLINK] or its special kind. Symbolic links are
    /// reported, not followed.
    #[tool(annotations(
        title = "List directory",
        read_only_hint = true,
        open_world_hint = false
    ))]
    async fn list_directory(&self, Parameters(args): Parameters<PathArgs>) -> CallToolResult {
        let dir = match self.roots.resolve_dir(&args.path) {
            Ok(dir) => dir,
            Err(error) => return failure(error),
        };
        record_path(&dir);
        let entries = match read_dir_sorted(&dir) {
            Ok(entries) => entries,
            Err(error) => {
                return failure(SandboxError::Io { path: dir, error });
            }
        };
        let total = entries.len();
        let mut lines: Vec<String> = entries
            .into_iter()
            .take(MAX_LIST_ENTRIES)
            .map(|(name, kind, size)| match kind {
                FileKind::Directory => format!("[DIR] {name}"),
                FileKind::File => format!("[FILE] {name} ({size} bytes)"),
                FileKind::Symlink => format!("[SYMLINK] {name}"),
                other => format!("[{}] {name}", other.as_str().to_uppercase()),
            })
            .collect();
        if lines.is_empty() {
            lines.push(format!("{} is empty", dir.display()));
        }
        if total > MAX_LIST_ENTRIES {
            lines.push(format!(
                "(truncated: showing {MAX_LIST_ENTRIES} of {total} entries)"
            ));
        }
        success(lines.join("\n"))
    }

    /// Search a directory tree inside the allowed directories for entries matching a glob
    /// pattern. Returns matching paths, one per line. Symbolic links are not followed; the
    /// search goes at most 16 levels deep and returns at most 1000 matches, and says so
    /// when it stops early.
    #[tool(annotations(title = "Search files", read_only_hint = true, open_world_hint = false))]
    async fn search_files(&self, Parameters(args): Parameters<SearchFilesArgs>) -> CallToolResult {
        let dir = match self.roots.resolve_dir(&args.path) {
            Ok(dir) => dir,
            Err(error) => return failure(error),
        };
        record_path(&dir);
        let matcher = match GlobBuilder::new(&args.pattern)
            .literal_separator(true)
            .build()
        {
            Ok(glob) => glob.compile_matcher(),
            Err(error) => return failure(format!("refused: invalid glob pattern: {error}")),
        };
        let by_name = !args.pattern.contains('/');
        // The walk blocks, so it runs off the async workers; if the request is cancelled
        // (trace-meta's `Traced` drops this future), `stop` tells it to give up.
        let stop = StopOnDrop::default();
        let (walked, flag) = (dir.clone(), Arc::clone(&stop.0));
        let walk = tokio::task::spawn_blocking(move || search(&walked, &matcher, by_name, &flag));
        let found = match walk.await {
            Ok(found) => found,
            Err(error) => return failure(format!("the search failed: {error}")),
        };
        let mut lines: Vec<String> = found
            .matches
            .iter()
            .map(|path| path.display().to_string())
            .collect();
        if lines.is_empty() {
            lines.push(format!(
                "no matches for {:?} in {}",
                args.pattern,
                dir.display()
            ));
        }
        if let Some(reason) = found.truncated {
            lines.push(format!("(truncated: {reason})"));
        }
        success(lines.join("\n"))
    }

    /// Get metadata of a file or directory inside the allowed directories: kind, size in
    /// bytes, modification and access times (UTC, RFC 3339), whether it is read-only, and
    /// its permission bits. Returned as a JSON object.
    #[tool(annotations(
        title = "Get file info",
        read_only_hint = true,
        open_world_hint = false
    ))]
    async fn get_file_info(&self, Parameters(args): Parameters<PathArgs>) -> CallToolResult {
        let (path, metadata) = match self.roots.resolve_existing(&args.path) {
            Ok(found) => found,
            Err(error) => return failure(error),
        };
        record_path(&path);
        use std::os::unix::fs::PermissionsExt;
        let info = serde_json::json!({
            "path": path.display().to_string(),
            "kind": FileKind::of(metadata.file_type()).as_str(),
            "size": metadata.len(),
            "modified": metadata.modified().ok().map(rfc3339),
            "accessed": metadata.accessed().ok().map(rfc3339),
            "read_only": metadata.permissions().readonly(),
            "permissions": format!("{:o}", metadata.permissions().mode() & 0o7777),
        });
        success(serde_json::to_string_pretty(&info).unwrap_or_else(|_| info.to_string()))
    }

    /// List the directories this server may access. Relative paths resolve against the
    /// first one.
    #[tool(annotations(
        title = "List allowed directories",
        read_only_hint = true,
        open_world_hint = false
    ))]
    async fn list_allowed_directories(&self) -> CallToolResult {
        let mut text = String::from("Allowed directories:");
        for root in self.roots.roots() {
            text.push('\n');
            text.push_str(&root.display().to_string());
        }
        success(text)
    }

    /// Create a file or replace its content, atomically (a temporary file in the same
    /// directory, then a rename). The parent directory must exist. Only offered when the
    /// server runs with --allow-write.
    #[tool(annotations(
        title = "Write file",
        read_only_hint = false,
        destructive_hint = true,
        idempotent_hint = true,
        open_world_hint = false
    ))]
    async fn write_file(&self, Parameters(args): Parameters<WriteFileArgs>) -> CallToolResult {
        // Checked here too, not only by the router, so a server built some other way never
        // writes without the flag.
        if !self.options.allow_write {
            return failure("refused: write_file needs the server to run with --allow-write");
        }
        match self.roots.write_atomic(&args.path, args.content.as_bytes()) {
            Ok(path) => {
                record_path(&path);
                tracing::info!(path = %path.display(), bytes = args.content.len(), "wrote file");
                success(format!(
                    "wrote {} bytes to {}",
                    args.content.len(),
                    path.display()
                ))
            }
            Err(error) => failure(error),
        }
    }

    /// Create a directory, with any missing parents, inside the allowed directories. An
    /// existing directory is not an error. Only offered when the server runs with
    /// --allow-write.
    #[tool(annotations(
        title = "Create directory",
        read_only_hint = false,
        destructive_hint = false,
        idempotent_hint = true,
        open_world_hint = false
    ))]
    async fn create_directory(&self, Parameters(args): Parameters<PathArgs>) -> CallToolResult {
        if !self.options.allow_write {
            return failure("refused: create_directory needs the server to run with --allow-write");
        }
        match self.roots.create_dir(&args.path) {
            Ok(path) => {
                record_path(&path);
                tracing::info!(path = %path.display(), "created directory");
                success(format!("created directory {}", path.display()))
            }
            Err(error) => failure(error),
        }
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for FileServer {
    /// Routes a call to its tool; a write tool on a read-only server is refused with a
    /// message that names the flag, rather than as an unknown tool.
    async fn call_tool(
        &self,
        request: rmcp::model::CallToolRequestParams,
        context: rmcp::service::RequestContext<rmcp::RoleServer>,
    ) -> Result<rmcp::model::CallToolResponse, rmcp::ErrorData> {
        if !self.options.allow_write && WRITE_TOOLS.contains(&request.name.as_ref()) {
            return Err(rmcp::ErrorData::invalid_params(
                format!(
                    "{} is not available: file-server is read-only; start it with --allow-write to change files",
                    request.name
                ),
                None,
            ));
        }
        let call = rmcp::handler::server::tool::ToolCallContext::new(self, request, context);
        self.tool_router.call(call).await
    }

    fn get_info(&self) -> ServerConfig {
        let roots: Vec<String> = self
            .roots
            .roots()
            .iter()
            .map(|root| root.display().to_string())
            .collect();
        let mode = if self.options.allow_write {
            "read and write"
        } else {
            "read-only"
        };
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new(
                "file-server",
                env!("CARGO_PKG_VERSION"),
            ))
            .with_instructions(format!(
                "Filesystem access ({mode}) inside these directories: {}. Relative paths \
                 resolve against the first one. Paths outside them are refused.",
                roots.join(", ")
            ))
    }
}

/// A time as RFC 3339 in UTC, to the second (`2024-03-01T12:00:00Z`).
pub fn rfc3339(time: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(time).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    #[test]
    fn rfc3339_formats_known_instants() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(1_709_294_400)),
            "2024-03-01T12:00:00Z"
        );
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29T00:00:00Z"
        );
        assert_eq!(
            rfc3339(UNIX_EPOCH - Duration::from_secs(86_400)),
            "1969-12-31T00:00:00Z"
        );
    }

    #[test]
    fn write_tools_are_routed_only_with_allow_write() {
        let dir = tempfile::tempdir().unwrap();
        let roots = AllowedRoots::new([dir.path()]).unwrap();
        let read_only = FileServer::new(roots.clone(), Options::default());
        assert!(read_only.get_tool("write_file").is_none());
        assert!(read_only.get_tool("create_directory").is_none());
        assert!(read_only.get_tool("read_file").is_some());
        let writable = FileServer::new(
            roots,
            Options {
                allow_write: true,
                ..Options::default()
            },
        );
        assert!(writable.get_tool("write_file").is_some());
        assert!(writable.get_tool("create_directory").is_some());
    }

    #[test]
    fn every_tool_has_a_description_and_annotations() {
        let dir = tempfile::tempdir().unwrap();
        let server = FileServer::new(
            AllowedRoots::new([dir.path()]).unwrap(),
            Options {
                allow_write: true,
                ..Options::default()
            },
        );
        for tool in server.tool_router.list_all() {
            assert!(
                tool.description.is_some(),
                "{} has no description",
                tool.name
            );
            let annotations = tool.annotations.expect("annotations");
            assert!(annotations.read_only_hint.is_some(), "{}", tool.name);
        }
    }
}

/// Sets its flag when dropped: tells a blocking walk that nobody waits for it any more.
#[derive(Default)]
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}
