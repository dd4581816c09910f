//! The path policy: which paths a client may touch, independent of MCP.
//!
//! [`AllowedRoots`] holds the canonical allowed directories. Every path a client names goes
//! through [`AllowedRoots::resolve`] before anything else happens to it:
//!
//! 1. Refuse empty paths, NUL bytes and other control characters, leading or trailing
//!    whitespace, and paths longer than [`MAX_PATH_BYTES`].
//! 2. Make it absolute: a relative path is joined to the first root.
//! 3. Normalise `.` and `..` lexically (never above `/`).
//! 4. Resolve symbolic links: the path itself if it exists, else its nearest existing
//!    ancestor, with the components that do not exist yet appended again. A dangling
//!    symbolic link is refused, because writing through it would create its target
//!    wherever it points.
//! 5. Require the result to lie inside an allowed root, comparing path components
//!    ([`Path::starts_with`]), so `/data2` is not inside `/data`.
//!
//! Reading ([`AllowedRoots::read_text`]) then refuses anything but a regular file without
//! ever blocking: the file type is checked before opening, the file is opened with
//! `O_NONBLOCK | O_NOFOLLOW`, and the opened descriptor is checked again (type, size, and on
//! Linux its real path), so a path swapped for a FIFO, a device or a symbolic link between
//! check and use is still refused. Writing ([`AllowedRoots::write_atomic`]) goes through a
//! temporary file in the target's directory and a rename.
//!
//! On Linux, opening a file to read first tries a faster way to the same answer: steps 4
//! and 5 done by the kernel in one `openat2` lookup beneath the root's directory
//! descriptor, following no link at all (see `sandbox/beneath.rs`). It only ever accepts (a regular
//! file within the limit, at a path the steps above accept too, named the same); everything
//! else (a symbolic link on the path, a missing file, a special file, a kernel without
//! `openat2`) takes the steps above unchanged, refusals and their messages included.

#[cfg(target_os = "linux")]
mod beneath;

use std::{
    fmt,
    fs::{self, File, Metadata},
    io::{self, Read, Write},
    os::unix::fs::{FileTypeExt, OpenOptionsExt},
    path::{Component, Path, PathBuf},
};

/// Longest path accepted, in bytes (Linux `PATH_MAX`).
///
/// Longer paths cannot be opened anyway; refusing them up front keeps the work per request
/// bounded and the error clear.
pub const MAX_PATH_BYTES: usize = 4096;

/// Why a path or an operation on it was refused.
///
/// Every message starts with the rule that applies (`refused: ...`, `not found: ...`) and
/// names the path, so a client (or a model) can tell what to do differently.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The path is the empty string.
    #[error("refused: the path is empty")]
    Empty,
    /// The path contains a NUL byte.
    #[error("refused: the path contains a NUL byte")]
    NulByte,
    /// The path contains a control character other than NUL (newline, tab, escape...).
    #[error("refused: the path contains a control character")]
    ControlCharacter,
    /// The path starts or ends with whitespace, which is almost always a quoting mistake.
    #[error("refused: the path {path:?} starts or ends with whitespace")]
    SurroundingWhitespace {
        /// The path as given.
        path: String,
    },
    /// The path is longer than [`MAX_PATH_BYTES`].
    #[error("refused: the path is {len} bytes long, over the limit of {MAX_PATH_BYTES} bytes")]
    TooLong {
        /// Length of the given path in bytes.
        len: usize,
    },
    /// The path lies outside every allowed root.
    #[error("refused: {path} is outside the allowed directories ({allowed})")]
    Outside {
        /// The resolved path.
        path: PathBuf,
        /// The allowed roots, comma-separated.
        allowed: RootList,
    },
    /// The path lies inside a root, but a symbolic link on it leads outside.
    #[error(
        "refused: {path} is a symbolic link (or passes through one) that resolves to {target}, \
         outside the allowed directories ({allowed})"
    )]
    SymlinkOutside {
        /// The path before symbolic links were resolved.
        path: PathBuf,
        /// Where the symbolic links lead.
        target: PathBuf,
        /// The allowed roots, comma-separated.
        allowed: RootList,
    },
    /// A symbolic link on the path points to something that does not exist.
    #[error("refused: {path} is a symbolic link whose target does not exist")]
    DanglingSymlink {
        /// The dangling link.
        path: PathBuf,
    },
    /// Resolving the path ran into a symbolic link loop.
    #[error("refused: {path} passes through a symbolic link loop")]
    SymlinkLoop {
        /// The path given.
        path: PathBuf,
    },
    /// Nothing exists at the path.
    #[error("not found: {path}")]
    NotFound {
        /// The resolved path.
        path: PathBuf,
    },
    /// A file operation was asked of a directory.
    #[error("refused: {path} is a directory, not a file")]
    IsDirectory {
        /// The resolved path.
        path: PathBuf,
    },
    /// A directory operation was asked of something else.
    #[error("refused: {path} is not a directory")]
    NotDirectory {
        /// The resolved path.
        path: PathBuf,
    },
    /// The path names a FIFO, socket or device, which are never opened.
    #[error("refused: {path} is a {kind}, not a regular file")]
    NotRegularFile {
        /// The resolved path.
        path: PathBuf,
        /// What it is instead.
        kind: FileKind,
    },
    /// The file is larger than the read limit.
    #[error(
        "refused: {path} is {size} bytes, over the read limit of {limit} bytes (--max-read-bytes)"
    )]
    TooLarge {
        /// The resolved path.
        path: PathBuf,
        /// The file's size (at least `limit + 1` when it grew while being read).
        size: u64,
        /// The read limit.
        limit: u64,
    },
    /// The file is not UTF-8 text.
    #[error("refused: {path} is binary (not UTF-8 text); text tools only read text files")]
    Binary {
        /// The resolved path.
        path: PathBuf,
    },
    /// A file cannot be written because its parent directory does not exist.
    #[error(
        "not found: the parent directory of {path} does not exist (create it with create_directory first)"
    )]
    ParentMissing {
        /// The path to be written.
        path: PathBuf,
    },
    /// An allowed root given at startup does not exist.
    #[error("allowed directory {path} does not exist")]
    RootMissing {
        /// The root as given.
        path: PathBuf,
    },
    /// An allowed root given at startup is not a directory.
    #[error("allowed directory {path} is not a directory")]
    RootNotDirectory {
        /// The root as given.
        path: PathBuf,
    },
    /// No allowed root was given.
    #[error(
        "no allowed directory was given: name at least one with --root DIR or as a positional DIR"
    )]
    NoRoots,
    /// The operating system refused the operation.
    #[error("{path}: {error}")]
    Io {
        /// The path the operation was on.
        path: PathBuf,
        /// What the operating system said (in the message, so not also the `source()`).
        error: io::Error,
    },
}

impl SandboxError {
    /// Maps an I/O error on `path` to the rule it reflects.
    fn from_io(path: &Path, source: io::Error) -> Self {
        let path = path.to_path_buf();
        match source.raw_os_error() {
            Some(libc::ELOOP) => return Self::SymlinkLoop { path },
            Some(libc::ENAMETOOLONG) => {
                return Self::TooLong {
                    len: path.as_os_str().len(),
                };
            }
            _ => {}
        }
        match source.kind() {
            io::ErrorKind::NotFound => Self::NotFound { path },
            _ => Self::Io {
                path,
                error: source,
            },
        }
    }
}

/// The allowed roots as error messages list them: comma-separated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootList(pub Vec<PathBuf>);

impl fmt::Display for RootList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, root) in self.0.iter().enumerate() {
            if index > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}", root.display())?;
        }
        Ok(())
    }
}

/// What a directory entry is, as tools report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// A regular file.
    File,
    /// A directory.
    Directory,
    /// A symbolic link (reported, never followed, by listings).
    Symlink,
    /// A named pipe.
    Fifo,
    /// A Unix domain socket.
    Socket,
    /// A character device.
    CharDevice,
    /// A block device.
    BlockDevice,
    /// Anything else.
    Other,
}

impl FileKind {
    /// The kind of a file type (from `lstat` when `file_type` comes from `symlink_metadata`).
    pub fn of(file_type: fs::FileType) -> Self {
        if file_type.is_symlink() {
            Self::Symlink
        } else if file_type.is_dir() {
            Self::Directory
        } else if file_type.is_file() {
            Self::File
        } else if file_type.is_fifo() {
            Self::Fifo
        } else if file_type.is_socket() {
            Self::Socket
        } else if file_type.is_char_device() {
            Self::CharDevice
        } else if file_type.is_block_device() {
            Self::BlockDevice
        } else {
            Self::Other
        }
    }

    /// The name tools use for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::File => "file",
            Self::Directory => "directory",
            Self::Symlink => "symlink",
            Self::Fifo => "FIFO (named pipe)",
            Self::Socket => "socket",
            Self::CharDevice => "character device",
            Self::BlockDevice => "block device",
            Self::Other => "special file",
        }
    }
}

impl fmt::Display for FileKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The directories a client may use, canonicalised once at startup.
#[derive(Debug, Clone)]
pub struct AllowedRoots {
    roots: Vec<PathBuf>,
    /// The roots as directory descriptors, for the kernel's lookup ([`beneath`]).
    #[cfg(target_os = "linux")]
    dirs: std::sync::Arc<beneath::RootDirs>,
}

impl AllowedRoots {
    /// Canonicalises `dirs` (resolving symbolic links, so later component comparisons are
    /// exact) and checks each is an existing directory. Duplicates are dropped; the order is
    /// kept, because relative paths resolve against the first root.
    pub fn new<I, P>(dirs: I) -> Result<Self, SandboxError>
    where
        I: IntoIterator<Item = P>,
        P: AsRef<Path>,
    {
        let mut roots: Vec<PathBuf> = Vec::new();
        for dir in dirs {
            let dir = dir.as_ref();
            let canonical = fs::canonicalize(dir).map_err(|source| match source.kind() {
                io::ErrorKind::NotFound => SandboxError::RootMissing {
                    path: dir.to_path_buf(),
                },
                _ => SandboxError::Io {
                    path: dir.to_path_buf(),
                    error: source,
                },
            })?;
            if !canonical.is_dir() {
                return Err(SandboxError::RootNotDirectory {
                    path: dir.to_path_buf(),
                });
            }
            if !roots.contains(&canonical) {
                roots.push(canonical);
            }
        }
        if roots.is_empty() {
            return Err(SandboxError::NoRoots);
        }
        Ok(Self {
            #[cfg(target_os = "linux")]
            dirs: std::sync::Arc::new(beneath::RootDirs::new(&roots)),
            roots,
        })
    }

    /// The canonical roots, the first being the base of relative paths.
    pub fn roots(&self) -> &[PathBuf] {
        &self.roots
    }

    /// Whether `path` (already canonical) lies inside an allowed root, by components.
    pub fn contains(&self, path: &Path) -> bool {
        self.roots.iter().any(|root| path.starts_with(root))
    }

    /// Refuses `resolved` unless it lies inside an allowed root.
    pub fn check(&self, resolved: &Path) -> Result<(), SandboxError> {
        if self.contains(resolved) {
            Ok(())
        } else {
            Err(SandboxError::Outside {
                path: resolved.to_path_buf(),
                allowed: self.root_list(),
            })
        }
    }

    fn root_list(&self) -> RootList {
        RootList(self.roots.clone())
    }

    /// Resolves a client's path to an absolute path without symbolic links that lies inside
    /// an allowed root; it may not exist yet. See the module doc for the steps.
    pub fn resolve(&self, raw: &str) -> Result<PathBuf, SandboxError> {
        let normalised = self.normalised(raw)?;
        let resolved = resolve_links(&normalised)?;
        if self.contains(&resolved) {
            return Ok(resolved);
        }
        // Say which rule applied: the path itself pointed outside, or a link on it did.
        if self.contains(&normalised) {
            Err(SandboxError::SymlinkOutside {
                path: normalised,
                target: resolved,
                allowed: self.root_list(),
            })
        } else {
            Err(SandboxError::Outside {
                path: normalised,
                allowed: self.root_list(),
            })
        }
    }

    /// Steps 1 to 3 of the module doc: the validated, absolute, lexically normalised path.
    fn normalised(&self, raw: &str) -> Result<PathBuf, SandboxError> {
        validate_text(raw)?;
        let given = Path::new(raw);
        Ok(if given.is_absolute() {
            normalise(given)
        } else {
            normalise(&self.roots[0].join(given))
        })
    }

    /// Resolves a path that must exist, returning it with its metadata.
    pub fn resolve_existing(&self, raw: &str) -> Result<(PathBuf, Metadata), SandboxError> {
        let path = self.resolve(raw)?;
        // The resolved path has no symbolic links left, so `symlink_metadata` describes the
        // thing itself; were one swapped in since, it reports the link, not its target.
        let metadata =
            fs::symlink_metadata(&path).map_err(|error| SandboxError::from_io(&path, error))?;
        Ok((path, metadata))
    }

    /// Resolves a path that must be an existing directory.
    pub fn resolve_dir(&self, raw: &str) -> Result<PathBuf, SandboxError> {
        let (path, metadata) = self.resolve_existing(raw)?;
        if metadata.is_dir() {
            Ok(path)
        } else {
            Err(SandboxError::NotDirectory { path })
        }
    }

    /// Opens a regular file for reading without blocking and without following links,
    /// refusing FIFOs, sockets, devices and files over `limit` bytes.
    pub fn open_regular(&self, raw: &str, limit: u64) -> Result<(PathBuf, File), SandboxError> {
        self.open_regular_sized(raw, limit)
            .map(|(path, file, _size)| (path, file))
    }

    /// [`open_regular`](Self::open_regular), also returning the opened file's size.
    fn open_regular_sized(
        &self,
        raw: &str,
        limit: u64,
    ) -> Result<(PathBuf, File, u64), SandboxError> {
        #[cfg(target_os = "linux")]
        if let Some(opened) = self.open_regular_beneath(raw, limit)? {
            return Ok(opened);
        }
        let (path, metadata) = self.resolve_existing(raw)?;
        refuse_non_regular(&path, &metadata)?;
        refuse_too_large(&path, metadata.len(), limit)?;
        // O_NONBLOCK: a FIFO swapped in after the check must not hang the open.
        // O_NOFOLLOW: a symbolic link swapped in for the last component fails with ELOOP.
        let file = fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW)
            .open(&path)
            .map_err(|error| SandboxError::from_io(&path, error))?;
        // Check what was opened, not what was looked at: this closes the gap between check
        // and use for the file type and size.
        let opened = file
            .metadata()
            .map_err(|error| SandboxError::from_io(&path, error))?;
        refuse_non_regular(&path, &opened)?;
        refuse_too_large(&path, opened.len(), limit)?;
        self.check_opened(&path, &file)?;
        Ok((path, file, opened.len()))
    }

    /// The kernel's way to [`open_regular`](Self::open_regular)'s answer (see [`beneath`]):
    /// `Ok(None)` whenever it is not a plain yes, and the caller then walks in user space,
    /// which gives every refusal its usual message.
    ///
    /// Two lookups, each beneath the root and through no link: an `O_PATH` one to learn
    /// what the path names without opening it (a device is never opened, as in the walk),
    /// then the read-only open, whose descriptor is checked again (type and size), as the
    /// walk checks it. Its path is the canonical one: the root is canonical and the rest
    /// has no `.`, `..` or link.
    #[cfg(target_os = "linux")]
    fn open_regular_beneath(
        &self,
        raw: &str,
        limit: u64,
    ) -> Result<Option<(PathBuf, File, u64)>, SandboxError> {
        use rustix::fs::OFlags;
        let path = self.normalised(raw)?;
        let Some((index, relative)) = self
            .roots
            .iter()
            .enumerate()
            .find_map(|(index, root)| Some((index, path.strip_prefix(root).ok()?)))
        else {
            return Ok(None);
        };
        let acceptable = |metadata: &Metadata| metadata.is_file() && metadata.len() <= limit;
        // O_PATH | O_NOFOLLOW opens a final symbolic link itself: its type says "not a
        // file" below, and the walk takes over.
        let Some(handle) = self.dirs.open_beneath(index, relative, OFlags::PATH) else {
            return Ok(None);
        };
        if !handle
            .metadata()
            .is_ok_and(|metadata| acceptable(&metadata))
        {
            return Ok(None);
        }
        drop(handle);
        // O_NONBLOCK: a FIFO swapped in after the check must not hang the open.
        let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY;
        let Some(file) = self.dirs.open_beneath(index, relative, flags) else {
            return Ok(None);
        };
        match file.metadata() {
            Ok(opened) if acceptable(&opened) => Ok(Some((path, file, opened.len()))),
            _ => Ok(None),
        }
    }

    /// On Linux, checks where the open descriptor really points, in case a directory on the
    /// path was swapped for a symbolic link after resolution.
    fn check_opened(&self, path: &Path, file: &File) -> Result<(), SandboxError> {
        use std::os::fd::AsRawFd;
        let link = format!("/proc/self/fd/{}", file.as_raw_fd());
        match fs::read_link(link) {
            Ok(real) if real.is_absolute() && !self.contains(&real) => {
                Err(SandboxError::SymlinkOutside {
                    path: path.to_path_buf(),
                    target: real,
                    allowed: self.root_list(),
                })
            }
            // Without /proc (other systems, restricted containers) the earlier checks stand.
            _ => Ok(()),
        }
    }

    /// Reads a regular file as UTF-8 text, at most `limit` bytes.
    pub fn read_text(&self, raw: &str, limit: u64) -> Result<(PathBuf, String), SandboxError> {
        let (path, file, size) = self.open_regular_sized(raw, limit)?;
        // Room for the whole file and one byte more, so it is read in one call (and a
        // second that finds the end) instead of growing the buffer from a small probe.
        let capacity = usize::try_from(size.min(limit).saturating_add(1)).unwrap_or(usize::MAX);
        let mut bytes = Vec::with_capacity(capacity);
        // One byte over the limit tells a file that grew after the size check.
        file.take(limit.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(|error| SandboxError::from_io(&path, error))?;
        refuse_too_large(&path, bytes.len() as u64, limit)?;
        if bytes.contains(&0) {
            return Err(SandboxError::Binary { path });
        }
        match String::from_utf8(bytes) {
            Ok(text) => Ok((path, text)),
            Err(_) => Err(SandboxError::Binary { path }),
        }
    }

    /// Writes `content` to a file atomically: a temporary file in the same directory, then a
    /// rename over the target, so readers never see a half-written file. The parent
    /// directory must exist; an existing target must be a regular file.
    pub fn write_atomic(&self, raw: &str, content: &[u8]) -> Result<PathBuf, SandboxError> {
        let path = self.resolve(raw)?;
        match fs::symlink_metadata(&path) {
            Ok(metadata) if metadata.is_dir() => return Err(SandboxError::IsDirectory { path }),
            Ok(metadata) if !metadata.is_file() => {
                return Err(SandboxError::NotRegularFile {
                    kind: FileKind::of(metadata.file_type()),
                    path,
                });
            }
            Ok(_) => {}
            Err(error) if error.kind() == io::ErrorKind::NotFound => {}
            Err(error) => return Err(SandboxError::from_io(&path, error)),
        }
        let parent = match path.parent() {
            Some(parent) => parent,
            None => return Err(SandboxError::IsDirectory { path }),
        };
        match fs::symlink_metadata(parent) {
            Ok(metadata) if metadata.is_dir() => {}
            Ok(_) => {
                return Err(SandboxError::NotDirectory {
                    path: parent.to_path_buf(),
                });
            }
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                return Err(SandboxError::ParentMissing { path });
            }
            Err(error) => return Err(SandboxError::from_io(parent, error)),
        }
        let io_error = |error: io::Error| SandboxError::from_io(&path, error);
        let mut temporary = tempfile::Builder::new()
            .prefix(".file-server-")
            .suffix(".tmp")
            .tempfile_in(parent)
            .map_err(io_error)?;
        temporary.write_all(content).map_err(io_error)?;
        temporary.as_file().sync_all().map_err(io_error)?;
        // rename(2) replaces the target entry itself; it never follows a link at the target.
        temporary
            .persist(&path)
            .map_err(|error| SandboxError::from_io(&path, error.error))?;
        Ok(path)
    }

    /// Creates a directory and any missing parents inside an allowed root. An existing
    /// directory is fine; anything else at the path is refused.
    pub fn create_dir(&self, raw: &str) -> Result<PathBuf, SandboxError> {
        let path = self.resolve(raw)?;
        fs::create_dir_all(&path).map_err(|error| match fs::symlink_metadata(&path) {
            Ok(metadata) if !metadata.is_dir() => SandboxError::NotDirectory { path: path.clone() },
            _ => SandboxError::from_io(&path, error),
        })?;
        // A parent swapped for a link during creation would show up here.
        let created =
            fs::canonicalize(&path).map_err(|error| SandboxError::from_io(&path, error))?;
        self.check(&created)?;
        Ok(created)
    }
}

/// Refuses text that cannot be a sensible path before it touches the filesystem.
fn validate_text(raw: &str) -> Result<(), SandboxError> {
    if raw.is_empty() {
        return Err(SandboxError::Empty);
    }
    if raw.contains('\0') {
        return Err(SandboxError::NulByte);
    }
    if raw.len() > MAX_PATH_BYTES {
        return Err(SandboxError::TooLong { len: raw.len() });
    }
    if raw.chars().any(char::is_control) {
        return Err(SandboxError::ControlCharacter);
    }
    if raw.trim() != raw {
        return Err(SandboxError::SurroundingWhitespace {
            path: raw.to_owned(),
        });
    }
    Ok(())
}

/// Removes `.` and resolves `..` lexically; `..` at `/` stays at `/`.
///
/// The result, not the original, is what gets resolved, checked and opened, so the check
/// and the use always see the same path.
pub fn normalise(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Prefix(prefix) => out.push(prefix.as_os_str()),
            Component::RootDir => out.push(Component::RootDir),
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(name) => out.push(name),
        }
    }
    out
}

/// Resolves the symbolic links of an absolute, normalised path: the whole path if it
/// exists, else its nearest existing ancestor with the rest appended.
fn resolve_links(path: &Path) -> Result<PathBuf, SandboxError> {
    let mut existing = path;
    let mut tail: Vec<&std::ffi::OsStr> = Vec::new();
    loop {
        match fs::symlink_metadata(existing) {
            Ok(_) => break,
            Err(error)
                if error.kind() == io::ErrorKind::NotFound
                    || error.raw_os_error() == Some(libc::ENOTDIR) =>
            {
                let (Some(parent), Some(name)) = (existing.parent(), existing.file_name()) else {
                    // Only `/` has no parent, and `/` always exists.
                    return Err(SandboxError::from_io(path, error));
                };
                tail.push(name);
                existing = parent;
            }
            Err(error) => return Err(SandboxError::from_io(path, error)),
        }
    }
    let mut resolved = fs::canonicalize(existing).map_err(|error| {
        if error.kind() == io::ErrorKind::NotFound {
            // `existing` is there (lstat succeeded) but cannot be followed.
            SandboxError::DanglingSymlink {
                path: existing.to_path_buf(),
            }
        } else {
            SandboxError::from_io(path, error)
        }
    })?;
    // The appended names do not exist, so they hold no links to resolve.
    for name in tail.into_iter().rev() {
        resolved.push(name);
    }
    Ok(resolved)
}

fn refuse_non_regular(path: &Path, metadata: &Metadata) -> Result<(), SandboxError> {
    let kind = FileKind::of(metadata.file_type());
    match kind {
        FileKind::File => Ok(()),
        FileKind::Directory => Err(SandboxError::IsDirectory {
            path: path.to_path_buf(),
        }),
        _ => Err(SandboxError::NotRegularFile {
            path: path.to_path_buf(),
            kind,
        }),
    }
}

fn refuse_too_large(path: &Path, size: u64, limit: u64) -> Result<(), SandboxError> {
    if size > limit {
        Err(SandboxError::TooLarge {
            path: path.to_path_buf(),
            size,
            limit,
        })
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalise_handles_dots_and_parents() {
        assert_eq!(normalise(Path::new("/a/./b/../c")), PathBuf::from("/a/c"));
        assert_eq!(normalise(Path::new("/../../etc")), PathBuf::from("/etc"));
        assert_eq!(normalise(Path::new("/a/b/../../..")), PathBuf::from("/"));
    }

    #[test]
    fn root_list_is_comma_separated() {
        let list = RootList(vec![PathBuf::from("/a"), PathBuf::from("/b")]);
        assert_eq!(list.to_string(), "/a, /b");
    }
}
