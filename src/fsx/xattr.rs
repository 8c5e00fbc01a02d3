//! Extended attributes of state files (POSIX ACLs are the `system.posix_acl_access`
//! attribute): read from a file before it is replaced or removed, so the journal can
//! record them, and set on the temp file of a replacement before its fsync and rename, so
//! the file keeps them (a bot writing through an ACL is not locked out by a repair) and an
//! undo puts them back. Part of `fsx`: it only ever changes a temp file of its own.
//!
//! The attributes kept are `user.*`, `security.*` and `system.posix_acl_access`; `trusted.*`
//! (root-only) and other `system.*` names are left to the filesystem. A `security.*`
//! attribute the kernel does not let this process set (an unprivileged run) is skipped with
//! a warning; any other failure is an error, and the write does not happen.

use super::{sys, Root};
use crate::error::{Error, IoOp, Result};
use crate::paths::RelPath;
use journal_format::{HexBytes, Xattrs};
use rustix::fd::{AsFd, BorrowedFd};
use rustix::fs::OFlags;
use rustix::io::Errno;
use std::path::Path;

/// The largest attribute value and name list the kernel hands out (`XATTR_SIZE_MAX`).
const XATTR_MAX: usize = 1 << 16;

/// Whether selfheal keeps the attribute `name` across a replacement.
pub fn kept(name: &str) -> bool {
    name.starts_with("user.") || name.starts_with("security.") || name == ACL_ACCESS
}

/// The POSIX access ACL.
pub const ACL_ACCESS: &str = "system.posix_acl_access";

impl Root {
    /// Whether the file or directory `rel` carries a POSIX access ACL (its group permission
    /// bits are then the ACL's mask, not the owning group's permissions).
    ///
    /// # Errors
    /// I/O errors other than the path being absent or not reachable.
    pub fn has_acl(&self, rel: &RelPath) -> Result<bool> {
        let parent = self.parent_fd(rel)?;
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
        let fd = match sys::open(&parent, rel.file_name(), flags) {
            Ok(fd) => fd,
            Err(Errno::NOENT | Errno::LOOP | Errno::NXIO | Errno::NODEV | Errno::ACCESS) => {
                return Ok(false)
            }
            Err(e) => return Err(Error::io(IoOp::Open, rel.as_path(), e.into())),
        };
        match rustix::fs::fgetxattr_query(&fd, ACL_ACCESS) {
            Ok(_) => Ok(true),
            Err(Errno::NODATA | Errno::NOTSUP) => Ok(false),
            Err(e) => Err(Error::io(IoOp::Read, rel.as_path(), e.into())),
        }
    }

    /// The kept extended attributes of the regular file `rel` (`None`: it has none, is not
    /// a regular file, or the filesystem has no extended attributes).
    ///
    /// # Errors
    /// I/O errors other than the path being absent or not a regular file.
    pub fn xattrs(&self, rel: &RelPath) -> Result<Option<Xattrs>> {
        let parent = self.parent_fd(rel)?;
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
        let fd = match sys::open(&parent, rel.file_name(), flags) {
            Ok(fd) => fd,
            Err(Errno::NOENT | Errno::LOOP | Errno::NXIO | Errno::NODEV) => return Ok(None),
            Err(e) => return Err(Error::io(IoOp::Open, rel.as_path(), e.into())),
        };
        let all = read_all(fd.as_fd(), rel.as_path())?;
        Ok((!all.is_empty()).then_some(all))
    }
}

/// The kept attribute names of `fd`.
fn names(fd: BorrowedFd<'_>, path: &Path) -> Result<Vec<String>> {
    let mut buf = vec![0u8; XATTR_MAX];
    let n = match rustix::fs::flistxattr(fd, &mut buf[..]) {
        Ok(n) => n,
        Err(Errno::NOTSUP) => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(IoOp::Read, path, e.into())),
    };
    Ok(buf
        .get(..n)
        .unwrap_or_default()
        .split(|b| *b == 0)
        .filter_map(|raw| std::str::from_utf8(raw).ok())
        .filter(|name| kept(name))
        .map(str::to_string)
        .collect())
}

/// Every kept attribute of `fd` with its value.
fn read_all(fd: BorrowedFd<'_>, path: &Path) -> Result<Xattrs> {
    let mut out = Xattrs::new();
    let mut buf = vec![0u8; XATTR_MAX];
    for name in names(fd, path)? {
        match rustix::fs::fgetxattr(fd, name.as_str(), &mut buf[..]) {
            Ok(n) => {
                let value = buf.get(..n).unwrap_or_default().to_vec();
                out.insert(name, HexBytes(value));
            }
            // Removed between the listing and the read: not there.
            Err(Errno::NODATA) => {}
            Err(e) => return Err(Error::io(IoOp::Read, path, e.into())),
        }
    }
    Ok(out)
}

/// Gives the temp file `fd` (shown as `path`) the kept attributes `want`, exactly but for
/// security labels: a `user.*` attribute or ACL it got on creation and `want` lacks (a
/// directory's default ACL) is removed, then each of `want` is set. Each change passes its
/// fault point first.
///
/// # Errors
/// The failing call and the path (a `security.*` attribute this process may not set is
/// skipped instead).
pub(super) fn apply(fd: BorrowedFd<'_>, want: &Xattrs, path: &Path) -> Result<()> {
    for name in names(fd, path)? {
        // A security label a new file gets from the system's policy is the system's.
        if want.contains_key(&name) || name.starts_with("security.") {
            continue;
        }
        match sys::fremovexattr(fd, &name, path).map_err(|f| (f.errno(), f)) {
            Ok(()) | Err((Some(Errno::NODATA), _)) => {}
            Err((Some(e), _)) if skippable(&name, e) => skipped(&name, path, e),
            Err((_, f)) => return Err(f.into()),
        }
    }
    for (name, value) in want {
        match sys::fsetxattr(fd, name, &value.0, path).map_err(|f| (f.errno(), f)) {
            Ok(()) => {}
            Err((Some(e), _)) if skippable(name, e) => skipped(name, path, e),
            Err((_, f)) => return Err(f.into()),
        }
    }
    Ok(())
}

/// A `security.*` attribute the kernel reserves for privileged writers.
fn skippable(name: &str, e: Errno) -> bool {
    name.starts_with("security.") && matches!(e, Errno::PERM | Errno::ACCESS | Errno::NOTSUP)
}

fn skipped(name: &str, path: &Path, e: Errno) {
    tracing::warn!(
        "{}: extended attribute {name} not kept ({e}: this process may not set it)",
        path.display()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn which_attributes_are_kept() {
        let cases = [
            ("user.origin", true),
            ("security.selinux", true),
            ("system.posix_acl_access", true),
            ("system.posix_acl_default", false),
            ("trusted.overlay", false),
            ("system.nfs4_acl", false),
        ];
        for (name, want) in cases {
            assert_eq!(kept(name), want, "input: {name}");
        }
    }
}
