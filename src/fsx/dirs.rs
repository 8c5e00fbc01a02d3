//! Entries of directories: removing a file (durably, or many before one directory fsync),
//! removing a temp file, creating a directory with an exact mode (atomically, or selfheal's
//! own plainly), removing an empty directory, setting a mode, and the directory fsync every
//! change of entries ends with.

use super::{display_rel, owner, parent_display, sys, tmp_display, Entry, Kind, Root, TMP_PREFIX};
use crate::error::{Error, IoContext, IoOp, Result};
use crate::paths::RelPath;
use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::{OFlags, RenameFlags};
use rustix::io::Errno;
use std::path::Path;

impl Root {
    /// Removes the regular file `rel`, then fsyncs its directory.
    ///
    /// # Errors
    /// The failing call and the path.
    pub fn remove_file(&self, rel: &RelPath) -> Result<()> {
        let dir = self.parent_fd(rel)?;
        let disp = rel.as_path();
        sys::unlink(&dir, &parent_display(rel), rel.file_name(), false, disp)?;
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
        match sys::unlink(&dir, &parent_display(rel), rel.file_name(), false, disp) {
            Ok(()) => Ok(true),
            Err(f) if f.errno() == Some(Errno::NOENT) => Ok(false),
            Err(f) => Err(f.into()),
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
        match sys::unlink(&dir, &display_rel(dir_rel), name, is_dir, &disp) {
            Ok(()) => {}
            Err(f) if f.errno() == Some(Errno::NOENT) => {}
            Err(f) => return Err(f.into()),
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
        match sys::mkdir(&parent, &parent_path, tmp_name, 0o700, &tmp) {
            Err(f) if f.errno() == Some(Errno::EXIST) => {
                sys::unlink(&parent, &parent_path, tmp_name, true, &tmp)?;
                sys::mkdir(&parent, &parent_path, tmp_name, 0o700, &tmp)?;
            }
            other => other?,
        }
        let result = (|| {
            let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC | OFlags::NOFOLLOW;
            let fd = sys::open(&parent, tmp_name, flags).ctx(IoOp::Open, &tmp)?;
            owner::adopt(parent.as_fd(), fd.as_fd(), &tmp)?;
            sys::fchmod(fd.as_fd(), mode, &tmp)?;
            // ORDER: the mode is durable before the name appears (POSIX promises an
            // inode's attributes only after an fsync of that inode).
            sys::fsync(fd.as_fd(), &tmp)?;
            let names = (tmp_name, rel.file_name());
            Ok(sys::rename(
                &parent,
                &parent_path,
                names,
                RenameFlags::NOREPLACE,
                disp,
            )?)
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
        sys::mkdir(&parent, &parent_path, rel.file_name(), mode, disp)?;
        let fd = self.open_dir_raw(Some(rel)).ctx(IoOp::Open, disp)?;
        owner::adopt(parent.as_fd(), fd.as_fd(), disp)?;
        sys::fchmod(fd.as_fd(), mode, disp)?;
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
        sys::unlink(&parent, &parent_display(rel), rel.file_name(), true, disp)?;
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
        let fd = sys::open(&parent, rel.file_name(), flags).ctx(IoOp::Open, disp)?;
        sys::fchmod(fd.as_fd(), mode, disp)?;
        Ok(sys::fsync(fd.as_fd(), disp)?)
    }

    /// Fsyncs directory `rel`.
    ///
    /// # Errors
    /// The failing call and the path.
    pub fn sync_dir(&self, rel: &RelPath) -> Result<()> {
        let fd = self.open_dir(rel)?;
        fsync_dir(&fd, rel.as_path())
    }
}

/// Fsyncs directory `dir` (shown as `disp`).
pub(super) fn fsync_dir(dir: &OwnedFd, disp: &Path) -> Result<()> {
    Ok(sys::fsync_dir(dir.as_fd(), disp)?)
}

/// Best-effort removal of a temp `name` in `dir` after a failed operation; what stays is
/// swept by the next recovery.
pub(super) fn discard(dir: &OwnedFd, dir_path: &Path, name: &str, is_dir: bool) {
    let _ = sys::unlink(dir, dir_path, name, is_dir, &dir_path.join(name));
}
