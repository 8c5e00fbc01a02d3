//! Whole directories of selfheal's own: moving a damaged journal aside in one atomic step
//! (`renameat2(RENAME_EXCHANGE)` of two directories, within the root's filesystem), and
//! removing a directory selfheal created once retention lets it go. Never used on the
//! bot's state.

use super::{fsync_dir, parent_display, sys, Kind, Root};
use crate::error::{Error, IoContext, IoOp, Result};
use crate::paths::RelPath;

/// How deep [`Root::remove_tree`] descends before it gives up on a directory.
const MAX_DEPTH: usize = 8;

impl Root {
    /// Swaps the directories `a` and `b` (each under the root, in different parent
    /// directories or the same) in one atomic step, then fsyncs `b`'s parent and `a`'s.
    ///
    /// # Errors
    /// The failing call and the path.
    pub fn exchange_dirs(&self, a: &RelPath, b: &RelPath) -> Result<()> {
        let (pa, pb) = (self.parent_fd(a)?, self.parent_fd(b)?);
        let disp = a.as_path();
        sys::exchange(
            (&pa, &parent_display(a), a.file_name()),
            (&pb, &parent_display(b), b.file_name()),
            disp,
        )?;
        fsync_dir(&pb, &parent_display(b))?;
        fsync_dir(&pa, &parent_display(a))
    }

    /// Removes directory `rel` and everything in it (never following a symlink), then
    /// fsyncs its parent. Subdirectories nested deeper than a few levels are refused.
    ///
    /// # Errors
    /// The failing call and the path.
    pub fn remove_tree(&self, rel: &RelPath) -> Result<()> {
        self.empty_dir(rel, 0)?;
        self.rmdir(rel)
    }

    fn empty_dir(&self, rel: &RelPath, depth: usize) -> Result<()> {
        if depth > MAX_DEPTH {
            return Err(Error::Refused(format!(
                "{rel} is nested too deep to be removed by selfheal"
            )));
        }
        let dir = self.open_dir(rel)?;
        for e in self.list(Some(rel))? {
            let child = rel.join(&e.name)?;
            if e.kind == Kind::Dir {
                self.empty_dir(&child, depth + 1)?;
            }
            let disp = child.as_path();
            sys::unlink(&dir, rel.as_path(), &e.name, e.kind == Kind::Dir, disp)?;
        }
        fsync_dir(&dir, rel.as_path())
    }
}

/// What identifies a directory's list of entries at one moment: any entry created,
/// removed or renamed in it changes its change time (`ctime`), to the resolution of the
/// filesystem's timestamps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DirSig {
    /// Device.
    pub dev: u64,
    /// Inode.
    pub ino: u64,
    /// Modification time, nanoseconds since the epoch.
    pub mtime_ns: i128,
    /// Change time, nanoseconds since the epoch.
    pub ctime_ns: i128,
}

impl Root {
    /// The signature of directory `rel`, or `None` when there is no directory there.
    ///
    /// # Errors
    /// I/O errors other than absence.
    pub fn dir_signature(&self, rel: &RelPath) -> Result<Option<DirSig>> {
        let fd = match self.open_dir_raw(Some(rel)) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::NOENT | rustix::io::Errno::NOTDIR) => return Ok(None),
            Err(e) => return Err(Error::io(IoOp::Stat, rel.as_path(), e.into())),
        };
        let st = rustix::fs::fstat(&fd).ctx(IoOp::Stat, rel.as_path())?;
        let ns = |s: i64, n: u64| i128::from(s) * 1_000_000_000 + i128::from(n);
        Ok(Some(DirSig {
            dev: st.st_dev,
            ino: st.st_ino,
            mtime_ns: ns(st.st_mtime, st.st_mtime_nsec),
            ctime_ns: ns(st.st_ctime, st.st_ctime_nsec),
        }))
    }
}

/// Total size in bytes of the regular files under `dir`, leaving out the subtrees `skip`.
///
/// # Errors
/// I/O errors listing or reading metadata.
pub fn tree_size(root: &Root, dir: &RelPath, skip: &[&str]) -> Result<u64> {
    let mut total = 0u64;
    let mut stack = vec![dir.clone()];
    while let Some(dir) = stack.pop() {
        for e in root.list(Some(&dir))? {
            let Ok(child) = dir.join(&e.name) else {
                continue;
            };
            match e.kind {
                Kind::Dir if skip.contains(&child.as_str()) => {}
                Kind::Dir => stack.push(child),
                Kind::File => {
                    if let super::Entry::Present(st) = root.entry(&child)? {
                        total = total.saturating_add(st.size);
                    }
                }
                _ => {}
            }
        }
    }
    Ok(total)
}
