//! Lock files of the bot: testing whether one is held, taking one (creating it when absent,
//! as the bot's own protocol does) so a repair happens while the bot waits, and removing a
//! stale one while selfheal itself holds its flock. This is part of `fsx` (it unlinks under the root) and
//! keeps its rules: the file is opened relative to its directory, never through a symlink.
//!
//! # Why removing a stale lock this way is safe for the bot's flock users
//!
//! The bot's locks are `flock(2)` locks on a file beside the file they guard; whether the
//! lock file exists says nothing about whether it is held. A removal is planned only for a
//! lock that is old, not held, names no live PID, and only at startup when no bot instance
//! runs in the root. [`HeldLock::remove`] then:
//!
//! 1. opens the path (`O_NOFOLLOW`) and takes `flock(LOCK_EX | LOCK_NB)`: a process that
//!    holds the lock makes this fail, so a held lock is never removed;
//! 2. checks that the path still names the inode it locked (`fstat` of the descriptor against
//!    `lstat` of the path): a lock file replaced since it was opened is left alone;
//! 3. unlinks the path and fsyncs the directory while still holding the flock, then
//!    releases it.
//!
//! A process that opens the path after the unlink creates a new inode and locks that one;
//! nobody can be holding the old inode (step 1). The one interleaving that could give two
//! holders on two inodes is a process that opened the old inode before the unlink and
//! locks it after: that is a running bot, which is why removal happens only at startup
//! with no bot instance running (and, under systemd, `ExecStartPre=` runs before the bot).
//! Bot code that re-checks the path's inode after taking its flock is safe in every case.
//! Steps 2 and 3 are not one atomic call (Linux has no "unlink if inode"), so the inode is
//! checked once before the journal intent and once more right before the unlink.
//!
//! # Both kinds of lock
//!
//! A lock file is *held* when a process holds a `flock(2)` lock on it **or** a POSIX record
//! lock (`fcntl(F_SETLK)`, `lockf(3)`, or an open file description lock `F_OFD_SETLK`) on
//! any byte of it. The two kinds are independent on Linux (neither blocks the other), so
//! after taking the flock, [`record_lock_held`] asks the kernel (`fcntl(F_GETLK)` for a write
//! lock over the whole file) whether another process holds a record lock; if one does, or
//! if the kernel cannot say, the file counts as held. selfheal itself only ever takes the
//! flock: a bot that locks with `fcntl`/`lockf` is seen as holding its lock (its file is
//! skipped, its lock never removed), but it is not made to wait while `watch` repairs.

use super::{parent_display, sys, Root};
use crate::error::{Error, IoContext, IoOp, Result};
use crate::paths::RelPath;
use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::{AtFlags, FileType, OFlags};
use rustix::io::Errno;

/// The mode of a lock file `watch` creates for the bot's locking protocol.
pub const LOCK_MODE: u32 = 0o644;

/// What trying a lock file's flock without waiting found.
#[derive(Debug)]
pub enum TryLock {
    /// Taken: selfheal holds the flock until the guard is dropped.
    Taken(HeldLock),
    /// Another open file holds a flock on it.
    Held,
    /// Nothing is there, or it is not a regular file reachable without a symlink, or its
    /// name is too long for the filesystem.
    NotLockable,
}

/// A lock file whose flock selfheal holds; released when dropped.
#[derive(Debug)]
pub struct HeldLock {
    file: std::fs::File,
    dir: OwnedFd,
    rel: RelPath,
}

impl Root {
    /// Opens the regular file `rel` (never through a symlink) and tries to take its flock
    /// exclusively without waiting.
    ///
    /// # Errors
    /// I/O errors other than the path being absent, a symlink or not a regular file.
    pub fn try_lock_file(&self, rel: &RelPath) -> Result<TryLock> {
        self.try_lock_at(rel, false)
    }

    /// Like [`Root::try_lock_file`], but first creates `rel` empty with mode 0644 when it is
    /// absent (its directory must exist). This is how `watch` joins a bot's locking protocol
    /// for a file it is about to repair: creating the lock file is what the bot itself does
    /// before its first lock, not a repair, so it is not journaled.
    ///
    /// # Errors
    /// I/O errors other than the path (or its directory) being absent, a symlink or not a
    /// regular file.
    pub fn try_lock_or_create(&self, rel: &RelPath) -> Result<TryLock> {
        self.try_lock_at(rel, true)
    }

    fn try_lock_at(&self, rel: &RelPath, create: bool) -> Result<TryLock> {
        let dir = match self.open_dir_raw(rel.parent().as_ref()) {
            Ok(fd) => fd,
            Err(Errno::NOENT | Errno::LOOP | Errno::NOTDIR | Errno::XDEV) => {
                return Ok(TryLock::NotLockable)
            }
            Err(e) => return Err(Error::io(IoOp::Open, rel.as_path(), e.into())),
        };
        let Some(fd) = open_lock(&dir, rel, create)? else {
            return Ok(TryLock::NotLockable);
        };
        let st = rustix::fs::fstat(&fd).ctx(IoOp::Stat, rel.as_path())?;
        if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
            return Ok(TryLock::NotLockable);
        }
        let file = std::fs::File::from(fd);
        match file.try_lock() {
            // The flock is released when `file` drops, right here.
            Ok(()) if record_lock_held(&file) => Ok(TryLock::Held),
            Ok(()) => Ok(TryLock::Taken(HeldLock {
                file,
                dir,
                rel: rel.clone(),
            })),
            Err(std::fs::TryLockError::WouldBlock) => Ok(TryLock::Held),
            Err(std::fs::TryLockError::Error(e)) => Err(Error::io(IoOp::Lock, rel.as_path(), e)),
        }
    }
}

/// Whether another process holds a POSIX record lock (classic or open file description)
/// on any byte of the open file `fd`; `true` as well when the kernel cannot tell (a lock
/// that cannot be ruled out is treated as held).
pub fn record_lock_held(fd: impl rustix::fd::AsFd) -> bool {
    use rustix::process::{fcntl_getlk, Flock, FlockOffsetType, FlockType};
    let whole_file = Flock {
        start: 0,
        length: 0,
        pid: None,
        typ: FlockType::WriteLock,
        offset_type: FlockOffsetType::Set,
    };
    !matches!(fcntl_getlk(fd, &whole_file), Ok(None))
}

/// Opens the lock file `rel` in `dir` without following a symlink; with `create`, an absent
/// one is created (exclusively, so a bot creating it at the same moment is simply opened
/// again). `None`: nothing lockable is there.
fn open_lock(dir: &OwnedFd, rel: &RelPath, create: bool) -> Result<Option<OwnedFd>> {
    let disp = rel.as_path();
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
    match sys::open(dir, rel.file_name(), flags) {
        Ok(fd) => return Ok(Some(fd)),
        Err(Errno::NOENT) if create => {}
        // A name too long for the filesystem can be no process's lock file.
        Err(Errno::NOENT | Errno::LOOP | Errno::NXIO | Errno::NODEV | Errno::NAMETOOLONG) => {
            return Ok(None)
        }
        Err(e) => return Err(Error::io(IoOp::Open, disp, e.into())),
    }
    match sys::create_lock(dir, rel.file_name(), flags, LOCK_MODE, disp) {
        Ok(fd) => {
            super::owner::adopt(dir.as_fd(), fd.as_fd(), disp)?;
            Ok(Some(fd))
        }
        Err(f) if f.errno() == Some(Errno::EXIST) => open_lock(dir, rel, false),
        Err(f) if f.errno() == Some(Errno::LOOP) => Ok(None),
        Err(f) => Err(f.into()),
    }
}

impl HeldLock {
    /// The path locked.
    pub fn path(&self) -> &RelPath {
        &self.rel
    }

    /// Whether the path still names the inode whose flock is held.
    ///
    /// # Errors
    /// I/O errors from `fstat` / `lstat` other than the path being gone.
    pub fn same_inode(&self) -> Result<bool> {
        let disp = self.rel.as_path();
        let mine = rustix::fs::fstat(&self.file).ctx(IoOp::Stat, disp)?;
        match rustix::fs::statat(&self.dir, self.rel.file_name(), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(now) => Ok(now.st_dev == mine.st_dev && now.st_ino == mine.st_ino),
            Err(Errno::NOENT) => Ok(false),
            Err(e) => Err(Error::io(IoOp::Stat, disp, e.into())),
        }
    }

    /// Unlinks the lock file while holding its flock, after checking once more that the
    /// path names the locked inode, then fsyncs the directory and releases the flock.
    ///
    /// # Errors
    /// [`Error::Refused`] when the path no longer names the locked inode; the failing call
    /// and the path otherwise.
    pub fn remove(self) -> Result<()> {
        let disp = self.rel.as_path();
        if !self.same_inode()? {
            return Err(Error::Refused(format!(
                "{} no longer names the lock file that was locked",
                self.rel
            )));
        }
        if record_lock_held(&self.file) {
            return Err(Error::Refused(format!(
                "{} is now held by a process (a POSIX record lock)",
                self.rel
            )));
        }
        let dir_path = parent_display(&self.rel);
        sys::unlink(&self.dir, &dir_path, self.rel.file_name(), false, disp)?;
        super::fsync_dir(&self.dir, &dir_path)
        // ORDER: the flock is released only here, when `self.file` drops, after the unlink
        // is durable.
    }
}
