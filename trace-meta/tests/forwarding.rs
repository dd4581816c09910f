//! `Traced` forwards every method of rmcp's `ServerHandler`.
//!
//! A method `Traced` does not override falls back to the trait's default, which would
//! silently ignore the wrapped handler's own implementation: a server adopting trace-meta
//! would lose a capability when rmcp adds a method. Rust cannot list a trait's methods, so
//! this reads rmcp's source (the version `Cargo.lock` names) and trace-meta's own, and
//! compares the names. It fails when rmcp gains (or renames) a method until `Traced`
//! forwards it.

use std::collections::BTreeSet;

/// The names of the `fn`s `level` blocks deep inside the block that starts at `start`.
fn methods_in_block(source: &str, start: &str, level: i32) -> BTreeSet<String> {
    let at = source
        .find(start)
        .unwrap_or_else(|| panic!("{start:?} not found"));
    let mut depth = 0i32;
    let mut names = BTreeSet::new();
    let mut opened = false;
    for line in source[at..].lines() {
        let trimmed = line.trim_start();
        let signature = trimmed
            .strip_prefix("async fn ")
            .or_else(|| trimmed.strip_prefix("fn "));
        if depth == level
            && let Some(rest) = signature
        {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            names.insert(name);
        }
        for c in line.chars() {
            match c {
                '{' => {
                    depth += 1;
                    opened = true;
                }
                '}' => depth -= 1,
                _ => {}
            }
        }
        if opened && depth <= 0 {
            break;
        }
    }
    names
}

/// The source directory of the rmcp this workspace builds against: the version in the
/// workspace's `Cargo.lock`, unpacked under `$CARGO_HOME/registry/src/*/` (where cargo
/// keeps the sources it builds; nothing is downloaded).
fn rmcp_dir() -> std::path::PathBuf {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let lock =
        std::fs::read_to_string(root.join("Cargo.lock")).expect("the workspace's Cargo.lock");
    let version = lock
        .split("[[package]]")
        .find(|entry| entry.contains("\nname = \"rmcp\"\n"))
        .and_then(|entry| entry.lines().find_map(|l| l.strip_prefix("version = ")))
        .expect("rmcp in Cargo.lock")
        .trim_matches('"')
        .to_owned();
    let home = std::env::var_os("CARGO_HOME")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cargo")
        });
    let registry = home.join("registry").join("src");
    std::fs::read_dir(&registry)
        .unwrap_or_else(|e| panic!("{}: {e}", registry.display()))
        .flatten()
        .map(|index| index.path().join(format!("rmcp-{version}")))
        .find(|dir| dir.is_dir())
        .unwrap_or_else(|| panic!("rmcp-{version} is not under {}", registry.display()))
}

#[test]
fn traced_forwards_every_server_handler_method() {
    let rmcp = std::fs::read_to_string(rmcp_dir().join("src/handler/server.rs"))
        .expect("rmcp's handler/server.rs");
    // rmcp 3.11 declares the methods in a macro shared by its Send and local variants.
    let declared = if rmcp.contains("macro_rules! server_handler_methods") {
        // `macro_rules! … { () => { fn … } }`
        methods_in_block(&rmcp, "macro_rules! server_handler_methods", 2)
    } else {
        methods_in_block(&rmcp, "pub trait ServerHandler", 1)
    };
    assert!(
        declared.len() > 20 && declared.contains("call_tool"),
        "read rmcp's ServerHandler: {declared:?}"
    );
    let ours = methods_in_block(
        include_str!("../src/server.rs"),
        "impl<H: ServerHandler> ServerHandler for Traced<H>",
        1,
    );
    let missing: Vec<&String> = declared.difference(&ours).collect();
    assert!(
        missing.is_empty(),
        "Traced does not forward these ServerHandler methods of this rmcp: {missing:?}; \
         add them to `impl ServerHandler for Traced` (traced if they do user work)"
    );
    let extra: Vec<&String> = ours.difference(&declared).collect();
    assert!(
        extra.is_empty(),
        "Traced implements methods rmcp no longer has: {extra:?}"
    );
}
