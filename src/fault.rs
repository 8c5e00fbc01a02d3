//! Fault injection for tests: every mutating filesystem call in `fsx` passes a numbered
//! point here first, and reports its effect afterwards. Built only with the
//! `fault-injection` feature; otherwise every point and every effect is a no-op the
//! compiler removes, so production runs the same system calls with nothing in between.
//!
//! `SELFHEAL_FAULT=N:ACTION` makes point N (1-based, counted over the whole process) fail:
//! `crash` aborts the process on the spot (no cleanup runs, like kill -9), `eio`, `enospc`,
//! `eacces` and `erofs` return that error instead of doing the call, and `powercut` aborts
//! like `crash` after noting the cut in the power-cut log. `SELFHEAL_FAULT_TRACE=1` prints
//! `fault-point N KIND PATH` to stderr for every point, so a test can enumerate them.
//! `SELFHEAL_FAULT_FREE=BYTES` caps the free space the run sees (a small filesystem where
//! none can be mounted). `SELFHEAL_FAULT_STALL_RENAME_MS=MS` sleeps before every rename,
//! widening the window between an operation's last check and its rename, so a test can
//! race another process into it.
//!
//! # In-process injection
//!
//! The environment plan counts points over the whole process and a crash aborts it. A
//! caller that runs commands as library calls (the engine fuzz target) arms an
//! [`Injection`] on its thread instead ([`arm`], [`disarm`]): points are counted from the
//! arming, the environment plan is ignored meanwhile, and a crash does not abort. At point
//! N a `Crash` or `PowerCut` fails the call, and so does every later point on the thread:
//! since every mutating call passes its point first, nothing more reaches the disk after
//! point N, which leaves the disk exactly as the death of the process there would; the
//! command then returns whatever error it returns, and the caller drops it and everything
//! it held (locks included) like the kernel would. An `Errno` fails point N alone, like the
//! environment's `eio`. With a stash directory the effects are kept in memory in the
//! power-cut log format below (stash entries in that directory, which must be on the
//! root's filesystem), for the caller to drop what a power cut would have lost.
//!
//! # The power-cut log
//!
//! A kill -9 loses nothing the kernel already has; a power cut also loses what was not yet
//! made durable. With `SELFHEAL_POWERCUT_LOG=FILE` (a path outside the root), every
//! mutating call that succeeded appends one JSON line to FILE describing its effect, and
//! keeps in `FILE.stash/` what an undo needs (a hard link to a replaced or removed file, the
//! bytes a truncation cut). A test then reverts every effect a power cut at that point
//! could have lost, newest first, and runs recovery on what is left. The lines:
//!
//! - `created {dir, name, is_dir}` / `renamed {dir, from, to, stash}` / `removed {dir,
//!   name, is_dir, stash, mode}`: a change to the entries of directory `dir` (relative to
//!   the root); durable once `dir` is fsynced afterwards.
//! - `exchanged {dir, name, to_dir, to_name}`: two directories swap places (the one
//!   rename that crosses directories: a damaged journal moved aside); durable once both
//!   `dir` and `to_dir` are fsynced afterwards.
//! - `wrote {ino, size}` (the file's size before the write) / `truncated {ino, stash}` /
//!   `attrs {ino, mode, uid, gid, mtime_sec, mtime_nsec}` (the attributes before the
//!   change) / `xattr {ino, name, old}` (the extended attribute's value before the change,
//!   hex, `null` when it had none): a change to inode `ino`; data is durable once the inode
//!   is fsynced or fdatasynced afterwards, attributes once it is fsynced.
//! - `synced {ino, dir, data_only}`: an fsync (`data_only`: fdatasync) of inode `ino`;
//!   `dir` names it when it is a directory.
//!
//! The model's assumptions, after ext4 with `data=ordered` but stricter: each object is
//! durable only through its own fsync (no commit of one object carries another's changes
//! along); a write is lost whole, never partly (a torn journal tail is covered separately
//! by the reader rules); an fsync that returned success made the object durable; a rename
//! crosses directories only as the exchange of two directories (a journal moved aside). `Root::create` (`--init`)
//! and reads are not recorded.

use std::io;
use std::path::Path;

use rustix::fd::BorrowedFd;

/// The kind of mutating call a point stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Point {
    Create,
    Write,
    Fsync,
    FsyncDir,
    Rename,
    Remove,
    Mkdir,
    Chmod,
    Chown,
    SetTimes,
    SetXattr,
    Append,
    Truncate,
}

/// What a mutating call is about to do, for the power-cut log.
#[derive(Debug, Clone, Copy)]
#[cfg_attr(not(feature = "fault-injection"), allow(dead_code))]
pub(crate) enum Effect<'a> {
    /// `name` is created in the directory shown as `dir_path`.
    Created {
        dir_path: &'a Path,
        name: &'a str,
        is_dir: bool,
    },
    /// `from` is renamed to `to` within `dir`, replacing what `to` named.
    Renamed {
        dir: BorrowedFd<'a>,
        dir_path: &'a Path,
        from: &'a str,
        to: &'a str,
    },
    /// `name` in the directory shown as `dir_path` and `to_name` in `to_dir_path` swap
    /// places.
    Exchanged {
        dir_path: &'a Path,
        name: &'a str,
        to_dir_path: &'a Path,
        to_name: &'a str,
    },
    /// `name` is removed from `dir`.
    Removed {
        dir: BorrowedFd<'a>,
        dir_path: &'a Path,
        name: &'a str,
        is_dir: bool,
    },
    /// Bytes are written at the end of `file`.
    Wrote { file: BorrowedFd<'a> },
    /// The mode, owner or times of `file` change.
    Attrs { file: BorrowedFd<'a> },
    /// The extended attribute `name` of `file` is set or removed.
    Xattr { file: BorrowedFd<'a>, name: &'a str },
    /// `name` in `dir` (open as `file`) is truncated.
    Truncated {
        dir: BorrowedFd<'a>,
        name: &'a str,
        file: BorrowedFd<'a>,
    },
    /// `file` (shown as `path`) is fsynced, or fdatasynced when `data_only`.
    Synced {
        file: BorrowedFd<'a>,
        path: Option<&'a Path>,
        data_only: bool,
    },
}

/// An effect prepared before its call; [`Pending::done`] records it once the call
/// succeeded (a failed call records nothing).
#[must_use]
pub(crate) struct Pending(#[cfg(feature = "fault-injection")] Option<String>);

#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub(crate) fn hit(_point: Point, _path: &Path) -> io::Result<()> {
    Ok(())
}

#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub(crate) fn before(_effect: Effect<'_>) -> Pending {
    Pending()
}

#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub(crate) fn free_space(real: u64) -> u64 {
    real
}

#[cfg(not(feature = "fault-injection"))]
impl Pending {
    #[inline(always)]
    pub(crate) fn done(self) {}
}

#[cfg(feature = "fault-injection")]
pub(crate) fn hit(point: Point, path: &Path) -> io::Result<()> {
    imp::hit(point, path)
}

/// The free space a run sees: the real value, or less with `SELFHEAL_FAULT_FREE=<bytes>`.
#[cfg(feature = "fault-injection")]
pub(crate) fn free_space(real: u64) -> u64 {
    imp::free_space(real)
}

#[cfg(feature = "fault-injection")]
pub(crate) fn before(effect: Effect<'_>) -> Pending {
    Pending(imp::prepare(effect))
}

#[cfg(feature = "fault-injection")]
impl Pending {
    pub(crate) fn done(self) {
        if let Some(line) = self.0 {
            imp::log(&line);
        }
    }
}

/// What an armed injection does at its point.
#[cfg(feature = "fault-injection")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    /// The process dies: this point and every later one fail, nothing more is written.
    Crash,
    /// As `Crash`; the caller then drops the effects that were not durable.
    PowerCut,
    /// This point alone fails with the OS error number.
    Errno(i32),
}

/// An injection armed on the calling thread.
#[cfg(feature = "fault-injection")]
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Injection {
    /// The 1-based point (counted from the arming) that fails; `None`: none fails.
    pub at: Option<u64>,
    /// What happens there.
    pub fault: Fault,
    /// Where the power-cut log keeps what an undo needs; `None` keeps no log.
    pub stash: Option<std::path::PathBuf>,
}

/// What happened while an injection was armed.
#[cfg(feature = "fault-injection")]
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Injected {
    /// Points passed.
    pub points: u64,
    /// Whether the fault fired.
    pub fired: bool,
    /// The power-cut log lines of the effects, oldest first.
    pub effects: Vec<String>,
}

/// Arms `injection` on this thread, replacing any armed before.
#[cfg(feature = "fault-injection")]
pub(crate) fn arm(injection: Injection) {
    imp::arm(injection);
}

/// Disarms this thread's injection and says what happened under it.
#[cfg(feature = "fault-injection")]
pub(crate) fn disarm() -> Injected {
    imp::disarm()
}

#[cfg(feature = "fault-injection")]
mod imp;
