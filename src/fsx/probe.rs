//! Plan-time probes: whether this process could carry out a change to a path at all, asked
//! before anything is written, so an operation that can never succeed (a file owned by
//! another user when selfheal runs unprivileged, an immutable or append-only file or
//! directory, a read-only filesystem, a sticky directory) becomes a failed heal of its own
//! instead of an I/O error that aborts the whole transaction on every run. The probes only
//! look (`faccessat(AT_EACCESS)`, `FS_IOC_GETFLAGS`, `fstat`); they change nothing.

use super::{current_owner, sys, Entry, Kind, Root, Stat};
use crate::error::{Error, IoOp, Result};
use crate::paths::RelPath;
use rustix::fd::OwnedFd;
use rustix::fs::{Access, AtFlags, IFlags, OFlags};
use rustix::io::Errno;

/// What an operation does to a path, as far as permissions go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// A new entry appears in the parent directory.
    Create,
    /// An existing file is replaced (renamed over), keeping this owner when it is not the
    /// writer's own.
    Replace {
        /// The owner the new file must keep.
        owner: Option<(u32, u32)>,
    },
    /// An existing entry is removed.
    Remove,
    /// The permission bits of an existing entry change.
    SetMode,
}

/// The privileges of this process that decide what it may do to other users' files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// `CAP_CHOWN`: may give a file any owner.
    pub chown: bool,
    /// `CAP_FOWNER`: may change the mode of, and remove from a sticky directory, any file.
    pub fowner: bool,
}

impl Capabilities {
    /// This process's effective capabilities (`CapEff` in `/proc/self/status`; without it,
    /// root is taken to have both and anyone else neither).
    pub fn current() -> Capabilities {
        let eff = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                let line = s.lines().find_map(|l| l.strip_prefix("CapEff:"))?;
                u64::from_str_radix(line.trim(), 16).ok()
            });
        match eff {
            Some(bits) => Capabilities {
                chown: bits & 1 != 0,
                fowner: bits & (1 << 3) != 0,
            },
            None => {
                let root = current_owner().0 == 0;
                Capabilities {
                    chown: root,
                    fowner: root,
                }
            }
        }
    }
}

impl Root {
    /// Why this process cannot make `change` to `rel`, in words, or `None` when nothing in
    /// the way can be seen in advance.
    ///
    /// # Errors
    /// I/O errors other than a path being absent or unreachable.
    pub fn obstacle(
        &self,
        rel: &RelPath,
        change: Change,
        caps: &Capabilities,
    ) -> Result<Option<String>> {
        let Some((dir_rel, dir)) = self.existing_parent(rel)? else {
            return Ok(None);
        };
        let shown = dir_rel.as_ref().map_or(".", RelPath::as_str).to_string();
        if let Some(why) = dir_obstacle(&dir, &shown, change)? {
            return Ok(Some(why));
        }
        if change == Change::Create {
            return Ok(None);
        }
        let Entry::Present(st) = self.entry(rel)? else {
            return Ok(None);
        };
        if let Some(why) = flags_obstacle(&self.open_entry(rel)?, rel.as_str(), change)? {
            return Ok(Some(why));
        }
        if let Some(why) = sticky_obstacle(&dir, &shown, rel, &st, change, caps)? {
            return Ok(Some(why));
        }
        Ok(owner_obstacle(rel, &st, change, caps))
    }

    /// The nearest existing directory that holds `rel` (its parent, or the ancestor a plan
    /// creates the missing directories under), opened; `None` when the way there is not a
    /// plain directory (the checks report that themselves).
    fn existing_parent(&self, rel: &RelPath) -> Result<Option<(Option<RelPath>, OwnedFd)>> {
        let mut cur = rel.parent();
        loop {
            let entry = match &cur {
                Some(d) => self.entry(d)?,
                None => return Ok(Some((None, self.dup_root().map_err(io(rel))?))),
            };
            match entry {
                Entry::Present(st) if st.kind == Kind::Dir => {
                    let fd = self.open_dir_raw(cur.as_ref()).map_err(io(rel))?;
                    return Ok(Some((cur, fd)));
                }
                Entry::Absent => cur = cur.as_ref().and_then(RelPath::parent),
                _ => return Ok(None),
            }
        }
    }

    /// Opens the entry `rel` itself (file or directory) for `fstat` and `ioctl`.
    fn open_entry(&self, rel: &RelPath) -> Result<Option<OwnedFd>> {
        let parent = self.parent_fd(rel)?;
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
        match sys::open(&parent, rel.file_name(), flags) {
            Ok(fd) => Ok(Some(fd)),
            Err(Errno::NOENT | Errno::LOOP | Errno::NXIO | Errno::NODEV | Errno::ACCESS) => {
                Ok(None)
            }
            Err(e) => Err(Error::io(IoOp::Open, rel.as_path(), e.into())),
        }
    }
}

fn io(rel: &RelPath) -> impl Fn(Errno) -> Error + '_ {
    move |e| Error::io(IoOp::Open, rel.as_path(), e.into())
}

/// The directory must let this process add and remove entries.
fn dir_obstacle(dir: &OwnedFd, shown: &str, change: Change) -> Result<Option<String>> {
    let flags = inode_flags(dir);
    if flags.contains(IFlags::IMMUTABLE) {
        return Ok(Some(format!("directory {shown} is immutable (chattr +i)")));
    }
    if flags.contains(IFlags::APPEND) && change != Change::Create {
        return Ok(Some(format!(
            "directory {shown} is append-only (chattr +a): nothing in it can be replaced or removed"
        )));
    }
    let access = Access::WRITE_OK | Access::EXEC_OK;
    match rustix::fs::accessat(dir, ".", access, AtFlags::EACCESS) {
        Ok(()) => Ok(None),
        Err(Errno::ROFS) => Ok(Some(format!(
            "directory {shown} is on a read-only filesystem"
        ))),
        Err(Errno::ACCESS | Errno::PERM) => Ok(Some(format!(
            "directory {shown} is not writable by uid {}",
            current_owner().0
        ))),
        Err(e) => Err(Error::io(IoOp::Stat, shown, e.into())),
    }
}

/// The inode flags of `fd`, empty where the filesystem has none.
fn inode_flags(fd: &OwnedFd) -> IFlags {
    rustix::fs::ioctl_getflags(fd).unwrap_or(IFlags::empty())
}

/// An immutable or append-only entry cannot be replaced, removed or changed.
fn flags_obstacle(fd: &Option<OwnedFd>, shown: &str, change: Change) -> Result<Option<String>> {
    let Some(fd) = fd else { return Ok(None) };
    let flags = inode_flags(fd);
    if flags.contains(IFlags::IMMUTABLE) {
        return Ok(Some(format!("{shown} is immutable (chattr +i)")));
    }
    if flags.contains(IFlags::APPEND) && change != Change::Create {
        return Ok(Some(format!("{shown} is append-only (chattr +a)")));
    }
    Ok(None)
}

/// In a sticky directory only the owner of an entry (or of the directory) removes it.
fn sticky_obstacle(
    dir: &OwnedFd,
    shown: &str,
    rel: &RelPath,
    st: &Stat,
    change: Change,
    caps: &Capabilities,
) -> Result<Option<String>> {
    if change == Change::SetMode || caps.fowner {
        return Ok(None);
    }
    let d = rustix::fs::fstat(dir).map_err(|e| Error::io(IoOp::Stat, shown, e.into()))?;
    let me = current_owner().0;
    let sticky = d.st_mode & 0o1000 != 0;
    if sticky && me != st.uid && me != d.st_uid {
        return Ok(Some(format!(
            "{rel} belongs to uid {} in the sticky directory {shown}: only its owner may replace or remove it",
            st.uid
        )));
    }
    Ok(None)
}

/// A replaced file keeps its owner, and only a file's owner changes its mode, unless this
/// process holds the capability to do it for anyone.
fn owner_obstacle(rel: &RelPath, st: &Stat, change: Change, caps: &Capabilities) -> Option<String> {
    let (uid, gid) = current_owner();
    match change {
        Change::Replace {
            owner: Some((o_uid, o_gid)),
        } if !(caps.chown || o_uid == uid && in_group(o_gid)) => Some(format!(
            "{rel} belongs to {o_uid}:{o_gid} and selfheal runs as {uid}:{gid} without CAP_CHOWN: a replacement could not keep its owner"
        )),
        Change::SetMode if !caps.fowner && st.uid != uid => Some(format!(
            "{rel} belongs to uid {} and selfheal runs as uid {uid} without CAP_FOWNER: only its owner may change its mode",
            st.uid
        )),
        _ => None,
    }
}

/// Whether this process may give a file group `gid`.
fn in_group(gid: u32) -> bool {
    current_owner().1 == gid
        || rustix::process::getgroups().is_ok_and(|groups| groups.iter().any(|g| g.as_raw() == gid))
}
