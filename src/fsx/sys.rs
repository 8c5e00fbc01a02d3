//! The system calls of `fsx`, and the only place in the crate that may make a mutating one
//! (clippy's `disallowed-methods` refuses them everywhere else). Each mutating wrapper
//! passes its fault point first (`fault::hit`, with the kind the call stands for and the
//! path it is shown as), prepares its power-cut effect, makes the call, and records the
//! effect once the call succeeded. So a mutation cannot reach the disk without passing its
//! point: forgetting the point is not possible, only calling the wrong wrapper is.
//!
//! A failure is a [`Fail`]: the fault point that fired, or the call's own error, both named
//! with the operation and the path; callers that act on an errno (`EEXIST`, `ENOENT`) ask
//! [`Fail::errno`], which a fired fault point never answers.
#![allow(clippy::disallowed_methods)]

use crate::error::{Error, IoOp};
use crate::fault::{self, Effect, Point};
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{AtFlags, Mode, OFlags, RenameFlags, ResolveFlags, Timestamps};
use rustix::io::Errno;
use std::io::Write;
use std::path::Path;

/// A failed mutating call.
#[derive(Debug)]
pub(super) struct Fail {
    /// The call's own error; `None` when the fault point fired before it.
    errno: Option<Errno>,
    err: Error,
}

impl Fail {
    /// The errno of the call itself (never of a fired fault point).
    pub(super) fn errno(&self) -> Option<Errno> {
        self.errno
    }
}

impl From<Fail> for Error {
    fn from(f: Fail) -> Error {
        f.err
    }
}

pub(super) type Sys<T> = std::result::Result<T, Fail>;

/// Passes `point` (shown as `shown`), then runs `call` with its effect prepared before and
/// recorded after a success.
fn mutate<T>(
    point: Point,
    op: IoOp,
    shown: &Path,
    effect: Option<Effect<'_>>,
    call: impl FnOnce() -> std::io::Result<T>,
) -> Sys<T> {
    if let Err(e) = fault::hit(point, shown) {
        return Err(Fail {
            errno: None,
            err: Error::io(op, shown, e),
        });
    }
    let pc = effect.map(fault::before);
    match call() {
        Ok(v) => {
            if let Some(pc) = pc {
                pc.done();
            }
            Ok(v)
        }
        Err(e) => Err(Fail {
            errno: Errno::from_io_error(&e),
            err: Error::io(op, shown, e),
        }),
    }
}

/// `unlinkat(dir, name)` (`AT_REMOVEDIR` for a directory), shown as `shown`: point `Remove`.
pub(super) fn unlink(
    dir: &OwnedFd,
    dir_path: &Path,
    name: &str,
    is_dir: bool,
    shown: &Path,
) -> Sys<()> {
    let effect = Effect::Removed {
        dir: dir.as_fd(),
        dir_path,
        name,
        is_dir,
    };
    let flags = if is_dir {
        AtFlags::REMOVEDIR
    } else {
        AtFlags::empty()
    };
    mutate(Point::Remove, IoOp::Remove, shown, Some(effect), || {
        rustix::fs::unlinkat(dir, name, flags).map_err(Into::into)
    })
}

/// `renameat2(dir, from, dir, to, flags)`, within one directory only: point `Rename`.
pub(super) fn rename(
    dir: &OwnedFd,
    dir_path: &Path,
    (from, to): (&str, &str),
    flags: RenameFlags,
    shown: &Path,
) -> Sys<()> {
    let effect = Effect::Renamed {
        dir: dir.as_fd(),
        dir_path,
        from,
        to,
    };
    mutate(Point::Rename, IoOp::Rename, shown, Some(effect), || {
        rustix::fs::renameat_with(dir, from, dir, to, flags).map_err(Into::into)
    })
}

/// `renameat2(RENAME_EXCHANGE)`: swaps `a.2` in directory `a.0` with `b.2` in `b.0` (each
/// shown as `.1`): point `Rename`.
pub(super) fn exchange(
    a: (&OwnedFd, &Path, &str),
    b: (&OwnedFd, &Path, &str),
    shown: &Path,
) -> Sys<()> {
    let effect = Effect::Exchanged {
        dir_path: a.1,
        name: a.2,
        to_dir_path: b.1,
        to_name: b.2,
    };
    mutate(Point::Rename, IoOp::Rename, shown, Some(effect), || {
        rustix::fs::renameat_with(a.0, a.2, b.0, b.2, RenameFlags::EXCHANGE).map_err(Into::into)
    })
}

/// `mkdirat(dir, name, mode)`: point `Mkdir`.
pub(super) fn mkdir(
    dir: &OwnedFd,
    dir_path: &Path,
    name: &str,
    mode: u32,
    shown: &Path,
) -> Sys<()> {
    mutate(Point::Mkdir, IoOp::Mkdir, shown, None, || {
        rustix::fs::mkdirat(dir, name, Mode::from_raw_mode(mode)).map_err(Into::into)
    })?;
    created_entry(dir_path, name, true);
    Ok(())
}

/// `openat(dir, name, flags | O_CREAT | O_EXCL, mode)`, a new file: point `Create`.
pub(super) fn create(
    dir: &OwnedFd,
    dir_path: &Path,
    name: &str,
    (flags, mode): (OFlags, u32),
    shown: &Path,
) -> Sys<OwnedFd> {
    let flags = flags | OFlags::CREATE | OFlags::EXCL;
    let fd = mutate(Point::Create, IoOp::Create, shown, None, || {
        rustix::fs::openat(dir, name, flags, Mode::from_raw_mode(mode)).map_err(Into::into)
    })?;
    created_entry(dir_path, name, false);
    Ok(fd)
}

/// Opens `name` in `dir` with `flags`, creating it with `mode` (`O_EXCL`) when it is absent;
/// `true` when it was created. One point `Create` for the whole open, whatever is found; a
/// file another writer creates in between is opened. Errors other than the point's are
/// named as an open's.
pub(super) fn open_or_create(
    dir: &OwnedFd,
    dir_path: &Path,
    name: &str,
    (flags, mode): (OFlags, u32),
    shown: &Path,
) -> Sys<(OwnedFd, bool)> {
    // The call's own errors are kept inside, to be named as an open's below.
    let opened = mutate(Point::Create, IoOp::Create, shown, None, || {
        match open(dir, name, flags) {
            Err(Errno::NOENT) => {}
            other => return Ok(other.map(|fd| (fd, false))),
        }
        let new = flags | OFlags::CREATE | OFlags::EXCL;
        Ok(
            match rustix::fs::openat(dir, name, new, Mode::from_raw_mode(mode)) {
                Ok(fd) => Ok((fd, true)),
                Err(Errno::EXIST) => open(dir, name, flags).map(|fd| (fd, false)),
                Err(e) => Err(e),
            },
        )
    });
    let (fd, created) = opened?.map_err(|e| Fail {
        errno: Some(e),
        err: Error::io(IoOp::Open, shown, e.into()),
    })?;
    if created {
        created_entry(dir_path, name, false);
    }
    Ok((fd, created))
}

/// A bot's lock file, new and empty: `openat(O_CREAT | O_EXCL)` then `fchmod` to exactly
/// `mode` (the umask may have narrowed it), both under one point `Create` (the file is
/// nobody's yet). Not in the power-cut log: a lock file holds no state, and the bot
/// creates it again whenever it is gone.
pub(super) fn create_lock(
    dir: &OwnedFd,
    name: &str,
    flags: OFlags,
    mode: u32,
    shown: &Path,
) -> Sys<OwnedFd> {
    let flags = flags | OFlags::CREATE | OFlags::EXCL;
    let mode = Mode::from_raw_mode(mode);
    let fd = mutate(Point::Create, IoOp::Create, shown, None, || {
        rustix::fs::openat(dir, name, flags, mode).map_err(Into::into)
    })?;
    rustix::fs::fchmod(&fd, mode).map_err(|e| Fail {
        errno: Some(e),
        err: Error::io(IoOp::Chmod, shown, e.into()),
    })?;
    Ok(fd)
}

fn created_entry(dir_path: &Path, name: &str, is_dir: bool) {
    // Nothing to keep for the undo of a creation: the record alone is prepared and kept.
    fault::before(Effect::Created {
        dir_path,
        name,
        is_dir,
    })
    .done();
}

/// `fchmod(fd, mode)`: point `Chmod`.
pub(super) fn fchmod(fd: BorrowedFd<'_>, mode: u32, shown: &Path) -> Sys<()> {
    let effect = Effect::Attrs { file: fd };
    mutate(Point::Chmod, IoOp::Chmod, shown, Some(effect), || {
        rustix::fs::fchmod(fd, Mode::from_raw_mode(mode)).map_err(Into::into)
    })
}

/// `fchown(fd, uid, gid)`: point `Chown`.
pub(super) fn fchown(fd: BorrowedFd<'_>, (uid, gid): (u32, u32), shown: &Path) -> Sys<()> {
    let effect = Effect::Attrs { file: fd };
    mutate(Point::Chown, IoOp::Chown, shown, Some(effect), || {
        rustix::fs::fchown(
            fd,
            Some(rustix::fs::Uid::from_raw(uid)),
            Some(rustix::fs::Gid::from_raw(gid)),
        )
        .map_err(Into::into)
    })
}

/// `fsetxattr(fd, name, value, 0)`: point `SetXattr`.
pub(super) fn fsetxattr(fd: BorrowedFd<'_>, name: &str, value: &[u8], shown: &Path) -> Sys<()> {
    let effect = Effect::Xattr { file: fd, name };
    mutate(Point::SetXattr, IoOp::SetXattr, shown, Some(effect), || {
        rustix::fs::fsetxattr(fd, name, value, rustix::fs::XattrFlags::empty()).map_err(Into::into)
    })
}

/// `fremovexattr(fd, name)`: point `SetXattr`.
pub(super) fn fremovexattr(fd: BorrowedFd<'_>, name: &str, shown: &Path) -> Sys<()> {
    let effect = Effect::Xattr { file: fd, name };
    mutate(Point::SetXattr, IoOp::SetXattr, shown, Some(effect), || {
        rustix::fs::fremovexattr(fd, name).map_err(Into::into)
    })
}

/// `futimens(fd, times)`: point `SetTimes`.
pub(super) fn futimens(fd: BorrowedFd<'_>, times: &Timestamps, shown: &Path) -> Sys<()> {
    let effect = Effect::Attrs { file: fd };
    mutate(Point::SetTimes, IoOp::SetTimes, shown, Some(effect), || {
        rustix::fs::futimens(fd, times).map_err(Into::into)
    })
}

/// Appends all of `bytes` at the file's offset (the end of an append-only file): point
/// `Append`.
pub(super) fn append(file: &std::fs::File, bytes: &[u8], shown: &Path) -> Sys<()> {
    let effect = Effect::Wrote { file: file.as_fd() };
    mutate(Point::Append, IoOp::Append, shown, Some(effect), || {
        let mut w = file;
        w.write_all(bytes)
    })
}

/// Writes all the bytes `chunks` yields, in order, at the file's offset: point `Write`, and
/// one write as far as a power cut is concerned (lost whole or kept whole).
pub(super) fn write_chunks(
    file: &std::fs::File,
    chunks: &mut dyn Iterator<Item = &[u8]>,
    shown: &Path,
) -> Sys<()> {
    let effect = Effect::Wrote { file: file.as_fd() };
    mutate(Point::Write, IoOp::Write, shown, Some(effect), || {
        let mut w = file;
        for chunk in chunks {
            w.write_all(chunk)?;
        }
        Ok(())
    })
}

/// `fsync(fd)` of the regular file shown as `shown`: point `Fsync`.
pub(super) fn fsync(fd: BorrowedFd<'_>, shown: &Path) -> Sys<()> {
    synced(fd, Point::Fsync, IoOp::Fsync, shown)
}

/// `fsync(fd)` of the directory shown as `shown`: point `FsyncDir`.
pub(super) fn fsync_dir(fd: BorrowedFd<'_>, shown: &Path) -> Sys<()> {
    synced(fd, Point::FsyncDir, IoOp::FsyncDir, shown)
}

fn synced(fd: BorrowedFd<'_>, point: Point, op: IoOp, shown: &Path) -> Sys<()> {
    let effect = Effect::Synced {
        file: fd,
        path: Some(shown),
        data_only: false,
    };
    mutate(point, op, shown, Some(effect), || {
        Ok(rustix::fs::fsync(fd)?)
    })
}

/// `fdatasync(fd)` of a regular file: point `Fsync`.
pub(super) fn fdatasync(fd: BorrowedFd<'_>, shown: &Path) -> Sys<()> {
    let effect = Effect::Synced {
        file: fd,
        path: None,
        data_only: true,
    };
    mutate(Point::Fsync, IoOp::Fsync, shown, Some(effect), || {
        rustix::fs::fdatasync(fd).map_err(Into::into)
    })
}

/// `ftruncate(fd, len)` of `name` in `dir`: point `Truncate`.
pub(super) fn ftruncate(
    dir: &OwnedFd,
    name: &str,
    fd: BorrowedFd<'_>,
    len: u64,
    shown: &Path,
) -> Sys<()> {
    let effect = Effect::Truncated {
        dir: dir.as_fd(),
        name,
        file: fd,
    };
    mutate(Point::Truncate, IoOp::Truncate, shown, Some(effect), || {
        rustix::fs::ftruncate(fd, len).map_err(Into::into)
    })
}

/// Flags that make `openat` change the filesystem.
fn mutating(flags: OFlags) -> bool {
    // O_TMPFILE includes O_DIRECTORY: only all of its bits make a temp file.
    flags.intersects(OFlags::CREATE | OFlags::TRUNC) || flags.contains(OFlags::TMPFILE)
}

/// `openat(dir, name, flags)` of something that exists; refuses (`EINVAL`) flags that
/// would create or truncate (those go through [`create`]).
pub(super) fn open(dir: &OwnedFd, name: &str, flags: OFlags) -> rustix::io::Result<OwnedFd> {
    if mutating(flags) {
        return Err(Errno::INVAL);
    }
    rustix::fs::openat(dir, name, flags, Mode::empty())
}

/// `openat2(base, rel, flags, resolve)` of something that exists; refuses as [`open`].
pub(super) fn open_beneath(
    base: &OwnedFd,
    rel: &str,
    flags: OFlags,
    resolve: ResolveFlags,
) -> rustix::io::Result<OwnedFd> {
    if mutating(flags) {
        return Err(Errno::INVAL);
    }
    rustix::fs::openat2(base, rel, flags, Mode::empty(), resolve)
}

/// Creates the root directory and its missing parents (`--init`), before the root is
/// open: outside every matrix, like the fault layer says.
pub(super) fn create_root_dirs(path: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_refuses_flags_that_create_or_truncate() {
        let dir = tempfile::tempdir().expect("scratch dir");
        let fd = rustix::fs::open(
            dir.path(),
            OFlags::RDONLY | OFlags::DIRECTORY,
            Mode::empty(),
        )
        .expect("open scratch dir");
        let cases = [
            (OFlags::RDONLY | OFlags::DIRECTORY, Ok(())),
            (OFlags::WRONLY | OFlags::CREATE, Err(Errno::INVAL)),
            (OFlags::WRONLY | OFlags::TRUNC, Err(Errno::INVAL)),
            (OFlags::WRONLY | OFlags::TMPFILE, Err(Errno::INVAL)),
        ];
        for (flags, want) in cases {
            assert_eq!(open(&fd, ".", flags).map(drop), want, "input: {flags:?}");
        }
        assert!(
            std::fs::read_dir(dir.path())
                .expect("list")
                .next()
                .is_none(),
            "nothing was created"
        );
    }
}
