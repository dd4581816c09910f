//! The directory walk behind `list_directory` and `search_files`: sorted entries, links
//! never followed, and bounded work however large the tree.

use std::{
    fs,
    path::{Path, PathBuf},
    sync::atomic::{AtomicBool, Ordering},
};

use globset::GlobMatcher;

use crate::sandbox::FileKind;

/// Deepest directory level `search_files` descends to, below the searched directory.
pub const MAX_SEARCH_DEPTH: usize = 16;
/// Most matches `search_files` returns.
pub const MAX_SEARCH_RESULTS: usize = 1000;
/// Most directory entries `search_files` looks at, so a huge tree costs bounded work.
pub const MAX_SEARCH_VISITS: usize = 100_000;

/// Entries of `dir` as (name, kind, size), sorted by name; links are not followed.
pub(crate) fn read_dir_sorted(dir: &Path) -> std::io::Result<Vec<(String, FileKind, u64)>> {
    let mut entries = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        // DirEntry::metadata does not follow symbolic links.
        let (kind, size) = match entry.metadata() {
            Ok(metadata) => (FileKind::of(metadata.file_type()), metadata.len()),
            Err(_) => (FileKind::Other, 0),
        };
        entries.push((entry.file_name().to_string_lossy().into_owned(), kind, size));
    }
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(entries)
}

/// What [`search`] found.
pub(crate) struct SearchOutcome {
    /// The matching paths, in walk order.
    pub matches: Vec<PathBuf>,
    /// Why the search stopped early, if it did.
    pub truncated: Option<String>,
}

/// Depth-first search below `dir` (sorted, links not followed), within the bounds above;
/// it gives up, with what it found so far, as soon as `stop` is set.
pub(crate) fn search(
    dir: &Path,
    matcher: &GlobMatcher,
    by_name: bool,
    stop: &AtomicBool,
) -> SearchOutcome {
    let mut matches = Vec::new();
    let mut truncated = None;
    let mut visits = 0usize;
    let mut deeper_skipped = false;
    let mut stack: Vec<(PathBuf, usize)> = vec![(dir.to_path_buf(), 0)];
    'walk: while let Some((current, depth)) = stack.pop() {
        if stop.load(Ordering::Relaxed) {
            truncated = Some("stopped: the request was cancelled".to_owned());
            break;
        }
        let Ok(entries) = read_dir_sorted(&current) else {
            // An unreadable directory is skipped; the rest of the tree is still searched.
            continue;
        };
        let mut subdirs = Vec::new();
        for (name, kind, _) in entries {
            visits += 1;
            if visits > MAX_SEARCH_VISITS {
                truncated = Some(format!(
                    "stopped after looking at {MAX_SEARCH_VISITS} entries"
                ));
                break 'walk;
            }
            let path = current.join(&name);
            let relative = path.strip_prefix(dir).unwrap_or(&path);
            let candidate: &Path = if by_name { Path::new(&name) } else { relative };
            if matcher.is_match(candidate) {
                if matches.len() == MAX_SEARCH_RESULTS {
                    truncated = Some(format!("more than {MAX_SEARCH_RESULTS} matches"));
                    break 'walk;
                }
                matches.push(path.clone());
            }
            if kind == FileKind::Directory {
                if depth + 1 < MAX_SEARCH_DEPTH {
                    subdirs.push((path, depth + 1));
                } else {
                    deeper_skipped = true;
                }
            }
        }
        // Pushed in reverse so the walk visits them in name order.
        stack.extend(subdirs.into_iter().rev());
    }
    if truncated.is_none() && deeper_skipped {
        truncated = Some(format!(
            "directories deeper than {MAX_SEARCH_DEPTH} levels were not searched"
        ));
    }
    SearchOutcome { matches, truncated }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for sub in ["a", "b", "c"] {
            fs::create_dir(dir.path().join(sub)).unwrap();
            fs::write(dir.path().join(sub).join("x.csv"), "1").unwrap();
        }
        dir
    }

    fn csv() -> GlobMatcher {
        globset::Glob::new("*.csv").unwrap().compile_matcher()
    }

    #[test]
    fn a_search_finds_every_match_when_not_stopped() {
        let dir = tree();
        let found = search(dir.path(), &csv(), true, &AtomicBool::new(false));
        assert_eq!(found.matches.len(), 3);
        assert_eq!(found.truncated, None);
    }

    #[test]
    fn a_stopped_search_gives_up_and_says_why() {
        let dir = tree();
        let found = search(dir.path(), &csv(), true, &AtomicBool::new(true));
        assert!(found.matches.is_empty());
        assert_eq!(
            found.truncated.as_deref(),
            Some("stopped: the request was cancelled")
        );
    }
}
