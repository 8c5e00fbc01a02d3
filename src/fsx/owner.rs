//! Ownership of what selfheal creates. Run as root (`sudo selfheal heal`), a file or
//! directory created under the root takes the owner and group of the directory it is
//! created in, so the bot's own user can still read and replace everything selfheal left
//! (its journal, backup objects, torn tails, temp files, new state files, directories).
//! Run as anyone else, the kernel already makes the creator the owner and nothing is done.
//! Also the message for a file selfheal cannot open because someone else owns it.

use super::{Entry, Root};
use crate::error::{Error, IoContext, IoOp, Result};
use crate::paths::RelPath;
use rustix::fd::{AsFd, BorrowedFd};
use std::path::Path;

/// Whether this process runs as root (effective uid 0).
pub(super) fn running_as_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Gives `new` (just created in `dir`, shown as `path`) the owner of `dir`, when running as
/// root and the directory belongs to someone else.
pub(super) fn adopt(dir: BorrowedFd<'_>, new: BorrowedFd<'_>, path: &Path) -> Result<()> {
    if !running_as_root() {
        return Ok(());
    }
    let st = rustix::fs::fstat(dir).ctx(IoOp::Stat, path)?;
    if (st.st_uid, st.st_gid) == super::current_owner() {
        return Ok(());
    }
    Ok(super::sys::fchown(
        new.as_fd(),
        (st.st_uid, st.st_gid),
        path,
    )?)
}

impl Root {
    /// Turns "permission denied" on `rel` (a path under selfheal's own `logs/backups/`) into
    /// a message naming its owner and the command that gives selfheal's files back to the
    /// user it runs as; any other error is returned as it is.
    pub fn explain_denied(&self, err: Error) -> Error {
        let Error::Io { op, path, source } = err else {
            return err;
        };
        let denied = matches!(source.raw_os_error(), Some(13 | 1));
        let rel = path.to_str().and_then(|p| RelPath::new(p).ok());
        let (true, Some(rel)) = (denied, rel) else {
            return Error::Io { op, path, source };
        };
        let (uid, gid) = super::current_owner();
        let owner = self.owner_of(&rel);
        if owner.is_some_and(|(u, _)| u == uid) {
            // Ours already: the refusal has another cause, told as it is.
            return Error::Io { op, path, source };
        }
        let root = self
            .canonical_path()
            .unwrap_or_else(|_| self.path().to_path_buf());
        Error::NotOwner {
            op,
            path: root.join(rel.as_path()),
            owner: owner.map_or_else(
                || "another user".to_string(),
                |(u, g)| format!("uid {u} (gid {g})"),
            ),
            uid,
            fix: format!(
                "sudo chown -R {uid}:{gid} {}",
                root.join(crate::paths::BACKUPS_DIR).display()
            ),
        }
    }

    /// The owner of `rel`, or of its nearest ancestor that can be looked at.
    fn owner_of(&self, rel: &RelPath) -> Option<(u32, u32)> {
        let mut cur = Some(rel.clone());
        while let Some(p) = cur {
            if let Ok(Entry::Present(st)) = self.entry(&p) {
                return Some((st.uid, st.gid));
            }
            cur = p.parent();
        }
        None
    }
}
