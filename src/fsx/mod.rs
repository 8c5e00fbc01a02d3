//! The only module that touches the filesystem beneath the state root, and the only one
//! that mutates it. Every path is opened relative to the root's directory descriptor with
//! `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)`, so neither `..` nor a symlink can lead
//! outside (a symlink the configuration explicitly trusts is the one exception, checked each
//! time it is crossed). Every replacement is write temp beside the target -> fsync -> rename
//! -> fsync directory, with the original mode, owner (and, for undo, mtime) set on the temp
//! file before the rename.
//!
//! Every mutating system call is made by a wrapper in [`sys`], which passes the call's
//! fault point (`fault`) and records its power-cut effect; clippy (`clippy.toml`) refuses
//! the mutating `rustix` calls anywhere else, so no change reaches the disk without its
//! point. The files: `read` (what is there), `space` (room and permissions), `write` (the
//! atomic replacement), `dirs` (entries of directories), `append` (files that only grow),
//! `tree` (selfheal's own directories whole), `lockfile`, `owner`, `xattr`, `probe`,
//! `stream`.

use crate::error::{Error, IoContext, IoOp, Result};
use crate::paths::RelPath;
use rustix::fd::OwnedFd;
use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags};
use std::path::{Path, PathBuf};

mod append;
mod dirs;
mod lockfile;
mod owner;
mod probe;
mod read;
mod space;
mod stream;
mod sys;
mod tree;
mod write;
mod xattr;

pub use append::AppendFile;
use dirs::{discard, fsync_dir};
pub use lockfile::{HeldLock, TryLock};
pub use probe::{Capabilities, Change};
pub use read::{read_regular, DirEntry, Entry, Kind, Read_, Stat};
pub use stream::{Flow, Piece};
pub use tree::{tree_size, DirSig};
pub use write::{Attrs, Replace};

/// Prefix of every temporary file selfheal creates beside a target.
pub const TMP_PREFIX: &str = ".selfheal-tmp.";

/// A symlink inside the root that the configuration trusts, and the directory it must name.
#[derive(Debug, Clone)]
pub struct TrustedLink {
    /// Where the link is, relative to the root.
    pub link: RelPath,
    /// The canonical directory it must resolve to.
    pub target: PathBuf,
}

/// The state root, held open.
#[derive(Debug)]
pub struct Root {
    fd: OwnedFd,
    path: PathBuf,
    trusted: Vec<TrustedLink>,
}

fn is_errno(e: &rustix::io::Errno, codes: &[rustix::io::Errno]) -> bool {
    codes.contains(e)
}

use rustix::io::Errno;

impl Root {
    /// Opens an existing root directory (the root itself may be reached through a symlink).
    ///
    /// # Errors
    /// [`Error::RootMissing`], [`Error::RootNotDir`], or an I/O error.
    pub fn open(path: &Path) -> Result<Root> {
        let fd = rustix::fs::open(
            path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| match e {
            Errno::NOENT => Error::RootMissing(path.to_path_buf()),
            Errno::NOTDIR => Error::RootNotDir(path.to_path_buf()),
            e => Error::io(IoOp::Open, path, e.into()),
        })?;
        Ok(Root {
            fd,
            path: path.to_path_buf(),
            trusted: Vec::new(),
        })
    }

    /// Creates the root (and missing parents) if needed, then opens it. Used by `--init`.
    ///
    /// # Errors
    /// An I/O error naming the root.
    pub fn create(path: &Path) -> Result<Root> {
        sys::create_root_dirs(path).ctx(IoOp::Mkdir, path)?;
        Root::open(path)
    }

    /// Sets the symlinks that may be crossed.
    pub fn set_trusted(&mut self, trusted: Vec<TrustedLink>) {
        self.trusted = trusted;
    }

    /// The root as given.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The root's canonical absolute path (symlinks resolved), to compare with paths the
    /// kernel reports, such as a process's working directory.
    ///
    /// # Errors
    /// An I/O error naming the root.
    pub fn canonical_path(&self) -> Result<PathBuf> {
        use rustix::fd::AsRawFd;
        // The directory actually held open, even if a link on the way was flipped since.
        let link = format!("/proc/self/fd/{}", self.fd.as_raw_fd());
        match std::fs::read_link(link) {
            Ok(p) if p.is_absolute() => Ok(p),
            _ => std::fs::canonicalize(&self.path).ctx(IoOp::Stat, &self.path),
        }
    }

    /// An absolute-ish display path for a relative path.
    pub fn display(&self, rel: &RelPath) -> PathBuf {
        self.path.join(rel.as_path())
    }

    fn dup_root(&self) -> rustix::io::Result<OwnedFd> {
        sys::open(
            &self.fd,
            ".",
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        )
    }

    /// Opens the directory `rel` (or the root for `None`) without following symlinks.
    fn open_dir_raw(&self, rel: Option<&RelPath>) -> rustix::io::Result<OwnedFd> {
        let Some(rel) = rel else {
            return self.dup_root();
        };
        if let Some(t) = self.trusted.iter().find(|t| rel.starts_with(&t.link)) {
            let base = self.cross_trusted(t)?;
            let rest = rel.as_str().get(t.link.as_str().len()..).unwrap_or("");
            let rest = rest.trim_start_matches('/');
            if rest.is_empty() {
                return Ok(base);
            }
            return open_dir_beneath(&base, rest);
        }
        open_dir_beneath(&self.fd, rel.as_str())
    }

    /// Opens a trusted link's target after checking it still names the configured directory.
    fn cross_trusted(&self, t: &TrustedLink) -> rustix::io::Result<OwnedFd> {
        let parent = self.open_dir_raw(t.link.parent().as_ref())?;
        let st = rustix::fs::statat(&parent, t.link.file_name(), AtFlags::SYMLINK_NOFOLLOW)?;
        if FileType::from_raw_mode(st.st_mode) != FileType::Symlink {
            return open_dir_beneath(&parent, t.link.file_name());
        }
        let resolved = std::fs::canonicalize(self.path.join(t.link.as_path()))
            .map_err(|e| Errno::from_io_error(&e).unwrap_or(Errno::IO))?;
        if resolved != t.target {
            return Err(Errno::LOOP);
        }
        rustix::fs::open(
            &t.target,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
    }

    /// Opens the parent directory of `rel`.
    fn parent_fd(&self, rel: &RelPath) -> Result<OwnedFd> {
        let parent = rel.parent();
        self.open_dir_raw(parent.as_ref()).ctx(
            IoOp::Open,
            parent.map_or_else(|| PathBuf::from("."), |p| p.as_path().into()),
        )
    }

    /// Opens directory `rel` for locking or listing (never through an untrusted symlink).
    ///
    /// # Errors
    /// The failing call and the path.
    pub fn open_dir(&self, rel: &RelPath) -> Result<OwnedFd> {
        self.open_dir_raw(Some(rel)).ctx(IoOp::Open, rel.as_path())
    }
}

/// Whether `openat2` is unavailable (kernels before 5.6, some sandboxes and tools):
/// resolution then walks the path one component at a time with `O_NOFOLLOW`.
static NO_OPENAT2: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Opens the directory `rel` (relative, already validated: no `..`, no absolute path)
/// beneath `base` without following any symlink: `openat2(RESOLVE_BENEATH |
/// RESOLVE_NO_SYMLINKS)`, or, where that call does not exist, a walk that opens each
/// component with `O_NOFOLLOW | O_DIRECTORY` (a symlink component fails with `ELOOP` or
/// `ENOTDIR` either way).
fn open_dir_beneath(base: &OwnedFd, rel: &str) -> rustix::io::Result<OwnedFd> {
    use std::sync::atomic::Ordering;
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC | OFlags::NOFOLLOW;
    if !NO_OPENAT2.load(Ordering::Relaxed) {
        let resolve = ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS;
        match sys::open_beneath(base, rel, flags, resolve) {
            Err(Errno::NOSYS) => NO_OPENAT2.store(true, Ordering::Relaxed),
            other => return other,
        }
    }
    let mut cur = sys::open(base, ".", flags)?;
    for component in rel.split('/') {
        if component.is_empty() || component == "." || component == ".." {
            return Err(Errno::XDEV);
        }
        cur = sys::open(&cur, component, flags)?;
    }
    Ok(cur)
}

fn display_rel(rel: Option<&RelPath>) -> PathBuf {
    rel.map_or_else(|| PathBuf::from("."), |r| r.as_path().to_path_buf())
}

fn parent_display(rel: &RelPath) -> PathBuf {
    display_rel(rel.parent().as_ref())
}

fn tmp_display(rel: &RelPath, tmp_name: &str) -> PathBuf {
    parent_display(rel).join(tmp_name)
}

/// The owner of files this process creates.
pub fn current_owner() -> (u32, u32) {
    (
        rustix::process::geteuid().as_raw(),
        rustix::process::getegid().as_raw(),
    )
}
