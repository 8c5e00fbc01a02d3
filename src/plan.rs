//! Operations: what one step of a transaction will do to one path, planned from what the
//! path was when it was observed. Planning is pure; `engine` applies a plan. Also the
//! observation of a path as a journal [`Node`], shared by planning, recovery and rollback.

use crate::content::{Content, Hashed};
use crate::error::Result;
use crate::fsx::{Kind, Read_, Root, Stat};
use crate::paths::RelPath;
use journal_format::{Meta, Node, OpKind, Perms, ProcessRef};
use serde::Serialize;
use std::sync::{Arc, OnceLock};

/// What a path is now, as far as an operation can tell. The [`Node`] of a regular file
/// (with the SHA-256 of its bytes) is computed on first use, so a file that no operation
/// touches is never hashed.
#[derive(Debug, Clone)]
pub struct Observed {
    node: OnceLock<Option<Node>>,
    /// The digest of `bytes` once computed, shared by clones and by new bytes made of a
    /// prefix of them ([`Content::salvaged`]), so that the prefix is hashed once.
    hashed: Arc<OnceLock<Hashed>>,
    /// Why the path cannot be touched (then `node()` is `None`), in words.
    pub untouchable: Option<String>,
    /// Metadata, when present.
    pub stat: Option<Stat>,
    /// The bytes of a regular file.
    pub bytes: Option<Arc<Vec<u8>>>,
}

impl Observed {
    /// Nothing at the path.
    pub fn absent() -> Observed {
        Observed::with_node(Node::Absent, None)
    }

    /// A known node (no bytes).
    pub fn with_node(node: Node, stat: Option<Stat>) -> Observed {
        Observed {
            node: OnceLock::from(Some(node)),
            hashed: Arc::default(),
            untouchable: None,
            stat,
            bytes: None,
        }
    }

    /// Something no operation may touch, and why.
    pub fn untouchable(why: impl Into<String>, stat: Option<Stat>) -> Observed {
        Observed {
            node: OnceLock::from(None),
            hashed: Arc::default(),
            untouchable: Some(why.into()),
            stat,
            bytes: None,
        }
    }

    /// An observation of a file whose bytes were already read (no second read); its node
    /// is hashed when first asked for.
    pub fn from_file(bytes: Arc<Vec<u8>>, stat: Stat) -> Observed {
        Observed {
            node: OnceLock::new(),
            hashed: Arc::default(),
            untouchable: None,
            stat: Some(stat),
            bytes: Some(bytes),
        }
    }

    /// What `watch` keeps of this observation of a file it does not read again while the
    /// file stays unchanged: the metadata, without the bytes. No operation may be planned
    /// from it: its node is unknown (`node()` is `None`), so nothing is ever checked or
    /// written against it.
    pub fn carried(&self) -> Observed {
        Observed {
            node: OnceLock::from(None),
            hashed: Arc::default(),
            untouchable: self.untouchable.clone(),
            stat: self.stat,
            bytes: None,
        }
    }

    /// The node, or `None` when the path is something no operation may touch (a symlink,
    /// a FIFO, unreachable through a symlink, or over the size cap).
    pub fn node(&self) -> Option<&Node> {
        self.node
            .get_or_init(|| {
                let (bytes, stat) = (self.bytes.as_ref()?, self.stat?);
                Some(Node::File {
                    sha256: self.hashed.get_or_init(|| Hashed::of(bytes)).digest(),
                    size: bytes.len() as u64,
                    mode: Perms(stat.mode),
                })
            })
            .as_ref()
    }

    /// Starts hashing the bytes read on a thread of their own, for a caller that will
    /// need the node later and has other work first (a large file about to be salvaged,
    /// whose backup needs the digest): whoever asks for the node meanwhile waits for that
    /// one computation. Nothing happens for bytes under a MiB, a digest already known, or
    /// when no thread can be started.
    pub fn hash_beside(&self) {
        let Some(bytes) = &self.bytes else {
            return;
        };
        if bytes.len() < crate::store::LARGE_OBJECT || self.hashed.get().is_some() {
            return;
        }
        let (bytes, hashed) = (Arc::clone(bytes), Arc::clone(&self.hashed));
        let _ = std::thread::Builder::new().spawn(move || {
            hashed.get_or_init(|| Hashed::of(&bytes));
        });
    }

    /// New bytes made of `output`'s pieces of `input`, the bytes read (a salvage of
    /// them), sharing those bytes: when they begin with a long prefix of them, that prefix
    /// is hashed once for both. `Err(output)` when `input` is not the bytes read.
    pub fn salvaged(
        &self,
        input: &[u8],
        output: crate::salvage::Output,
    ) -> std::result::Result<Content, crate::salvage::Output> {
        match &self.bytes {
            Some(bytes) if std::ptr::eq(bytes.as_slice(), input) => Ok(Content::salvaged(
                Arc::clone(bytes),
                Arc::clone(&self.hashed),
                output,
            )),
            _ => Err(output),
        }
    }

    /// Whether nothing is at the path (cheap: never hashes).
    pub fn is_absent(&self) -> bool {
        self.untouchable.is_none() && self.stat.is_none() && self.bytes.is_none()
    }

    /// Owner and mtime for the journal.
    pub fn meta(&self) -> Option<Meta> {
        self.stat.map(|s| Meta {
            uid: s.uid,
            gid: s.gid,
            mtime_sec: s.mtime_sec,
            mtime_nsec: s.mtime_nsec,
        })
    }
}

/// Observes `rel` without following symlinks, reading and hashing a regular file.
///
/// # Errors
/// I/O errors other than the path being absent or unreachable.
pub fn observe(root: &Root, rel: &RelPath, cap: u64) -> Result<Observed> {
    match root.read(rel, cap)? {
        Read_::Absent => Ok(Observed::absent()),
        Read_::File(bytes, stat) => Ok(Observed::from_file(Arc::new(bytes), stat)),
        Read_::NotFile(Kind::Dir) => match root.entry(rel)? {
            crate::fsx::Entry::Present(s) => Ok(Observed::with_node(
                Node::Dir {
                    mode: Perms(s.mode),
                },
                Some(s),
            )),
            _ => Ok(Observed::untouchable("changed while it was read", None)),
        },
        Read_::NotFile(Kind::Symlink) => {
            Ok(Observed::untouchable("is a symlink (not followed)", None))
        }
        Read_::NotFile(_) => Ok(Observed::untouchable(
            "is not a regular file or directory",
            None,
        )),
        Read_::Unreachable => Ok(Observed::untouchable(
            "lies behind a symlink or a non-directory (not followed)",
            None,
        )),
        Read_::TooLarge(size) => Ok(Observed::untouchable(
            format!("is {size} bytes, over the size limit {cap}"),
            None,
        )),
    }
}

/// The node of `rel` as [`Observed::node`] would give it, without keeping a regular file's
/// bytes: they are hashed as they are read (the engine's re-check of a target just before
/// its intent, which must prove the plan's digest, not hold a second copy of the file).
///
/// # Errors
/// I/O errors other than the path being absent or unreachable.
pub fn observe_node(root: &Root, rel: &RelPath, cap: u64) -> Result<Option<Node>> {
    use sha2::Digest as _;
    let mut hasher = sha2::Sha256::new();
    let mut size: u64 = 0;
    let read = root.read_chunks(rel, cap, &mut |chunk| {
        hasher.update(chunk);
        size += chunk.len() as u64;
    })?;
    match read {
        Read_::File(_, stat) => Ok(Some(Node::File {
            sha256: journal_format::Digest(hasher.finalize().into()),
            size,
            mode: Perms(stat.mode),
        })),
        _ => Ok(observe(root, rel, cap)?.node().cloned()),
    }
}

/// Whether `rel` is still what `seen` observed, read and compared without keeping its
/// bytes (the engine's re-check of a target just before its intent). A regular file whose
/// bytes `seen` holds is compared with them byte for byte, which proves the node's digest
/// without hashing the file again; anything else is compared by node ([`observe_node`]).
///
/// # Errors
/// I/O errors other than the path being absent or unreachable.
pub fn unchanged(root: &Root, rel: &RelPath, cap: u64, seen: &Observed) -> Result<bool> {
    let (Some(bytes), Some(Node::File { mode, .. })) = (&seen.bytes, seen.node()) else {
        return Ok(observe_node(root, rel, cap)?.as_ref() == seen.node());
    };
    let mut at = 0usize;
    let mut same = true;
    let read = root.read_chunks(rel, cap, &mut |chunk| {
        let end = at.saturating_add(chunk.len());
        same = same && bytes.get(at..end) == Some(chunk);
        at = end;
    })?;
    Ok(match read {
        Read_::File(_, stat) => same && at == bytes.len() && Perms(stat.mode) == *mode,
        _ => false,
    })
}

/// The kind of heal an operation (or a refused repair) serves, written as today's
/// snake_case name (`missing_directory`) in the report, the journal and the alerts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HealKind {
    /// A directory of the layout was created.
    MissingDirectory,
    /// A directory the store or the journal needs was created at bootstrap.
    BootstrapDirectory,
    /// A managed file was created.
    MissingFile,
    /// An empty managed file was initialized.
    EmptyFile,
    /// Keys missing from a managed file were added.
    MissingKeys,
    /// A managed file that cannot be healed (a directory, unreadable).
    ManagedFile,
    /// A corrupted JSON file was salvaged or reset.
    CorruptedJson,
    /// Permissions were tightened or restored.
    InsecurePermissions,
    /// A stale heartbeat was reset.
    StaleHeartbeat,
    /// A stale lock file was removed.
    StaleLock,
    /// An orphan process was terminated.
    OrphanProcess,
    /// A transaction was rolled back.
    Rollback,
    /// Recovery of an interrupted transaction.
    Recovery,
}

impl HealKind {
    /// The kind as written (`missing_directory`).
    pub fn as_str(self) -> &'static str {
        match self {
            HealKind::MissingDirectory => "missing_directory",
            HealKind::BootstrapDirectory => "bootstrap_directory",
            HealKind::MissingFile => "missing_file",
            HealKind::EmptyFile => "empty_file",
            HealKind::MissingKeys => "missing_keys",
            HealKind::ManagedFile => "managed_file",
            HealKind::CorruptedJson => "corrupted_json",
            HealKind::InsecurePermissions => "insecure_permissions",
            HealKind::StaleHeartbeat => "stale_heartbeat",
            HealKind::StaleLock => "stale_lock",
            HealKind::OrphanProcess => "orphan_process",
            HealKind::Rollback => "rollback",
            HealKind::Recovery => "recovery",
        }
    }
}

impl std::fmt::Display for HealKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// What an operation does.
#[derive(Debug, Clone)]
pub enum Effect {
    /// Create a directory with this mode.
    CreateDir {
        /// Permission bits.
        mode: u32,
    },
    /// Create or replace a file with these bytes.
    WriteFile {
        /// New content.
        bytes: Content,
        /// Permission bits.
        mode: u32,
        /// Owner to set (`None`: the writer's, for new files; the old one is kept on replace).
        owner: Option<(u32, u32)>,
        /// Modification time to set (undo only).
        mtime: Option<(i64, u32)>,
    },
    /// Remove a regular file.
    RemoveFile,
    /// Remove a stale lock file while holding its flock, after checking the path still names
    /// the locked inode (`fsx::HeldLock::remove`). Journaled as `remove_file`.
    RemoveLock,
    /// Remove an empty directory.
    RemoveDir,
    /// Set permission bits.
    SetMode {
        /// New bits.
        mode: u32,
    },
    /// Terminate a process (irreversible): SIGTERM through a pidfd, SIGKILL after `grace`.
    Signal {
        /// The process.
        process: ProcessRef,
        /// Time between SIGTERM and SIGKILL.
        grace: std::time::Duration,
    },
}

/// One planned operation.
#[derive(Debug, Clone)]
pub struct Op {
    /// The heal it serves.
    pub heal: HealKind,
    /// The path (none for a signal).
    pub path: Option<RelPath>,
    /// Why, for the journal and the report.
    pub reason: String,
    /// The human line, e.g. `Created directory: logs`.
    pub message: String,
    /// What it does.
    pub action: Effect,
    /// The path as observed when planned.
    pub before: Observed,
}

#[cfg(test)]
impl Op {
    /// An operation of kind `heal` on `path` for unit tests: `before` is what planning saw
    /// (`None`: a path that cannot be touched), with an empty reason and message.
    pub(crate) fn for_test(heal: HealKind, path: &str, before: Option<Node>, action: Effect) -> Op {
        Op {
            heal,
            path: RelPath::new(path).ok(),
            reason: String::new(),
            message: String::new(),
            action,
            before: before.map_or_else(
                || Observed::untouchable("test", None),
                |n| Observed::with_node(n, None),
            ),
        }
    }
}

impl Op {
    /// The journal kind of this operation.
    pub fn kind(&self) -> OpKind {
        match (&self.action, self.before.node()) {
            (Effect::CreateDir { .. }, _) => OpKind::CreateDir,
            (Effect::WriteFile { .. }, Some(Node::Absent)) => OpKind::CreateFile,
            (Effect::WriteFile { .. }, _) => OpKind::ReplaceFile,
            (Effect::RemoveFile | Effect::RemoveLock, _) => OpKind::RemoveFile,
            (Effect::RemoveDir, _) => OpKind::RemoveDir,
            (Effect::SetMode { .. }, _) => OpKind::SetMode,
            (Effect::Signal { .. }, _) => OpKind::Signal,
        }
    }

    /// The node the path will be once applied.
    pub fn after(&self) -> Node {
        match &self.action {
            Effect::CreateDir { mode } => Node::Dir { mode: Perms(*mode) },
            Effect::WriteFile { bytes, mode, .. } => Node::File {
                sha256: bytes.sha256(),
                size: bytes.len() as u64,
                mode: Perms(*mode),
            },
            Effect::RemoveFile | Effect::RemoveLock | Effect::RemoveDir => Node::Absent,
            Effect::SetMode { mode } => match self.before.node() {
                Some(Node::File { sha256, size, .. }) => Node::File {
                    sha256: *sha256,
                    size: *size,
                    mode: Perms(*mode),
                },
                _ => Node::Dir { mode: Perms(*mode) },
            },
            Effect::Signal { .. } => Node::Absent,
        }
    }

    /// Bytes the store must hold before the operation may run (the file it replaces,
    /// removes, or changes the mode of: a forced rollback after the file was rewritten puts
    /// those bytes back with the mode).
    pub fn backup(&self) -> Option<&Arc<Vec<u8>>> {
        match (&self.action, self.before.node()) {
            (
                Effect::WriteFile { .. }
                | Effect::RemoveFile
                | Effect::RemoveLock
                | Effect::SetMode { .. },
                Some(Node::File { .. }),
            ) => self.before.bytes.as_ref(),
            _ => None,
        }
    }
}

/// What became of one operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpResult {
    /// Applied and journaled.
    Applied,
    /// Not applied: the target no longer matched what the plan saw.
    Skipped(String),
}

#[cfg(test)]
mod tests {
    use super::HealKind;

    /// The serialized name and the written one are the same text.
    #[test]
    fn heal_kind_serializes_as_written() {
        for k in [
            HealKind::MissingDirectory,
            HealKind::BootstrapDirectory,
            HealKind::MissingFile,
            HealKind::EmptyFile,
            HealKind::MissingKeys,
            HealKind::ManagedFile,
            HealKind::CorruptedJson,
            HealKind::InsecurePermissions,
            HealKind::StaleHeartbeat,
            HealKind::StaleLock,
            HealKind::OrphanProcess,
            HealKind::Rollback,
            HealKind::Recovery,
        ] {
            let json = serde_json::to_value(k).unwrap_or_default();
            assert_eq!(json.as_str(), Some(k.as_str()));
            assert_eq!(k.to_string(), k.as_str());
        }
    }
}
