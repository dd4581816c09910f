//! The names a model calls tools by.
//!
//! The rule, in order:
//! 1. A tool whose name no other configured server offers keeps its name (`read_file`).
//! 2. A name offered by several servers becomes `{server}__{tool}` for each of them
//!    (`docs__read_file`, `code__read_file`), so every one stays callable.
//! 3. Characters function names may not hold (outside `A-Z a-z 0-9 _ -`) become `_`, and
//!    names are cut to 64 characters, the limit of OpenAI-compatible APIs.
//! 4. A name that still collides gets `_2`, `_3`, ... appended.

use std::collections::{HashMap, HashSet};

use super::ServerTool;

/// Longest function name OpenAI-compatible APIs accept.
const MAX_NAME_CHARS: usize = 64;

/// The function name of each tool, in the order of `tools`.
pub(super) fn exposed_names(tools: &[ServerTool]) -> Vec<String> {
    let mut offered: HashMap<&str, usize> = HashMap::new();
    for entry in tools {
        *offered.entry(entry.tool.name.as_ref()).or_default() += 1;
    }
    let mut taken = HashSet::new();
    tools
        .iter()
        .map(|entry| {
            let tool = entry.tool.name.as_ref();
            let wanted = if offered[tool] == 1 {
                sanitize(tool)
            } else {
                sanitize(&format!("{}__{tool}", entry.server))
            };
            let mut name = wanted.clone();
            let mut n = 2;
            while !taken.insert(name.clone()) {
                let suffix = format!("_{n}");
                let keep = MAX_NAME_CHARS - suffix.len();
                name = format!("{}{suffix}", wanted.chars().take(keep).collect::<String>());
                n += 1;
            }
            name
        })
        .collect()
}

fn sanitize(name: &str) -> String {
    let name: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(MAX_NAME_CHARS)
        .collect();
    if name.is_empty() {
        "_".to_owned()
    } else {
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tool(server: &str, name: &str) -> ServerTool {
        ServerTool {
            server: server.to_owned(),
            tool: rmcp::model::Tool::new(
                name.to_owned(),
                "",
                std::sync::Arc::new(serde_json::Map::new()),
            ),
        }
    }

    #[test]
    fn unique_names_stay_and_shared_names_are_qualified() {
        let tools = [
            tool("docs", "read_file"),
            tool("docs", "list_directory"),
            tool("code", "read_file"),
            tool("db", "query_database"),
        ];
        assert_eq!(
            exposed_names(&tools),
            [
                "docs__read_file",
                "list_directory",
                "code__read_file",
                "query_database"
            ]
        );
    }

    #[test]
    fn names_fit_the_function_name_rules() {
        let long = "x".repeat(100);
        let tools = [
            tool("my server", "files.read"),
            tool("a", &long),
            tool("b", "a__t"),
            tool("a", "t"),
            tool("c", "t"),
        ];
        let names = exposed_names(&tools);
        assert_eq!(names[0], "files_read");
        assert_eq!(names[1].len(), 64);
        assert_eq!(names[2], "a__t");
        // `a__t` is taken by b's tool, so a's `t` gets a suffix.
        assert_eq!(names[3], "a__t_2");
        assert_eq!(names[4], "c__t");
        for name in &names {
            assert!(name.len() <= 64);
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            );
        }
    }
}
