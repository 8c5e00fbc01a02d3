//! The only module that touches the filesystem beneath the state root, and the only one
//! that mutates it. Every path is opened relative to the root's directory descriptor with
//! `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)`, so neither `..` nor a symlink can lead
//! outside (a symlink the configuration explicitly trusts is the one exception, checked each
//! time it is crossed). Every replacement is write temp beside the target -> fsync -> rename
//! -> fsync directory, with the original mode, owner (and, for undo, mtime) set on the temp
//! file before the rename. Every mutating call passes a fault point first (`fault`).

use crate::error::{Error, IoContext, IoOp, Result};
use crate::fault::{self, Point};
use crate::paths::RelPath;
use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::{
    AtFlags, FileType, Mode, OFlags, RenameFlags, ResolveFlags, Timespec, Timestamps,
};
use std::io::{Read, Seek};
use std::path::{Path, PathBuf};

mod lockfile;
mod owner;
mod probe;
mod stream;
mod sys;
mod tree;
mod xattr;

pub use lockfile::{record_lock_held, HeldLock, TryLock, LOCK_MODE};
pub use probe::{Capabilities, Change};
pub use stream::{Flow, Piece};
pub use tree::DirSig;
pub use xattr::{kept as xattr_kept, ACL_ACCESS};

/// Prefix of every temporary file selfheal creates beside a target.
pub const TMP_PREFIX: &str = ".selfheal-tmp.";

/// What a path is, without following a symlink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link (never followed).
    Symlink,
    /// A FIFO, socket or device.
    Special,
}

/// The metadata selfheal keeps about a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    /// What it is.
    pub kind: Kind,
    /// Permission bits (`& 0o7777`).
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Size in bytes.
    pub size: u64,
    /// Modification time, seconds.
    pub mtime_sec: i64,
    /// Modification time, nanoseconds.
    pub mtime_nsec: u32,
    /// Status change time (ctime), seconds: set by the kernel to the current time on every
    /// change of the content or the metadata; no process can set it to another value.
    pub ctime_sec: i64,
    /// Status change time, nanoseconds.
    pub ctime_nsec: u32,
    /// Hard link count.
    pub nlink: u64,
    /// Inode number.
    pub ino: u64,
    /// Device.
    pub dev: u64,
}

impl Stat {
    fn from_raw(st: &rustix::fs::Stat) -> Stat {
        let kind = match FileType::from_raw_mode(st.st_mode) {
            FileType::RegularFile => Kind::File,
            FileType::Directory => Kind::Dir,
            FileType::Symlink => Kind::Symlink,
            _ => Kind::Special,
        };
        Stat {
            kind,
            mode: st.st_mode & 0o7777,
            uid: st.st_uid,
            gid: st.st_gid,
            size: u64::try_from(st.st_size).unwrap_or(0),
            mtime_sec: st.st_mtime,
            mtime_nsec: u32::try_from(st.st_mtime_nsec).unwrap_or(0),
            ctime_sec: st.st_ctime,
            ctime_nsec: u32::try_from(st.st_ctime_nsec).unwrap_or(0),
            nlink: st.st_nlink,
            ino: st.st_ino,
            dev: st.st_dev,
        }
    }
}

/// What is at a path, seen from inside the root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    /// Nothing (the parent may be missing too).
    Absent,
    /// Something, with its metadata (a symlink is reported as itself, not its target).
    Present(Stat),
    /// A parent component is a symlink or not a directory: the path cannot be reached
    /// without following a link.
    Unreachable,
}

/// The result of reading a file.
#[derive(Debug)]
pub enum Read_ {
    /// Nothing there.
    Absent,
    /// A regular file: its bytes and metadata.
    File(Vec<u8>, Stat),
    /// Something that is not a regular file (symlink, directory, FIFO, ...).
    NotFile(Kind),
    /// A parent component is a symlink or not a directory.
    Unreachable,
    /// Larger than the cap: not read.
    TooLarge(u64),
}

/// Owner, mode, (optionally) mtime and extended attributes to give a file written by
/// [`Root::write_atomic`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attrs<'a> {
    /// Permission bits.
    pub mode: u32,
    /// Owner to set, when it differs from the writer's.
    pub owner: Option<(u32, u32)>,
    /// Modification time to set (seconds, nanoseconds); `None` keeps "now".
    pub mtime: Option<(i64, u32)>,
    /// The kept extended attributes the file gets, exactly (`None`: whatever a new file in
    /// its directory gets, such as a default ACL).
    pub xattrs: Option<&'a journal_format::Xattrs>,
}

/// Whether an atomic write may replace an existing file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replace {
    /// The target must exist and is replaced.
    Existing,
    /// The target must not exist (rename with RENAME_NOREPLACE).
    NoClobber,
}

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
        #[allow(clippy::disallowed_methods)]
        std::fs::create_dir_all(path).ctx(IoOp::Mkdir, path)?;
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
        rustix::fs::openat(
            &self.fd,
            ".",
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
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

    /// What is at `rel`, never following a symlink.
    ///
    /// # Errors
    /// I/O errors other than "absent" and "a parent is a symlink / not a directory".
    pub fn entry(&self, rel: &RelPath) -> Result<Entry> {
        let parent = match self.open_dir_raw(rel.parent().as_ref()) {
            Ok(fd) => fd,
            Err(Errno::NOENT) => return Ok(Entry::Absent),
            Err(e) if is_errno(&e, &[Errno::LOOP, Errno::NOTDIR, Errno::XDEV]) => {
                return Ok(Entry::Unreachable)
            }
            Err(e) => return Err(Error::io(IoOp::Stat, rel.as_path(), e.into())),
        };
        if self.trusted.iter().any(|t| &t.link == rel) {
            return match self.open_dir_raw(Some(rel)) {
                Ok(fd) => Ok(Entry::Present(Stat::from_raw(
                    &rustix::fs::fstat(&fd).ctx(IoOp::Stat, rel.as_path())?,
                ))),
                Err(_) => Ok(Entry::Unreachable),
            };
        }
        match rustix::fs::statat(&parent, rel.file_name(), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => Ok(Entry::Present(Stat::from_raw(&st))),
            Err(Errno::NOENT) => Ok(Entry::Absent),
            Err(e) => Err(Error::io(IoOp::Stat, rel.as_path(), e.into())),
        }
    }

    /// Reads a regular file, refusing anything else and anything over `cap` bytes.
    ///
    /// # Errors
    /// I/O errors while opening or reading.
    pub fn read(&self, rel: &RelPath, cap: u64) -> Result<Read_> {
        let (file, stat) = match self.open_regular(rel, cap)? {
            Ok(open) => open,
            Err(other) => return Ok(other),
        };
        let mut bytes = Vec::with_capacity(usize::try_from(stat.size).unwrap_or(0));
        file.take(cap.saturating_add(1))
            .read_to_end(&mut bytes)
            .ctx(IoOp::Read, rel.as_path())?;
        if bytes.len() as u64 > cap {
            return Ok(Read_::TooLarge(bytes.len() as u64));
        }
        Ok(Read_::File(bytes, stat))
    }

    /// Like [`Root::read`], but hands a regular file's bytes to `sink` in chunks of at most
    /// 1 MiB instead of keeping them (`Read_::File` then holds no bytes): a large file is
    /// checked (hashed) without a buffer of its size. On `TooLarge` the sink may have seen
    /// a prefix.
    ///
    /// # Errors
    /// I/O errors while opening or reading.
    pub fn read_chunks(
        &self,
        rel: &RelPath,
        cap: u64,
        sink: &mut dyn FnMut(&[u8]),
    ) -> Result<Read_> {
        let (mut file, stat) = match self.open_regular(rel, cap)? {
            Ok(open) => open,
            Err(other) => return Ok(other),
        };
        let mut buf = vec![0u8; 1 << 20];
        let mut total: u64 = 0;
        loop {
            let n = match file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::io(IoOp::Read, rel.as_path(), e)),
            };
            total += n as u64;
            if total > cap {
                return Ok(Read_::TooLarge(total));
            }
            sink(buf.get(..n).unwrap_or_default());
        }
        Ok(Read_::File(Vec::new(), stat))
    }

    /// The first `max` bytes (fewer in a shorter file) of the regular file `rel`; `None`
    /// when there is no regular file there.
    ///
    /// # Errors
    /// I/O errors while opening or reading.
    pub fn read_head(&self, rel: &RelPath, max: u64) -> Result<Option<Vec<u8>>> {
        let Ok((file, _)) = self.open_regular(rel, u64::MAX)? else {
            return Ok(None);
        };
        let mut out = Vec::new();
        file.take(max)
            .read_to_end(&mut out)
            .map_err(|e| Error::io(IoOp::Read, rel.as_path(), e))?;
        Ok(Some(out))
    }

    /// Opens `rel` for reading when it is a regular file of at most `cap` bytes (by its
    /// metadata); otherwise what it is.
    fn open_regular(
        &self,
        rel: &RelPath,
        cap: u64,
    ) -> Result<std::result::Result<(std::fs::File, Stat), Read_>> {
        let parent = match self.open_dir_raw(rel.parent().as_ref()) {
            Ok(fd) => fd,
            Err(Errno::NOENT) => return Ok(Err(Read_::Absent)),
            Err(e) if is_errno(&e, &[Errno::LOOP, Errno::NOTDIR, Errno::XDEV]) => {
                return Ok(Err(Read_::Unreachable))
            }
            Err(e) => return Err(Error::io(IoOp::Open, rel.as_path(), e.into())),
        };
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
        let fd = match rustix::fs::openat(&parent, rel.file_name(), flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::NOENT) => return Ok(Err(Read_::Absent)),
            Err(Errno::LOOP) => return Ok(Err(Read_::NotFile(Kind::Symlink))),
            Err(e) if is_errno(&e, &[Errno::NXIO, Errno::NODEV]) => {
                return Ok(Err(Read_::NotFile(Kind::Special)))
            }
            Err(e) => return Err(Error::io(IoOp::Open, rel.as_path(), e.into())),
        };
        let stat = Stat::from_raw(&rustix::fs::fstat(&fd).ctx(IoOp::Stat, rel.as_path())?);
        if stat.kind != Kind::File {
            return Ok(Err(Read_::NotFile(stat.kind)));
        }
        if stat.size > cap {
            return Ok(Err(Read_::TooLarge(stat.size)));
        }
        Ok(Ok((std::fs::File::from(fd), stat)))
    }

    /// Reads at most the last `max` bytes of the regular file `rel` (the recent lines of a
    /// log), with the offset they start at. `None` when there is no regular file there.
    ///
    /// # Errors
    /// I/O errors while opening or reading.
    pub fn read_tail(&self, rel: &RelPath, max: u64) -> Result<Option<(Vec<u8>, u64)>> {
        let parent = match self.open_dir_raw(rel.parent().as_ref()) {
            Ok(fd) => fd,
            Err(Errno::NOENT | Errno::LOOP | Errno::NOTDIR | Errno::XDEV) => return Ok(None),
            Err(e) => return Err(Error::io(IoOp::Open, rel.as_path(), e.into())),
        };
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
        let fd = match rustix::fs::openat(&parent, rel.file_name(), flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::NOENT | Errno::LOOP | Errno::NXIO | Errno::NODEV) => return Ok(None),
            Err(e) => return Err(Error::io(IoOp::Open, rel.as_path(), e.into())),
        };
        let stat = Stat::from_raw(&rustix::fs::fstat(&fd).ctx(IoOp::Stat, rel.as_path())?);
        if stat.kind != Kind::File {
            return Ok(None);
        }
        let start = stat.size.saturating_sub(max);
        let mut file = std::fs::File::from(fd);
        file.seek(std::io::SeekFrom::Start(start))
            .ctx(IoOp::Read, rel.as_path())?;
        let mut bytes = Vec::with_capacity(usize::try_from(stat.size - start).unwrap_or(0));
        file.take(max)
            .read_to_end(&mut bytes)
            .ctx(IoOp::Read, rel.as_path())?;
        Ok(Some((bytes, start)))
    }

    /// The names in directory `rel` with their kinds, sorted by name. Names that are not
    /// UTF-8 are returned lossily with `utf8 = false` so callers can report them.
    ///
    /// # Errors
    /// I/O errors; an absent directory is an empty list.
    pub fn list(&self, rel: Option<&RelPath>) -> Result<Vec<DirEntry>> {
        let fd = match self.open_dir_raw(rel) {
            Ok(fd) => fd,
            Err(Errno::NOENT) => return Ok(Vec::new()),
            Err(e) => return Err(Error::io(IoOp::ReadDir, display_rel(rel), e.into())),
        };
        let dir = rustix::fs::Dir::read_from(&fd).ctx(IoOp::ReadDir, display_rel(rel))?;
        let mut out = Vec::new();
        for item in dir {
            let item = item.ctx(IoOp::ReadDir, display_rel(rel))?;
            let raw = item.file_name().to_bytes();
            if raw == b"." || raw == b".." {
                continue;
            }
            let name = String::from_utf8_lossy(raw).into_owned();
            let kind = match item.file_type() {
                FileType::RegularFile => Kind::File,
                FileType::Directory => Kind::Dir,
                FileType::Symlink => Kind::Symlink,
                _ => Kind::Special,
            };
            out.push(DirEntry {
                utf8: std::str::from_utf8(raw).is_ok(),
                name,
                kind,
            });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Free bytes for an unprivileged writer on the filesystem holding `rel` (or the root).
    ///
    /// # Errors
    /// I/O errors from `fstatvfs`.
    pub fn available_space(&self, rel: Option<&RelPath>) -> Result<u64> {
        let fd = self.open_dir_raw(rel).ctx(IoOp::Stat, display_rel(rel))?;
        let vfs = rustix::fs::fstatvfs(&fd).ctx(IoOp::Stat, display_rel(rel))?;
        Ok(fault::free_space(vfs.f_bavail.saturating_mul(vfs.f_frsize)))
    }

    /// The block size of the filesystem holding `rel` (or the root): what one more file
    /// or directory costs at least.
    ///
    /// # Errors
    /// I/O errors from `fstatvfs`.
    pub fn block_size(&self, rel: Option<&RelPath>) -> Result<u64> {
        let fd = self.open_dir_raw(rel).ctx(IoOp::Stat, display_rel(rel))?;
        let vfs = rustix::fs::fstatvfs(&fd).ctx(IoOp::Stat, display_rel(rel))?;
        Ok(vfs.f_frsize.max(vfs.f_bsize))
    }

    /// Total bytes of the filesystem holding `rel` (or the root).
    ///
    /// # Errors
    /// I/O errors from `fstatvfs`.
    pub fn total_space(&self, rel: Option<&RelPath>) -> Result<u64> {
        let fd = self.open_dir_raw(rel).ctx(IoOp::Stat, display_rel(rel))?;
        let vfs = rustix::fs::fstatvfs(&fd).ctx(IoOp::Stat, display_rel(rel))?;
        Ok(vfs.f_blocks.saturating_mul(vfs.f_frsize))
    }

    /// Whether this process may create files in directory `rel` (`faccessat(W_OK)`), without
    /// writing anything.
    ///
    /// # Errors
    /// I/O errors other than "not writable".
    pub fn writable(&self, rel: &RelPath) -> Result<bool> {
        self.writable_at(Some(rel))
    }

    /// [`Root::writable`] for directory `rel`, or the root itself.
    ///
    /// # Errors
    /// I/O errors other than "not writable".
    pub fn writable_at(&self, rel: Option<&RelPath>) -> Result<bool> {
        let fd = match self.open_dir_raw(rel) {
            Ok(fd) => fd,
            Err(Errno::NOENT) => return Ok(false),
            Err(e) => return Err(Error::io(IoOp::Open, display_rel(rel), e.into())),
        };
        match rustix::fs::accessat(&fd, ".", rustix::fs::Access::WRITE_OK, AtFlags::empty()) {
            Ok(()) => Ok(true),
            Err(Errno::ACCESS | Errno::ROFS | Errno::PERM) => Ok(false),
            Err(e) => Err(Error::io(IoOp::Stat, display_rel(rel), e.into())),
        }
    }

    /// Writes `bytes` to `rel` atomically: temp file `tmp_name` beside it, mode/owner/mtime,
    /// fsync, rename over (or beside, for [`Replace::NoClobber`]) the target, fsync directory.
    ///
    /// # Errors
    /// The first failing call, naming it and the path; the temp file is removed on a
    /// best-effort basis.
    pub fn write_atomic(
        &self,
        rel: &RelPath,
        bytes: &[u8],
        attrs: &Attrs<'_>,
        tmp_name: &str,
        replace: Replace,
    ) -> Result<()> {
        let mut chunks = std::iter::once(bytes);
        self.write_atomic_chunks(rel, &mut chunks, attrs, tmp_name, replace)
    }

    /// [`Self::write_atomic`] of the bytes `chunks` yields, in order (written as they come:
    /// one write of the file, however many chunks).
    ///
    /// # Errors
    /// As [`Self::write_atomic`].
    pub fn write_atomic_chunks(
        &self,
        rel: &RelPath,
        chunks: &mut dyn Iterator<Item = &[u8]>,
        attrs: &Attrs,
        tmp_name: &str,
        replace: Replace,
    ) -> Result<()> {
        let dir = self.parent_fd(rel)?;
        let tmp = self.create_temp(&dir, rel, tmp_name)?;
        let result = self.fill_and_rename(&dir, rel, tmp, chunks, attrs, tmp_name, replace);
        if result.is_err() {
            discard(&dir, &parent_display(rel), tmp_name, false);
            return result;
        }
        fsync_dir(&dir, &parent_display(rel))
    }

    fn create_temp(&self, dir: &OwnedFd, rel: &RelPath, tmp_name: &str) -> Result<OwnedFd> {
        let flags = OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let path = tmp_display(rel, tmp_name);
        let dir_path = parent_display(rel);
        fault::hit(Point::Create, &path).ctx(IoOp::Create, &path)?;
        let fd = match sys::create(dir, &dir_path, tmp_name, flags, 0o600) {
            Err(Errno::EXIST) => {
                // A leftover of an interrupted run with the same name: not ours to keep.
                fault::hit(Point::Remove, &path).ctx(IoOp::Remove, &path)?;
                sys::unlink(dir, &dir_path, tmp_name, false).ctx(IoOp::Remove, &path)?;
                fault::hit(Point::Create, &path).ctx(IoOp::Create, &path)?;
                sys::create(dir, &dir_path, tmp_name, flags, 0o600).ctx(IoOp::Create, &path)
            }
            other => other.ctx(IoOp::Create, &path),
        }?;
        owner::adopt(dir.as_fd(), fd.as_fd(), &path)?;
        Ok(fd)
    }

    #[allow(clippy::too_many_arguments)]
    fn fill_and_rename(
        &self,
        dir: &OwnedFd,
        rel: &RelPath,
        tmp: OwnedFd,
        chunks: &mut dyn Iterator<Item = &[u8]>,
        attrs: &Attrs<'_>,
        tmp_name: &str,
        replace: Replace,
    ) -> Result<()> {
        let path = tmp_display(rel, tmp_name);
        fault::hit(Point::Write, &path).ctx(IoOp::Write, &path)?;
        let mut file = std::fs::File::from(tmp);
        sys::write_all_chunks(&mut file, chunks).ctx(IoOp::Write, &path)?;
        set_attrs(&file, attrs, &path)?;
        fault::hit(Point::Fsync, &path).ctx(IoOp::Fsync, &path)?;
        sys::fsync(file.as_fd(), &path).ctx(IoOp::Fsync, &path)?;
        drop(file);
        let disp = rel.as_path();
        fault::hit(Point::Rename, disp).ctx(IoOp::Rename, disp)?;
        let flags = match replace {
            Replace::Existing => RenameFlags::empty(),
            Replace::NoClobber => RenameFlags::NOREPLACE,
        };
        sys::rename(dir, &parent_display(rel), tmp_name, rel.file_name(), flags)
            .ctx(IoOp::Rename, disp)
    }

    /// Removes the regular file `rel`, then fsyncs its directory.
    ///
    /// # Errors
    /// The failing call and the path.
    pub fn remove_file(&self, rel: &RelPath) -> Result<()> {
        let dir = self.parent_fd(rel)?;
        let disp = rel.as_path();
        fault::hit(Point::Remove, disp).ctx(IoOp::Remove, disp)?;
        sys::unlink(&dir, &parent_display(rel), rel.file_name(), false).ctx(IoOp::Remove, disp)?;
        fsync_dir(&dir, &parent_display(rel))
    }

    /// Unlinks the regular file `rel` *without* fsyncing its directory, for removing many
    /// files of one directory followed by one [`Root::sync_dir`] (pruning). Returns whether
    /// there was a file to remove.
    ///
    /// # Errors
    /// The failing call and the path; a directory or symlink at `rel` is refused.
    pub fn unlink(&self, rel: &RelPath) -> Result<bool> {
        match self.entry(rel)? {
            Entry::Absent => return Ok(false),
            Entry::Present(st) if st.kind == Kind::File => {}
            _ => return Err(Error::Refused(format!("{rel} is not a regular file"))),
        }
        let dir = self.parent_fd(rel)?;
        let disp = rel.as_path();
        fault::hit(Point::Remove, disp).ctx(IoOp::Remove, disp)?;
        match sys::unlink(&dir, &parent_display(rel), rel.file_name(), false) {
            Ok(()) => Ok(true),
            Err(Errno::NOENT) => Ok(false),
            Err(e) => Err(Error::io(IoOp::Remove, disp, e.into())),
        }
    }

    /// Removes the temp file or (empty) temp directory `name` in directory `dir_rel` if it
    /// is there.
    ///
    /// # Errors
    /// The failing call and the path.
    pub fn remove_temp(&self, dir_rel: Option<&RelPath>, name: &str, is_dir: bool) -> Result<()> {
        if !name.starts_with(TMP_PREFIX) {
            return Err(Error::Refused(format!(
                "{name:?} is not a selfheal temp file"
            )));
        }
        let disp = display_rel(dir_rel).join(name);
        let dir = self
            .open_dir_raw(dir_rel)
            .ctx(IoOp::Open, display_rel(dir_rel))?;
        fault::hit(Point::Remove, &disp).ctx(IoOp::Remove, &disp)?;
        match sys::unlink(&dir, &display_rel(dir_rel), name, is_dir) {
            Ok(()) | Err(Errno::NOENT) => {}
            Err(e) => return Err(Error::io(IoOp::Remove, disp, e.into())),
        }
        fsync_dir(&dir, &display_rel(dir_rel))
    }

    /// Creates directory `rel` with exactly `mode`, atomically: a temp directory `tmp_name`
    /// beside it gets the mode, then is renamed into place (`RENAME_NOREPLACE`), then the
    /// parent is fsynced. The name never appears with another mode, and an existing path is
    /// an error (`EEXIST`), so a plan never claims a directory it did not create.
    ///
    /// # Errors
    /// The failing call and the path.
    pub fn mkdir(&self, rel: &RelPath, mode: u32, tmp_name: &str) -> Result<()> {
        let parent = self.parent_fd(rel)?;
        let disp = rel.as_path();
        let tmp = tmp_display(rel, tmp_name);
        let parent_path = parent_display(rel);
        fault::hit(Point::Mkdir, &tmp).ctx(IoOp::Mkdir, &tmp)?;
        match sys::mkdir(&parent, &parent_path, tmp_name, 0o700) {
            Err(Errno::EXIST) => {
                fault::hit(Point::Remove, &tmp).ctx(IoOp::Remove, &tmp)?;
                sys::unlink(&parent, &parent_path, tmp_name, true).ctx(IoOp::Remove, &tmp)?;
                fault::hit(Point::Mkdir, &tmp).ctx(IoOp::Mkdir, &tmp)?;
                sys::mkdir(&parent, &parent_path, tmp_name, 0o700).ctx(IoOp::Mkdir, &tmp)?;
            }
            other => other.ctx(IoOp::Mkdir, &tmp)?,
        }
        let result = (|| {
            let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC | OFlags::NOFOLLOW;
            let fd = rustix::fs::openat(&parent, tmp_name, flags, Mode::empty())
                .ctx(IoOp::Open, &tmp)?;
            owner::adopt(parent.as_fd(), fd.as_fd(), &tmp)?;
            fault::hit(Point::Chmod, &tmp).ctx(IoOp::Chmod, &tmp)?;
            sys::fchmod(fd.as_fd(), mode).ctx(IoOp::Chmod, &tmp)?;
            // ORDER: the mode is durable before the name appears (POSIX promises an
            // inode's attributes only after an fsync of that inode).
            fault::hit(Point::Fsync, &tmp).ctx(IoOp::Fsync, &tmp)?;
            sys::fsync(fd.as_fd(), &tmp).ctx(IoOp::Fsync, &tmp)?;
            fault::hit(Point::Rename, disp).ctx(IoOp::Rename, disp)?;
            sys::rename(
                &parent,
                &parent_path,
                tmp_name,
                rel.file_name(),
                RenameFlags::NOREPLACE,
            )
            .ctx(IoOp::Rename, disp)
        })();
        if result.is_err() {
            discard(&parent, &parent_path, tmp_name, true);
            return result;
        }
        fsync_dir(&parent, &parent_path)
    }

    /// Creates selfheal's own directory `rel` (not journaled) with `mode`.
    fn mkdir_plain(&self, rel: &RelPath, mode: u32) -> Result<()> {
        let parent = self.parent_fd(rel)?;
        let disp = rel.as_path();
        let parent_path = parent_display(rel);
        fault::hit(Point::Mkdir, disp).ctx(IoOp::Mkdir, disp)?;
        sys::mkdir(&parent, &parent_path, rel.file_name(), mode).ctx(IoOp::Mkdir, disp)?;
        let fd = self.open_dir_raw(Some(rel)).ctx(IoOp::Open, disp)?;
        owner::adopt(parent.as_fd(), fd.as_fd(), disp)?;
        fault::hit(Point::Chmod, disp).ctx(IoOp::Chmod, disp)?;
        sys::fchmod(fd.as_fd(), mode).ctx(IoOp::Chmod, disp)?;
        // ORDER: the mode (which the umask may have narrowed at mkdir) is durable first.
        fsync_dir(&fd, disp)?;
        fsync_dir(&parent, &parent_path)
    }

    /// Creates directory `rel` if it is missing (used for selfheal's own directories).
    /// Returns whether it was created.
    ///
    /// # Errors
    /// The failing call and the path; an existing non-directory is an error.
    pub fn ensure_dir(&self, rel: &RelPath, mode: u32) -> Result<bool> {
        match self.entry(rel)? {
            Entry::Present(st) if st.kind == Kind::Dir => Ok(false),
            Entry::Present(_) | Entry::Unreachable => {
                // A trusted link to a directory reads as present dir above; anything else is not ours.
                Err(Error::io(
                    IoOp::Mkdir,
                    rel.as_path(),
                    std::io::Error::from_raw_os_error(20),
                ))
            }
            Entry::Absent => match self.mkdir_plain(rel, mode) {
                Ok(()) => Ok(true),
                Err(Error::Io { source, .. }) if source.raw_os_error() == Some(17) => Ok(false),
                Err(e) => Err(e),
            },
        }
    }

    /// Removes the empty directory `rel`, then fsyncs its parent.
    ///
    /// # Errors
    /// The failing call and the path (`ENOTEMPTY` if it is not empty).
    pub fn rmdir(&self, rel: &RelPath) -> Result<()> {
        let parent = self.parent_fd(rel)?;
        let disp = rel.as_path();
        fault::hit(Point::Remove, disp).ctx(IoOp::Remove, disp)?;
        sys::unlink(&parent, &parent_display(rel), rel.file_name(), true)
            .ctx(IoOp::Remove, disp)?;
        fsync_dir(&parent, &parent_display(rel))
    }

    /// Sets the permission bits of the file or directory `rel` (never through a symlink) and
    /// makes the change durable.
    ///
    /// # Errors
    /// The failing call and the path.
    pub fn set_mode(&self, rel: &RelPath, mode: u32) -> Result<()> {
        let parent = self.parent_fd(rel)?;
        let disp = rel.as_path();
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
        let fd = rustix::fs::openat(&parent, rel.file_name(), flags, Mode::empty())
            .ctx(IoOp::Open, disp)?;
        fault::hit(Point::Chmod, disp).ctx(IoOp::Chmod, disp)?;
        sys::fchmod(fd.as_fd(), mode).ctx(IoOp::Chmod, disp)?;
        fault::hit(Point::Fsync, disp).ctx(IoOp::Fsync, disp)?;
        sys::fsync(fd.as_fd(), disp).ctx(IoOp::Fsync, disp)
    }

    /// Opens directory `rel` for locking or listing (never through an untrusted symlink).
    ///
    /// # Errors
    /// The failing call and the path.
    pub fn open_dir(&self, rel: &RelPath) -> Result<OwnedFd> {
        self.open_dir_raw(Some(rel)).ctx(IoOp::Open, rel.as_path())
    }

    /// Creates a new file for appending (a journal or torn-tail file); it must not exist.
    /// The directory is fsynced by [`Root::sync_dir`] once the first bytes are durable.
    ///
    /// # Errors
    /// The failing call and the path.
    pub fn create_append(&self, rel: &RelPath, mode: u32) -> Result<AppendFile> {
        let dir = self.parent_fd(rel)?;
        let disp = rel.as_path();
        fault::hit(Point::Create, disp).ctx(IoOp::Create, disp)?;
        let flags = OFlags::WRONLY | OFlags::APPEND | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = sys::create(&dir, &parent_display(rel), rel.file_name(), flags, mode)
            .ctx(IoOp::Create, disp)?;
        owner::adopt(dir.as_fd(), fd.as_fd(), disp)?;
        fault::hit(Point::Chmod, disp).ctx(IoOp::Chmod, disp)?;
        sys::fchmod(fd.as_fd(), mode).ctx(IoOp::Chmod, disp)?;
        Ok(AppendFile {
            file: std::fs::File::from(fd),
            path: rel.clone(),
        })
    }

    /// Opens an existing file for appending.
    ///
    /// # Errors
    /// The failing call and the path.
    pub fn open_append(&self, rel: &RelPath) -> Result<AppendFile> {
        let dir = self.parent_fd(rel)?;
        let flags = OFlags::WRONLY | OFlags::APPEND | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = rustix::fs::openat(&dir, rel.file_name(), flags, Mode::empty())
            .ctx(IoOp::Open, rel.as_path())?;
        Ok(AppendFile {
            file: std::fs::File::from(fd),
            path: rel.clone(),
        })
    }

    /// Opens (creating with exactly `mode`, whatever the umask, if needed) a file for
    /// appending without fsync, for the alert log, whose lines are appended with one `write`
    /// each. An existing file keeps its mode. Anything but a regular file with one name is
    /// refused (a symlink, a FIFO, a file with further hard links), and the open never
    /// waits (a FIFO there must not hang the run).
    ///
    /// # Errors
    /// The failing call and the path.
    pub fn open_log(&self, rel: &RelPath, mode: u32) -> Result<AppendFile> {
        let dir = self.parent_fd(rel)?;
        let disp = rel.as_path();
        let not_file = |what: &str| {
            let e = std::io::Error::new(std::io::ErrorKind::InvalidInput, what.to_string());
            Error::io(IoOp::Open, disp, e)
        };
        match self.entry(rel)? {
            Entry::Present(st) if st.kind == Kind::Symlink => {
                return Err(not_file("it is a symlink (not followed)"))
            }
            Entry::Present(st) if st.kind != Kind::File => {
                return Err(not_file("it is not a regular file"))
            }
            _ => {}
        }
        fault::hit(Point::Create, disp).ctx(IoOp::Create, disp)?;
        let flags =
            OFlags::WRONLY | OFlags::APPEND | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
        let name = rel.file_name();
        let fd = match rustix::fs::openat(&dir, name, flags, Mode::empty()) {
            Err(Errno::NOENT) => {
                match sys::create(&dir, &parent_display(rel), name, flags, mode) {
                    Ok(fd) => {
                        owner::adopt(dir.as_fd(), fd.as_fd(), disp)?;
                        fault::hit(Point::Chmod, disp).ctx(IoOp::Chmod, disp)?;
                        sys::fchmod(fd.as_fd(), mode).ctx(IoOp::Chmod, disp)?;
                        Ok(fd)
                    }
                    // Created by another writer in between: append to theirs.
                    Err(Errno::EXIST) => rustix::fs::openat(&dir, name, flags, Mode::empty()),
                    Err(e) => Err(e),
                }
            }
            other => other,
        }
        .ctx(IoOp::Open, disp)?;
        let st = rustix::fs::fstat(&fd).ctx(IoOp::Stat, disp)?;
        if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
            return Err(not_file("it is not a regular file"));
        }
        // A second name may lie anywhere on the filesystem, outside the root too: what is
        // appended here must not land there.
        if st.st_nlink > 1 {
            return Err(not_file(&format!(
                "it has {} hard links (appended lines would also reach the other names)",
                st.st_nlink
            )));
        }
        Ok(AppendFile {
            file: std::fs::File::from(fd),
            path: rel.clone(),
        })
    }

    /// Fsyncs directory `rel`.
    ///
    /// # Errors
    /// The failing call and the path.
    pub fn sync_dir(&self, rel: &RelPath) -> Result<()> {
        let fd = self.open_dir(rel)?;
        fsync_dir(&fd, rel.as_path())
    }

    /// Truncates the regular file `rel` to `len` bytes and makes it durable (used only to cut
    /// a torn journal tail after the torn bytes were saved elsewhere).
    ///
    /// # Errors
    /// The failing call and the path.
    pub fn truncate(&self, rel: &RelPath, len: u64) -> Result<()> {
        let dir = self.parent_fd(rel)?;
        let disp = rel.as_path();
        let flags = OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = rustix::fs::openat(&dir, rel.file_name(), flags, Mode::empty())
            .ctx(IoOp::Open, disp)?;
        fault::hit(Point::Truncate, disp).ctx(IoOp::Truncate, disp)?;
        sys::ftruncate(&dir, rel.file_name(), fd.as_fd(), len).ctx(IoOp::Truncate, disp)?;
        fault::hit(Point::Fsync, disp).ctx(IoOp::Fsync, disp)?;
        sys::fsync(fd.as_fd(), disp).ctx(IoOp::Fsync, disp)
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
        match rustix::fs::openat2(base, rel, flags, Mode::empty(), resolve) {
            Err(Errno::NOSYS) => NO_OPENAT2.store(true, Ordering::Relaxed),
            other => return other,
        }
    }
    let mut cur = rustix::fs::openat(base, ".", flags, Mode::empty())?;
    for component in rel.split('/') {
        if component.is_empty() || component == "." || component == ".." {
            return Err(Errno::XDEV);
        }
        cur = rustix::fs::openat(&cur, component, flags, Mode::empty())?;
    }
    Ok(cur)
}

/// A directory entry from [`Root::list`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    /// The name (lossy if not UTF-8).
    pub name: String,
    /// What it is (from the directory, not followed).
    pub kind: Kind,
    /// Whether the name is valid UTF-8.
    pub utf8: bool,
}

/// A file opened for appending.
#[derive(Debug)]
pub struct AppendFile {
    file: std::fs::File,
    path: RelPath,
}

impl AppendFile {
    /// Appends `bytes` with one `write` call per attempt and fsyncs the file.
    ///
    /// # Errors
    /// The failing call and the path.
    pub fn append_sync(&mut self, bytes: &[u8]) -> Result<()> {
        self.append(bytes)?;
        let disp = self.path.as_path();
        fault::hit(Point::Fsync, disp).ctx(IoOp::Fsync, disp)?;
        sys::fdatasync(self.file.as_fd()).ctx(IoOp::Fsync, disp)
    }

    /// Appends `bytes` without fsync.
    ///
    /// # Errors
    /// The failing call and the path.
    pub fn append(&mut self, bytes: &[u8]) -> Result<()> {
        let disp = self.path.as_path();
        fault::hit(Point::Append, disp).ctx(IoOp::Append, disp)?;
        sys::write_all(&mut self.file, bytes).ctx(IoOp::Append, disp)
    }

    /// The file's path.
    pub fn path(&self) -> &RelPath {
        &self.path
    }

    /// Takes or tests an exclusive lock on the file (used by the alert log writer only to
    /// avoid interleaving with nothing: kept for completeness of the handle API).
    pub fn as_fd(&self) -> rustix::fd::BorrowedFd<'_> {
        self.file.as_fd()
    }
}

fn set_attrs(file: &std::fs::File, attrs: &Attrs<'_>, path: &Path) -> Result<()> {
    // ORDER: extended attributes first: an ACL written after the mode would set the group
    // bits from its mask; the mode set after it is exact (it sets the mask).
    if let Some(want) = attrs.xattrs {
        xattr::apply(file.as_fd(), want, path)?;
    }
    fault::hit(Point::Chmod, path).ctx(IoOp::Chmod, path)?;
    sys::fchmod(file.as_fd(), attrs.mode).ctx(IoOp::Chmod, path)?;
    if let Some((uid, gid)) = attrs.owner {
        fault::hit(Point::Chown, path).ctx(IoOp::Chown, path)?;
        sys::fchown(file.as_fd(), uid, gid).ctx(IoOp::Chown, path)?;
        // chown clears set-id bits; put the mode back exactly.
        fault::hit(Point::Chmod, path).ctx(IoOp::Chmod, path)?;
        sys::fchmod(file.as_fd(), attrs.mode).ctx(IoOp::Chmod, path)?;
    }
    if let Some((sec, nsec)) = attrs.mtime {
        fault::hit(Point::SetTimes, path).ctx(IoOp::SetTimes, path)?;
        let times = Timestamps {
            last_access: Timespec {
                tv_sec: 0,
                tv_nsec: rustix::fs::UTIME_OMIT,
            },
            last_modification: Timespec {
                tv_sec: sec,
                tv_nsec: i64::from(nsec),
            },
        };
        sys::futimens(file.as_fd(), &times).ctx(IoOp::SetTimes, path)?;
    }
    Ok(())
}

/// Fsyncs directory `dir` (shown as `disp`) after its fault point.
fn fsync_dir(dir: &OwnedFd, disp: &Path) -> Result<()> {
    fault::hit(Point::FsyncDir, disp).ctx(IoOp::FsyncDir, disp)?;
    sys::fsync(dir.as_fd(), disp).ctx(IoOp::FsyncDir, disp)
}

/// Best-effort removal of a temp `name` in `dir` after a failed operation; what stays is
/// swept by the next recovery.
fn discard(dir: &OwnedFd, dir_path: &Path, name: &str, is_dir: bool) {
    let shown = dir_path.join(name);
    if fault::hit(Point::Remove, &shown).is_ok() {
        let _ = sys::unlink(dir, dir_path, name, is_dir);
    }
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
