//! The path policy against hostile input: every way out of the allowed directories that the
//! reference filesystem server was patched for, and then some.

use std::{
    ffi::CString,
    fs,
    os::unix::{ffi::OsStrExt, fs::symlink},
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use file_server::sandbox::{AllowedRoots, FileKind, MAX_PATH_BYTES, SandboxError};

const LIMIT: u64 = 1024;

/// A temporary tree:
///
/// ```text
/// base/
///   root/                  the allowed directory
///     file.txt             "hello\n"
///     sub/inner.txt
///     binary.bin           not UTF-8
///     big.txt              over LIMIT
///     fifo                 a named pipe
///     link_passwd       -> /etc/passwd
///     link_outside_dir  -> base/outside
///     link_inside       -> root/sub/inner.txt
///     loop_a -> loop_b, loop_b -> loop_a, self_loop -> self_loop
///     dangling          -> base/outside/created-through-link.txt (missing)
///   root_evil/x.txt        a sibling whose name has the root's as a prefix
///   outside/secret.txt
/// ```
struct Tree {
    _dir: tempfile::TempDir,
    base: PathBuf,
    root: PathBuf,
    roots: AllowedRoots,
}

impl Tree {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        // Canonical, so expected paths compare equal on systems where /tmp is a link.
        let base = fs::canonicalize(dir.path()).unwrap();
        let root = base.join("root");
        let outside = base.join("outside");
        fs::create_dir_all(root.join("sub")).unwrap();
        fs::create_dir_all(&outside).unwrap();
        fs::create_dir_all(base.join("root_evil")).unwrap();
        fs::write(root.join("file.txt"), "hello\n").unwrap();
        fs::write(root.join("sub/inner.txt"), "inner\n").unwrap();
        fs::write(root.join("binary.bin"), [0xff, 0xfe, 0x00, 0x80]).unwrap();
        fs::write(root.join("big.txt"), "x".repeat(LIMIT as usize + 1)).unwrap();
        fs::write(outside.join("secret.txt"), "secret\n").unwrap();
        fs::write(base.join("root_evil/x.txt"), "evil\n").unwrap();
        symlink("/etc/passwd", root.join("link_passwd")).unwrap();
        symlink(&outside, root.join("link_outside_dir")).unwrap();
        symlink(root.join("sub/inner.txt"), root.join("link_inside")).unwrap();
        symlink("loop_b", root.join("loop_a")).unwrap();
        symlink("loop_a", root.join("loop_b")).unwrap();
        symlink("self_loop", root.join("self_loop")).unwrap();
        symlink(
            outside.join("created-through-link.txt"),
            root.join("dangling"),
        )
        .unwrap();
        let fifo = CString::new(root.join("fifo").as_os_str().as_bytes()).unwrap();
        // SAFETY: `fifo` is a valid NUL-terminated path that outlives the call.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        let roots = AllowedRoots::new([&root]).unwrap();
        Self {
            _dir: dir,
            base,
            root,
            roots,
        }
    }

    fn read(&self, raw: &str) -> Result<String, SandboxError> {
        self.roots.read_text(raw, LIMIT).map(|(_, text)| text)
    }
}

fn assert_outside(result: Result<impl std::fmt::Debug, SandboxError>) {
    match result {
        Err(error @ SandboxError::Outside { .. }) => {
            assert!(error.to_string().starts_with("refused: "), "{error}");
            assert!(
                error
                    .to_string()
                    .contains("outside the allowed directories")
            );
        }
        other => panic!("expected an outside refusal, got {other:?}"),
    }
}

fn assert_symlink_outside(result: Result<impl std::fmt::Debug, SandboxError>) {
    match result {
        Err(SandboxError::SymlinkOutside { .. }) => {}
        other => panic!("expected a symlink refusal, got {other:?}"),
    }
}

// --- `..` chains and absolute paths -------------------------------------------------------

#[test]
fn dot_dot_to_a_sibling_is_refused() {
    assert_outside(Tree::new().read("../outside/secret.txt"));
}

#[test]
fn long_dot_dot_chain_to_etc_passwd_is_refused() {
    assert_outside(Tree::new().read("../../../../../../../../etc/passwd"));
}

#[test]
fn dot_dot_after_a_real_subdirectory_is_refused() {
    assert_outside(Tree::new().read("sub/../../outside/secret.txt"));
}

#[test]
fn dot_dot_after_a_file_name_is_refused() {
    assert_outside(Tree::new().read("file.txt/../../outside/secret.txt"));
}

#[test]
fn dot_slash_dot_dot_is_refused() {
    assert_outside(Tree::new().read("./.././outside/secret.txt"));
}

#[test]
fn absolute_etc_passwd_is_refused() {
    let tree = Tree::new();
    assert_outside(tree.read("/etc/passwd"));
    assert_outside(tree.read("//etc//passwd"));
}

#[test]
fn absolute_path_outside_is_refused_and_names_the_rule() {
    let tree = Tree::new();
    let secret = tree.base.join("outside/secret.txt");
    let error = tree.read(secret.to_str().unwrap()).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "refused: {} is outside the allowed directories ({})",
            secret.display(),
            tree.root.display()
        )
    );
}

#[test]
fn filesystem_root_is_refused() {
    assert_outside(Tree::new().roots.resolve("/"));
}

#[test]
fn absolute_path_climbing_out_of_the_root_is_refused() {
    let tree = Tree::new();
    let raw = format!("{}/../outside/secret.txt", tree.root.display());
    assert_outside(tree.read(&raw));
}

// --- prefix matching (CVE-2025-53110) -----------------------------------------------------

#[test]
fn sibling_with_the_root_as_string_prefix_is_refused() {
    let tree = Tree::new();
    let evil = tree.base.join("root_evil/x.txt");
    assert!(
        evil.to_str()
            .unwrap()
            .starts_with(tree.root.to_str().unwrap())
    );
    assert_outside(tree.read(evil.to_str().unwrap()));
    assert_outside(tree.read("../root_evil/x.txt"));
}

// --- symbolic links (CVE-2025-53109) ------------------------------------------------------

#[test]
fn symlink_to_etc_passwd_is_refused() {
    let tree = Tree::new();
    assert_symlink_outside(tree.read("link_passwd"));
    let error = tree.read("link_passwd").unwrap_err().to_string();
    assert!(error.contains("symbolic link"), "{error}");
}

#[test]
fn symlink_to_a_directory_outside_is_refused() {
    let tree = Tree::new();
    assert_symlink_outside(tree.read("link_outside_dir/secret.txt"));
    assert_symlink_outside(tree.roots.resolve_dir("link_outside_dir"));
}

#[test]
fn symlink_loop_is_refused() {
    let tree = Tree::new();
    assert!(matches!(
        tree.read("loop_a"),
        Err(SandboxError::SymlinkLoop { .. })
    ));
    assert!(matches!(
        tree.read("self_loop/x"),
        Err(SandboxError::SymlinkLoop { .. })
    ));
}

#[test]
fn new_file_under_a_symlinked_parent_outside_is_refused() {
    let tree = Tree::new();
    assert_symlink_outside(tree.roots.write_atomic("link_outside_dir/new.txt", b"x"));
    assert!(!tree.base.join("outside/new.txt").exists());
    assert_symlink_outside(tree.roots.create_dir("link_outside_dir/newdir"));
    assert!(!tree.base.join("outside/newdir").exists());
}

#[test]
fn writing_through_a_dangling_symlink_is_refused() {
    let tree = Tree::new();
    assert!(matches!(
        tree.roots.write_atomic("dangling", b"x"),
        Err(SandboxError::DanglingSymlink { .. })
    ));
    assert!(!tree.base.join("outside/created-through-link.txt").exists());
}

#[test]
fn writing_outside_with_dot_dot_is_refused() {
    let tree = Tree::new();
    assert_outside(tree.roots.write_atomic("../outside/new.txt", b"x"));
    assert!(!tree.base.join("outside/new.txt").exists());
    assert_outside(tree.roots.create_dir("../outside/made"));
    assert!(!tree.base.join("outside/made").exists());
}

#[test]
fn symlink_inside_the_root_is_allowed() {
    assert_eq!(Tree::new().read("link_inside").unwrap(), "inner\n");
}

// --- malformed text ----------------------------------------------------------------------

#[test]
fn nul_byte_is_refused() {
    let tree = Tree::new();
    assert!(matches!(
        tree.read("file.txt\0../../etc/passwd"),
        Err(SandboxError::NulByte)
    ));
    assert!(matches!(tree.read("\0"), Err(SandboxError::NulByte)));
}

#[test]
fn control_characters_are_refused() {
    let tree = Tree::new();
    assert!(matches!(
        tree.read("file.txt\n"),
        Err(SandboxError::ControlCharacter)
    ));
    assert!(matches!(
        tree.read("fi\u{1b}le.txt"),
        Err(SandboxError::ControlCharacter)
    ));
}

#[test]
fn trailing_and_leading_spaces_are_refused() {
    let tree = Tree::new();
    assert!(matches!(
        tree.read("file.txt "),
        Err(SandboxError::SurroundingWhitespace { .. })
    ));
    assert!(matches!(
        tree.read(" /etc/passwd"),
        Err(SandboxError::SurroundingWhitespace { .. })
    ));
}

#[test]
fn quoted_paths_stay_literal_names_inside_the_root() {
    let tree = Tree::new();
    for raw in [
        "\"/etc/passwd\"",
        "'../outside/secret.txt'",
        "file.txt\"",
        "%2e%2e/outside/secret.txt",
    ] {
        let resolved = tree.roots.resolve(raw).unwrap();
        assert!(resolved.starts_with(&tree.root), "{raw} -> {resolved:?}");
        assert!(
            matches!(tree.read(raw), Err(SandboxError::NotFound { .. })),
            "{raw}"
        );
    }
}

#[test]
fn empty_path_is_refused() {
    assert!(matches!(Tree::new().read(""), Err(SandboxError::Empty)));
}

#[test]
fn ten_thousand_character_path_is_refused() {
    let tree = Tree::new();
    let long = "a".repeat(10_000);
    assert!(matches!(
        tree.read(&long),
        Err(SandboxError::TooLong { len: 10_000 })
    ));
    let deep = "a/".repeat(MAX_PATH_BYTES);
    assert!(matches!(
        tree.roots.write_atomic(&deep, b"x"),
        Err(SandboxError::TooLong { .. })
    ));
}

#[test]
fn over_long_file_name_is_refused_without_escaping() {
    let tree = Tree::new();
    let name = "n".repeat(300);
    assert!(tree.read(&name).is_err());
}

// --- special files and content ------------------------------------------------------------

#[test]
fn fifo_is_refused_without_blocking() {
    let tree = Tree::new();
    let started = Instant::now();
    match tree.read("fifo") {
        Err(SandboxError::NotRegularFile {
            kind: FileKind::Fifo,
            ..
        }) => {}
        other => panic!("expected a FIFO refusal, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn unix_socket_is_refused() {
    let tree = Tree::new();
    let _listener = std::os::unix::net::UnixListener::bind(tree.root.join("sock")).unwrap();
    assert!(matches!(
        tree.read("sock"),
        Err(SandboxError::NotRegularFile {
            kind: FileKind::Socket,
            ..
        })
    ));
}

#[test]
fn devices_are_refused_even_inside_a_root() {
    let roots = AllowedRoots::new(["/dev"]).unwrap();
    for device in ["/dev/zero", "/dev/null", "/dev/urandom"] {
        match roots.read_text(device, LIMIT) {
            Err(SandboxError::NotRegularFile {
                kind: FileKind::CharDevice,
                ..
            }) => {}
            other => panic!("expected a device refusal for {device}, got {other:?}"),
        }
    }
}

#[test]
fn proc_self_paths_are_refused() {
    let tree = Tree::new();
    assert_outside(tree.read("/proc/self/root/etc/passwd"));
    assert_outside(tree.read("/proc/self/environ"));
    assert_outside(tree.read("/proc/self/fd/0"));
    let cwd = format!("/proc/self/cwd/{}", tree.root.display());
    assert!(tree.read(&cwd).is_err());
}

#[test]
fn binary_content_is_refused_as_binary() {
    let error = Tree::new().read("binary.bin").unwrap_err();
    assert!(matches!(error, SandboxError::Binary { .. }));
    assert!(error.to_string().contains("is binary"), "{error}");
}

#[test]
fn file_over_the_read_limit_is_refused() {
    let error = Tree::new().read("big.txt").unwrap_err();
    assert!(
        matches!(error, SandboxError::TooLarge { size, limit: LIMIT, .. } if size == LIMIT + 1)
    );
    assert!(error.to_string().contains("--max-read-bytes"), "{error}");
}

#[test]
fn directory_is_refused_for_reading() {
    let tree = Tree::new();
    assert!(matches!(
        tree.read("."),
        Err(SandboxError::IsDirectory { .. })
    ));
    assert!(matches!(
        tree.read("sub"),
        Err(SandboxError::IsDirectory { .. })
    ));
}

#[test]
fn missing_file_is_not_found() {
    assert!(matches!(
        Tree::new().read("nope.txt"),
        Err(SandboxError::NotFound { .. })
    ));
}

// --- what is allowed ----------------------------------------------------------------------

#[test]
fn relative_and_absolute_paths_inside_are_read() {
    let tree = Tree::new();
    assert_eq!(tree.read("file.txt").unwrap(), "hello\n");
    assert_eq!(tree.read("./sub/../file.txt").unwrap(), "hello\n");
    let absolute = tree.root.join("sub/inner.txt");
    assert_eq!(tree.read(absolute.to_str().unwrap()).unwrap(), "inner\n");
}

#[test]
fn relative_paths_resolve_against_the_first_root() {
    let tree = Tree::new();
    let roots = AllowedRoots::new([tree.root.join("sub"), tree.root.clone()]).unwrap();
    assert_eq!(
        roots.resolve("inner.txt").unwrap(),
        tree.root.join("sub/inner.txt")
    );
}

#[test]
fn write_is_atomic_and_leaves_no_temporary_files() {
    let tree = Tree::new();
    let path = tree.roots.write_atomic("sub/new.txt", b"first").unwrap();
    assert_eq!(path, tree.root.join("sub/new.txt"));
    tree.roots.write_atomic("sub/new.txt", b"second").unwrap();
    assert_eq!(fs::read_to_string(&path).unwrap(), "second");
    let names: Vec<_> = fs::read_dir(tree.root.join("sub"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
}

#[test]
fn write_refuses_a_missing_parent_and_special_targets() {
    let tree = Tree::new();
    assert!(matches!(
        tree.roots.write_atomic("missing/dir/new.txt", b"x"),
        Err(SandboxError::ParentMissing { .. })
    ));
    assert!(matches!(
        tree.roots.write_atomic("sub", b"x"),
        Err(SandboxError::IsDirectory { .. })
    ));
    assert!(matches!(
        tree.roots.write_atomic("fifo", b"x"),
        Err(SandboxError::NotRegularFile { .. })
    ));
}

#[test]
fn create_dir_makes_parents_and_accepts_existing() {
    let tree = Tree::new();
    let made = tree.roots.create_dir("a/b/c").unwrap();
    assert_eq!(made, tree.root.join("a/b/c"));
    assert!(made.is_dir());
    tree.roots.create_dir("a/b/c").unwrap();
    assert!(matches!(
        tree.roots.create_dir("file.txt"),
        Err(SandboxError::NotDirectory { .. })
    ));
}

// --- roots --------------------------------------------------------------------------------

#[test]
fn missing_root_fails_naming_the_path() {
    let error = AllowedRoots::new(["/definitely/not/here"]).unwrap_err();
    assert_eq!(
        error.to_string(),
        "allowed directory /definitely/not/here does not exist"
    );
}

#[test]
fn file_as_root_fails_naming_the_path() {
    let tree = Tree::new();
    let file = tree.root.join("file.txt");
    let error = AllowedRoots::new([&file]).unwrap_err();
    assert!(matches!(error, SandboxError::RootNotDirectory { .. }));
    assert!(error.to_string().contains(file.to_str().unwrap()));
}

#[test]
fn no_roots_is_an_error() {
    assert!(matches!(
        AllowedRoots::new(Vec::<PathBuf>::new()),
        Err(SandboxError::NoRoots)
    ));
}

#[test]
fn symlinked_root_is_canonicalised() {
    let tree = Tree::new();
    let alias = tree.base.join("alias");
    symlink(&tree.root, &alias).unwrap();
    let roots = AllowedRoots::new([&alias]).unwrap();
    assert_eq!(roots.roots(), std::slice::from_ref(&tree.root));
    let through_alias = alias.join("file.txt");
    assert_eq!(
        roots
            .read_text(through_alias.to_str().unwrap(), LIMIT)
            .unwrap()
            .1,
        "hello\n"
    );
    assert!(Path::new(&roots.roots()[0]).is_absolute());
}

// --- a directory swapped for a symbolic link while reading (check-then-use races) ------

/// A thread keeps exchanging `root/swap` (a real directory holding `x.txt`) with a symbolic
/// link to the directory outside, atomically (`renameat2(RENAME_EXCHANGE)`), while reads of
/// `swap/x.txt` run: each read gets the inside file or a refusal, never the secret.
#[cfg(target_os = "linux")]
#[test]
fn directory_swapped_for_a_symlink_never_leaks_the_outside() {
    use std::sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    };
    let tree = Tree::new();
    let swap = tree.root.join("swap");
    let parked = tree.root.join("parked");
    fs::create_dir(&swap).unwrap();
    fs::write(swap.join("secret.txt"), "inside\n").unwrap();
    symlink(tree.base.join("outside"), &parked).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let swapper = {
        let stop = Arc::clone(&stop);
        let a = CString::new(swap.as_os_str().as_bytes()).unwrap();
        let b = CString::new(parked.as_os_str().as_bytes()).unwrap();
        std::thread::spawn(move || {
            let mut swaps = 0_u64;
            while !stop.load(Ordering::Relaxed) {
                // SAFETY: both paths are valid NUL-terminated strings that outlive the call.
                let done = unsafe {
                    libc::renameat2(
                        libc::AT_FDCWD,
                        a.as_ptr(),
                        libc::AT_FDCWD,
                        b.as_ptr(),
                        libc::RENAME_EXCHANGE,
                    )
                };
                assert_eq!(done, 0, "{}", std::io::Error::last_os_error());
                swaps += 1;
            }
            swaps
        })
    };
    let (mut read, mut refused) = (0, 0);
    for _ in 0..5000 {
        match tree.read("swap/secret.txt") {
            Ok(text) => {
                assert_eq!(text, "inside\n", "the outside file leaked");
                read += 1;
            }
            Err(_) => refused += 1,
        }
    }
    stop.store(true, Ordering::Relaxed);
    let swaps = swapper.join().unwrap();
    assert!(swaps > 0);
    eprintln!("{read} reads, {refused} refusals, {swaps} swaps");
}
