//! What the filesystem holding the root offers: free and total space, its block size, and
//! whether this process may add entries to a directory. Nothing here changes the
//! filesystem.

use super::{display_rel, Root};
use crate::error::{Error, IoContext, IoOp, Result};
use crate::fault;
use crate::paths::RelPath;
use rustix::fs::AtFlags;
use rustix::io::Errno;

impl Root {
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
}
