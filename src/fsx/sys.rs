//! The mutating system calls of `fsx`, each reporting its effect to the fault layer's
//! power-cut log (nothing at all without the `fault-injection` feature). Callers pass the
//! call's fault point first and add the path to errors; these only make the call.

use crate::fault::{self, Effect};
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{AtFlags, Mode, OFlags, RenameFlags, Timestamps};
use std::io::Write;
use std::path::Path;

/// `unlinkat(dir, name)` (`AT_REMOVEDIR` for a directory).
pub(super) fn unlink(
    dir: &OwnedFd,
    dir_path: &Path,
    name: &str,
    is_dir: bool,
) -> rustix::io::Result<()> {
    let pc = fault::before(Effect::Removed {
        dir: dir.as_fd(),
        dir_path,
        name,
        is_dir,
    });
    let flags = if is_dir {
        AtFlags::REMOVEDIR
    } else {
        AtFlags::empty()
    };
    rustix::fs::unlinkat(dir, name, flags)?;
    pc.done();
    Ok(())
}

/// `renameat2(dir, from, dir, to, flags)`: renames within one directory only.
pub(super) fn rename(
    dir: &OwnedFd,
    dir_path: &Path,
    from: &str,
    to: &str,
    flags: RenameFlags,
) -> rustix::io::Result<()> {
    let pc = fault::before(Effect::Renamed {
        dir: dir.as_fd(),
        dir_path,
        from,
        to,
    });
    rustix::fs::renameat_with(dir, from, dir, to, flags)?;
    pc.done();
    Ok(())
}

/// `renameat2(RENAME_EXCHANGE)`: swaps `a.2` in directory `a.0` with `b.2` in `b.0` (each
/// shown as `.1`).
pub(super) fn exchange(
    a: (&OwnedFd, &Path, &str),
    b: (&OwnedFd, &Path, &str),
) -> rustix::io::Result<()> {
    let pc = fault::before(Effect::Exchanged {
        dir_path: a.1,
        name: a.2,
        to_dir_path: b.1,
        to_name: b.2,
    });
    rustix::fs::renameat_with(a.0, a.2, b.0, b.2, RenameFlags::EXCHANGE)?;
    pc.done();
    Ok(())
}

/// `mkdirat(dir, name, mode)`.
pub(super) fn mkdir(
    dir: &OwnedFd,
    dir_path: &Path,
    name: &str,
    mode: u32,
) -> rustix::io::Result<()> {
    rustix::fs::mkdirat(dir, name, Mode::from_raw_mode(mode))?;
    created(dir_path, name, true);
    Ok(())
}

/// `openat(dir, name, flags | O_CREAT | O_EXCL, mode)`: a new file.
pub(super) fn create(
    dir: &OwnedFd,
    dir_path: &Path,
    name: &str,
    flags: OFlags,
    mode: u32,
) -> rustix::io::Result<OwnedFd> {
    let flags = flags | OFlags::CREATE | OFlags::EXCL;
    let fd = rustix::fs::openat(dir, name, flags, Mode::from_raw_mode(mode))?;
    created(dir_path, name, false);
    Ok(fd)
}

fn created(dir_path: &Path, name: &str, is_dir: bool) {
    // Nothing to keep for the undo of a creation: the record alone is prepared and kept.
    fault::before(Effect::Created {
        dir_path,
        name,
        is_dir,
    })
    .done();
}

/// `fchmod(fd, mode)`.
pub(super) fn fchmod(fd: BorrowedFd<'_>, mode: u32) -> rustix::io::Result<()> {
    let pc = fault::before(Effect::Attrs { file: fd });
    rustix::fs::fchmod(fd, Mode::from_raw_mode(mode))?;
    pc.done();
    Ok(())
}

/// `fchown(fd, uid, gid)`.
pub(super) fn fchown(fd: BorrowedFd<'_>, uid: u32, gid: u32) -> rustix::io::Result<()> {
    let pc = fault::before(Effect::Attrs { file: fd });
    rustix::fs::fchown(
        fd,
        Some(rustix::fs::Uid::from_raw(uid)),
        Some(rustix::fs::Gid::from_raw(gid)),
    )?;
    pc.done();
    Ok(())
}

/// `fsetxattr(fd, name, value, 0)`.
pub(super) fn fsetxattr(fd: BorrowedFd<'_>, name: &str, value: &[u8]) -> rustix::io::Result<()> {
    let pc = fault::before(Effect::Xattr { file: fd, name });
    rustix::fs::fsetxattr(fd, name, value, rustix::fs::XattrFlags::empty())?;
    pc.done();
    Ok(())
}

/// `fremovexattr(fd, name)`.
pub(super) fn fremovexattr(fd: BorrowedFd<'_>, name: &str) -> rustix::io::Result<()> {
    let pc = fault::before(Effect::Xattr { file: fd, name });
    rustix::fs::fremovexattr(fd, name)?;
    pc.done();
    Ok(())
}

/// `futimens(fd, times)`.
pub(super) fn futimens(fd: BorrowedFd<'_>, times: &Timestamps) -> rustix::io::Result<()> {
    let pc = fault::before(Effect::Attrs { file: fd });
    rustix::fs::futimens(fd, times)?;
    pc.done();
    Ok(())
}

/// Writes all of `bytes` at the file's offset (the end, for a new or append-only file).
pub(super) fn write_all(file: &mut std::fs::File, bytes: &[u8]) -> std::io::Result<()> {
    let pc = fault::before(Effect::Wrote { file: file.as_fd() });
    file.write_all(bytes)?;
    pc.done();
    Ok(())
}

/// Writes all the bytes `chunks` yields, in order, at the file's offset: one write as far
/// as a power cut is concerned (lost whole or kept whole, like [`write_all`]).
pub(super) fn write_all_chunks(
    file: &mut std::fs::File,
    chunks: &mut dyn Iterator<Item = &[u8]>,
) -> std::io::Result<()> {
    let pc = fault::before(Effect::Wrote { file: file.as_fd() });
    for chunk in chunks {
        file.write_all(chunk)?;
    }
    pc.done();
    Ok(())
}

/// `fsync(fd)` of the file or directory shown as `path`.
pub(super) fn fsync(fd: BorrowedFd<'_>, path: &Path) -> rustix::io::Result<()> {
    let pc = fault::before(Effect::Synced {
        file: fd,
        path: Some(path),
        data_only: false,
    });
    rustix::fs::fsync(fd)?;
    pc.done();
    Ok(())
}

/// `fdatasync(fd)` of a regular file.
pub(super) fn fdatasync(fd: BorrowedFd<'_>) -> rustix::io::Result<()> {
    let pc = fault::before(Effect::Synced {
        file: fd,
        path: None,
        data_only: true,
    });
    rustix::fs::fdatasync(fd)?;
    pc.done();
    Ok(())
}

/// `ftruncate(fd, len)` of `name` in `dir`.
pub(super) fn ftruncate(
    dir: &OwnedFd,
    name: &str,
    fd: BorrowedFd<'_>,
    len: u64,
) -> rustix::io::Result<()> {
    let pc = fault::before(Effect::Truncated {
        dir: dir.as_fd(),
        name,
        file: fd,
    });
    rustix::fs::ftruncate(fd, len)?;
    pc.done();
    Ok(())
}
