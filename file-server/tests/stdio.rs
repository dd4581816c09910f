//! Every tool and every refusal through the real binary, driven by rmcp's client over stdio.

use std::{
    collections::BTreeSet,
    ffi::CString,
    fs,
    os::unix::{ffi::OsStrExt, fs::symlink},
    path::{Path, PathBuf},
    process::Stdio,
};

use rmcp::{
    RoleClient, ServiceError, ServiceExt,
    model::{CallToolRequestParams, CallToolResult},
    service::RunningService,
    transport::TokioChildProcess,
};
use serde_json::{Value, json};
use test_support::{data::SAMPLE_DATA, env::clean_env};
use trace_meta::tool_result_text as text;

const BINARY: &str = env!("CARGO_BIN_EXE_file-server");
const SALES_HEADER: &str = "year,month,quarter,region,product,units,revenue";

const READ_TOOLS: [&str; 7] = [
    "get_file_info",
    "list_allowed_directories",
    "list_directory",
    "read_file",
    "read_multiple_files",
    "read_text_file",
    "search_files",
];

type Client = RunningService<RoleClient, ()>;

async fn spawn(args: &[&str]) -> Client {
    let mut command = tokio::process::Command::new(BINARY);
    command.args(args);
    clean_env(command.as_std_mut());
    let (transport, _) = TokioChildProcess::builder(command)
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn file-server");
    ().serve(transport).await.expect("MCP handshake")
}

async fn call(
    client: &Client,
    tool: &str,
    arguments: Value,
) -> Result<CallToolResult, ServiceError> {
    let Value::Object(arguments) = arguments else {
        panic!("arguments must be an object");
    };
    client
        .call_tool(CallToolRequestParams::new(tool.to_owned()).with_arguments(arguments))
        .await
}

/// Calls a tool that must succeed and returns its text.
async fn ok(client: &Client, tool: &str, arguments: Value) -> String {
    let result = call(client, tool, arguments.clone())
        .await
        .expect("tool call");
    assert_ne!(
        result.is_error,
        Some(true),
        "{tool} {arguments} failed: {}",
        text(&result)
    );
    text(&result)
}

/// Calls a tool that must fail as a tool result (`isError: true`) and returns its message.
async fn refused(client: &Client, tool: &str, arguments: Value) -> String {
    let result = call(client, tool, arguments.clone())
        .await
        .expect("tool call");
    assert_eq!(
        result.is_error,
        Some(true),
        "{tool} {arguments} should fail: {}",
        text(&result)
    );
    text(&result)
}

async fn tool_names(client: &Client) -> BTreeSet<String> {
    client
        .list_all_tools()
        .await
        .unwrap()
        .into_iter()
        .map(|tool| tool.name.to_string())
        .collect()
}

/// A tree with something of every kind, in a canonical temporary directory.
struct Tree {
    _dir: tempfile::TempDir,
    base: PathBuf,
    root: PathBuf,
}

impl Tree {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let base = fs::canonicalize(dir.path()).unwrap();
        let root = base.join("root");
        fs::create_dir_all(root.join("sub/deeper")).unwrap();
        fs::create_dir_all(base.join("outside")).unwrap();
        fs::create_dir_all(base.join("root2")).unwrap();
        fs::write(root.join("a.txt"), "line 1\nline 2\nline 3\n").unwrap();
        fs::write(root.join("sub/b.txt"), "bee\n").unwrap();
        fs::write(root.join("sub/deeper/c.md"), "# c\n").unwrap();
        fs::write(root.join("binary.bin"), [0xff, 0x00, 0xfe]).unwrap();
        fs::write(base.join("outside/secret.txt"), "secret\n").unwrap();
        fs::write(base.join("root2/x.txt"), "sibling\n").unwrap();
        symlink("/etc/passwd", root.join("passwd")).unwrap();
        symlink(base.join("outside"), root.join("escape")).unwrap();
        let fifo = CString::new(root.join("fifo").as_os_str().as_bytes()).unwrap();
        // SAFETY: `fifo` is a valid NUL-terminated path that outlives the call.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        Self {
            _dir: dir,
            base,
            root,
        }
    }

    fn root_str(&self) -> &str {
        self.root.to_str().unwrap()
    }

    fn path(&self, relative: &str) -> String {
        self.root.join(relative).display().to_string()
    }
}

#[tokio::test]
async fn read_only_server_lists_exactly_the_read_tools_with_schemas_and_annotations() {
    let tree = Tree::new();
    let client = spawn(&[tree.root_str()]).await;
    let tools = client.list_all_tools().await.unwrap();
    let names: BTreeSet<&str> = tools.iter().map(|tool| tool.name.as_ref()).collect();
    assert_eq!(names, READ_TOOLS.into_iter().collect());
    for tool in &tools {
        assert!(
            tool.description.is_some(),
            "{} has no description",
            tool.name
        );
        let annotations = tool.annotations.as_ref().expect("annotations");
        assert_eq!(annotations.read_only_hint, Some(true), "{}", tool.name);
        let properties = tool
            .input_schema
            .get("properties")
            .and_then(Value::as_object);
        for (field, schema) in properties.into_iter().flatten() {
            assert!(
                schema.get("description").is_some(),
                "{}.{field} has no description",
                tool.name
            );
        }
    }
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn write_tools_are_absent_and_fail_without_allow_write() {
    let tree = Tree::new();
    let client = spawn(&["--root", tree.root_str()]).await;
    let names = tool_names(&client).await;
    assert!(!names.contains("write_file") && !names.contains("create_directory"));
    let write = call(
        &client,
        "write_file",
        json!({"path": "new.txt", "content": "x"}),
    )
    .await;
    let failed = match write {
        Err(_) => true,
        Ok(result) => result.is_error == Some(true),
    };
    assert!(failed, "write_file must fail without --allow-write");
    let create = call(&client, "create_directory", json!({"path": "newdir"})).await;
    assert!(create.is_err() || create.unwrap().is_error == Some(true));
    assert!(!tree.root.join("new.txt").exists());
    assert!(!tree.root.join("newdir").exists());
    // The session survives the failed calls.
    ok(&client, "list_allowed_directories", json!({})).await;
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn read_file_returns_the_sample_sales_data() {
    let data = fs::canonicalize(SAMPLE_DATA).unwrap();
    let client = spawn(&["--root", SAMPLE_DATA]).await;
    let absolute = data.join("sales.csv").display().to_string();
    let whole = ok(&client, "read_file", json!({"path": absolute})).await;
    assert_eq!(whole.lines().next(), Some(SALES_HEADER));
    assert!(whole.lines().count() > 10);
    let relative = ok(&client, "read_file", json!({"path": "sales.csv"})).await;
    assert_eq!(relative, whole);
    let alias = ok(&client, "read_text_file", json!({"path": "sales.csv"})).await;
    assert_eq!(alias, whole);
    let head = ok(
        &client,
        "read_file",
        json!({"path": "sales.csv", "head": 1}),
    )
    .await;
    assert_eq!(head.trim_end(), SALES_HEADER);
    let tail = ok(
        &client,
        "read_file",
        json!({"path": "sales.csv", "tail": 2}),
    )
    .await;
    assert_eq!(tail.lines().count(), 2);
    assert!(whole.ends_with(&tail));
    refused(
        &client,
        "read_file",
        json!({"path": "sales.csv", "head": 1, "tail": 1}),
    )
    .await;
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn read_multiple_files_reports_each_file_on_its_own() {
    let tree = Tree::new();
    let client = spawn(&[tree.root_str()]).await;
    let out = ok(
        &client,
        "read_multiple_files",
        json!({"paths": ["a.txt", "../outside/secret.txt", "missing.txt", "sub/b.txt"]}),
    )
    .await;
    assert!(
        out.contains(&format!("{}:\nline 1\n", tree.path("a.txt"))),
        "{out}"
    );
    assert!(
        out.contains("../outside/secret.txt: Error - refused:"),
        "{out}"
    );
    assert!(out.contains("missing.txt: Error - not found:"), "{out}");
    assert!(out.contains("bee"), "{out}");
    assert!(!out.contains("secret\n"), "{out}");
    refused(&client, "read_multiple_files", json!({"paths": []})).await;
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn list_directory_shows_kinds_and_sizes() {
    let tree = Tree::new();
    let client = spawn(&[tree.root_str()]).await;
    let out = ok(&client, "list_directory", json!({"path": "."})).await;
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines.contains(&"[FILE] a.txt (21 bytes)"), "{out}");
    assert!(lines.contains(&"[DIR] sub"), "{out}");
    assert!(lines.contains(&"[SYMLINK] escape"), "{out}");
    assert!(lines.contains(&"[FIFO (NAMED PIPE)] fifo"), "{out}");
    let sub = ok(&client, "list_directory", json!({"path": tree.path("sub")})).await;
    assert_eq!(sub, "[FILE] b.txt (4 bytes)\n[DIR] deeper");
    let message = refused(&client, "list_directory", json!({"path": "a.txt"})).await;
    assert!(message.contains("is not a directory"), "{message}");
    let message = refused(&client, "list_directory", json!({"path": "escape"})).await;
    assert!(message.contains("refused:"), "{message}");
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn search_files_matches_names_and_relative_paths() {
    let tree = Tree::new();
    let client = spawn(&[tree.root_str()]).await;
    let out = ok(
        &client,
        "search_files",
        json!({"path": ".", "pattern": "*.txt"}),
    )
    .await;
    let found: BTreeSet<&str> = out.lines().collect();
    let expected: BTreeSet<String> = [tree.path("a.txt"), tree.path("sub/b.txt")].into();
    assert_eq!(found, expected.iter().map(String::as_str).collect());
    let out = ok(
        &client,
        "search_files",
        json!({"path": ".", "pattern": "sub/**/*.md"}),
    )
    .await;
    assert_eq!(out, tree.path("sub/deeper/c.md"));
    let out = ok(
        &client,
        "search_files",
        json!({"path": ".", "pattern": "*.xyz"}),
    )
    .await;
    assert!(out.starts_with("no matches"), "{out}");
    // The link to a directory outside is not followed.
    let out = ok(
        &client,
        "search_files",
        json!({"path": ".", "pattern": "secret*"}),
    )
    .await;
    assert!(out.starts_with("no matches"), "{out}");
    let message = refused(
        &client,
        "search_files",
        json!({"path": ".", "pattern": "a[.txt"}),
    )
    .await;
    assert!(message.contains("invalid glob"), "{message}");
    refused(
        &client,
        "search_files",
        json!({"path": "/etc", "pattern": "*"}),
    )
    .await;
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn search_files_says_when_it_stops_early() {
    let tree = Tree::new();
    let many = tree.root.join("many");
    fs::create_dir(&many).unwrap();
    for index in 0..1005 {
        fs::write(many.join(format!("f{index}.log")), "").unwrap();
    }
    let mut deep = tree.root.join("deep");
    for level in 0..20 {
        deep = deep.join(format!("d{level}"));
    }
    fs::create_dir_all(&deep).unwrap();
    fs::write(deep.join("bottom.deep"), "").unwrap();
    let client = spawn(&[tree.root_str()]).await;
    let out = ok(
        &client,
        "search_files",
        json!({"path": "many", "pattern": "*.log"}),
    )
    .await;
    assert_eq!(out.lines().count(), 1001, "1000 matches and the note");
    assert!(
        out.ends_with("(truncated: more than 1000 matches)"),
        "{out}"
    );
    let out = ok(
        &client,
        "search_files",
        json!({"path": "deep", "pattern": "*.deep"}),
    )
    .await;
    assert!(out.contains("deeper than 16 levels"), "{out}");
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn get_file_info_describes_files_and_directories() {
    let tree = Tree::new();
    let client = spawn(&[tree.root_str()]).await;
    let out = ok(&client, "get_file_info", json!({"path": "a.txt"})).await;
    let info: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(info["kind"], "file");
    assert_eq!(info["size"], 21);
    assert_eq!(info["read_only"], false);
    assert_eq!(info["path"], tree.path("a.txt"));
    assert!(info["modified"].as_str().unwrap().ends_with('Z'));
    let out = ok(&client, "get_file_info", json!({"path": "sub"})).await;
    let info: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(info["kind"], "directory");
    // Metadata of a FIFO is harmless: it is described, never opened.
    let out = ok(&client, "get_file_info", json!({"path": "fifo"})).await;
    assert!(out.contains("FIFO"), "{out}");
    refused(&client, "get_file_info", json!({"path": "passwd"})).await;
    refused(&client, "get_file_info", json!({"path": "nope"})).await;
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn list_allowed_directories_names_every_root_in_order() {
    let tree = Tree::new();
    let second = tree.base.join("root2");
    let client = spawn(&["--root", tree.root_str(), second.to_str().unwrap()]).await;
    let out = ok(&client, "list_allowed_directories", json!({})).await;
    assert_eq!(
        out,
        format!(
            "Allowed directories:\n{}\n{}",
            tree.root.display(),
            second.display()
        )
    );
    // Both roots are usable; relative paths go to the first.
    ok(
        &client,
        "read_file",
        json!({"path": second.join("x.txt").to_str().unwrap()}),
    )
    .await;
    refused(&client, "read_file", json!({"path": "x.txt"})).await;
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn every_refusal_is_a_tool_error_naming_the_rule() {
    let tree = Tree::new();
    let client = spawn(&["--max-read-bytes", "10", tree.root_str()]).await;
    let outside = tree.base.join("outside/secret.txt").display().to_string();
    let sibling = tree.base.join("root2/x.txt").display().to_string();
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"path": "/etc/passwd"}),
            "is outside the allowed directories",
        ),
        (
            json!({"path": outside}),
            "is outside the allowed directories",
        ),
        (
            json!({"path": "../outside/secret.txt"}),
            "is outside the allowed directories",
        ),
        (
            json!({"path": sibling}),
            "is outside the allowed directories",
        ),
        (json!({"path": "passwd"}), "symbolic link"),
        (json!({"path": "escape/secret.txt"}), "symbolic link"),
        (json!({"path": "a.txt\u{0}"}), "NUL byte"),
        (json!({"path": "a.txt "}), "whitespace"),
        (json!({"path": "x".repeat(10_000)}), "over the limit"),
        (json!({"path": "fifo"}), "FIFO"),
        (json!({"path": "binary.bin"}), "is binary"),
        (json!({"path": "a.txt"}), "over the read limit of 10 bytes"),
        (json!({"path": "missing.txt"}), "not found"),
        (json!({"path": "sub"}), "is a directory"),
        (
            json!({"path": "/proc/self/environ"}),
            "is outside the allowed directories",
        ),
    ];
    for (arguments, rule) in cases {
        let message = refused(&client, "read_file", arguments.clone()).await;
        assert!(
            message.contains(rule),
            "{arguments}: {message:?} lacks {rule:?}"
        );
    }
    let message = refused(&client, "read_file", json!({"path": "/etc/passwd"})).await;
    assert_eq!(
        message,
        format!(
            "refused: /etc/passwd is outside the allowed directories ({})",
            tree.root.display()
        )
    );
    // Wrong argument types are tool errors too, and the server keeps serving.
    let result = call(&client, "read_file", json!({"path": 42})).await;
    assert!(result.is_err() || result.unwrap().is_error == Some(true));
    ok(&client, "read_file", json!({"path": "sub/b.txt"})).await;
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn write_tools_work_with_allow_write_and_stay_in_the_sandbox() {
    let tree = Tree::new();
    let client = spawn(&["--allow-write", "--root", tree.root_str()]).await;
    let tools = client.list_all_tools().await.unwrap();
    let write = tools.iter().find(|tool| tool.name == "write_file").unwrap();
    let annotations = write.annotations.as_ref().unwrap();
    assert_eq!(annotations.read_only_hint, Some(false));
    assert_eq!(annotations.destructive_hint, Some(true));
    assert!(tools.iter().any(|tool| tool.name == "create_directory"));

    let out = ok(&client, "create_directory", json!({"path": "made/nested"})).await;
    assert!(out.contains(&tree.path("made/nested")), "{out}");
    assert!(tree.root.join("made/nested").is_dir());
    let out = ok(
        &client,
        "write_file",
        json!({"path": "made/nested/note.txt", "content": "written\n"}),
    )
    .await;
    assert!(out.starts_with("wrote 8 bytes"), "{out}");
    ok(
        &client,
        "write_file",
        json!({"path": "a.txt", "content": "replaced"}),
    )
    .await;
    assert_eq!(
        fs::read_to_string(tree.root.join("a.txt")).unwrap(),
        "replaced"
    );
    let read = ok(
        &client,
        "read_file",
        json!({"path": "made/nested/note.txt"}),
    )
    .await;
    assert_eq!(read, "written\n");

    for (tool, arguments, rule) in [
        (
            "write_file",
            json!({"path": "../outside/x.txt", "content": "x"}),
            "outside",
        ),
        (
            "write_file",
            json!({"path": "escape/x.txt", "content": "x"}),
            "symbolic link",
        ),
        (
            "write_file",
            json!({"path": "/tmp/file-server-test-x", "content": "x"}),
            "outside",
        ),
        (
            "write_file",
            json!({"path": "no/such/dir/x.txt", "content": "x"}),
            "parent directory",
        ),
        (
            "write_file",
            json!({"path": "sub", "content": "x"}),
            "is a directory",
        ),
        (
            "write_file",
            json!({"path": "fifo", "content": "x"}),
            "FIFO",
        ),
        (
            "create_directory",
            json!({"path": "../outside/d"}),
            "outside",
        ),
        (
            "create_directory",
            json!({"path": "escape/d"}),
            "symbolic link",
        ),
    ] {
        let message = refused(&client, tool, arguments.clone()).await;
        assert!(message.contains(rule), "{tool} {arguments}: {message}");
    }
    assert!(!tree.base.join("outside/x.txt").exists());
    assert!(!tree.base.join("outside/d").exists());
    assert!(!Path::new("/tmp/file-server-test-x").exists());
    client.cancel().await.unwrap();
}

fn run_binary(args: &[&str]) -> std::process::Output {
    let mut command = std::process::Command::new(BINARY);
    command.args(args).stdin(Stdio::null());
    clean_env(&mut command);
    command.output().expect("run file-server")
}

#[test]
fn startup_fails_naming_a_missing_root() {
    let output = run_binary(&["--root", "/no/such/root/dir"]);
    assert!(!output.status.success());
    assert!(output.stdout.is_empty(), "stdout must stay JSON-RPC only");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("/no/such/root/dir"), "{stderr}");
    assert!(stderr.contains("does not exist"), "{stderr}");
}

#[test]
fn startup_fails_naming_a_root_that_is_a_file() {
    let tree = Tree::new();
    let file = tree.path("a.txt");
    let output = run_binary(&[&file]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&file) && stderr.contains("not a directory"),
        "{stderr}"
    );
}

#[test]
fn startup_requires_a_root() {
    let output = run_binary(&[]);
    assert!(!output.status.success());
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--root"), "{stderr}");
}

#[test]
fn help_explains_stdio_logs_and_telemetry() {
    let output = run_binary(&["--help"]);
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for needle in [
        "--root",
        "--allow-write",
        "--max-read-bytes",
        "JSON-RPC",
        "RUST_LOG",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
    ] {
        assert!(help.contains(needle), "--help lacks {needle}:\n{help}");
    }
}
