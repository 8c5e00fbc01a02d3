//! Atomic replacement of a file: write a temp file beside the target, give it the mode,
//! owner, extended attributes and (for an undo) mtime it must have, fsync it, rename it over
//! (or, for a new file, beside without clobbering) the target, fsync the directory. The
//! target's name always names either the old file whole or the new one whole; a failure
//! removes the temp file on a best-effort basis (recovery sweeps what stays).

use super::{discard, fsync_dir, owner, parent_display, sys, tmp_display, xattr, Root};
use crate::error::Result;
use crate::paths::RelPath;
use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::{OFlags, RenameFlags, Timespec, Timestamps};
use rustix::io::Errno;
use std::path::Path;

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

impl Root {
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
        let flags = (OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC, 0o600);
        let path = tmp_display(rel, tmp_name);
        let dir_path = parent_display(rel);
        let fd = match sys::create(dir, &dir_path, tmp_name, flags, &path) {
            Err(f) if f.errno() == Some(Errno::EXIST) => {
                // A leftover of an interrupted run with the same name: not ours to keep.
                sys::unlink(dir, &dir_path, tmp_name, false, &path)?;
                sys::create(dir, &dir_path, tmp_name, flags, &path)
            }
            other => other,
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
        let file = std::fs::File::from(tmp);
        sys::write_chunks(&file, chunks, &path)?;
        set_attrs(&file, attrs, &path)?;
        sys::fsync(file.as_fd(), &path)?;
        drop(file);
        let flags = match replace {
            Replace::Existing => RenameFlags::empty(),
            Replace::NoClobber => RenameFlags::NOREPLACE,
        };
        let names = (tmp_name, rel.file_name());
        Ok(sys::rename(
            dir,
            &parent_display(rel),
            names,
            flags,
            rel.as_path(),
        )?)
    }
}

fn set_attrs(file: &std::fs::File, attrs: &Attrs<'_>, path: &Path) -> Result<()> {
    // ORDER: extended attributes first: an ACL written after the mode would set the group
    // bits from its mask; the mode set after it is exact (it sets the mask).
    if let Some(want) = attrs.xattrs {
        xattr::apply(file.as_fd(), want, path)?;
    }
    sys::fchmod(file.as_fd(), attrs.mode, path)?;
    if let Some(owner) = attrs.owner {
        sys::fchown(file.as_fd(), owner, path)?;
        // chown clears set-id bits; put the mode back exactly.
        sys::fchmod(file.as_fd(), attrs.mode, path)?;
    }
    if let Some((sec, nsec)) = attrs.mtime {
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
        sys::futimens(file.as_fd(), &times, path)?;
    }
    Ok(())
}
