//! Reading beneath the root: what is at a path (never following a symlink), a regular
//! file's bytes (bounded by a cap, whole, in chunks, its head or its tail) and a directory's
//! entries. Nothing here changes the filesystem.

use super::{display_rel, is_errno, sys, Root};
use crate::error::{Error, IoContext, IoOp, Result};
use crate::paths::RelPath;
use rustix::fs::{AtFlags, FileType, OFlags};
use rustix::io::Errno;
use std::io::{Read, Seek};

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

impl Root {
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
    pub(super) fn open_regular(
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
        let fd = match sys::open(&parent, rel.file_name(), flags) {
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
        let fd = match sys::open(&parent, rel.file_name(), flags) {
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
}

/// Reads a small regular file (a configuration, a key) that may live outside the root.
/// Never blocks on a FIFO or a device (opened non-blocking, and refused unless it is a
/// regular file) and never reads more than `cap` bytes.
///
/// # Errors
/// The OS error, or `InvalidData` for something that is not a regular file or is larger
/// than `cap`.
pub fn read_regular(path: &std::path::Path, cap: u64) -> std::io::Result<Vec<u8>> {
    use rustix::fs::{FileType, Mode, OFlags};
    use std::io::Read;
    let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC;
    let fd = rustix::fs::open(path, flags, Mode::empty())?;
    let st = rustix::fs::fstat(&fd)?;
    let invalid = |why: String| std::io::Error::new(std::io::ErrorKind::InvalidData, why);
    match FileType::from_raw_mode(st.st_mode) {
        FileType::RegularFile => {}
        FileType::Directory => return Err(invalid("it is a directory".into())),
        _ => return Err(invalid("it is not a regular file".into())),
    }
    let size = u64::try_from(st.st_size).unwrap_or(u64::MAX);
    if size > cap {
        return Err(invalid(format!(
            "it is {size} bytes, over the limit of {cap}"
        )));
    }
    let mut bytes = Vec::new();
    std::fs::File::from(fd).take(cap).read_to_end(&mut bytes)?;
    Ok(bytes)
}
