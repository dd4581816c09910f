//! The fast path of opening a file to read, on Linux: the kernel resolves the path in one
//! `openat2` call instead of a walk of `lstat`/`readlink` calls in user space.
//!
//! Each allowed root is opened once, at startup, as a directory descriptor (`O_PATH`).
//! A client's path, once validated and normalised by the policy's steps 1 to 3, is opened
//! relative to the descriptor of the root that lexically contains it, with:
//!
//! - `RESOLVE_BENEATH`: the kernel refuses any resolution that would leave the root
//!   directory (a `..`, an absolute path or an absolute symbolic link), checked at every
//!   component, during the same lookup that opens the file. There is no window between
//!   check and use to race: a directory swapped for a symbolic link at any moment either
//!   makes this lookup fail or was not there when it passed.
//! - `RESOLVE_NO_SYMLINKS` (which implies `RESOLVE_NO_MAGICLINKS`): no symbolic link is
//!   followed at all, not even one that stays inside the root. The path opened is then,
//!   by construction, the canonical path the policy's step 4 would compute (the root is
//!   canonical, the rest holds no `.`, `..` or link), so errors and results name the same
//!   path as before.
//!
//! Anything the kernel refuses or cannot do here (a symbolic link anywhere on the path, a
//! missing file, `openat2` missing before Linux 5.6 or blocked by a seccomp filter) is not
//! answered here: the caller falls back to the user-space walk, which then gives the same
//! answer, with the same message, as it always did. The fast path only ever *accepts* (a
//! regular file within the read limit); it never refuses anything itself.
//!
//! What it guarantees: the file opened was reached from the root's directory by the
//! kernel, component by component, through no symbolic link (magic `/proc` links
//! included) and no `..`, in the same lookup that opened it, so no swap at any moment can
//! make it open something outside. Mount points inside a root are crossed, as the walk
//! crosses them. One difference from the walk: the root is the directory opened at
//! startup, so were the root itself renamed or replaced later, this path keeps reading
//! the directory it opened (whose contents were inside the root), where the walk would
//! follow the name.

use std::{
    fs::File,
    os::fd::OwnedFd,
    path::{Path, PathBuf},
    sync::atomic::{AtomicBool, Ordering},
};

use rustix::{
    fs::{Mode, OFlags, ResolveFlags},
    io::Errno,
};

/// Set once `openat2` proved unusable in this process (`ENOSYS`, or `EPERM` from a seccomp
/// filter), so the fallback is taken without trying again on every call.
static UNAVAILABLE: AtomicBool = AtomicBool::new(false);

/// How every lookup of the fast path resolves: beneath the root, through no link at all.
fn resolve_flags() -> ResolveFlags {
    ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS
}

/// The allowed roots as directory descriptors, in the order of
/// [`AllowedRoots::roots`](super::AllowedRoots::roots); `None` where one could not be
/// opened (that root always takes the fallback).
#[derive(Debug, Default)]
pub(super) struct RootDirs {
    dirs: Vec<Option<OwnedFd>>,
}

impl RootDirs {
    /// Opens each canonical root as an `O_PATH` directory descriptor.
    pub(super) fn new(roots: &[PathBuf]) -> Self {
        let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let dirs = roots
            .iter()
            .map(|root| rustix::fs::open(root.as_path(), flags, Mode::empty()).ok())
            .collect();
        Self { dirs }
    }

    /// Opens `relative` (normalised: no `.`, no `..`, not absolute) beneath root `index`
    /// with `flags` (`O_NOFOLLOW | O_CLOEXEC` are added). `None` means "not decided here":
    /// the caller takes the user-space walk.
    pub(super) fn open_beneath(
        &self,
        index: usize,
        relative: &Path,
        flags: OFlags,
    ) -> Option<File> {
        if UNAVAILABLE.load(Ordering::Relaxed) {
            return None;
        }
        let dir = self.dirs.get(index)?.as_ref()?;
        let relative = if relative.as_os_str().is_empty() {
            Path::new(".")
        } else {
            relative
        };
        let flags = flags | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        match rustix::fs::openat2(dir, relative, flags, Mode::empty(), resolve_flags()) {
            Ok(fd) => Some(File::from(fd)),
            Err(errno) => {
                if errno == Errno::NOSYS || errno == Errno::PERM {
                    UNAVAILABLE.store(true, Ordering::Relaxed);
                }
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    #[test]
    fn opens_plain_paths_and_leaves_links_and_escapes_to_the_walk() {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        std::fs::create_dir(root.join("sub")).unwrap();
        std::fs::write(root.join("sub/a.txt"), "a").unwrap();
        symlink(root.join("sub/a.txt"), root.join("absolute_link")).unwrap();
        symlink("sub/a.txt", root.join("relative_link")).unwrap();
        symlink("sub", root.join("dir_link")).unwrap();
        let dirs = RootDirs::new(std::slice::from_ref(&root));
        let open = |path: &str| dirs.open_beneath(0, Path::new(path), OFlags::RDONLY);
        let plain = open("sub/a.txt");
        if UNAVAILABLE.load(Ordering::Relaxed) {
            // No openat2 here (old kernel, seccomp): everything takes the walk.
            assert!(plain.is_none());
            return;
        }
        assert!(plain.is_some());
        assert!(open("").is_some(), "the root itself");
        for refused in [
            "absolute_link",
            "relative_link",
            "dir_link/a.txt",
            "../x",
            "/etc/passwd",
            "missing",
        ] {
            assert!(open(refused).is_none(), "{refused}");
        }
    }
}
