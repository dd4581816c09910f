//! Fuzzes file-server's path policy, `AllowedRoots`.
//!
//! A fixture is built once in a temporary directory:
//!
//! ```text
//! <tmp>/root/                       the allowed root
//! <tmp>/root/file.txt               a regular file
//! <tmp>/root/sub/                   a subdirectory
//! <tmp>/root/sub/inner.txt          a file in it
//! <tmp>/root/escape      -> <tmp>/outside        symlink to a directory outside the root
//! <tmp>/root/secret.lnk  -> <tmp>/outside/secret.txt   symlink to a file outside
//! <tmp>/root/inlink      -> <tmp>/root/sub        symlink that stays inside
//! <tmp>/root/dangling    -> <tmp>/nowhere/x       dangling symlink
//! <tmp>/root2/                      a sibling whose name has the root's as a prefix
//! <tmp>/outside/secret.txt          a file outside
//! ```
//!
//! The input (lossy UTF-8) is used as a path two ways: as given (relative paths resolve
//! against the root) and appended to the root's absolute path. For each, `resolve`,
//! `resolve_existing`, `resolve_dir` and `read_text` (small limit; all read-only) are called.
//!
//! Invariants: nothing panics; every accepted path lies inside the canonical root by
//! components, both as returned and once canonicalised (if it exists); `read_text` never
//! returns the outside secret.
#![no_main]

use std::{
    fs,
    os::unix::fs::symlink,
    path::{Path, PathBuf},
    sync::OnceLock,
};

use file_server::sandbox::AllowedRoots;
use libfuzzer_sys::fuzz_target;

const SECRET: &str = "TOP-SECRET-OUTSIDE-THE-ROOT";

struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
    roots: AllowedRoots,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = tempfile::Builder::new()
            .prefix("path-sandbox-fuzz-")
            .tempdir()
            .expect("tempdir");
        let base = fs::canonicalize(dir.path()).expect("canonicalize tempdir");
        let root = base.join("root");
        let outside = base.join("outside");
        fs::create_dir_all(root.join("sub")).unwrap();
        fs::create_dir_all(&outside).unwrap();
        fs::create_dir_all(base.join("root2")).unwrap();
        fs::write(root.join("file.txt"), "inside\n").unwrap();
        fs::write(root.join("sub/inner.txt"), "inner\n").unwrap();
        fs::write(base.join("root2/sibling.txt"), SECRET).unwrap();
        fs::write(outside.join("secret.txt"), SECRET).unwrap();
        symlink(&outside, root.join("escape")).unwrap();
        symlink(outside.join("secret.txt"), root.join("secret.lnk")).unwrap();
        symlink(root.join("sub"), root.join("inlink")).unwrap();
        symlink(base.join("nowhere/x"), root.join("dangling")).unwrap();
        // A relative symlink that climbs out.
        symlink("../outside", root.join("sub/up")).unwrap();
        let roots = AllowedRoots::new([&root]).expect("AllowedRoots::new");
        let root = fs::canonicalize(&root).unwrap();
        assert_eq!(roots.roots(), [root.clone()]);
        Fixture {
            _dir: dir,
            root,
            roots,
        }
    })
}

fn assert_inside(fx: &Fixture, raw: &str, op: &str, path: &Path) {
    assert!(
        path.starts_with(&fx.root),
        "{op}({raw:?}) accepted {path:?}, outside root {:?}",
        fx.root
    );
    if let Ok(canonical) = fs::canonicalize(path) {
        assert!(
            canonical.starts_with(&fx.root),
            "{op}({raw:?}) accepted {path:?}, which canonicalises to {canonical:?}, outside root {:?}",
            fx.root
        );
    }
}

fn check(fx: &Fixture, raw: &str) {
    if let Ok(path) = fx.roots.resolve(raw) {
        assert_inside(fx, raw, "resolve", &path);
    }
    if let Ok((path, _meta)) = fx.roots.resolve_existing(raw) {
        assert_inside(fx, raw, "resolve_existing", &path);
    }
    if let Ok(path) = fx.roots.resolve_dir(raw) {
        assert_inside(fx, raw, "resolve_dir", &path);
    }
    if let Ok((path, text)) = fx.roots.read_text(raw, 4096) {
        assert_inside(fx, raw, "read_text", &path);
        assert!(
            !text.contains(SECRET),
            "read_text({raw:?}) read the outside secret via {path:?}"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let fx = fixture();
    let raw = String::from_utf8_lossy(data);
    check(fx, &raw);
    // The same path under the root's absolute path, so `..` games start from inside.
    let joined = format!("{}/{}", fx.root.display(), raw);
    check(fx, &joined);
});
